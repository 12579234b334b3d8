/// \file
/// The request parser harness (server/request_parser.hpp). Its input is either raw bytes or the
/// choices of a small request generator, then the points at which the same bytes are cut into
/// reads. Driven by tests/server/request_parser_model_test.cpp and
/// tests/fuzz/request_parser_fuzz.cpp; parse_stream() also serves the parser's unit tests.
///
/// What it holds the parser to:
///   - cut anywhere, the bytes give the same messages (method, target, version, headers, body,
///     keep-alive, where each ends) and the same refusal status as in one piece; the buffer moves
///     between reads, as the server's does when it grows
///   - every accepted message is well formed (token names, values without CR, LF, NUL or outer
///     whitespace, a target without whitespace, a body within its limit), and written out again
///     (one chunk if it was chunked, trailers dropped) it parses to the same message
///   - generated requests (the model): valid ones parse to exactly what was generated; one with a
///     framing fault (bare CR, bare LF, obs-fold, space before a colon, NUL, CL with TE, TE in
///     HTTP/1.0, ...) is refused with the fault's status, after the messages before it
///
/// Input layout: byte 0 picks the mode (bit 0: raw) and the limits (bits 1-2). Raw: the bytes
/// after the cuts are the stream. Generated: the generator reads its choices first. Then a count
/// of cuts and their offsets (u16 each, modulo the stream's size).
#pragma once

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mempool/pool.hpp>

#include "model/op_source.hpp"
#include "request_parser.hpp"

namespace mempool::test::parser_model {

using server::Limits;
using server::RequestParser;
using State = RequestParser::State;

/// What the parser made of one message, copied out of the buffer and the pool.
struct Parsed {
  State state = State::need_more;
  int status = 0;  ///< error_status() when failed
  std::string method_name, target, path, query, body;
  unsigned major = 0, minor = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = false;
  std::size_t message_end = 0;

  bool operator==(const Parsed&) const = default;
};

inline std::string describe(const Parsed& p) {
  static constexpr const char* states[] = {"need_more", "complete", "failed"};
  std::string s = std::string("{") + states[static_cast<int>(p.state)];
  if (p.state == State::failed) s += " " + std::to_string(p.status);
  if (p.state == State::complete) {
    s += " " + p.method_name + " " + p.target + " HTTP/" + std::to_string(p.major) + "." + std::to_string(p.minor);
    for (const auto& [name, value] : p.headers) s += " [" + name + ": " + value + "]";
    s += " body " + std::to_string(p.body.size()) + "B" + (p.keep_alive ? " keep-alive" : " close") + " end " +
         std::to_string(p.message_end);
  }
  return s + "}";
}

/// (For Catch, which prints what it compares.)
inline std::ostream& operator<<(std::ostream& os, const Parsed& p) { return os << describe(p); }

inline std::string describe(const std::vector<Parsed>& messages) {
  std::string s;
  for (const Parsed& p : messages) s += describe(p) + "\n";
  return s;
}

inline Parsed capture(const RequestParser& parser, State state, const char* buffer) {
  Parsed p;
  p.state = state;
  if (state == State::failed) p.status = parser.error_status();
  if (state != State::complete) return p;
  http::Request req;
  if (!parser.request(buffer, req)) return p;  // the header list did not fit the pool
  p.method_name = req.method_name;
  p.target = req.target;
  p.path = req.path;
  p.query = req.query;
  p.body = req.body;
  p.major = req.version_major;
  p.minor = req.version_minor;
  for (const auto& h : req.headers) p.headers.emplace_back(h.name, h.value);
  p.keep_alive = req.keep_alive;
  p.message_end = parser.message_end();
  return p;
}

/// Feeds `text` as a stream cut at `cuts` (any order, any values; text.size() is added), into a
/// fresh copy of the bytes at every call, as the server's buffer may move when it grows. Each
/// message that completes is captured and its leftover bytes start the next, as in the server.
/// Ends with the state the last bytes left (need_more, or the failure).
inline std::vector<Parsed> parse_stream(std::string_view text, std::vector<std::size_t> cuts, const Limits& limits,
                                        std::size_t pool_capacity = 0) {
  cuts.push_back(text.size());
  std::sort(cuts.begin(), cuts.end());
  std::vector<Parsed> out;
  Pool pool(PoolOptions{.capacity = pool_capacity});
  RequestParser parser(limits);
  parser.start(pool);
  // As the connection's read buffer: the current message's bytes as the parser left them (it
  // de-chunks in place), then each read appended; a fresh address each call.
  std::string buffer;
  std::size_t fed = 0;        // bytes of `text` read so far
  std::size_t reclaimed = 0;  // bytes of the current message given back (its message_end counts them)
  for (const std::size_t cut : cuts) {
    if (cut <= fed || cut > text.size()) continue;
    buffer = buffer + std::string(text.substr(fed, cut - fed));
    fed = cut;
    for (;;) {
      buffer = std::string(buffer);
      const State state = parser.parse(buffer.data(), buffer.size());
      if (state == State::need_more) {
        std::size_t filled = buffer.size();  // give back dead chunk framing, as the connection does
        parser.reclaim(buffer.data(), filled);
        reclaimed += buffer.size() - filled;
        buffer.resize(filled);
        break;
      }
      out.push_back(capture(parser, state, buffer.data()));
      if (state == State::failed) return out;
      out.back().message_end += std::exchange(reclaimed, 0);
      buffer.erase(0, parser.message_end());
      pool.reset();
      parser.start(pool);
      if (buffer.empty()) break;
    }
  }
  out.push_back(Parsed{});  // need_more: what is left waits for more bytes
  return out;
}

// --- checks -------------------------------------------------------------------------------------

inline void report_mismatch(const char* what, std::string_view text, const std::vector<Parsed>& expected,
                            const std::vector<Parsed>& got) {
  std::fprintf(stderr, "%s\n  stream (%zu bytes): ", what, text.size());
  for (const unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      std::fputc(c, stderr);
    } else {
      std::fprintf(stderr, "\\x%02x", c);
    }
  }
  std::fprintf(stderr, "\n  expected:\n%s  got:\n%s", describe(expected).c_str(), describe(got).c_str());
}

inline bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// What every accepted message must be, whatever bytes it came from.
inline void check_well_formed(const Parsed& p, const Limits& limits) {
  MODEL_CHECK(p.message_end > 0);
  MODEL_CHECK(!p.method_name.empty() && std::all_of(p.method_name.begin(), p.method_name.end(), is_tchar));
  MODEL_CHECK(!p.target.empty() && p.target.size() <= limits.max_uri_bytes);
  MODEL_CHECK(std::none_of(p.target.begin(), p.target.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; }));
  MODEL_CHECK(p.major == 1 && p.minor <= 1);
  MODEL_CHECK(p.body.size() <= limits.max_body_bytes);
  for (const auto& [name, value] : p.headers) {
    MODEL_CHECK(!name.empty() && std::all_of(name.begin(), name.end(), is_tchar));
    MODEL_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    MODEL_CHECK(value.empty() || (value.front() != ' ' && value.front() != '\t' && value.back() != ' ' &&
                                  value.back() != '\t'));
  }
}

/// The message written out again: its headers as they were, its body in one chunk if it came
/// chunked (the parser accepted it, so any Transfer-Encoding is chunked), trailers dropped.
inline std::string serialize(const Parsed& p) {
  std::string out = p.method_name + " " + p.target + " HTTP/" + std::to_string(p.major) + "." + std::to_string(p.minor);
  out += "\r\n";
  bool chunked = false;
  for (const auto& [name, value] : p.headers) {
    out += name + ": " + value + "\r\n";
    chunked = chunked || http::iequals(name, "transfer-encoding");
  }
  out += "\r\n";
  if (!chunked) return out + p.body;
  if (!p.body.empty()) {
    char size[20];
    std::snprintf(size, sizeof size, "%zx", p.body.size());
    out += std::string(size) + "\r\n" + p.body + "\r\n";
  }
  return out + "0\r\n\r\n";
}

/// Written out and parsed again, an accepted message is the same message.
inline void check_round_trip(const Parsed& p, const Limits& limits) {
  const std::string text = serialize(p);
  Limits roomy = limits;  // the head may grow: ": " where the client wrote ":"
  roomy.max_header_bytes = std::max(limits.max_header_bytes, text.size() - p.body.size()) + 64;
  const std::vector<Parsed> again = parse_stream(text, {}, roomy);
  Parsed expected = p;
  expected.message_end = text.size();
  if (again.size() != 2 || again[0] != expected) {
    report_mismatch("an accepted message, written out again, parses differently", text, {expected, Parsed{}}, again);
    MODEL_CHECK(!"round trip");
  }
}

/// The same bytes cut at `cuts` give what they give in one piece, and what they give is sound.
inline std::vector<Parsed> check_stream(std::string_view text, const std::vector<std::size_t>& cuts,
                                        const Limits& limits) {
  const std::vector<Parsed> whole = parse_stream(text, {}, limits);
  const std::vector<Parsed> split = parse_stream(text, cuts, limits);
  if (split != whole) {
    report_mismatch("the same bytes cut into reads parse differently from one piece", text, whole, split);
    MODEL_CHECK(!"split invariance");
  }
  std::size_t offset = 0;
  for (const Parsed& p : whole) {
    if (p.state != State::complete) continue;
    check_well_formed(p, limits);
    offset += p.message_end;
    MODEL_CHECK(offset <= text.size());
    check_round_trip(p, limits);
  }
  return whole;
}

// --- the generator (the model) ------------------------------------------------------------------

/// A fault the generator can put in a message, and the status that message must get.
enum class Fault {
  none, bare_cr_in_value, bare_cr_line_end, bare_lf_line_end, obs_fold, obs_fold_empty_first_line,
  space_before_colon, nul_in_value, empty_name, content_length_and_chunked, two_content_lengths,
  chunked_in_http10, bytes_after_chunk_data, bad_chunk_size, bare_cr_in_trailer, obs_fold_in_trailer,
  no_host, bad_host, unknown_method, version_1_2, count
};

inline int fault_status(Fault f) {
  switch (f) {
    case Fault::none: return 0;
    case Fault::unknown_method: return 501;
    case Fault::version_1_2: return 505;
    default: return 400;
  }
}

/// Which faults need a chunked body to sit in.
inline bool fault_needs_chunks(Fault f) {
  return f == Fault::content_length_and_chunked || f == Fault::chunked_in_http10 ||
         f == Fault::bytes_after_chunk_data || f == Fault::bad_chunk_size || f == Fault::bare_cr_in_trailer ||
         f == Fault::obs_fold_in_trailer;
}

struct Target {
  const char* text;
  const char* path;
  const char* query;
};

inline constexpr const char* methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"};
inline constexpr Target targets[] = {
    {"/", "/", ""}, {"/hello", "/hello", ""}, {"/a/b?x=1&y=2", "/a/b", "x=1&y=2"}, {"/q?", "/q", ""},
    {"http://h.test/p?q", "/p", "q"}, {"/%7e/x.txt", "/%7e/x.txt", ""}};
inline constexpr const char* names[] = {"Accept", "X-A", "User-Agent", "cookie", "x_y", "Content-Type", "X-Long-Name"};
inline constexpr const char* values[] = {"", "v", "a b", "*/*", "text/plain; charset=utf-8", "\"q\"", "\xc3\xa9t\xc3\xa9"};
inline constexpr const char* leading_ows[] = {"", " ", "  ", "\t"};
inline constexpr const char* trailing_ows[] = {"", " ", "\t "};

template <std::size_t N>
const char* pick(OpSource& in, const char* const (&from)[N]) {
  return from[in.below(N)];
}

/// Builds one message from the input's choices; `expected` is what the parser must make of it.
inline std::string generate_message(OpSource& in, Fault fault, Parsed& expected) {
  const Target& target = targets[in.below(std::size(targets))];
  expected.method_name = fault == Fault::unknown_method ? "FOO" : pick(in, methods);
  expected.target = target.text;
  expected.path = target.path;
  expected.query = target.query;
  expected.major = 1;
  expected.minor = fault == Fault::chunked_in_http10 ? 0 : fault == Fault::no_host ? 1 : in.below(4) != 0;
  std::string text = expected.method_name + " " + expected.target +
                     (fault == Fault::version_1_2 ? " HTTP/1.2" : expected.minor ? " HTTP/1.1" : " HTTP/1.0");
  const auto line = [&](std::string_view name, std::string_view raw, std::string_view value) {
    text += "\r\n" + std::string(name) + ":" + std::string(raw);
    expected.headers.emplace_back(name, value);
  };
  if (fault == Fault::bad_host) {
    line("Host", " a b", "a b");
  } else if (expected.minor == 1 && fault != Fault::no_host) {
    line("Host", " h.test", "h.test");
  }
  for (std::size_t i = 0, n = in.below(5); i < n; ++i) {
    const char* value = pick(in, values);
    line(pick(in, names), std::string(pick(in, leading_ows)) + value + pick(in, trailing_ows), value);
  }
  static constexpr const char* connection[] = {nullptr, "close", "keep-alive", "keep-alive, close"};
  const char* conn = connection[in.below(4)];
  if (conn != nullptr) line("Connection", std::string(" ") + conn, conn);
  const std::string_view c = conn ? conn : "";
  expected.keep_alive = c.find("close") == std::string_view::npos && (expected.minor == 1 || !c.empty());

  switch (fault) {  // faults in the head
    case Fault::bare_cr_in_value: text += "\r\nX-F: a\rb"; break;
    case Fault::bare_cr_line_end: text += "\r\nX-F: a\rX-G: b"; break;
    case Fault::bare_lf_line_end: text += "\r\nX-F: a\nX-G: b"; break;
    case Fault::obs_fold: text += "\r\nX-F: a\r\n b"; break;
    case Fault::obs_fold_empty_first_line: text += "\r\nX-F:\r\n b"; break;
    case Fault::space_before_colon: text += "\r\nX-F : a"; break;
    case Fault::nul_in_value: text += std::string("\r\nX-F: a\0b", 10); break;
    case Fault::empty_name: text += "\r\n: a"; break;
    case Fault::content_length_and_chunked: text += "\r\nContent-Length: 3"; break;
    case Fault::two_content_lengths: text += "\r\nContent-Length: 0"; break;
    default: break;
  }

  std::string body;
  for (std::size_t i = 0, n = in.below(24); i < n; ++i) body += static_cast<char>('a' + in.below(26));
  if (body.empty() && (fault == Fault::bad_chunk_size || fault == Fault::bytes_after_chunk_data)) body = "x";
  const bool chunked = fault_needs_chunks(fault) || (expected.minor == 1 && in.below(3) == 0);
  if (!chunked) {
    if (!body.empty() || fault == Fault::two_content_lengths || in.flag()) {
      line("Content-Length", " " + std::to_string(body.size()), std::to_string(body.size()));
    }
    text += "\r\n\r\n" + body;
  } else {
    line("Transfer-Encoding", " chunked", "chunked");
    text += "\r\n\r\n";
    for (std::size_t at = 0; at < body.size();) {
      const std::size_t size = std::min(body.size() - at, 1 + in.below(10));
      char head[20];
      std::snprintf(head, sizeof head, "%zx", size);
      text += std::string(fault == Fault::bad_chunk_size ? "zz" : head) + (in.below(4) == 0 ? ";ext=1" : "") + "\r\n";
      text += body.substr(at, size) + (fault == Fault::bytes_after_chunk_data ? "XX" : "\r\n");
      at += size;
    }
    text += "0\r\n";
    if (in.below(3) == 0) text += "X-Trailer: t\r\n";  // checked, then dropped
    if (fault == Fault::bare_cr_in_trailer) text += "X-T: a\rb\r\n";
    if (fault == Fault::obs_fold_in_trailer) text += "X-T: a\r\n b\r\n";
    text += "\r\n";
  }
  expected.body = body;
  expected.state = State::complete;
  expected.message_end = text.size();
  if (fault != Fault::none) {
    expected = Parsed{};
    expected.state = State::failed;
    expected.status = fault_status(fault);
  }
  return text;
}

/// Up to three pipelined messages, the last of which may carry a fault; what the parser must make
/// of them.
inline std::string generate_stream(OpSource& in, std::vector<Parsed>& expected) {
  std::string text;
  for (std::size_t i = 0, n = 1 + in.below(3); i < n; ++i) {
    const Fault fault = in.below(3) == 0 ? static_cast<Fault>(1 + in.below(static_cast<int>(Fault::count) - 1))
                                         : Fault::none;
    Parsed p;
    text += generate_message(in, fault, p);
    expected.push_back(p);
    if (fault != Fault::none) return text;
  }
  expected.push_back(Parsed{});
  return text;
}

inline Limits limits_from(unsigned choice) {
  Limits limits;
  switch (choice) {
    case 0:  // small: every limit within reach of a short input
      limits.max_header_bytes = 160;
      limits.max_uri_bytes = 48;
      limits.max_body_bytes = 64;
      break;
    case 1:
      limits.max_header_bytes = 512;
      limits.max_uri_bytes = 128;
      limits.max_body_bytes = 256;
      break;
    default:  // roomy: generated requests never reach them
      limits.max_header_bytes = 8192;
      limits.max_uri_bytes = 1024;
      limits.max_body_bytes = 4096;
  }
  return limits;
}

inline void request_parser_model(OpSource& in) {
  ModelRun::current().step = 0;
  const std::uint8_t mode = in.byte();
  const bool raw = (mode & 1) != 0;
  const Limits limits = limits_from(raw ? (mode >> 1) & 3 : 2);
  std::vector<Parsed> expected;
  std::string text;
  if (!raw) {
    ModelRun::current().op = "generate";
    text = generate_stream(in, expected);
  }
  std::vector<std::size_t> cuts(in.below(8));
  for (auto& cut : cuts) cut = in.u16();
  if (raw) {
    while (!in.done()) text += static_cast<char>(in.byte());
  }
  for (auto& cut : cuts) cut = text.empty() ? 0 : cut % text.size();
  ModelRun::current().op = "parse";
  const std::vector<Parsed> got = check_stream(text, cuts, limits);
  if (!raw && got != expected) {
    report_mismatch("generated requests parse differently from what was generated", text, expected, got);
    MODEL_CHECK(!"model");
  }
}

}  // namespace mempool::test::parser_model

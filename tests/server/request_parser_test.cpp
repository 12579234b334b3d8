// RequestParser, the llhttp glue, driven directly: a request split at any byte boundary parses
// the same as in one piece (the read buffer may even move between reads), pipelined messages
// come out one at a time, and every refusal carries its status however the bytes arrive.
#include "request_parser.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mempool/pool.hpp>

#include "model/request_parser_model.hpp"

using mempool::Pool;
using mempool::server::Limits;
using mempool::server::RequestParser;
using namespace std::string_literals;

namespace {

using State = RequestParser::State;
using mempool::test::parser_model::Parsed;

Limits test_limits() {
  Limits limits;
  limits.max_header_bytes = 512;
  limits.max_uri_bytes = 128;
  limits.max_body_bytes = 256;
  return limits;
}

// The completed request; a default Request if its header list did not fit the pool.
mempool::http::Request request_of(const RequestParser& parser, const char* buffer) {
  mempool::http::Request req;
  if (!parser.request(buffer, req)) return {};
  return req;
}

// (tests/model/request_parser_model.hpp: the stream cut at `cuts`, each message captured.)
std::vector<Parsed> parse_stream(std::string_view text, std::vector<std::size_t> cuts,
                                 const Limits& limits = test_limits(), std::size_t pool_capacity = 0) {
  return mempool::test::parser_model::parse_stream(text, std::move(cuts), limits, pool_capacity);
}

std::vector<Parsed> whole(std::string_view text, const Limits& limits = test_limits()) {
  return parse_stream(text, {}, limits);
}

std::vector<Parsed> byte_by_byte(std::string_view text, const Limits& limits = test_limits()) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < text.size(); ++i) cuts.push_back(i);
  return parse_stream(text, cuts, limits);
}

// `text` gives the same messages in one piece, byte by byte, and cut in two at every offset.
void check_split_invariant(std::string_view text, const Limits& limits = test_limits()) {
  const std::vector<Parsed> expected = whole(text, limits);
  CHECK(byte_by_byte(text, limits) == expected);
  for (std::size_t cut = 1; cut < text.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK(parse_stream(text, {cut}, limits) == expected);
  }
}

// `text`, one request, is refused with `status` in one piece and byte by byte (its bytes are
// not read as a request followed by a bad one).
void check_refusal(std::string_view text, int status, const Limits& limits = test_limits()) {
  for (const std::vector<Parsed>& out : {whole(text, limits), byte_by_byte(text, limits)}) {
    REQUIRE(out.size() == 1);
    CHECK(out[0].state == State::failed);
    CHECK(out[0].status == status);
  }
}

const std::string simple_get =
    "GET /path/to?x=1&y=2 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: parser-test\r\nAccept: */*\r\n"
    "X-Empty:\r\nX-Spaces:   padded value\r\n\r\n";
const std::string post_with_length = "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
const std::string post_chunked =
    "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n1;ext=1\r\n,\r\nA;a;b=c\r\n world 123\r\n0\r\nTrailer-Field: t\r\n\r\n";

}  // namespace

// --- one request ----------------------------------------------------------------------------------

// Every piece of a request, as views: method, target split at '?', version, headers in order
// (values without surrounding whitespace), keep-alive, and where the message ends.
TEST_CASE("a GET parses into method target path query version and headers") {
  const auto out = whole(simple_get);
  REQUIRE(out.size() == 2);
  const Parsed& p = out[0];
  CHECK(p.state == State::complete);
  CHECK(p.method_name == "GET");
  CHECK(p.target == "/path/to?x=1&y=2");
  CHECK(p.path == "/path/to");
  CHECK(p.query == "x=1&y=2");
  CHECK(p.major == 1);
  CHECK(p.minor == 1);
  CHECK(p.keep_alive);
  CHECK(p.body.empty());
  CHECK(p.message_end == simple_get.size());
  using H = std::pair<std::string, std::string>;
  CHECK(p.headers == std::vector<H>{{"Host", "example.test"},
                                    {"User-Agent", "parser-test"},
                                    {"Accept", "*/*"},
                                    {"X-Empty", ""},
                                    {"X-Spaces", "padded value"}});
}

// A Content-Length body lies in the buffer; the parser reports its length for sizing reads.
TEST_CASE("a Content-Length body is parsed and its length reported once the head is in") {
  Pool pool;
  const Limits limits = test_limits();
  RequestParser parser(limits);
  parser.start(pool);
  std::string head = post_with_length.substr(0, post_with_length.size() - 11);
  CHECK(parser.parse(head.data(), head.size()) == State::need_more);
  CHECK(parser.headers_complete());
  CHECK(parser.content_length() == 11);
  CHECK_FALSE(parser.chunked());
  std::string whole = post_with_length;
  CHECK(parser.parse(whole.data(), whole.size()) == State::complete);
  CHECK(request_of(parser, whole.data()).body == "hello world");
  CHECK(parser.message_end() == post_with_length.size());
}

// A chunked body (with chunk extensions and a trailer) comes out de-chunked.
TEST_CASE("a chunked body with extensions and a trailer is de-chunked") {
  const auto out = whole(post_chunked);
  REQUIRE(out.size() == 2);
  CHECK(out[0].state == State::complete);
  CHECK(out[0].body == "hello, world 123");
  CHECK(out[0].message_end == post_chunked.size());
}

// HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told keep-alive.
TEST_CASE("keep_alive follows the version and the Connection header") {
  CHECK(whole("GET / HTTP/1.1\r\nHost: h\r\n\r\n")[0].keep_alive);
  CHECK_FALSE(whole("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")[0].keep_alive);
  CHECK_FALSE(whole("GET / HTTP/1.0\r\n\r\n")[0].keep_alive);
  CHECK(whole("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")[0].keep_alive);
  CHECK(whole("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")[0].keep_alive);
}

// RFC 9110 §5.5: a field value excludes the whitespace around it, trailing included (handlers
// compare values such as Content-Type or If-Match as they are).
TEST_CASE("header values exclude leading and trailing whitespace") {
  const auto out = whole("GET / HTTP/1.1\r\nHost:  h \r\nX-Tabs:\t a b \t\r\n\r\n");
  REQUIRE(out[0].state == State::complete);
  REQUIRE(out[0].headers.size() == 2);
  CHECK(out[0].headers[0].second == "h");
  CHECK(out[0].headers[1].second == "a b");
}

// --- split anywhere -------------------------------------------------------------------------------

// TCP may cut a request anywhere: every cut, and every byte alone, gives the same request.
TEST_CASE("a GET split at every byte boundary parses the same") { check_split_invariant(simple_get); }

// The body may arrive with the head, after it, or cut anywhere inside.
TEST_CASE("a POST with a Content-Length body split at every byte boundary parses the same") {
  check_split_invariant(post_with_length);
}

// Chunk sizes, extensions, data and the trailer may each be cut anywhere.
TEST_CASE("a chunked POST split at every byte boundary parses the same") { check_split_invariant(post_chunked); }

// Pipelined messages split anywhere still come out one by one, in order.
TEST_CASE("pipelined messages split at every byte boundary parse the same") {
  check_split_invariant(simple_get + post_with_length + post_chunked + "GET /last HTTP/1.0\r\n\r\n");
}

// --- pipelining -----------------------------------------------------------------------------------

// The parser stops at the end of each message: message_end() is where the next one starts, and
// bytes after it are not touched until the next start().
TEST_CASE("pipelined messages come out one at a time with message_end at each boundary") {
  std::string stream = simple_get + post_with_length + post_chunked + "GET /a";
  Pool pool;
  const Limits limits = test_limits();
  RequestParser parser(limits);
  parser.start(pool);
  CHECK(parser.parse(stream.data(), stream.size()) == State::complete);
  CHECK(parser.message_end() == simple_get.size());
  CHECK(parser.parse(stream.data(), stream.size()) == State::complete);  // still the same message
  CHECK(request_of(parser, stream.data()).target == "/path/to?x=1&y=2");

  const auto out = whole(stream);
  REQUIRE(out.size() == 4);
  CHECK(out[0].target == "/path/to?x=1&y=2");
  CHECK(out[1].body == "hello world");
  CHECK(out[1].message_end == post_with_length.size());
  CHECK(out[2].body == "hello, world 123");
  CHECK(out[3].state == State::need_more);  // "GET /a" waits for the rest
}

// --- Expect: 100-continue -------------------------------------------------------------------------

// wants_continue() is true once the head is in and the body has not started, and only then.
TEST_CASE("Expect 100-continue is reported after the head and not once the body starts") {
  std::string head = "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
  Pool pool;
  const Limits limits = test_limits();
  RequestParser parser(limits);
  parser.start(pool);
  CHECK(parser.parse(head.data(), head.size() - 2) == State::need_more);
  CHECK_FALSE(parser.wants_continue());  // the head is not complete yet
  CHECK(parser.parse(head.data(), head.size()) == State::need_more);
  CHECK(parser.wants_continue());
  std::string more = head + "ab";
  CHECK(parser.parse(more.data(), more.size()) == State::need_more);
  CHECK_FALSE(parser.wants_continue());
  std::string all = head + "abcd";
  CHECK(parser.parse(all.data(), all.size()) == State::complete);
  CHECK_FALSE(parser.wants_continue());
}

// No body, nothing to wait for: no 100 Continue.
TEST_CASE("Expect 100-continue without a body is not reported") {
  std::string text = "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n";
  Pool pool;
  const Limits limits = test_limits();
  RequestParser parser(limits);
  parser.start(pool);
  CHECK(parser.parse(text.data(), text.size()) == State::complete);
  CHECK_FALSE(parser.wants_continue());
}

// RFC 9110 §10.1.1: an HTTP/1.0 client cannot read an interim response; its expectation is
// ignored (not refused with 417 either).
TEST_CASE("Expect 100-continue in an HTTP/1.0 request is ignored") {
  std::string head = "POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  Pool pool;
  const Limits limits = test_limits();
  RequestParser parser(limits);
  parser.start(pool);
  CHECK(parser.parse(head.data(), head.size()) == State::need_more);
  CHECK_FALSE(parser.wants_continue());
  CHECK(whole("POST /e HTTP/1.0\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx")[0].state == State::complete);
}

// RFC 9112 §3.2.2: the absolute form names its path (and query) after the authority.
TEST_CASE("an absolute-form target yields the path and query after the authority") {
  const auto out = whole("GET http://example.test:8080/a/b?q=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
  REQUIRE(out[0].state == State::complete);
  CHECK(out[0].target == "http://example.test:8080/a/b?q=1");
  CHECK(out[0].path == "/a/b");
  CHECK(out[0].query == "q=1");
  const auto bare = whole("GET http://example.test HTTP/1.1\r\nHost: example.test\r\n\r\n");
  REQUIRE(bare[0].state == State::complete);
  CHECK(bare[0].path == "/");
}

// --- refusals, each with its status whole and byte by byte --------------------------------------

// RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
TEST_CASE("HTTP/1.1 without Host is refused with 400") { check_refusal("GET / HTTP/1.1\r\n\r\n", 400); }

// Two Host headers make the target authority ambiguous.
TEST_CASE("two Host headers are refused with 400") {
  check_refusal("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
}

// Both framings at once: the request smuggling shape, in either order.
TEST_CASE("Content-Length with Transfer-Encoding is refused with 400") {
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400);
}

// Two Content-Length fields frame nothing we can trust, even when equal.
TEST_CASE("a duplicate Content-Length is refused with 400") {
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400);
}

// The last coding must be chunked, applied once, or the body has no framing.
TEST_CASE("a Transfer-Encoding not ending in chunked is refused with 400") {
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400);
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                400);
}

// A Transfer-Encoding field that names no coding is no framing either (llhttp reads no body).
TEST_CASE("an empty Transfer-Encoding is refused with 400") {
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400);
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  \r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400);
}

// A chunk size that is not plain hex, or overflows, breaks the framing.
TEST_CASE("a bad chunk size is refused with 400") {
  for (const char* size : {"zz", "-1", "0x3", "ffffffffffffffffff"}) {
    INFO(size);
    check_refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"s + size + "\r\nabc\r\n0\r\n\r\n",
                  400);
  }
}

// No NUL in a field; obs-fold refused (RFC 9112 §5.2).
TEST_CASE("a NUL or an obs-fold in a header is refused with 400") {
  check_refusal("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"s, 400);
  check_refusal("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400);
}

// Bytes no token may hold (a TLS record, punctuation) are a malformed request line: 400.
TEST_CASE("a method with a non-token byte is refused with 400") {
  check_refusal("\x16\x03\x01 / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  check_refusal("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
  check_refusal("GET( / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

// A well-formed token llhttp does not know is a method we do not implement: 501.
TEST_CASE("an unknown well-formed method is refused with 501") {
  check_refusal("FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501);
  check_refusal("PURGEX / HTTP/1.1\r\nHost: h\r\n\r\n", 501);
}

// A coding we do not decode (gzip) before chunked: 501, not a guess.
TEST_CASE("a transfer coding before chunked is refused with 501") {
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
}

// Only HTTP/1.0 and HTTP/1.1 are spoken: other versions are a 505.
TEST_CASE("HTTP/2.0 and HTTP/1.2 are refused with 505") {
  check_refusal("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
  check_refusal("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505);
}

// An expectation the server cannot meet is a 417 (RFC 9110 §10.1.1).
TEST_CASE("an expectation other than 100-continue is refused with 417") {
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", 417);
}

// The request target alone over its limit is a 414, however it arrives.
TEST_CASE("a request target over max_uri_bytes is refused with 414") {
  check_refusal("GET /" + std::string(200, 'u') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414);
}

// The head limit holds whether the head arrives complete or keeps coming without its end.
TEST_CASE("a head over max_header_bytes is refused with 431") {
  const std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(600, 'b') + "\r\n";
  check_refusal(big + "\r\n", 431);
  check_refusal(big, 431);  // never completes: refused once past the limit
}

// The limit is on the head: a body does not count against it.
TEST_CASE("a head under max_header_bytes with a body over it is accepted") {
  const std::string text = "POST / HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(400, 'p') +
                           "\r\nContent-Length: 200\r\n\r\n" + std::string(200, 'b');
  CHECK(whole(text)[0].state == State::complete);
  CHECK(byte_by_byte(text)[0].state == State::complete);
}

// A declared body over the limit is refused before any of it is read.
TEST_CASE("a declared body over max_body_bytes is refused with 413 from the head alone") {
  check_refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 257\r\n\r\n", 413);
}

// A chunked body has no declared size: refused once it goes past the limit.
TEST_CASE("a chunked body over max_body_bytes is refused with 413") {
  std::string text = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) text += "64\r\n" + std::string(100, 'c') + "\r\n";
  check_refusal(text + "0\r\n\r\n", 413);
}

// The body is de-chunked in place, in the read buffer: it takes nothing of the request pool,
// so a pool of one page takes a 10 KB chunked body.
TEST_CASE("a chunked body is de-chunked in place and takes no request pool memory") {
  Limits limits = test_limits();
  limits.max_body_bytes = 1 << 20;
  std::string text = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string body;
  for (int i = 0; i < 10; ++i) {
    text += "3e8\r\n" + std::string(1000, static_cast<char>('a' + i)) + "\r\n";
    body += std::string(1000, static_cast<char>('a' + i));
  }
  text += "0\r\n\r\n";
  const auto out = parse_stream(text, {}, limits, 4096);
  REQUIRE(out.size() == 2);
  CHECK(out[0].state == State::complete);
  CHECK(out[0].body == body);
}

// reclaim() gives the chunk framing already parsed back to the buffer: the head and the body so
// far keep their offsets, and the message goes on from the bytes moved down.
TEST_CASE("reclaim gives back parsed chunk framing and parsing goes on") {
  const Limits limits = test_limits();
  Pool pool;
  RequestParser parser(limits);
  parser.start(pool);
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string buffer = head + "5\r\nhello\r\n6\r\n world\r\n";
  CHECK(parser.reclaimable() == 0);  // nothing parsed yet
  REQUIRE(parser.parse(buffer.data(), buffer.size()) == State::need_more);
  CHECK(parser.reclaimable() == std::string("5\r\n\r\n6\r\n\r\n").size());
  std::size_t filled = buffer.size();
  parser.reclaim(buffer.data(), filled);
  CHECK(filled == head.size() + 11);
  CHECK(parser.reclaimable() == 0);
  buffer.resize(filled);
  CHECK(buffer.substr(head.size()) == "hello world");
  buffer += "1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n";
  REQUIRE(parser.parse(buffer.data(), buffer.size()) == State::complete);
  CHECK(parser.reclaimable() == 0);  // a complete message keeps its bytes
  CHECK(request_of(parser, buffer.data()).body == "hello world!");
  CHECK(parser.message_end() == buffer.size());
}

// A failed parser stays failed: later calls do not resume parsing.
TEST_CASE("a failed parse stays failed on later calls") {
  std::string text = "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  Pool pool;
  const Limits limits = test_limits();
  RequestParser parser(limits);
  parser.start(pool);
  CHECK(parser.parse(text.data(), text.size()) == State::failed);
  CHECK(parser.error_status() == 400);
  CHECK(parser.parse(text.data(), text.size()) == State::failed);
}

// --- strict framing (RFC 9112 §2.2, §5, §6, §7; issue 10) ------------------------------------------

namespace {

const std::string chunked_head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

// `text` is refused with `status`, and the same however it is cut into reads.
void check_refusal_anywhere(std::string_view text, int status, const Limits& limits = test_limits()) {
  check_refusal(text, status, limits);
  check_split_invariant(text, limits);
}

}  // namespace

// RFC 9112 §2.2: a CR not followed by LF is no line end; read as one, the same bytes frame a
// different message for a peer that reads them otherwise.
TEST_CASE("a bare CR anywhere in the head or the chunked framing is refused with 400") {
  for (const std::string& text : {
           "GET / HTTP/1.1\rHost: h\r\n\r\n"s,                       // request line
           "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"s,               // header line
           "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"s,           // inside a value
           "GET / HTTP/1.1\r\nHost: h\r\n\rX\r\n\r\n"s,               // before the blank line
           "GET / HTTP/1.1\r\nHost: h\r X: y\r\n\r\n"s,               // CR then a space
           chunked_head + "5\rhello\r\n0\r\n\r\n",                    // chunk-size line
           chunked_head + "5;a=b\rX\r\nhello\r\n0\r\n\r\n",            // chunk extension
           chunked_head + "5\r\nhello\r\n0\rX\r\n\r\n",                // last-chunk line
           chunked_head + "5\r\nhello\r\n0\r\nX: a\rb\r\n\r\n",         // trailer
           chunked_head + "5\r\nhello\r\n0\r\n\rX",                    // end of the trailer section
       }) {
    INFO(text);
    check_refusal_anywhere(text, 400);
  }
}

// RFC 9112 §7.1: chunk data is followed by CRLF and nothing else.
TEST_CASE("anything but CRLF after chunk data is refused with 400") {
  for (const char* after : {"XX", "\rX", "\n0", "\r\r"}) {
    INFO(after);
    check_refusal_anywhere(chunked_head + "5\r\nhello" + after + "0\r\n\r\n", 400);  // lenient llhttp: any two bytes
  }
}

// RFC 9112 §5.2: obs-fold refused wherever it is, also when the value's first line is empty
// (llhttp then reports the value as if it began on the next line) or holds only whitespace.
TEST_CASE("obs-fold anywhere is refused with 400") {
  for (const std::string& text : {
           "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"s,
           "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"s,
           "GET / HTTP/1.1\r\nHost: h\r\nX:\r\n b\r\n\r\n"s,
           "GET / HTTP/1.1\r\nHost: h\r\nX:\r\n \r\n\r\n"s,
           "GET / HTTP/1.1\r\nHost:\r\n h\r\n\r\n"s,
           "GET / HTTP/1.1\r\n X: y\r\nHost: h\r\n\r\n"s,  // whitespace before the first field
           "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"s,
           chunked_head + "5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n",
           chunked_head + "5\r\nhello\r\n0\r\nX:\r\n b\r\n\r\n",
       }) {
    INFO(text);
    check_refusal_anywhere(text, 400);
  }
}

// RFC 9112 §5.1: a field name is a token, with nothing between it and the colon.
TEST_CASE("an empty field name or whitespace in or after a name is refused with 400") {
  check_refusal_anywhere("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400);
  check_refusal_anywhere("GET / HTTP/1.1\r\nHost: h\r\nX : v\r\n\r\n", 400);
  check_refusal_anywhere("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
  check_refusal_anywhere("GET / HTTP/1.1\r\nHost: h\r\nX Y: v\r\n\r\n", 400);
  check_refusal_anywhere("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400);
  check_refusal_anywhere(chunked_head + "0\r\n: v\r\n\r\n", 400);
}

// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing, Content-Length
// or not.
TEST_CASE("Transfer-Encoding in an HTTP/1.0 request is refused with 400") {
  check_refusal_anywhere("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400);
  check_refusal_anywhere("POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello", 400);
}

// RFC 9110 §7.2: a Host that is no uri-host[:port] is a 400; IP literals, ports and an empty
// value are fine.
TEST_CASE("an invalid Host is refused with 400 and valid forms are accepted") {
  for (const char* host : {"a b", "a/b", "a@b", "a:b", "[::1", "[]", "a%zz", "a\"b"}) {
    INFO(host);
    check_refusal_anywhere("GET / HTTP/1.1\r\nHost: "s + host + "\r\n\r\n", 400);
  }
  for (const char* host : {"example.test", "example.test:8080", "127.0.0.1:80", "[::1]:8080", "[v1.x]", "", "a%20b",
                           "host:"}) {
    INFO(host);
    CHECK(whole("GET / HTTP/1.1\r\nHost: "s + host + "\r\n\r\n")[0].state == State::complete);
  }
}

// A method llhttp does not know is judged once its end arrives, on the whole token: bytes of one
// method split across reads are never read as two ("PO" + "GET" is the method POGET, not GET).
TEST_CASE("bytes of a method split across reads are parsed as one method") {
  const std::string text = "POGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  for (const std::vector<std::size_t>& cuts : std::vector<std::vector<std::size_t>>{{2}, {2, 3}, {1, 2, 3, 4}}) {
    const auto out = parse_stream(text, cuts);
    CHECK(out.back().state == State::failed);
    CHECK(out.back().status == 501);
  }
  check_split_invariant(text);
  check_split_invariant("\r\nPURGEX / HTTP/1.1\r\nHost: h\r\n\r\n");
  check_split_invariant("GETX(/ HTTP/1.1\r\nHost: h\r\n\r\n");
}

// A version "HTTP/d.d" we do not speak is a 505; anything else in its place is a malformed line.
TEST_CASE("a malformed version is refused with 400, an unknown well-formed one with 505") {
  for (const char* version : {"HTTP/ 1.1", "HTTP/1.10", "HTTP/1.1x", "http/1.1", "HTTP/1", "HTTP/11.1"}) {
    INFO(version);
    check_refusal_anywhere("GET / "s + version + "\r\nHost: h\r\n\r\n", 400);
  }
  for (const char* version : {"HTTP/1.2", "HTTP/2.0", "HTTP/3.1", "HTTP/0.9"}) {
    INFO(version);
    check_refusal_anywhere("GET / "s + version + "\r\nHost: h\r\n\r\n", 505);
  }
}

// RFC 9110 §7.6.1: Connection is a token list; "close" anywhere in it closes, in 1.0 as in 1.1.
TEST_CASE("keep_alive is false when Connection lists close next to keep-alive") {
  CHECK_FALSE(whole("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n")[0].keep_alive);
  CHECK_FALSE(whole("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")[0].keep_alive);
  CHECK_FALSE(whole("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n")[0].keep_alive);
}

// --- trailers -------------------------------------------------------------------------------------

// Trailer fields are checked, then dropped: a handler reads the head's headers only.
TEST_CASE("trailer fields stay out of the request's headers") {
  const auto out = whole(chunked_head + "5\r\nhello\r\n0\r\nX-Trailer: t\r\nHost: other\r\n\r\n");
  REQUIRE(out[0].state == State::complete);
  CHECK(out[0].body == "hello");
  using H = std::pair<std::string, std::string>;
  CHECK(out[0].headers == std::vector<H>{{"Host", "h"}, {"Transfer-Encoding", "chunked"}});
}

// The trailer section counts against the head's limit: it may take what the head left.
TEST_CASE("trailers over what the head left of max_header_bytes are refused with 431") {
  const std::size_t left = test_limits().max_header_bytes - chunked_head.size();
  const auto trailers = [](std::size_t bytes) {  // a trailer section of exactly `bytes` bytes
    return "X: " + std::string(bytes - 7, 't') + "\r\n\r\n";
  };
  const std::string fits = chunked_head + "5\r\nhello\r\n0\r\n" + trailers(left);
  CHECK(whole(fits)[0].state == State::complete);
  check_split_invariant(fits);
  check_refusal_anywhere(chunked_head + "5\r\nhello\r\n0\r\n" + trailers(left + 1), 431);
  check_refusal_anywhere(chunked_head + "5\r\nhello\r\n0\r\n" + trailers(left + 100), 431);
}

// RFC 9110 §6.5.1: a trailer may not control the connection; llhttp reads Connection there too.
TEST_CASE("a Connection field in the trailers does not decide keep_alive") {
  const auto out = whole(chunked_head + "5\r\nhello\r\n0\r\nConnection: close\r\n\r\n");
  REQUIRE(out[0].state == State::complete);
  CHECK(out[0].keep_alive);
  const std::string closing = "POST / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
  CHECK_FALSE(whole(closing + "0\r\nConnection: keep-alive\r\n\r\n")[0].keep_alive);
}

// --- limits are positions -------------------------------------------------------------------------

// A head of exactly max_header_bytes is read; one byte more is a 431, whether the last byte is
// the head's end or anything else, and however the head arrives.
TEST_CASE("the head limit is exact and independent of how the head arrives") {
  const std::size_t limit = test_limits().max_header_bytes;
  const std::string start = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  const std::string exact = start + std::string(limit - start.size() - 4, 'x') + "\r\n\r\n";
  REQUIRE(exact.size() == limit);
  CHECK(whole(exact)[0].state == State::complete);
  check_split_invariant(exact);
  const std::string over = start + std::string(limit - start.size() - 3, 'x') + "\r\n\r\n";
  check_refusal_anywhere(over, 431);
  // A fault after the limit: the limit came first.
  check_refusal_anywhere(start + std::string(limit, 'x') + "\x01\r\n\r\n", 431);
  // A fault before it: the fault.
  check_refusal_anywhere(start + "\x01" + std::string(limit, 'x') + "\r\n\r\n", 400);
  // Still in the request target when the limit passes: 414.
  Limits wide_uri = test_limits();
  wide_uri.max_uri_bytes = wide_uri.max_header_bytes;
  check_refusal_anywhere("GET /" + std::string(limit, 'u') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414, wide_uri);
}

// The target is judged whole, at its end: one of exactly max_uri_bytes is read, one byte more
// is a 414, and a longer one with a fault inside it is the fault, however the bytes arrive.
TEST_CASE("the request target limit is judged on the whole target") {
  const std::size_t limit = test_limits().max_uri_bytes;
  const std::string exact = "GET /" + std::string(limit - 1, 'u') + " HTTP/1.1\r\nHost: h\r\n\r\n";
  CHECK(whole(exact)[0].state == State::complete);
  check_split_invariant(exact);
  check_refusal_anywhere("GET /" + std::string(limit, 'u') + " HTTP/1.1\r\nHost: h\r\n\r\n", 414);
  check_refusal_anywhere("GET /" + std::string(limit + 10, 'u') + "\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

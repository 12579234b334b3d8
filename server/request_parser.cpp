#include "request_parser.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

namespace mempool::server {

namespace {

using http::iequals;

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Transfer-Encoding of a request, over all its lines as one list (RFC 9110 §5.3): the last
// coding must be chunked, applied once, or the body has no framing we can trust (400: the
// smuggling shapes, an empty field among them); a coding before it (gzip, ...) is one we do not
// decode (501).
class TransferEncodingScan {
 public:
  void add(std::string_view value) noexcept {
    present_ = true;
    while (!value.empty()) {
      const auto comma = value.find(',');
      const std::string_view token = trim(value.substr(0, comma));
      if (tokens_ > 0 && iequals(last_, "chunked")) chunked_before_last_ = true;
      last_ = token;
      ++tokens_;
      value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    }
  }
  /// 0 when acceptable (or absent), else the status to refuse with.
  int refusal() const noexcept {
    if (!present_) return 0;
    if (tokens_ == 0 || !iequals(last_, "chunked") || chunked_before_last_) return 400;
    return tokens_ > 1 ? 501 : 0;
  }
  bool present() const noexcept { return present_; }

 private:
  std::string_view last_;
  int tokens_ = 0;
  bool present_ = false;
  bool chunked_before_last_ = false;
};

// RFC 9110 tchar: what a method token or a field name may be made of.
bool is_tchar(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// RFC 3986 unreserved and sub-delims: what a reg-name or an IP literal may hold.
bool is_host_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
         std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

// RFC 9110 §7.2: Host = uri-host [ ":" port ], the host a reg-name (percent-encoding allowed), an
// IPv4 address or an IP literal in brackets. Empty is allowed: a target without an authority.
bool valid_host(std::string_view host) noexcept {
  if (host.starts_with('[')) {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (const char c : host.substr(1, close - 1)) {
      if (!is_host_char(c) && c != ':') return false;
    }
    host.remove_prefix(close + 1);
  } else {
    std::size_t i = 0;
    for (; i < host.size() && host[i] != ':'; ++i) {
      if (host[i] == '%') {
        if (i + 2 >= host.size() || !is_hex(host[i + 1]) || !is_hex(host[i + 2])) return false;
        i += 2;
      } else if (!is_host_char(host[i])) {
        return false;
      }
    }
    host.remove_prefix(i);
  }
  if (host.empty()) return true;
  if (host.front() != ':') return false;
  return std::all_of(host.begin() + 1, host.end(), is_digit);  // port = *DIGIT
}

// Whether a line of `section` (which starts at a line's start) begins with whitespace: obs-fold
// (RFC 9112 §5.2), a field value continued on the next line, which llhttp accepts and a server
// may refuse; also whitespace before the first field (§2.2).
bool has_folded_line(std::string_view section) noexcept {
  for (std::size_t line = 0; line < section.size();) {
    if (section[line] == ' ' || section[line] == '\t') return true;
    const std::size_t lf = section.find('\n', line);
    if (lf == std::string_view::npos) break;
    line = lf + 1;
  }
  return false;
}

constexpr std::uint32_t initial_header_capacity = 16;
constexpr std::size_t no_limit = SIZE_MAX;

}  // namespace

const llhttp_settings_t RequestParser::settings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = &RequestParser::on_message_begin;
  s.on_method_complete = &RequestParser::on_method_complete;
  s.on_url = &RequestParser::on_url;
  s.on_url_complete = &RequestParser::on_url_complete;
  s.on_header_field = &RequestParser::on_header_field;
  s.on_header_value = &RequestParser::on_header_value;
  s.on_header_value_complete = &RequestParser::on_header_value_complete;
  s.on_headers_complete = &RequestParser::on_headers_complete;
  s.on_chunk_header = &RequestParser::on_chunk_header;
  s.on_body = &RequestParser::on_body;
  s.on_message_complete = &RequestParser::on_message_complete;
  return s;
}();

RequestParser::RequestParser(const Limits& limits) noexcept : limits_(&limits) {}

void RequestParser::start(Pool& pool) noexcept {
  llhttp_init(&parser_, HTTP_REQUEST, &settings);
  parser_.data = this;
  pool_ = &pool;
  base_ = nullptr;
  filled_ = parsed_ = 0;
  limit_end_ = limits_->max_header_bytes;
  head_bytes_ = trailers_begin_ = 0;
  headers_ = nullptr;
  header_count_ = header_capacity_ = 0;
  trailer_ = {};
  field_ = nullptr;
  url_ = body_ = {};
  content_length_ = 0;
  error_status_ = 0;
  error_reason_ = "";
  milestone_ = Milestone::none;
  in_value_ = url_done_ = headers_done_ = message_done_ = chunked_ = expect_continue_ = keep_alive_ = head_ = false;
}

RequestParser::State RequestParser::parse(char* buffer, std::size_t filled) noexcept {
  if (error_status_ != 0) return State::failed;
  if (message_done_) return State::complete;
  base_ = buffer;
  filled_ = filled;
  for (;;) {
    const llhttp_errno_t err = llhttp_execute(&parser_, buffer + parsed_, filled - parsed_);
    // Every byte before `consumed` was read without fault.
    const std::size_t consumed =
        err == HPE_OK ? filled : static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - buffer);
    if (consumed > limit_end_) return over_limit();  // the limit came first
    if (err == HPE_OK) {
      parsed_ = filled;
      return State::need_more;
    }
    if (err == HPE_PAUSED) {
      const State state = reached(std::exchange(milestone_, Milestone::none), consumed);
      if (state != State::need_more) return state;
      llhttp_resume(&parser_);
      continue;
    }
    if (err == HPE_INVALID_METHOD && error_status_ == 0) return unknown_method();
    fail_from_llhttp(err);
    return State::failed;
  }
}

// llhttp paused at the end of a section, `offset` bytes into the buffer. need_more: go on.
RequestParser::State RequestParser::reached(Milestone milestone, std::size_t offset) noexcept {
  parsed_ = offset;
  switch (milestone) {
    case Milestone::head:
      head_bytes_ = offset;
      limit_end_ = no_limit;
      body_ = {static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(offset)};  // a chunked body's start
      return check_head() == 0 ? State::need_more : State::failed;
    case Milestone::last_chunk:
      // The trailer section may take what the head left of the head's limit.
      trailers_begin_ = offset;
      limit_end_ = offset + (limits_->max_header_bytes - head_bytes_);
      return State::need_more;
    case Milestone::message:
      if (chunked_ && has_folded_line({base_ + trailers_begin_, offset - trailers_begin_})) {
        fail(400, "folded trailer line");
        return State::failed;
      }
      return State::complete;
    case Milestone::none:
      break;
  }
  fail(500, "parser paused unexpectedly");
  return State::failed;
}

// A byte past the head's (or the trailers') limit was read before the section ended.
RequestParser::State RequestParser::over_limit() noexcept {
  const bool in_target = !url_done_ || url_.end > limit_end_;  // where the limit was crossed
  error_status_ = 0;  // this answer comes first, whatever a later byte would have earned
  fail(in_target ? 414 : 431, in_target ? "request URI too long" : "request headers too large");
  return State::failed;
}

// llhttp knows no method that starts like this. A token followed by a space is a method we do
// not implement (501); anything else is no request line (400). Until the token's end arrives
// (within the head's limit) nothing is decided: llhttp starts again from the first byte then.
RequestParser::State RequestParser::unknown_method() noexcept {
  std::size_t begin = 0;
  while (begin < filled_ && (base_[begin] == '\r' || base_[begin] == '\n')) ++begin;  // empty lines first
  std::size_t end = begin;
  while (end < filled_ && is_tchar(base_[end])) ++end;
  if (end > limit_end_) return over_limit();
  if (end == filled_) {
    llhttp_init(&parser_, HTTP_REQUEST, &settings);
    parser_.data = this;
    parsed_ = 0;
    return State::need_more;
  }
  const bool token = end > begin && base_[end] == ' ';
  fail(token ? 501 : 400, token ? "unknown method" : "malformed request line");
  return State::failed;
}

void RequestParser::fail_from_llhttp(llhttp_errno_t err) noexcept {
  if (error_status_ != 0) return;  // a callback already chose the answer
  switch (err) {
    case HPE_INVALID_VERSION: {
      // llhttp refuses a well-formed "HTTP/d.d" it does not know right after its last digit:
      // a version we do not speak (505). After 1.0 or 1.1, or before a whole version, the line
      // itself is malformed (400).
      const char* at = llhttp_get_error_pos(&parser_);
      const bool known = parser_.http_major == 1 && parser_.http_minor <= 1;
      const bool well_formed = at - base_ >= 8 && std::string_view(at - 8, 5) == "HTTP/" && is_digit(at[-3]) &&
                               at[-2] == '.' && is_digit(at[-1]);
      const bool unsupported = well_formed && !known;
      fail(unsupported ? 505 : 400, unsupported ? "unsupported HTTP version" : "malformed request line");
      break;
    }
    case HPE_PAUSED_UPGRADE: fail(501, "protocol upgrade not supported"); break;
    default: fail(400, llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "bad request");
  }
}

int RequestParser::fail(int status, const char* reason) noexcept {
  if (error_status_ == 0) {
    error_status_ = status;
    error_reason_ = reason;
  }
  return HPE_USER;  // (as a callback's return value: stop parsing)
}

void RequestParser::extend(Span& span, const char* at, std::size_t n) noexcept {
  const auto begin = static_cast<std::uint32_t>(at - base_);
  if (span.empty()) span.begin = begin;
  span.end = static_cast<std::uint32_t>(begin + n);
}

bool RequestParser::add_header() noexcept {
  if (header_count_ == header_capacity_) {
    const std::uint32_t grown = header_capacity_ ? header_capacity_ * 2 : initial_header_capacity;
    auto* moved = static_cast<RawHeader*>(pool_->realloc(headers_, header_capacity_ * sizeof(RawHeader),
                                                         grown * sizeof(RawHeader), alignof(RawHeader)));
    if (moved == nullptr) return false;
    headers_ = moved;
    header_capacity_ = grown;
  }
  headers_[header_count_++] = RawHeader{};
  return true;
}

// --- llhttp callbacks ---------------------------------------------------------------------------
// A span callback may come in pieces (llhttp reports what it has at the end of each read); the
// pieces of one span are contiguous.

int RequestParser::on_message_begin(llhttp_t*) noexcept { return 0; }

int RequestParser::on_method_complete(llhttp_t* p) noexcept {
  self(p).head_ = llhttp_get_method(p) == HTTP_HEAD;
  return 0;
}

int RequestParser::on_url(llhttp_t* p, const char* at, std::size_t n) noexcept {
  RequestParser& r = self(p);
  r.extend(r.url_, at, n);
  return 0;
}

// Judged once whole, at the byte that ends it: how the target was cut into reads cannot matter.
int RequestParser::on_url_complete(llhttp_t* p) noexcept {
  RequestParser& r = self(p);
  if (r.url_.size() > r.limits_->max_uri_bytes) return r.fail(414, "request URI too long");
  r.url_done_ = true;
  return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, std::size_t n) noexcept {
  RequestParser& r = self(p);
  if (r.field_ == nullptr || r.in_value_) {  // a new field: a header, or a trailer once the head is in
    if (r.headers_done_) {
      r.trailer_ = {};
      r.field_ = &r.trailer_;
    } else {
      if (!r.add_header()) return r.fail(431, "too many headers for the request pool");
      r.field_ = &r.headers_[r.header_count_ - 1];
    }
    r.in_value_ = false;
  }
  r.extend(r.field_->name, at, n);
  return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, std::size_t n) noexcept {
  RequestParser& r = self(p);
  if (r.field_ == nullptr || r.field_->name.empty()) return r.fail(400, "empty header name");
  r.in_value_ = true;
  if (n > 0) r.extend(r.field_->value, at, n);  // (an empty piece may be reported on the next line)
  return 0;
}

int RequestParser::on_header_value_complete(llhttp_t* p) noexcept {
  self(p).in_value_ = true;  // the next name starts a new field, even after an empty value
  return 0;
}

int RequestParser::on_headers_complete(llhttp_t* p) noexcept {
  RequestParser& r = self(p);
  r.headers_done_ = true;
  r.milestone_ = Milestone::head;
  return HPE_PAUSED;  // parse() checks the head where it ends
}

// What llhttp leaves to us once the head is known (DESIGN §4 limits and answers).
int RequestParser::check_head() noexcept {
  if (has_folded_line({base_, head_bytes_})) return fail(400, "folded header line");
  if (parser_.http_major != 1) return fail(505, "unsupported HTTP version");
  int hosts = 0;
  bool host_valid = true;
  TransferEncodingScan transfer_encoding;
  for (std::uint32_t i = 0; i < header_count_; ++i) {
    const std::string_view name = view(base_, headers_[i].name);
    const std::string_view value = view(base_, headers_[i].value);
    if (iequals(name, "host")) {
      ++hosts;
      host_valid = host_valid && valid_host(trim(value));
    } else if (iequals(name, "transfer-encoding")) {
      transfer_encoding.add(value);
    } else if (iequals(name, "expect") && parser_.http_minor >= 1) {  // HTTP/1.0: ignored (RFC 9110 §10.1.1)
      if (!iequals(trim(value), "100-continue")) return fail(417, "unsupported expectation");
      expect_continue_ = true;
    }
  }
  // RFC 9110 §7.2: none in HTTP/1.1, more than one, or one that is no host: 400.
  if (hosts > 1) return fail(400, "more than one Host header");
  if (hosts == 0 && parser_.http_minor >= 1) return fail(400, "HTTP/1.1 request without Host");
  if (!host_valid) return fail(400, "invalid Host header");
  // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
  if ((parser_.flags & F_TRANSFER_ENCODING) && parser_.http_minor == 0) {
    return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (const int status = transfer_encoding.refusal()) {
    return fail(status, status == 400 ? "transfer coding not ending in chunked" : "unsupported transfer coding");
  }
  chunked_ = (parser_.flags & F_CHUNKED) != 0;
  // The framing is llhttp's: a Transfer-Encoding we accept that it does not read as chunked
  // would let the two disagree on where the body ends.
  if (transfer_encoding.present() && !chunked_) return fail(400, "Transfer-Encoding not read as chunked");
  if (parser_.flags & F_CONTENT_LENGTH) {
    content_length_ = parser_.content_length;
    if (content_length_ > limits_->max_body_bytes) return fail(413, "body larger than allowed");
  }
  if (!chunked_ && content_length_ == 0) expect_continue_ = false;  // no body to wait for
  // Decided by the head alone: llhttp also reads Connection in trailers, which may not control
  // the connection (RFC 9110 §6.5.1). Connection is a token list: "keep-alive, close" closes, in
  // HTTP/1.0 too (llhttp's own answer lets keep-alive win there).
  keep_alive_ = llhttp_should_keep_alive(&parser_) != 0 && parser_.upgrade == 0 &&
                (parser_.flags & F_CONNECTION_CLOSE) == 0;
  return 0;
}

// The last chunk (size 0) starts the trailer section: parse() sets its limit where it begins.
int RequestParser::on_chunk_header(llhttp_t* p) noexcept {
  if (p->content_length != 0) return 0;
  self(p).milestone_ = Milestone::last_chunk;
  return HPE_PAUSED;
}

int RequestParser::on_body(llhttp_t* p, const char* at, std::size_t n) noexcept {
  RequestParser& r = self(p);
  r.expect_continue_ = false;  // the body is coming anyway
  if (!r.chunked_) {
    r.extend(r.body_, at, n);  // contiguous in the read buffer
    return 0;
  }
  if (r.body_.size() + n > r.limits_->max_body_bytes) return r.fail(413, "body larger than allowed");
  // De-chunked in place: down over the framing read before it (never past `at`: the bytes it
  // overwrites are all parsed).
  std::memmove(r.base_ + r.body_.end, at, n);
  r.body_.end += static_cast<std::uint32_t>(n);
  return 0;
}

// Only while a chunked body is being read: the head's offsets and the trailers' section (whose
// limit is an offset) stay where they are.
std::size_t RequestParser::reclaimable() const noexcept {
  if (!chunked_ || !headers_done_ || message_done_ || trailers_begin_ != 0 || error_status_ != 0) return 0;
  return parsed_ - body_.end;
}

void RequestParser::reclaim(char* buffer, std::size_t& filled) noexcept {
  const std::size_t gap = reclaimable();
  if (gap == 0) return;
  std::memmove(buffer + body_.end, buffer + parsed_, filled - parsed_);
  parsed_ -= gap;
  filled -= gap;
}

int RequestParser::on_message_complete(llhttp_t* p) noexcept {
  RequestParser& r = self(p);
  r.message_done_ = true;
  r.expect_continue_ = false;
  r.milestone_ = Milestone::message;
  return HPE_PAUSED;  // one request at a time: the rest of the buffer waits for the next
}

// --- the request --------------------------------------------------------------------------------

// RFC 9112 §3.2.2: "http://host/path?q" (absolute form) names the path "/path".
static std::string_view origin_form(std::string_view target) noexcept {
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos || target.starts_with('/')) return target;
  const auto path = target.find('/', scheme_end + 3);
  return path == std::string_view::npos ? std::string_view("/") : target.substr(path);
}

bool RequestParser::request(const char* buffer, http::Request& req) const noexcept {
  req = {};
  req.request_pool = pool_;
  req.method_name = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  req.method = http::method_from(req.method_name);
  req.target = view(buffer, url_);
  const std::string_view origin = origin_form(req.target);
  const auto question = origin.find('?');
  req.path = origin.substr(0, question);
  req.query = question == std::string_view::npos ? std::string_view{} : origin.substr(question + 1);
  req.version_major = parser_.http_major;
  req.version_minor = parser_.http_minor;
  req.keep_alive = keep_alive_;
  req.body = view(buffer, body_);
  auto* headers = pool_->alloc_array<http::Header>(header_count_);
  if (headers == nullptr && header_count_ != 0) return false;  // the request pool is full
  for (std::uint32_t i = 0; i < header_count_; ++i) {
    // llhttp leaves the value's trailing whitespace in (RFC 9110 §5.5: not part of it).
    headers[i] = {view(buffer, headers_[i].name), trim(view(buffer, headers_[i].value))};
  }
  req.headers = {headers, header_count_};
  return true;
}

}  // namespace mempool::server

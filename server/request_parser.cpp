#include "request_parser.hpp"

#include <algorithm>
#include <cstring>

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
// smuggling shapes); a coding before it (gzip, ...) is one we do not decode (501).
class TransferEncodingScan {
 public:
  void add(std::string_view value) noexcept {
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
    if (tokens_ == 0) return 0;
    if (!iequals(last_, "chunked") || chunked_before_last_) return 400;
    return tokens_ > 1 ? 501 : 0;
  }

 private:
  std::string_view last_;
  int tokens_ = 0;
  bool chunked_before_last_ = false;
};

// RFC 9110 tchar: what a method token may be made of.
bool is_tchar(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

constexpr std::uint32_t initial_header_capacity = 16;

}  // namespace

const llhttp_settings_t RequestParser::settings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = &RequestParser::on_message_begin;
  s.on_url = &RequestParser::on_url;
  s.on_url_complete = &RequestParser::on_url_complete;
  s.on_header_field = &RequestParser::on_header_field;
  s.on_header_value = &RequestParser::on_header_value;
  s.on_header_value_complete = &RequestParser::on_header_value_complete;
  s.on_headers_complete = &RequestParser::on_headers_complete;
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
  parsed_ = 0;
  headers_ = nullptr;
  header_count_ = header_capacity_ = 0;
  url_ = body_ = {};
  chunked_body_ = nullptr;
  chunked_size_ = chunked_capacity_ = 0;
  content_length_ = 0;
  error_status_ = 0;
  error_reason_ = "";
  in_value_ = url_done_ = headers_done_ = message_done_ = chunked_ = expect_continue_ = false;
}

RequestParser::State RequestParser::parse(const char* buffer, std::size_t filled) noexcept {
  if (error_status_ != 0) return State::failed;
  if (message_done_) return State::complete;
  base_ = buffer;
  filled_ = filled;
  const llhttp_errno_t err = llhttp_execute(&parser_, buffer + parsed_, filled - parsed_);
  if (err == HPE_OK) {
    parsed_ = filled;
    // Everything so far is still the head: hold it to its limit.
    if (!headers_done_ && parsed_ > limits_->max_header_bytes) {
      fail(url_done_ ? 431 : 414, url_done_ ? "request headers too large" : "request URI too long");
      return State::failed;
    }
    return State::need_more;
  }
  if (err == HPE_INVALID_METHOD && error_status_ == 0 && method_undecided()) {
    llhttp_init(&parser_, HTTP_REQUEST, &settings);  // parse again from the start with more bytes
    parser_.data = this;
    return State::need_more;
  }
  if ((err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) && message_done_) {
    parsed_ = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - buffer);
    return State::complete;
  }
  fail_from_llhttp(err);
  return State::failed;
}

void RequestParser::fail_from_llhttp(llhttp_errno_t err) noexcept {
  if (error_status_ != 0) return;  // a callback already chose the answer
  switch (err) {
    case HPE_INVALID_VERSION:
      // llhttp read 1.0 or 1.1: what follows the version is wrong (400), not the version (505).
      if (parser_.http_major == 1 && parser_.http_minor <= 1) {
        fail(400, "malformed request line");
      } else {
        fail(505, "unsupported HTTP version");
      }
      break;
    case HPE_INVALID_METHOD: fail(method_is_token() ? 501 : 400, "unknown method"); break;
    case HPE_PAUSED_UPGRADE: fail(501, "protocol upgrade not supported"); break;
    default: fail(400, llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "bad request");
  }
}

// A well-formed method llhttp does not know (501) rather than bytes that are no method (400):
// a token, then the space before the target.
bool RequestParser::method_is_token() const noexcept {
  const char* end = base_ + filled_;
  const char* p = base_;
  while (p < end && is_tchar(*p)) ++p;
  return p > base_ && p < end && *p == ' ';
}

// A method llhttp does not know, all token so far, with its space not yet here: 501 or 400 is
// decided once more bytes arrive (within the head's limit).
bool RequestParser::method_undecided() const noexcept {
  const char* end = base_ + filled_;
  const char* p = base_;
  while (p < end && is_tchar(*p)) ++p;
  return p == end && filled_ <= limits_->max_header_bytes;
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

// --- llhttp callbacks ---------------------------------------------------------------------------

int RequestParser::on_message_begin(llhttp_t*) noexcept { return 0; }

int RequestParser::on_url(llhttp_t* p, const char* at, std::size_t n) noexcept {
  RequestParser& r = self(p);
  r.extend(r.url_, at, n);
  if (r.url_.size() > r.limits_->max_uri_bytes) return r.fail(414, "request URI too long");
  return 0;
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

int RequestParser::on_url_complete(llhttp_t* p) noexcept {
  self(p).url_done_ = true;
  return 0;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, std::size_t n) noexcept {
  RequestParser& r = self(p);
  if (r.header_count_ == 0 || r.in_value_) {
    if (!r.add_header()) return r.fail(431, "too many headers for the request pool");
    r.in_value_ = false;
  }
  r.extend(r.headers_[r.header_count_ - 1].name, at, n);
  return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, std::size_t n) noexcept {
  RequestParser& r = self(p);
  r.in_value_ = true;
  r.extend(r.headers_[r.header_count_ - 1].value, at, n);
  return 0;
}

int RequestParser::on_header_value_complete(llhttp_t* p) noexcept {
  self(p).in_value_ = true;  // the next field starts a new header, even after an empty value
  return 0;
}

int RequestParser::on_headers_complete(llhttp_t* p) noexcept {
  RequestParser& r = self(p);
  r.headers_done_ = true;
  return r.check_head();
}

// What llhttp leaves to us once the head is known (DESIGN §4 limits and answers).
int RequestParser::check_head() noexcept {
  if (parser_.http_major != 1) return fail(505, "unsupported HTTP version");
  // The head completed within one parse() call: hold it to its limit here.
  const std::uint32_t head_end = header_count_ ? headers_[header_count_ - 1].value.end : url_.end;
  if (head_end > limits_->max_header_bytes) return fail(431, "request headers too large");
  int hosts = 0;
  TransferEncodingScan transfer_encoding;
  for (std::uint32_t i = 0; i < header_count_; ++i) {
    const std::string_view name = view(base_, headers_[i].name);
    const std::string_view value = view(base_, headers_[i].value);
    // llhttp accepts obs-fold (a value continued on the next line): RFC 9112 lets us refuse it.
    if (value.find_first_of("\r\n") != std::string_view::npos) return fail(400, "folded header line");
    if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "transfer-encoding")) {
      transfer_encoding.add(value);
    } else if (iequals(name, "expect") && parser_.http_minor >= 1) {  // HTTP/1.0: ignored (RFC 9110 §10.1.1)
      if (!iequals(trim(value), "100-continue")) return fail(417, "unsupported expectation");
      expect_continue_ = true;
    }
  }
  if (hosts > 1) return fail(400, "more than one Host header");
  if (hosts == 0 && parser_.http_minor >= 1) return fail(400, "HTTP/1.1 request without Host");
  if (const int status = transfer_encoding.refusal()) {
    return fail(status, status == 400 ? "transfer coding not ending in chunked" : "unsupported transfer coding");
  }
  chunked_ = (parser_.flags & F_CHUNKED) != 0;
  if (parser_.flags & F_CONTENT_LENGTH) {
    content_length_ = parser_.content_length;
    if (content_length_ > limits_->max_body_bytes) return fail(413, "body larger than allowed");
  }
  if (!chunked_ && content_length_ == 0) expect_continue_ = false;  // no body to wait for
  return 0;
}

int RequestParser::on_body(llhttp_t* p, const char* at, std::size_t n) noexcept {
  RequestParser& r = self(p);
  r.expect_continue_ = false;  // the body is coming anyway
  if (!r.chunked_) {
    r.extend(r.body_, at, n);  // contiguous in the read buffer
    return 0;
  }
  if (r.chunked_size_ + n > r.limits_->max_body_bytes) return r.fail(413, "body larger than allowed");
  if (r.chunked_size_ + n > r.chunked_capacity_) {
    const std::size_t grown = std::max(r.chunked_capacity_ * 2, r.chunked_size_ + n);
    auto* moved = static_cast<char*>(r.pool_->realloc(r.chunked_body_, r.chunked_size_, grown, 1));
    if (moved == nullptr) return r.fail(500, "request pool capacity exceeded");
    r.chunked_body_ = moved;
    r.chunked_capacity_ = grown;
  }
  std::memcpy(r.chunked_body_ + r.chunked_size_, at, n);
  r.chunked_size_ += n;
  return 0;
}

int RequestParser::on_message_complete(llhttp_t* p) noexcept {
  RequestParser& r = self(p);
  r.message_done_ = true;
  r.expect_continue_ = false;
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
  req.keep_alive = llhttp_should_keep_alive(&parser_) != 0 && parser_.upgrade == 0;
  req.body = chunked_ ? std::string_view(chunked_body_, chunked_size_) : view(buffer, body_);
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

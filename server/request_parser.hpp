/// \file
/// RequestParser: llhttp glue. Parses one request at a time, in place, in the connection's read
/// buffer: it records where the pieces are as offsets from the buffer's start, so the buffer may
/// grow (and move) between reads, and pauses at the end of each message so pipelined requests
/// are answered one at a time (DESIGN §4, §5).
///
/// Strict framing (RFC 9112): llhttp is built with LLHTTP_STRICT_MODE and no lenient flag (a CR
/// must be followed by LF everywhere, chunk data by CRLF, field names are tokens), and the glue
/// refuses with 400 what llhttp lets through: obs-fold anywhere (also a folded value whose first
/// line is empty, and in trailers), an empty field name, Transfer-Encoding in HTTP/1.0, a Host
/// that is no uri-host[:port]. Trailer fields are checked like header fields, then dropped: they
/// never reach Request::headers.
///
/// Limits are positions, so an answer never depends on how the bytes were cut into reads: the
/// head may take max_header_bytes (the trailer section what the head left of them); reading a
/// byte past that before the section ends is 431, or 414 while the request target has not ended
/// by then. The first byte that decides an answer wins, so a syntax error after the limit still
/// answers 431/414, and an unknown method is judged (501 or 400) only once its end has arrived.
///
/// Chunked bodies are de-chunked in place: each chunk's data moves down over the framing before
/// it, so the body lies contiguous in the read buffer right after the head, as a Content-Length
/// body does, and takes no memory of its own. The framing bytes behind it are dead once parsed:
/// reclaim() gives them back to the buffer, so a chunked body needs the buffer room of its
/// data, not of its data and framing.
///
/// Lifetime: lives in the connection pool while a connection has a request in progress; the
/// Request it builds points into the read buffer and the request pool.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <mempool/http/request.hpp>
#include <mempool/pool.hpp>

#include "config.hpp"

namespace mempool::server {

class RequestParser {
 public:
  enum class State { need_more, complete, failed };

  struct Span {
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    std::uint32_t size() const noexcept { return end - begin; }
    bool empty() const noexcept { return end == begin; }
  };

  explicit RequestParser(const Limits& limits) noexcept;
  explicit RequestParser(Limits&&) = delete;  // it keeps a pointer: a temporary would dangle

  /// Starts a new request whose bytes begin at `buffer` (offset 0), recording into `pool`.
  void start(Pool& pool) noexcept;

  /// Parses the bytes buffer[parsed .. filled), writing into them (a chunked body is de-chunked
  /// in place). `buffer` may differ from the previous call's (the read buffer grew and moved) as
  /// long as the bytes before `parsed` are the ones the previous call left.
  State parse(char* buffer, std::size_t filled) noexcept;

  /// Bytes of the buffer that belong to this request (valid once complete; the rest is the next).
  std::size_t message_end() const noexcept { return parsed_; }
  std::size_t parsed() const noexcept { return parsed_; }
  /// Status to answer a failed request with (400, 413, 414, 431, 501, 505, 417).
  int error_status() const noexcept { return error_status_; }
  const char* error_reason() const noexcept { return error_reason_; }

  bool headers_complete() const noexcept { return headers_done_; }
  /// The whole message has been read (valid once complete, or failed: a failure may come first).
  bool message_complete() const noexcept { return message_done_; }
  /// The method read so far is HEAD: its answer has no body, an error answer included (RFC 9110
  /// §9.3.2). Known from the method's end on, whatever fails after it.
  bool head_request() const noexcept { return head_; }
  /// The head is complete and the client asked "Expect: 100-continue" for a body not yet sent.
  bool wants_continue() const noexcept { return expect_continue_; }
  /// Body bytes still to come when known (Content-Length), for sizing the read buffer.
  std::uint64_t content_length() const noexcept { return content_length_; }
  bool chunked() const noexcept { return chunked_; }

  /// Bytes at the end of the buffer's parsed part that are dead (chunk framing already read,
  /// behind the de-chunked body), which reclaim() gives back.
  std::size_t reclaimable() const noexcept;
  /// Moves the unparsed bytes buffer[parsed .. filled) down over the reclaimable ones and
  /// lowers `filled` by as much. Offsets of the head and the body do not change.
  void reclaim(char* buffer, std::size_t& filled) noexcept;

  /// The request, its views into `buffer`, into `req`. Call once complete. False if the request
  /// pool cannot hold its header list.
  bool request(const char* buffer, http::Request& req) const noexcept;

 private:
  static int on_message_begin(llhttp_t* p) noexcept;
  static int on_method_complete(llhttp_t* p) noexcept;
  static int on_url(llhttp_t* p, const char* at, std::size_t n) noexcept;
  static int on_url_complete(llhttp_t* p) noexcept;
  static int on_header_field(llhttp_t* p, const char* at, std::size_t n) noexcept;
  static int on_header_value(llhttp_t* p, const char* at, std::size_t n) noexcept;
  static int on_header_value_complete(llhttp_t* p) noexcept;
  static int on_headers_complete(llhttp_t* p) noexcept;
  static int on_chunk_header(llhttp_t* p) noexcept;
  static int on_body(llhttp_t* p, const char* at, std::size_t n) noexcept;
  static int on_message_complete(llhttp_t* p) noexcept;
  static const llhttp_settings_t settings;

  static RequestParser& self(llhttp_t* p) noexcept { return *static_cast<RequestParser*>(p->data); }

  struct RawHeader {
    Span name;
    Span value;
  };
  /// Where llhttp paused last: the ends of the sections the glue checks as a whole.
  enum class Milestone : std::uint8_t { none, head, last_chunk, message };

  void extend(Span& span, const char* at, std::size_t n) noexcept;
  int fail(int status, const char* reason) noexcept;
  State reached(Milestone milestone, std::size_t offset) noexcept;
  int check_head() noexcept;
  State over_limit() noexcept;
  State unknown_method() noexcept;
  void fail_from_llhttp(llhttp_errno_t err) noexcept;
  bool add_header() noexcept;
  std::string_view view(const char* buffer, Span s) const noexcept { return {buffer + s.begin, s.size()}; }

  llhttp_t parser_{};
  const Limits* limits_;
  Pool* pool_ = nullptr;
  char* base_ = nullptr;        ///< the buffer of the current parse() call
  std::size_t filled_ = 0;      ///< its bytes
  std::size_t parsed_ = 0;      ///< bytes of the buffer llhttp has consumed
  /// Offset of the first byte the section being read (head, trailers) may not reach; SIZE_MAX
  /// while reading a body.
  std::size_t limit_end_ = 0;
  std::size_t head_bytes_ = 0;  ///< the head's length, from the buffer's start, once read
  std::size_t trailers_begin_ = 0;  ///< where the trailer section starts, once the last chunk is read
  RawHeader* headers_ = nullptr;  ///< in the request pool; headers_[count_ - 1] may be in progress
  std::uint32_t header_count_ = 0;
  std::uint32_t header_capacity_ = 0;
  RawHeader trailer_;           ///< the trailer field being read: checked, then dropped
  RawHeader* field_ = nullptr;  ///< the header or trailer field being read
  Span url_;
  Span body_;                   ///< where the body lies in the buffer (a chunked one, de-chunked)
  std::uint64_t content_length_ = 0;
  int error_status_ = 0;
  const char* error_reason_ = "";
  Milestone milestone_ = Milestone::none;
  bool in_value_ = false;       ///< the last field callback was a value: the next name starts a field
  bool url_done_ = false;
  bool headers_done_ = false;
  bool message_done_ = false;
  bool chunked_ = false;
  bool expect_continue_ = false;
  bool keep_alive_ = false;     ///< as the head asks, decided where it ends
  bool head_ = false;           ///< the method is HEAD
};

}  // namespace mempool::server

/// \file
/// Response: what a handler fills in and the server serialises (DESIGN §4). The server adds
/// Date, Server, Content-Length and Connection itself; a handler's own values for those are ignored.
///
/// Borrowing (as Asio's reply::to_buffers): the response owns none of its bytes. Header names
/// and values and the body must be literals or memory of the request pool (req.pool()), valid
/// until the response is sent. A file body is an open descriptor the handler keeps open until
/// then, e.g. with a cleanup on the request pool.
#pragma once

#include <cstdint>
#include <memory_resource>
#include <span>
#include <string_view>
#include <vector>

#include <mempool/http/request.hpp>
#include <mempool/pool.hpp>

namespace mempool::http {

/// A byte range of an open file, sent with sendfile.
struct FileBody {
  int fd = -1;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

class Response {
 public:
  explicit Response(Pool& pool) : headers_(pool.resource()), pool_(&pool) {
    headers_.reserve(typical_headers);
  }

  int status = 200;
  /// False makes the server close the connection after this response.
  bool keep_alive = true;

  /// Adds a header (several with one name are allowed). Borrowed: see the file comment.
  /// Throws std::bad_alloc when the request pool is full (the server answers 500).
  void add_header(std::string_view name, std::string_view value) { headers_.push_back({name, value}); }
  std::span<const Header> headers() const noexcept { return headers_; }
  /// The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const noexcept;

  /// A body held in memory. Borrowed: see the file comment.
  void set_body(std::string_view body) noexcept {
    body_ = body;
    file_ = {};
  }
  /// A body sent from a file. The server sends `length` bytes from `offset` with sendfile.
  void set_file(FileBody file) noexcept {
    file_ = file;
    body_ = {};
  }
  std::string_view body() const noexcept { return body_; }
  const FileBody& file() const noexcept { return file_; }
  bool has_file() const noexcept { return file_.fd >= 0; }
  /// Bytes the body has, whichever kind it is (the Content-Length).
  std::uint64_t content_length() const noexcept { return has_file() ? file_.length : body_.size(); }

  /// status, Content-Type and body in one call.
  void text(int status_code, std::string_view body, std::string_view content_type = "text/plain");
  /// A short plain-text error page ("404 Not Found\n"); keep_alive as it was.
  void error(int status_code);

  /// The request pool, with the handler boundary's failure rule (request_pool.hpp).
  RequestPool pool() const noexcept { return RequestPool(*pool_); }

 private:
  static constexpr std::size_t typical_headers = 6;  ///< a static file's: type, length... in one go
  std::pmr::vector<Header> headers_;
  std::string_view body_;
  FileBody file_;
  Pool* pool_;
};

/// The reason phrase of a status code ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status) noexcept;

}  // namespace mempool::http

/// \file
/// Request: one parsed HTTP/1.x request as a handler sees it (DESIGN §4). Filled in by the
/// server's parser; handlers only read it.
///
/// Borrowing: every view points into the connection's read buffer or into the request pool and
/// stays valid until the response to this request has been sent. Copy what must live longer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <mempool/http/request_pool.hpp>
#include <mempool/pool.hpp>

namespace mempool::http {

enum class Method : std::uint8_t { get, head, post, put, delete_, options, patch, connect, trace, other };

struct Header {
  std::string_view name;
  std::string_view value;
};

/// ASCII case-insensitive equality, for header names and tokens.
bool iequals(std::string_view a, std::string_view b) noexcept;

struct Request {
  Method method = Method::other;
  std::string_view method_name;  ///< as sent, e.g. "GET"
  std::string_view target;       ///< the request-target as sent: path and query
  std::string_view path;         ///< target before '?', still percent-encoded
  std::string_view query;        ///< target after '?', empty if none
  unsigned version_major = 1;
  unsigned version_minor = 1;
  std::span<const Header> headers;  ///< in the order received
  std::string_view body;            ///< the whole body, de-chunked; empty if none
  bool keep_alive = true;           ///< the connection may serve another request after this one
  std::string_view remote_address;  ///< the peer, "address:port"
  Pool* request_pool = nullptr;     ///< set by the server; pool() is how handlers reach it

  /// The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  /// The pool everything of this request lives in, reset once the response is sent; its
  /// allocations throw std::bad_alloc on failure (the handler boundary's rule, router.hpp).
  RequestPool pool() const noexcept { return RequestPool(*request_pool); }
};

/// The method a token names; Method::other for anything else.
Method method_from(std::string_view token) noexcept;

}  // namespace mempool::http

/// \file
/// The response head, serialised into the request pool with one allocation and plain copies:
/// status line, Server, Date (the reactor's cached line), the handler's headers, Content-Length,
/// and Connection when it is not the default. Borrowing as Response: nothing here owns bytes.
#pragma once

#include <string_view>

#include <mempool/http/response.hpp>
#include <mempool/pool.hpp>

namespace mempool::server {

struct HeadOptions {
  bool keep_alive = true;           ///< false: "Connection: close"
  bool announce_keep_alive = false; ///< HTTP/1.0 keep-alive: "Connection: keep-alive"
  std::string_view date_header;     ///< "Date: ...\r\n"
  std::string_view server_name;     ///< the Server header's value
};

/// The head, or an empty view with data() == nullptr if the pool is full.
std::string_view serialize_head(const http::Response& res, const HeadOptions& options, Pool& pool) noexcept;

/// Whether a response with this status carries a body (and a Content-Length): not 1xx, 204, 304.
constexpr bool has_body(int status) noexcept { return status >= 200 && status != 204 && status != 304; }

/// A complete "408 Request Timeout" response, for a connection about to be closed; without its
/// body when it answers a HEAD request (`head_only`).
std::string_view timeout_response(std::string_view date_header, std::string_view server_name, bool head_only,
                                  Pool& pool) noexcept;

}  // namespace mempool::server

/// \file
/// The built-in handlers of the reference server (DESIGN §4, §5): /hello and /echo.
/// (Static files are in static_files.hpp, /stats and /metrics in stats.hpp.)
#pragma once

#include <string_view>

#include <mempool/http/router.hpp>

namespace mempool::http {

/// GET/HEAD: "Hello, World!" as text/plain, the TechEmpower plaintext response (the server adds
/// Server, Date and Content-Length).
Handler hello_handler();

/// POST (or PUT): the request body back, with the request's Content-Type (chunked or not on the
/// way in). GET/HEAD: the request line and headers as text/plain.
Handler echo_handler();

}  // namespace mempool::http

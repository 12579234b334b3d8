/// \file
/// An example of embedding mempool in your own handler (README, "embed it in your handler").
/// GET /greet?name=Ada&lang=fr answers "Bonjour, Ada! (request 7 on this reactor)".
///
/// Everything per request comes from req.pool(): the query parameters go into a std::pmr map,
/// the reply is written with pool.format, and a cleanup registered on the pool runs when the
/// request is over (after the response was sent) to count it. Nothing is freed by hand and
/// nothing touches the global heap.
#pragma once

#include <mempool/http/router.hpp>

namespace mempool::example {

http::Handler greeting_handler();

}  // namespace mempool::example

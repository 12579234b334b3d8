/// \file
/// kv: a small JSON key/value service on mempool::http, the way an application embeds the
/// server. Every request's work is request-scoped: the body is parsed into std::pmr containers
/// in the request pool, the answer is built there with format, and a cleanup on the pool tallies
/// the request once its response has been sent. Nothing per request is freed by hand.
///
///   PUT    /kv         {"name": "Ada", "lang": "fr"}   stores each pair      -> {"stored":2}
///   GET    /kv?name,x  the values of those keys, null if absent -> {"name":"Ada","x":null}
///   GET    /kv         every pair, by key
///   DELETE /kv?name    removes those keys                                    -> {"deleted":1}
///   GET    /kv/stats   this reactor's tally: requests done, largest request-pool use
/// A body that is not a flat JSON object of strings, numbers, true, false or null gets 400 with
/// the reason; the failure rule of mempool::http does the rest (a full request pool is a 500).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mempool/http/request_pool.hpp>
#include <mempool/http/router.hpp>
#include <mempool/http/services.hpp>

namespace kv {

/// The pairs of a parsed object, in the request pool: keys and values unescaped; a value that is
/// not a string (a number, true, false) is kept as written, null as nullopt.
using Pairs = std::pmr::vector<std::pair<std::string_view, std::optional<std::string_view>>>;

/// What parse_object() found wrong, and where (a byte offset into the body).
struct ParseError {
  std::string_view reason;
  std::size_t offset;
};

/// Parses a flat JSON object into `pool`. Allocation failure throws std::bad_alloc.
Pairs parse_object(std::string_view body, mempool::http::RequestPool pool, std::optional<ParseError>& error);

/// `s` as a JSON string, quotes included, appended to `out`.
void append_json_string(std::pmr::string& out, std::string_view s);

/// The data, shared by every reactor (its own lock); its memory is its own, not a request's.
class Store {
 public:
  void put(std::string_view key, std::optional<std::string_view> value);
  std::optional<std::string> get(std::string_view key) const;
  bool erase(std::string_view key);
  std::vector<std::pair<std::string, std::string>> all() const;

 private:
  mutable std::mutex lock_;
  std::map<std::string, std::string, std::less<>> data_;
};

/// One reactor's figures, written by its cleanups on its own thread.
struct Tally {
  std::uint64_t requests = 0;          ///< requests whose response was sent
  std::size_t request_bytes_max = 0;   ///< the most request-pool memory one request used
};

/// Mounts /kv and /kv/stats on one reactor's routes (the second form of the route setup).
/// `tally` is this reactor's; `store` is shared. Both must outlive the server.
void mount(mempool::http::Router& routes, mempool::http::ReactorServices& reactor, Store& store, Tally& tally);

}  // namespace kv

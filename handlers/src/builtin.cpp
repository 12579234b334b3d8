#include <mempool/http/builtin.hpp>
#include <mempool/http/stats.hpp>

#include <memory_resource>
#include <string>

namespace mempool::http {

namespace {

void method_not_allowed(Response& res, std::string_view allow) {
  res.error(405);
  res.add_header("Allow", allow);
}

// The request as it arrived, minus the body: "GET /echo HTTP/1.1\r\nHost: ...\r\n\r\n".
std::string_view describe(const Request& req) {
  std::pmr::string text(req.pool().resource());
  text.reserve(64 + req.target.size() + 32 * req.headers.size());
  text += req.method_name;
  text += ' ';
  text += req.target;
  text += req.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  for (const Header& h : req.headers) {
    text += h.name;
    text += ": ";
    text += h.value;
    text += "\r\n";
  }
  text += "\r\n";
  return req.pool().strdup(text);
}

}  // namespace

Handler hello() {
  return [](const Request& req, Response& res) {
    if (req.method != Method::get && req.method != Method::head) return method_not_allowed(res, "GET, HEAD");
    res.text(200, "Hello, World!");
  };
}

Handler echo() {
  return [](const Request& req, Response& res) {
    switch (req.method) {
      case Method::post:
      case Method::put:
        res.text(200, req.body, req.header("Content-Type").value_or("application/octet-stream"));
        return;
      case Method::get:
      case Method::head:
        res.text(200, describe(req));
        return;
      default:
        method_not_allowed(res, "GET, HEAD, POST, PUT");
    }
  };
}

Handler static_files(ReactorServices& reactor, std::string_view root, const StaticFilesOptions& options) {
  StaticFiles* files = &reactor.add_static_files(root, options);
  return [files](const Request& req, Response& res) { files->handle(req, res); };
}

Handler stats(ReactorServices& reactor) {
  return stats_json_handler([&reactor](StatsTable& table) { reactor.collect_stats(table); });
}

Handler metrics(ReactorServices& reactor) {
  return metrics_handler([&reactor](StatsTable& table) { reactor.collect_stats(table); });
}

}  // namespace mempool::http

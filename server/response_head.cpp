#include "response_head.hpp"

#include <array>
#include <charconv>
#include <cstring>

namespace mempool::server {

namespace {

using http::iequals;

// Headers the server writes itself; a handler's own are dropped.
bool server_owned(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "date") || iequals(name, "server") ||
         iequals(name, "connection") || iequals(name, "transfer-encoding");
}

class Writer {
 public:
  explicit Writer(char* p) noexcept : p_(p) {}
  Writer& operator<<(std::string_view s) noexcept {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
    return *this;
  }
  Writer& operator<<(std::uint64_t n) noexcept {
    p_ = std::to_chars(p_, p_ + 20, n).ptr;
    return *this;
  }
  char* end() const noexcept { return p_; }

 private:
  char* p_;
};

constexpr std::string_view crlf = "\r\n";
constexpr std::size_t digits_max = 20;

}  // namespace

std::string_view serialize_head(const http::Response& res, const HeadOptions& o, Pool& pool) noexcept {
  const std::string_view reason = http::reason_phrase(res.status);
  std::size_t size = 64 + reason.size() + o.server_name.size() + o.date_header.size() + digits_max;
  for (const http::Header& h : res.headers()) size += h.name.size() + h.value.size() + 4;
  auto* start = static_cast<char*>(pool.alloc_unaligned(size));
  if (start == nullptr) return {};

  Writer w(start);
  w << "HTTP/1.1 " << static_cast<std::uint64_t>(res.status) << " " << reason << crlf;
  w << "Server: " << o.server_name << crlf << o.date_header;
  for (const http::Header& h : res.headers()) {
    if (!server_owned(h.name)) w << h.name << ": " << h.value << crlf;
  }
  if (has_body(res.status)) w << "Content-Length: " << res.content_length() << crlf;
  if (!o.keep_alive) {
    w << "Connection: close\r\n";
  } else if (o.announce_keep_alive) {
    w << "Connection: keep-alive\r\n";
  }
  w << crlf;
  return {start, static_cast<std::size_t>(w.end() - start)};
}

std::string_view timeout_response(std::string_view date_header, std::string_view server_name, bool head_only,
                                  Pool& pool) noexcept {
  constexpr std::string_view page = "408 Request Timeout\n";
  const std::string_view body = page.substr(0, head_only ? 0 : page.size());
  try {
    http::Response res(pool);
    res.text(408, page);  // its Content-Length, even when the body stays out (HEAD)
    const std::string_view head = serialize_head(res, {false, false, date_header, server_name}, pool);
    auto* whole = static_cast<char*>(pool.alloc_unaligned(head.size() + body.size()));
    if (head.data() == nullptr || whole == nullptr) return {};
    std::memcpy(whole, head.data(), head.size());
    std::memcpy(whole + head.size(), body.data(), body.size());
    return {whole, head.size() + body.size()};
  } catch (const std::bad_alloc&) {
    return {};
  }
}

}  // namespace mempool::server

#include <mempool/http/request.hpp>
#include <mempool/http/response.hpp>

#include <algorithm>
#include <array>

namespace mempool::http {

namespace {
constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

template <class Headers>
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) noexcept {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::optional<std::string_view> Request::header(std::string_view name) const noexcept { return find_header(headers, name); }

Method method_from(std::string_view token) noexcept {
  static constexpr std::array<std::pair<std::string_view, Method>, 9> methods{{
      {"GET", Method::get}, {"HEAD", Method::head}, {"POST", Method::post}, {"PUT", Method::put},
      {"DELETE", Method::delete_}, {"OPTIONS", Method::options}, {"PATCH", Method::patch},
      {"CONNECT", Method::connect}, {"TRACE", Method::trace},
  }};
  for (const auto& [name, method] : methods) {
    if (name == token) return method;
  }
  return Method::other;
}

std::optional<std::string_view> Response::header(std::string_view name) const noexcept {
  return find_header(headers_, name);
}

void Response::text(int status_code, std::string_view body, std::string_view content_type) {
  status = status_code;
  add_header("Content-Type", content_type);
  set_body(body);
}

void Response::error(int status_code) {
  std::string_view page = pool_->format("{} {}\n", status_code, reason_phrase(status_code));
  text(status_code, page.data() ? page : reason_phrase(status_code));
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace mempool::http

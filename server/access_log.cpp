#include "access_log.hpp"

#include <cstdio>
#include <string>
#include <system_error>

#include <spdlog/fmt/fmt.h>

#include "log_file.hpp"

namespace mempool::server {

namespace {

using http::AccessLogFormat;
using Buffer = fmt::memory_buffer;

constexpr char hex_digits[] = "0123456789ABCDEF";

bool printable(unsigned char c) noexcept { return c >= 0x20 && c < 0x7f; }

// nginx's escape=default: '"', '\' and bytes outside printable ASCII as \xHH.
void append_escaped(Buffer& out, std::string_view text) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (printable(c) && c != '"' && c != '\\') {
      out.push_back(ch);
    } else {
      const char escaped[] = {'\\', 'x', hex_digits[c >> 4], hex_digits[c & 15]};
      out.append(escaped, escaped + 4);
    }
  }
}

// A JSON string body: '"' and '\' backslashed, the rest outside printable ASCII as \u00HH.
void append_json(Buffer& out, std::string_view text) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (printable(c)) {
      out.push_back(ch);
    } else {
      const char escaped[] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 15]};
      out.append(escaped, escaped + 6);
    }
  }
}

// nginx's $remote_addr: the address without its port ("[::1]:80" -> "::1").
std::string_view address_only(std::string_view peer) noexcept {
  if (peer.starts_with('[')) {
    const auto end = peer.find(']');
    return end == std::string_view::npos ? peer : peer.substr(1, end - 1);
  }
  const auto colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

// $request: the request line as received (empty when none was parsed).
template <class Append>
void append_request_line(Buffer& out, const http::Request& req, Append append) {
  if (req.method_name.empty()) return;
  append(out, req.method_name);
  out.push_back(' ');
  append(out, req.target);
  fmt::format_to(std::back_inserter(out), " HTTP/{}.{}", req.version_major, req.version_minor);
}

void combined(Buffer& out, const http::Request& req, int status, std::uint64_t bytes, std::string_view date) {
  const std::string_view remote = address_only(req.remote_address);
  append_escaped(out, remote.empty() ? "-" : remote);
  out.append(std::string_view(" - - ["));
  out.append(date);
  out.append(std::string_view("] \""));
  if (req.method_name.empty()) {
    out.push_back('-');
  } else {
    append_request_line(out, req, append_escaped);
  }
  fmt::format_to(std::back_inserter(out), "\" {} {} \"", status, bytes);
  append_escaped(out, req.header("Referer").value_or("-"));
  out.append(std::string_view("\" \""));
  append_escaped(out, req.header("User-Agent").value_or("-"));
  out.push_back('"');
}

void json(Buffer& out, const http::Request& req, int status, std::uint64_t bytes, std::string_view date) {
  out.append(std::string_view("{\"time_local\":\""));
  out.append(date);
  out.append(std::string_view("\",\"remote_addr\":\""));
  append_json(out, address_only(req.remote_address));
  out.append(std::string_view("\",\"request\":\""));
  append_request_line(out, req, append_json);
  fmt::format_to(std::back_inserter(out), "\",\"status\":{},\"bytes_sent\":{},\"http_referer\":\"", status,
                 bytes);
  append_json(out, req.header("Referer").value_or(""));
  out.append(std::string_view("\",\"http_user_agent\":\""));
  append_json(out, req.header("User-Agent").value_or(""));
  out.append(std::string_view("\"}"));
}

void format_line(Buffer& out, const http::Request& req, int status, std::uint64_t bytes, std::string_view date,
                 AccessLogFormat format) {
  if (format == AccessLogFormat::json) return json(out, req, status, bytes, date);
  combined(out, req, status, bytes, date);
}

// Fails here, with the file's name and the reason, rather than half-way through a switch.
void check_writable(const std::filesystem::path& file) {
  std::FILE* f = std::fopen(file.c_str(), "ab");
  if (f == nullptr) throw std::system_error(errno, std::generic_category(), "cannot open access log " + file.string());
  std::fclose(f);
}

}  // namespace

std::string access_log_line(const http::Request& req, int status, std::uint64_t bytes, std::string_view log_date,
                            AccessLogFormat format) {
  Buffer out;
  format_line(out, req, status, bytes, log_date, format);
  return fmt::to_string(out);
}

AccessLog::AccessLog(const std::optional<std::filesystem::path>& file, AccessLogFormat format)
    : file_(std::make_shared<LogFile>(false)), format_(format) {
  configure(file, format);
}

void AccessLog::configure(const std::optional<std::filesystem::path>& file, AccessLogFormat format) {
  if (file) {
    check_writable(*file);
    file_->open(*file, static_cast<unsigned>(format));  // the format switches with the file
  }
  format_.store(format, std::memory_order_relaxed);
  enabled_.store(file.has_value(), std::memory_order_relaxed);
  if (!file) {
    flush();
    file_->close();
  }
}

void AccessLog::reopen() { file_->reopen(); }

void AccessLog::write(const http::Request& req, int status, std::uint64_t bytes,
                      std::string_view log_date) const noexcept {
  if (!enabled()) return;
  try {
    Buffer line;
    for (;;) {  // again only when a reload switched the format while this line was formatted
      const AccessLogFormat format = format_.load(std::memory_order_relaxed);
      format_line(line, req, status, bytes, log_date, format);
      if (file_->write_tagged(std::string_view(line.data(), line.size()), static_cast<unsigned>(format))) return;
      line.clear();
    }
  } catch (...) {
    // a log line is not worth a connection
  }
}

void AccessLog::flush() const noexcept {
  try {
    file_->flush();
  } catch (...) {
  }
}

}  // namespace mempool::server

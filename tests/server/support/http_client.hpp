/// \file
/// Test support for the server's integration suite: a blocking raw-socket HTTP/1.1 client that
/// reads one response at a time (status line, headers, a body by Content-Length), a temporary
/// document root, and a fixture that runs a mempool::http::Server in-process on an ephemeral
/// loopback port.
///
/// Every read has a deadline, so a server that stops answering fails a test instead of hanging
/// it. Nothing here calls Catch: the helpers may be used from any thread; they report through
/// return values (and throw std::runtime_error only while setting up).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include <mempool/http/server.hpp>

#include "support/temp_dir.hpp"

namespace mempool::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

/// One response as it came off the wire.
struct HttpResponse {
  std::string status_line;  ///< "HTTP/1.1 200 OK"
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  ///< in the order received
  std::string body;
  std::string raw_head;     ///< the head's bytes as received, up to its blank line

  /// The first header with this name (case-insensitive).
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (iequal(n, name)) return v;
    }
    return std::nullopt;
  }
  std::size_t header_count(std::string_view name) const {
    std::size_t count = 0;
    for (const auto& h : headers) count += iequal(h.first, name) ? 1 : 0;
    return count;
  }
  bool closes() const { return iequal(header("Connection").value_or(""), "close"); }
};

/// A blocking loopback client. Reads buffer what arrives; read_response() consumes one response.
class Client {
 public:
  /// Connects to 127.0.0.1:port. `receive_buffer` > 0 sets SO_RCVBUF first (a slow reader).
  explicit Client(std::uint16_t port, int receive_buffer = 0) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    const int on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      const int err = errno;
      ::close(fd_);
      throw std::runtime_error("connect: " + std::string(std::strerror(err)));
    }
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(Client&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), in_(std::move(other.in_)), eof_(other.eof_) {}
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client& operator=(Client&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
      in_ = std::move(other.in_);
      eof_ = other.eof_;
    }
    return *this;
  }

  int fd() const noexcept { return fd_; }

  /// Sends all of `bytes`; false if the connection failed (reset, closed by the server).
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// The next response, or nullopt if the connection ended or `timeout` passed first. A response
  /// to HEAD (`head` true), 1xx, 204 or 304 has no body; one without Content-Length runs to EOF.
  std::optional<HttpResponse> read_response(bool head = false, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    std::size_t head_end;
    while ((head_end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return std::nullopt;
    }
    HttpResponse r;
    std::string_view text(in_.data(), head_end + 2);
    std::size_t eol = text.find("\r\n");
    r.status_line = std::string(text.substr(0, eol));
    if (!r.status_line.starts_with("HTTP/1.") || r.status_line.size() < 12) return std::nullopt;
    r.status = std::atoi(r.status_line.c_str() + 9);
    text.remove_prefix(eol + 2);
    while (!text.empty()) {
      eol = text.find("\r\n");
      const std::string_view line = text.substr(0, eol);
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) return std::nullopt;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
      text.remove_prefix(eol + 2);
    }
    r.raw_head = in_.substr(0, head_end + 4);
    in_.erase(0, head_end + 4);
    const bool bodiless = head || r.status < 200 || r.status == 204 || r.status == 304;
    if (bodiless) return r;
    if (const auto length = r.header("Content-Length")) {
      const std::size_t n = std::strtoull(length->c_str(), nullptr, 10);
      while (in_.size() < n) {
        if (!fill(deadline)) return std::nullopt;
      }
      r.body = in_.substr(0, n);
      in_.erase(0, n);
    } else {
      while (fill(deadline)) {
      }
      if (!eof_) return std::nullopt;
      r.body = std::exchange(in_, {});
    }
    return r;
  }

  /// True once the server has closed (EOF or reset) within `timeout`; bytes that arrive before
  /// then are kept in buffered().
  bool wait_closed(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (fill(deadline)) {
    }
    return eof_;
  }

  /// Bytes received and not yet consumed by read_response().
  const std::string& buffered() const noexcept { return in_; }
  /// Reads what is available within `timeout` (at least one recv's worth unless it times out).
  std::size_t read_some(std::chrono::milliseconds timeout) {
    const std::size_t before = in_.size();
    fill(Clock::now() + timeout);
    return in_.size() - before;
  }
  void discard_buffered() { in_.clear(); }

  /// An abrupt close: SO_LINGER 0 makes close() send a reset instead of a FIN.
  void reset() {
    const linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(std::exchange(fd_, -1));
  }

 private:
  // One recv into in_; false at EOF, on an error (a reset counts as the end) or past the deadline.
  bool fill(Clock::time_point deadline) {
    if (eof_ || fd_ < 0) return false;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      char chunk[64 * 1024];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
        return false;
      }
      in_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
  }

  int fd_;
  std::string in_;
  bool eof_ = false;
};

/// "GET <target> HTTP/1.1" with a Host header and `extra` header lines ("Name: value\r\n...").
inline std::string get(std::string_view target, std::string_view extra = {}) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}
inline std::string head(std::string_view target, std::string_view extra = {}) {
  return "HEAD " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}
inline std::string post(std::string_view target, std::string_view body, std::string_view content_type = "text/plain") {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: test\r\nContent-Type: " + std::string(content_type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

/// base/secret.txt lies outside the root; base/root is the document root:
///   hello.txt  index.html  big.bin (1 MiB, every byte value)  huge.bin (64 MiB, sparse)
///   sub/index.html  noindex/file.txt  link-out -> ../secret.txt
/// Made once per test process and removed at exit; tests only read it.
class TestRoot {
 public:
  static constexpr std::string_view hello = "Hello from a file\n";
  static constexpr std::string_view secret = "outside the root: must never be served\n";
  static constexpr std::string_view sub_index = "<p>sub index</p>\n";
  static constexpr std::size_t big_size = 1 << 20;
  static constexpr std::size_t huge_size = 64u << 20;

  TestRoot() {
    base_.write("secret.txt", secret);
    base_.write("root/hello.txt", hello);
    base_.write("root/index.html", "<p>root</p>\n");
    base_.write("root/sub/index.html", sub_index);
    base_.write("root/noindex/file.txt", "file\n");
    base_.write("root/big.bin", big_content());
    std::filesystem::create_symlink("../secret.txt", root_ / "link-out");
    const int fd = ::open((root_ / "huge.bin").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(huge_size)) != 0) throw std::runtime_error("huge.bin");
    ::close(fd);
  }

  const std::filesystem::path& root() const noexcept { return root_; }

  /// big.bin's bytes: every value 0..255, in a pattern that does not repeat every 256 bytes.
  static std::string big_content() {
    std::string s(big_size, '\0');
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
    return s;
  }

  static const TestRoot& shared() {
    static const TestRoot root;
    return root;
  }

 private:
  mempool::test::TempDir base_{"mempool-it"};
  std::filesystem::path root_ = base_.path() / "root";
};

/// The config every test starts from: loopback, ephemeral port, one reactor, the shared root, no
/// access log, warnings and errors only in the log, and 1 s timeouts (the reactor's tick, and so stop(), then takes at most 250 ms).
/// /stats and /metrics are mounted on the public listener too (as a [routes] table may ask), so
/// the suites read them on the port they test; the admin listener is off (its own tests turn it on).
inline http::ServerConfig test_config() {
  http::ServerConfig config;
  config.listen = {"127.0.0.1", 0};
  config.routes = http::default_routes();
  config.routes.insert(config.routes.begin(), {{"/stats", http::Builtin::stats}, {"/metrics", http::Builtin::metrics}});
  config.reactors = 1;
  config.root = TestRoot::shared().root();
  config.access_log = std::nullopt;
  config.log_level = "warn";
  config.timeouts.header = config.timeouts.body = config.timeouts.idle = config.timeouts.send = 1s;
  config.timeouts.shutdown_grace = 2s;
  return config;
}

/// A Server running in-process; stopped (and waited for) when it goes.
class TestServer {
 public:
  explicit TestServer(http::ServerConfig config = test_config()) : server_(prepare(std::move(config))) {
    server_.start();
    port_ = server_.endpoint().port();
  }
  /// Serves the routes `setup` mounts instead of config.routes.
  TestServer(http::ServerConfig config, http::RouteSetup setup)
      : server_(prepare(std::move(config)), std::move(setup)) {
    server_.start();
    port_ = server_.endpoint().port();
  }
  ~TestServer() { stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  Client connect(int receive_buffer = 0) const { return Client(port_, receive_buffer); }
  http::Server& server() noexcept { return server_; }

  /// server.stop() then server.wait(); false if wait() did not return within `limit` (the test
  /// then aborts: a server that cannot stop would otherwise hang the suite).
  bool stop(std::chrono::milliseconds limit = 10s) {
    if (stopped_) return true;
    stopped_ = true;
    server_.stop();
    auto done = std::async(std::launch::async, [this] { server_.wait(); });
    if (done.wait_for(limit) != std::future_status::ready) {
      std::fputs("TestServer: server.wait() did not return; aborting\n", stderr);
      std::abort();
    }
    return true;
  }

 private:
  static http::ServerConfig prepare(http::ServerConfig config) {
    // The Server's reactor threads block SIGPIPE ("a client reset during sendfile raises no
    // SIGPIPE in the embedding process" checks that on its own); ignoring it here too keeps a
    // regression from killing random tests instead of failing that one.
    std::signal(SIGPIPE, SIG_IGN);
    spdlog::set_level(spdlog::level::warn);
    return config;
  }

  http::Server server_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
};

/// One request on a fresh connection to `port`, and its response (nullopt if either failed).
inline std::optional<HttpResponse> fetch(std::uint16_t port, const std::string& request) {
  Client c(port);
  if (!c.send(request)) return std::nullopt;
  return c.read_response();
}
inline std::optional<HttpResponse> fetch(const TestServer& server, const std::string& request) {
  return fetch(server.port(), request);
}

/// The value of "key":<number> inside the first "group":{...} object after `from`, or -1.
inline long long json_number(std::string_view json, std::string_view group, std::string_view key,
                             std::size_t from = 0) {
  const std::string open = "\"" + std::string(group) + "\":{";
  const std::size_t g = json.find(open, from);
  if (g == std::string_view::npos) return -1;
  const std::size_t end = json.find('}', g);
  const std::string field = "\"" + std::string(key) + "\":";
  const std::size_t k = json.find(field, g);
  if (k == std::string_view::npos || k > end) return -1;
  return std::strtoll(json.data() + k + field.size(), nullptr, 10);
}

/// The sum of "key":<number> over every "group":{...} object (one per reactor), or -1 if none.
inline long long json_sum(std::string_view json, std::string_view group, std::string_view key) {
  long long sum = -1;
  const std::string open = "\"" + std::string(group) + "\":{";
  for (std::size_t at = json.find(open); at != std::string_view::npos; at = json.find(open, at + 1)) {
    const long long value = json_number(json, group, key, at);
    if (value >= 0) sum = (sum < 0 ? 0 : sum) + value;
  }
  return sum;
}

/// `bytes` with control and non-ASCII bytes escaped, for test messages.
inline std::string printable(std::string_view bytes) {
  std::string out;
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace mempool::test

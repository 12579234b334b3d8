/// \file
/// The path resolution harness (handlers/include/mempool/http/path_resolution.hpp): request
/// paths against a document root whose symlinks lead inside, outside, upwards and in circles.
/// Driven by tests/server/handler_parsing_test.cpp and tests/fuzz/path_resolution_fuzz.cpp.
///
/// What it holds the code to:
///   - normalize_request_path: a path without faults comes out as its decoded segments without
///     "" and "." (the model); one with faults (a bad escape, NUL: 400; ".." in any spelling:
///     403; an encoded slash or a backslash: 404) gets the status of the first, left to right;
///     what comes out is decoded once (with every byte escaped again, it normalizes to itself)
///   - open_beneath, given that or any relative path at all ("..", absolute, NUL): whatever it
///     opens lies beneath the root (its /proc/self/fd link says so, and it is never the file
///     kept outside); openat2 and the O_NOFOLLOW walk open the same file or refuse alike
///
/// Byte 0, bit 0: raw (the rest of the input is the path) or generated from segments chosen by
/// the input. The document root is made once per process in the temporary folder.
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <mempool/http/path_resolution.hpp>
#include <mempool/pool.hpp>

#include "model/op_source.hpp"

namespace mempool::test::path_model {

/// <tmp>/mempool-path-model-XXXXXX/{root,outside}: files, directories and symlinks of every kind.
class Sandbox {
 public:
  static const Sandbox& instance() {
    static const Sandbox sandbox;
    return sandbox;
  }
  int root_fd() const { return root_fd_; }
  const std::string& root() const { return root_; }
  const struct stat& secret() const { return secret_; }

 private:
  Sandbox() {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = std::string(tmp && *tmp ? tmp : "/tmp") + "/mempool-path-model-XXXXXX";
    if (::mkdtemp(base.data()) == nullptr) std::abort();
    base_ = base;
    char real[PATH_MAX];
    if (::realpath(base_.c_str(), real) == nullptr) std::abort();
    root_ = std::string(real) + "/root";
    make_dir("root");
    make_dir("outside");
    make_file("outside/secret.txt");
    for (const char* dir : {"root/dir", "root/dir/sub", "root/empty"}) make_dir(dir);
    for (const char* file : {"root/a.txt", "root/dir/b.txt", "root/dir/sub/c.txt", "root/dir/index.html",
                             "root/%41.txt", "root/sp ace.txt", "root/..a", "root/\xc3\xa9"}) {
      make_file(file);
    }
    const std::pair<const char*, const char*> links[] = {
        {"root/in", "dir"},         {"root/dir/up", ".."},          {"root/dir/up2", "../.."},
        {"root/abs", "/etc"},       {"root/out", "../outside"},     {"root/outfile", "../outside/secret.txt"},
        {"root/loop", "loop"},      {"root/chain1", "chain2"},      {"root/chain2", "dir/b.txt"},
        {"root/dir/sub/home", "../../a.txt"}, {"root/dangling", "nowhere"}, {"root/self", "."}};
    for (const auto& [link, target] : links) {
      if (::symlink(target, (base_ + "/" + link).c_str()) != 0) std::abort();
    }
    root_fd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd_ < 0 || ::stat((base_ + "/outside/secret.txt").c_str(), &secret_) != 0) std::abort();
    std::atexit([] { instance().remove(); });
  }
  void make_dir(const std::string& path) const {
    if (::mkdir((base_ + "/" + path).c_str(), 0755) != 0) std::abort();
  }
  void make_file(const std::string& path) const {
    std::FILE* f = std::fopen((base_ + "/" + path).c_str(), "w");
    if (f == nullptr) std::abort();
    std::fputs(path.c_str(), f);
    std::fclose(f);
  }
  void remove() const {
    ::close(root_fd_);
    ::nftw(base_.c_str(), [](const char* p, const struct stat*, int, FTW*) { return ::remove(p); }, 16,
           FTW_DEPTH | FTW_PHYS);
  }

  std::string base_, root_;
  int root_fd_ = -1;
  struct stat secret_ {};
};

// --- the model of normalization -------------------------------------------------------------------

/// What normalize_request_path must make of a path: the status of its first fault, reading left
/// to right (a ".." counts where its segment ends), or else `relative` and `trailing_slash`.
struct Expected {
  int status = 0;
  std::string relative;
  bool trailing_slash = false;
};

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline Expected refused(int status) {
  Expected e;
  e.status = status;
  return e;
}

/// Reads the path as the header's contract says, one segment at a time.
inline Expected expected_for(std::string_view path) {
  if (!path.starts_with('/')) return refused(400);
  Expected e;
  for (std::size_t start = 1;;) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    std::string name;
    for (std::size_t i = start; i < slash; ++i) {
      char c = path[i];
      if (c == '%') {
        const int hi = i + 2 < slash ? hex_value(path[i + 1]) : -1;
        const int lo = hi >= 0 ? hex_value(path[i + 2]) : -1;
        if (lo < 0) return refused(400);  // not an escape
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
        if (c == '/') return refused(404);  // an encoded slash
      }
      if (c == '\0') return refused(400);
      if (c == '\\') return refused(404);
      name += c;
    }
    if (name.empty() || name == ".") {
      e.trailing_slash = true;
    } else {
      if (name == "..") return refused(403);
      e.relative += (e.relative.empty() ? "" : "/") + name;
      e.trailing_slash = false;
    }
    if (slash == path.size()) return e;
    start = slash + 1;
  }
}

/// Every byte escaped: what a client would send for exactly these decoded bytes.
inline std::string escape_all(std::string_view relative) {
  std::string out = "/";
  for (const unsigned char c : relative) {
    if (c == '/') {
      out += '/';
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

inline void check_normalize(std::string_view path) {
  Pool pool;
  const http::NormalizedPath got = http::normalize_request_path(path, pool);
  const Expected e = expected_for(path);
  MODEL_CHECK(got.status == e.status);
  if (e.status != 0) return;
  MODEL_CHECK(got.relative == e.relative);
  MODEL_CHECK(got.trailing_slash == e.trailing_slash);
  MODEL_CHECK(got.relative.data()[got.relative.size()] == '\0');
  const http::NormalizedPath again = http::normalize_request_path(escape_all(got.relative), pool);
  MODEL_CHECK(again.status == 0 && again.relative == got.relative);  // decoded exactly once
}

// --- resolution -----------------------------------------------------------------------------------

/// Where an open descriptor leads, from /proc/self/fd.
inline std::string fd_path(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[PATH_MAX];
  const ssize_t n = ::readlink(link, target, sizeof target);
  return n < 0 ? std::string() : std::string(target, static_cast<std::size_t>(n));
}

inline void check_beneath(const http::ResolvedFile& r) {
  if (r.fd < 0) {
    MODEL_CHECK(r.status != 0);
    return;
  }
  const Sandbox& box = Sandbox::instance();
  const std::string where = fd_path(r.fd);
  MODEL_CHECK(where == box.root() || where.starts_with(box.root() + "/"));
  MODEL_CHECK(!(r.st.st_dev == box.secret().st_dev && r.st.st_ino == box.secret().st_ino));
}

/// `relative`, whatever it holds, opens beneath the root or not at all, alike both ways.
inline void check_open(std::string_view relative) {
  const int root = Sandbox::instance().root_fd();
  const http::ResolvedFile walk = http::detail::open_beneath_walk(root, relative);
  check_beneath(walk);
  const http::ResolvedFile kernel = http::detail::open_beneath_openat2(root, relative);
  if (kernel.error != ENOSYS) {
    check_beneath(kernel);
    MODEL_CHECK((walk.fd >= 0) == (kernel.fd >= 0));
    if (walk.fd >= 0) MODEL_CHECK(walk.st.st_dev == kernel.st.st_dev && walk.st.st_ino == kernel.st.st_ino);
    MODEL_CHECK(walk.status == kernel.status);
    if (kernel.fd >= 0) ::close(kernel.fd);
  }
  if (walk.fd >= 0) ::close(walk.fd);
}

inline constexpr const char* segments[] = {
    "",        ".",       "..",      "%2e%2e",     "%2E.",        ".%2e",      "a.txt",   "dir",     "sub",
    "b.txt",   "c.txt",   "in",      "out",        "abs",         "up",        "up2",     "outfile", "loop",
    "chain1",  "home",    "self",    "dangling",   "secret.txt",  "outside",   "%2f",     "%2F",     "%5c",
    "\\",      "%00",     "%",       "%zz",        "%4",          "%41.txt",   "%2541.txt", "sp%20ace.txt",
    "..a",     "index.html", "%c3%a9", "a.txt%00", "empty",       "passwd",    "etc",     "%2e",     "~"};

inline std::string generated_path(OpSource& in) {
  std::string path = in.below(16) == 0 ? "" : "/";
  for (std::size_t i = 0, n = in.below(7); i < n; ++i) {
    if (i > 0) path += '/';
    path += segments[in.below(std::size(segments))];
  }
  return path;
}

inline void path_resolution_model(OpSource& in) {
  const bool raw = (in.byte() & 1) != 0;
  std::string path;
  if (raw) {
    while (!in.done()) path += static_cast<char>(in.byte());
  } else {
    path = generated_path(in);
  }
  ModelRun::current().op = "normalize";
  check_normalize(path);
  ModelRun::current().op = "open the normalized path";
  Pool pool;
  const http::NormalizedPath normalized = http::normalize_request_path(path, pool);
  if (normalized.status == 0) check_open(normalized.relative);
  ModelRun::current().op = "open the path as it is";
  check_open(path.starts_with('/') ? std::string_view(path).substr(1) : std::string_view(path));
  check_open(path);  // absolute: refused
}

}  // namespace mempool::test::path_model

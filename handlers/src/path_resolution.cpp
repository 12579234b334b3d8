#include <mempool/http/path_resolution.hpp>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>

namespace mempool::http {

namespace {

// How every file is opened: read-only, never the controlling tty, and non-blocking so a FIFO
// opens at once instead of waiting for a writer (the caller then refuses it as not regular).
constexpr int open_flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
// Directories the walk passes through: a handle only, never followed if it is a symlink.
constexpr int walk_dir_flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
// As the kernel's own limit on symlinks followed in one lookup (MAXSYMLINKS).
constexpr int max_symlinks = 40;
// openat2 RESOLVE_BENEATH answers EAGAIN when a concurrent rename might have let ".." escape;
// a few retries, then 500.
constexpr int max_eagain_retries = 4;

// Set once openat2 has answered ENOSYS: every later call walks instead. Process-wide and relaxed:
// a reactor that has not seen it yet only makes one more failing system call.
std::atomic<bool> openat2_missing{false};

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

ResolvedFile failure(int error) noexcept {
  ResolvedFile r;
  r.error = error;
  r.status = status_from_errno(error);
  return r;
}

// fstat of a freshly opened fd, which the result then owns.
ResolvedFile opened(int fd) noexcept {
  ResolvedFile r;
  if (::fstat(fd, &r.st) != 0) {
    const int error = errno;
    ::close(fd);
    return failure(error);
  }
  r.fd = fd;
  return r;
}

// `relative` as a NUL-terminated string for the system calls ("." for the root itself).
class CPath {
 public:
  /// 0, or the errno for a path that cannot be one (too long, or holding a NUL).
  int set(std::string_view relative) noexcept {
    if (relative.empty()) relative = ".";
    if (relative.size() >= sizeof(buffer_)) return ENAMETOOLONG;
    if (relative.find('\0') != std::string_view::npos) return EINVAL;
    std::memcpy(buffer_, relative.data(), relative.size());
    buffer_[relative.size()] = '\0';
    return 0;
  }
  const char* c_str() const noexcept { return buffer_; }

 private:
  char buffer_[PATH_MAX];
};

// A directory the walk stands in: the root (borrowed) or one it opened (owned).
class WalkDir {
 public:
  explicit WalkDir(int root) noexcept : fd_(root) {}
  ~WalkDir() { reset(-1, false); }
  WalkDir(const WalkDir&) = delete;
  WalkDir& operator=(const WalkDir&) = delete;
  int fd() const noexcept { return fd_; }
  void reset(int fd, bool owned) noexcept {
    if (owned_) ::close(fd_);
    fd_ = fd;
    owned_ = owned;
  }

 private:
  int fd_;
  bool owned_ = false;
};

// Makes `dir` the directory `resolved` ("a/b", components already checked to be real
// directories), opened from the root again, refusing any component that became a symlink since.
// False with errno set on failure; `dir` is the root itself when resolved is empty.
bool reopen_chain(int root, std::string_view resolved, WalkDir& dir) noexcept {
  dir.reset(root, false);
  while (!resolved.empty()) {
    const std::size_t slash = resolved.find('/');
    const std::string_view name = resolved.substr(0, slash);
    char c_name[NAME_MAX + 1];
    std::memcpy(c_name, name.data(), name.size());
    c_name[name.size()] = '\0';
    const int fd = ::openat(dir.fd(), c_name, walk_dir_flags);
    if (fd < 0) return false;
    dir.reset(fd, true);
    resolved = slash == std::string_view::npos ? std::string_view{} : resolved.substr(slash + 1);
  }
  return true;
}

}  // namespace

int status_from_errno(int error) noexcept {
  switch (error) {
    case 0: return 0;
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG: return 404;
    case EACCES:
    case EPERM:
    case ELOOP:
    case EXDEV:
    case EMLINK:
    case ENXIO: return 403;  // ENXIO: a socket or a device without a driver, not a file
    case EINVAL: return 400;
    case EMFILE:
    case ENFILE:
    case ENOMEM: return 503;
    default: return 500;
  }
}

NormalizedPath normalize_request_path(std::string_view encoded, Pool& pool) noexcept {
  NormalizedPath result;
  if (encoded.empty() || encoded.front() != '/') {
    result.status = 400;
    return result;
  }
  auto* out = static_cast<char*>(pool.alloc_unaligned(encoded.size() + 1));
  if (out == nullptr) {
    result.status = 500;
    return result;
  }
  std::size_t n = 0;  // bytes of out written: the segments kept so far, joined by '/'
  std::size_t i = 1;  // start of the current segment in encoded
  for (;;) {
    const std::size_t end = std::min(encoded.find('/', i), encoded.size());
    const std::size_t mark = n;
    if (n > 0) out[n++] = '/';
    const std::size_t segment = n;
    for (std::size_t k = i; k < end; ++k) {
      char c = encoded[k];
      if (c == '%') {
        const int hi = k + 2 < encoded.size() ? hex_value(encoded[k + 1]) : -1;
        const int lo = hi >= 0 ? hex_value(encoded[k + 2]) : -1;
        if (lo < 0) {
          result.status = 400;
          return result;
        }
        c = static_cast<char>(hi * 16 + lo);
        k += 2;
        if (c == '/') {  // an encoded slash would split this segment in two
          result.status = 404;
          return result;
        }
      }
      if (c == '\0') {
        result.status = 400;
        return result;
      }
      if (c == '\\') {
        result.status = 404;
        return result;
      }
      out[n++] = c;
    }
    const std::string_view name(out + segment, n - segment);
    if (name.empty() || name == ".") {
      n = mark;
      result.trailing_slash = true;  // stays true only if nothing follows
    } else if (name == "..") {
      result.status = 403;
      return result;
    } else {
      result.trailing_slash = false;
    }
    if (end == encoded.size()) break;
    i = end + 1;
  }
  out[n] = '\0';
  result.relative = std::string_view(out, n);
  return result;
}

ResolvedFile detail::open_beneath_openat2(int root_fd, std::string_view relative) noexcept {
  CPath path;
  if (const int error = path.set(relative)) return failure(error);
  open_how how{};
  how.flags = static_cast<std::uint64_t>(open_flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (int retries = 0;;) {
    const long fd = ::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how);
    if (fd >= 0) return opened(static_cast<int>(fd));
    const int error = errno;
    if (error == EINTR || (error == EAGAIN && retries++ < max_eagain_retries)) continue;
    return failure(error);
  }
}

// The fallback for kernels without openat2. `pending` is what is left to resolve; it lives at the
// end of its buffer so that a symlink's target can be put in front of it. `dir` is the directory
// reached so far and `resolved` its path from the root, kept so ".." can walk back from the root
// (never above it) instead of trusting a ".." entry.
ResolvedFile detail::open_beneath_walk(int root_fd, std::string_view relative) noexcept {
  if (relative.size() >= PATH_MAX) return failure(ENAMETOOLONG);
  if (relative.find('\0') != std::string_view::npos) return failure(EINVAL);
  if (relative.starts_with('/')) return failure(EXDEV);  // absolute: not beneath anything

  char pending_buffer[PATH_MAX];
  char* const pending_end = pending_buffer + sizeof(pending_buffer);
  char* pending = pending_end - relative.size();
  std::memcpy(pending, relative.data(), relative.size());
  char resolved[PATH_MAX];
  std::size_t resolved_size = 0;
  WalkDir dir(root_fd);
  int symlinks = 0;

  for (;;) {
    while (pending != pending_end && *pending == '/') ++pending;
    if (pending == pending_end) break;
    char* name_end = static_cast<char*>(std::memchr(pending, '/', static_cast<std::size_t>(pending_end - pending)));
    if (name_end == nullptr) name_end = pending_end;
    const std::string_view name(pending, static_cast<std::size_t>(name_end - pending));
    pending = name_end;  // what follows the name, starting with '/' unless it was the last
    const bool must_be_directory = pending != pending_end;
    const bool last =
        std::string_view(pending, static_cast<std::size_t>(pending_end - pending)).find_first_not_of('/') ==
        std::string_view::npos;

    if (name == ".") continue;
    if (name == "..") {
      if (resolved_size == 0) return failure(EXDEV);  // would climb above the root
      const std::string_view up(resolved, resolved_size);
      const std::size_t slash = up.rfind('/');
      resolved_size = slash == std::string_view::npos ? 0 : slash;
      if (!reopen_chain(root_fd, std::string_view(resolved, resolved_size), dir)) return failure(errno);
      continue;
    }
    if (name.size() > NAME_MAX) return failure(ENAMETOOLONG);
    char c_name[NAME_MAX + 1];
    std::memcpy(c_name, name.data(), name.size());
    c_name[name.size()] = '\0';

    struct stat st {};
    if (::fstatat(dir.fd(), c_name, &st, AT_SYMLINK_NOFOLLOW) != 0) return failure(errno);
    if (S_ISLNK(st.st_mode)) {
      if (++symlinks > max_symlinks) return failure(ELOOP);
      char target[PATH_MAX];
      const ssize_t size = ::readlinkat(dir.fd(), c_name, target, sizeof(target));
      if (size < 0) return failure(errno);
      if (size == 0) return failure(ENOENT);
      if (static_cast<std::size_t>(size) >= sizeof(target)) return failure(ENAMETOOLONG);
      if (target[0] == '/') return failure(EXDEV);  // an absolute target leaves the root
      if (pending - pending_buffer < size) return failure(ENAMETOOLONG);
      pending -= size;
      std::memcpy(pending, target, static_cast<std::size_t>(size));
      continue;  // the target is relative to the directory that holds the link: `dir`
    }
    if (last) {
      const int fd = ::openat(dir.fd(), c_name, open_flags | O_NOFOLLOW | (must_be_directory ? O_DIRECTORY : 0));
      return fd < 0 ? failure(errno) : opened(fd);
    }
    if (!S_ISDIR(st.st_mode)) return failure(ENOTDIR);
    const int fd = ::openat(dir.fd(), c_name, walk_dir_flags);  // O_NOFOLLOW: a swap to a symlink fails
    if (fd < 0) return failure(errno);
    dir.reset(fd, true);
    if (resolved_size + 1 + name.size() >= sizeof(resolved)) return failure(ENAMETOOLONG);
    if (resolved_size > 0) resolved[resolved_size++] = '/';
    std::memcpy(resolved + resolved_size, name.data(), name.size());
    resolved_size += name.size();
  }
  // The path ended in the directory itself (empty, or "." or ".." last).
  const int fd = ::openat(dir.fd(), ".", open_flags | O_DIRECTORY);
  return fd < 0 ? failure(errno) : opened(fd);
}

ResolvedFile open_beneath(int root_fd, std::string_view relative) noexcept {
  if (!openat2_missing.load(std::memory_order_relaxed)) {
    ResolvedFile r = detail::open_beneath_openat2(root_fd, relative);
    if (r.error != ENOSYS) return r;
    openat2_missing.store(true, std::memory_order_relaxed);
  }
  return detail::open_beneath_walk(root_fd, relative);
}

ResolvedFile resolve_request_path(int root_fd, std::string_view encoded, Pool& pool) noexcept {
  const NormalizedPath path = normalize_request_path(encoded, pool);
  if (path.status != 0) {
    ResolvedFile r;
    r.status = path.status;
    return r;
  }
  return open_beneath(root_fd, path.relative);
}

}  // namespace mempool::http

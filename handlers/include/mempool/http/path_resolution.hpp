/// \file
/// Path resolution for the static-file handler: turns a request path into a file beneath the
/// document root and never anything outside it (DESIGN §4).
///
/// Two steps, so the open-file cache can sit between them:
///   1. normalize_request_path(): percent-decode once, refuse what could change a segment's
///      meaning, drop "." and empty segments. Pure text work, in the request pool.
///   2. open_beneath(): open the result relative to the root's descriptor with openat2(2)
///      RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so no "..", absolute symlink or symlink chain
///      can leave the root; where the kernel has no openat2 (ENOSYS, before Linux 5.6 or under
///      a seccomp filter), a component-by-component walk with O_NOFOLLOW that follows symlinks
///      itself and refuses the same things. Symlinks that stay inside the root are followed.
///
/// What each refusal answers, and why:
///   400  the path does not start with '/'; a '%' not followed by two hex digits; a NUL byte,
///        encoded (%00) or not: no file name can hold one, so the request itself is malformed
///        (nginx answers 400 too).
///   403  a ".." segment, literal or encoded (%2e%2e, .%2E): an explicit attempt to climb, never
///        resolved even when it would stay inside. A symlink that leads outside the root (EXDEV
///        from openat2), a magic link or a symlink loop (ELOOP), a file the server may not read
///        (EACCES): the name exists but is not served, as nginx's disable_symlinks answers.
///   404  an encoded slash (%2F) or a backslash, literal or encoded (%5C): names this server
///        never maps to a file (Apache's AllowEncodedSlashes Off answers 404 the same way), so
///        "a/..%2f..%2fetc" or "\..\" cannot be read as a path of several segments by anyone.
///        ENOENT, ENOTDIR, ENAMETOOLONG: there is no such file.
///   500  any other errno (EMFILE, ENFILE, ENOMEM: 503, the server is short of resources).
/// A percent escape is decoded exactly once: "%252e" names a file called "%2e", not ".".
///
/// Thread safety: every function is reentrant; the root descriptor may be shared by reactors.
#pragma once

#include <sys/stat.h>

#include <string_view>

#include <mempool/pool.hpp>

namespace mempool::http {

/// A request path made safe to look up.
struct NormalizedPath {
  /// Decoded, segments joined by '/', no leading or trailing '/', no "." or empty segment, never
  /// a ".." segment: "dir/file.txt", or "" for the root itself. NUL-terminated, in the pool.
  std::string_view relative;
  /// The request path named a directory: it ended in '/' (or "/.").
  bool trailing_slash = false;
  /// 0, or the HTTP status to answer instead (see the file comment).
  int status = 0;
};

/// Step 1: `encoded` is Request::path (still percent-encoded). Allocates path.size() + 1 bytes
/// from `pool`; status 500 if the pool cannot give them.
[[nodiscard]] NormalizedPath normalize_request_path(std::string_view encoded, Pool& pool) noexcept;

/// An open file beneath the root, or why there is none.
struct ResolvedFile {
  int fd = -1;        ///< owned by the caller; -1 when status != 0
  struct stat st {};  ///< fstat of fd
  int status = 0;     ///< 0, or the HTTP status to answer instead (see the file comment)
  int error = 0;      ///< the errno behind status, 0 on success
  bool is_directory() const noexcept { return S_ISDIR(st.st_mode); }
  bool is_regular() const noexcept { return S_ISREG(st.st_mode); }
};

/// Step 2: opens `relative` (as normalize_request_path makes it; "" is the root) beneath the
/// directory `root_fd` (which may be an O_PATH descriptor), read-only, close-on-exec and
/// non-blocking (so a FIFO does not stall the reactor: it is opened, found not regular, and
/// refused by the caller). A relative path that would leave the root fails the same way an
/// outside symlink does, so the function is safe for any input.
[[nodiscard]] ResolvedFile open_beneath(int root_fd, std::string_view relative) noexcept;

/// The HTTP status for an errno from opening a file (see the file comment).
int status_from_errno(int error) noexcept;

/// Both halves of the resolution: normalize, then open.
[[nodiscard]] ResolvedFile resolve_request_path(int root_fd, std::string_view encoded, Pool& pool) noexcept;

namespace detail {
/// open_beneath through openat2 only: error ENOSYS when the kernel lacks it.
[[nodiscard]] ResolvedFile open_beneath_openat2(int root_fd, std::string_view relative) noexcept;
/// open_beneath through the O_NOFOLLOW walk only (the ENOSYS fallback), for tests.
[[nodiscard]] ResolvedFile open_beneath_walk(int root_fd, std::string_view relative) noexcept;
}  // namespace detail

}  // namespace mempool::http

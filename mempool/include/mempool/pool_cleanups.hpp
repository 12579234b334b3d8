/// \file
/// Ready-made Pool cleanups for descriptors and files (nginx's ngx_pool_cleanup_file and
/// ngx_pool_delete_file), each with its child cleanup for a forked child about to exec (APR's
/// cleanup_for_exec, see Pool::run_child_cleanups()).
///
///   close_on_cleanup(pool, fd)         the pool closes fd when it is reset or destroyed; a forked
///                                      child's run_child_cleanups() closes it too, so a listening
///                                      socket does not leak into the program it execs.
///   delete_on_cleanup(pool, path, fd)  the pool deletes the file at path (and closes fd, if >= 0)
///                                      at reset: a temporary file; a forked child only closes fd,
///                                      since the file is the parent's.
///
/// Thread safety and lifetime: the pool's. Failure policy: registering returns false when the
/// pool is full, and then nothing is registered (the caller still owns fd and the file). Errors
/// of close() and unlink() inside a cleanup are ignored, as nginx does: nobody is left to tell.
#pragma once

#include <string_view>

#include "mempool/pool.hpp"

namespace mempool {

/// Closes fd at the pool's next reset or destruction, and in a forked child's
/// run_child_cleanups().
[[nodiscard]] bool close_on_cleanup(Pool& pool, int fd) noexcept;

/// Closes fd now and unregisters its close (nginx's ngx_pool_run_cleanup_file). False, and fd
/// left alone, if no close of fd is registered.
bool run_close_cleanup(Pool& pool, int fd) noexcept;

/// Unregisters the close of fd without closing it (the caller keeps or hands it on). False if none.
bool remove_close_cleanup(Pool& pool, int fd) noexcept;

/// Deletes the file at path (copied into the pool) at the pool's next reset or destruction, and
/// closes fd if fd >= 0. A forked child's run_child_cleanups() closes fd and keeps the file.
[[nodiscard]] bool delete_on_cleanup(Pool& pool, std::string_view path, int fd = -1) noexcept;

}  // namespace mempool

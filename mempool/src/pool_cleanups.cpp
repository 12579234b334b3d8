#include "mempool/pool_cleanups.hpp"

#include <unistd.h>

#include <cstdint>

namespace mempool {

namespace {

// A descriptor travels as the cleanup's data pointer itself: no allocation beyond the record.
void* as_data(int fd) noexcept { return reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)); }
int as_fd(void* data) noexcept { return static_cast<int>(reinterpret_cast<std::intptr_t>(data)); }

void close_fd(void* data) noexcept { ::close(as_fd(data)); }

struct FileToDelete {
  const char* path;  ///< NUL-terminated, in the pool
  int fd;            ///< closed first when >= 0
};

void close_file(void* data) noexcept {
  const auto* f = static_cast<const FileToDelete*>(data);
  if (f->fd >= 0) ::close(f->fd);
}

void delete_file(void* data) noexcept {
  close_file(data);
  ::unlink(static_cast<const FileToDelete*>(data)->path);
}

}  // namespace

bool close_on_cleanup(Pool& pool, int fd) noexcept { return pool.add_cleanup(close_fd, as_data(fd), close_fd); }

bool run_close_cleanup(Pool& pool, int fd) noexcept { return pool.run_cleanup(close_fd, as_data(fd)); }

bool remove_close_cleanup(Pool& pool, int fd) noexcept { return pool.remove_cleanup(close_fd, as_data(fd)); }

bool delete_on_cleanup(Pool& pool, std::string_view path, int fd) noexcept {
  const std::string_view stored = pool.strdup(path);
  auto* f = pool.alloc_array<FileToDelete>(1);
  if (stored.data() == nullptr || f == nullptr) return false;
  *f = FileToDelete{stored.data(), fd};
  return pool.add_cleanup(delete_file, f, close_file);
}

}  // namespace mempool

#include <mempool/http/open_file_cache.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include <mempool/detail/check.hpp>
#include <mempool/http/path_resolution.hpp>

namespace mempool::http {

FileInfo FileInfo::from(const struct stat& st) noexcept {
  FileInfo info;
  info.size = static_cast<std::uint64_t>(st.st_size);
  info.mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec);
  info.mtime_nsec = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
  info.mode = static_cast<std::uint32_t>(st.st_mode);
  info.device = static_cast<std::uint64_t>(st.st_dev);
  info.inode = static_cast<std::uint64_t>(st.st_ino);
  return info;
}

OpenFileCache::OpenFileCache(int root_fd, SmallObjectAllocator& small, const Options& options)
    : small_(&small),
      root_fd_(root_fd),
      max_entries_(options.max_entries),
      validity_(options.validity),
      now_(options.now),
      now_context_(options.now_context),
      lru_(SmallObjectStlAllocator<Entry>(small)),
      dropped_(SmallObjectStlAllocator<Entry>(small)),
      index_(0, std::hash<std::string_view>{}, std::equal_to<std::string_view>{},
             SmallObjectStlAllocator<std::pair<const std::string_view, List::iterator>>(small)) {
  // One more than the cap: an insertion is indexed before the overflow is evicted.
  index_.reserve(std::min(max_entries_, max_reserved_entries) + 1);
}

OpenFileCache::~OpenFileCache() {
  MEMPOOL_EXPECT(in_use_ == 0, "OpenFileCache destroyed while a Ref is still out");
  index_.clear();
  while (!lru_.empty()) destroy(lru_, lru_.begin());
  while (!dropped_.empty()) destroy(dropped_, dropped_.begin());
}

OpenFileCache::Lookup OpenFileCache::acquire(std::string_view path) noexcept {
  const Clock::time_point t = now();
  if (const auto found = index_.find(path); found != index_.end()) {
    const List::iterator it = found->second;
    if (t - it->checked_ < validity_ || still_valid(*it, t)) {
      ++hits_;
      touch(it);
      if (it->refs_++ == 0) ++in_use_;
      return {Ref(this, it), 0};
    }
    ++invalidations_;
    drop(it);
  }
  ++misses_;
  return open_and_insert(path, t);
}

// One stat of the path, following symlinks and not confined to the root: safe because it only
// decides whether the entry is the same file as the one open_beneath() opened; anything else
// makes the caller open the path again through open_beneath().
bool OpenFileCache::still_valid(Entry& entry, Clock::time_point t) noexcept {
  ++revalidations_;
  struct stat st {};
  const char* path = entry.key_.empty() ? "." : entry.key_.data();  // keys are NUL-terminated
  if (::fstatat(root_fd_, path, &st, 0) != 0) return false;
  const FileInfo fresh = FileInfo::from(st);
  if (fresh.device != entry.info_.device || fresh.inode != entry.info_.inode ||
      (fresh.mode & S_IFMT) != (entry.info_.mode & S_IFMT)) {
    return false;
  }
  entry.info_ = fresh;  // same file: its size and times may have changed in place
  entry.checked_ = t;
  return true;
}

OpenFileCache::Lookup OpenFileCache::open_and_insert(std::string_view path, Clock::time_point t) noexcept {
  ResolvedFile file = open_beneath(root_fd_, path);
  if (file.status != 0) return {Ref(), file.status};
  if (!file.is_regular() && !file.is_directory()) {
    ::close(file.fd);
    return {Ref(), 403};
  }
  if (file.is_directory()) {  // remembered as a directory; its descriptor would serve nothing
    ::close(file.fd);
    file.fd = -1;
  }

  List::iterator it;
  char* key = nullptr;
  try {
    key = static_cast<char*>(small_->allocate(path.size() + 1));
    lru_.emplace_front();
    it = lru_.begin();
  } catch (const std::bad_alloc&) {
    if (key != nullptr) small_->deallocate(key, path.size() + 1);
    if (file.fd >= 0) ::close(file.fd);
    return {Ref(), 500};
  }
  std::memcpy(key, path.data(), path.size());
  key[path.size()] = '\0';
  it->key_ = std::string_view(key, path.size());
  it->info_ = FileInfo::from(file.st);
  it->checked_ = t;
  it->fd_ = file.fd;
  if (it->fd_ >= 0) ++open_fds_;
  try {
    index_.emplace(it->key_, it);
  } catch (const std::bad_alloc&) {
    destroy(lru_, it);
    return {Ref(), 500};
  }
  it->refs_ = 1;  // before evicting, so that a cache of max_entries 0 keeps it open for this Ref
  ++in_use_;
  evict_overflow();
  return {Ref(this, it), 0};
}

void OpenFileCache::evict_overflow() noexcept {
  while (index_.size() > max_entries_) {
    ++evictions_;
    drop(std::prev(lru_.end()));
  }
}

void OpenFileCache::drop(List::iterator it) noexcept {
  index_.erase(it->key_);
  if (it->refs_ == 0) {
    destroy(lru_, it);
  } else {
    it->indexed_ = false;
    dropped_.splice(dropped_.end(), lru_, it);
  }
}

void OpenFileCache::destroy(List& list, List::iterator it) noexcept {
  if (it->fd_ >= 0) {
    ::close(it->fd_);
    --open_fds_;
  }
  small_->deallocate(const_cast<char*>(it->key_.data()), it->key_.size() + 1);
  list.erase(it);
}

void OpenFileCache::release(List::iterator it) noexcept {
  MEMPOOL_EXPECT(it->refs_ > 0, "OpenFileCache: an entry released more often than acquired");
  if (--it->refs_ != 0) return;
  --in_use_;
  if (!it->indexed_) destroy(dropped_, it);
}

OpenFileCache::Stats OpenFileCache::stats() const noexcept {
  Stats s;
  s.hits = hits_;
  s.misses = misses_;
  s.evictions = evictions_;
  s.revalidations = revalidations_;
  s.invalidations = invalidations_;
  s.entries = index_.size();
  s.open_fds = open_fds_;
  s.in_use = in_use_;
  return s;
}

}  // namespace mempool::http

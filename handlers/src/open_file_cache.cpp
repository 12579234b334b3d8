#include <mempool/http/open_file_cache.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include <mempool/detail/check.hpp>
#include <mempool/http/http_date.hpp>
#include <mempool/http/path_resolution.hpp>

#include <fmt/format.h>

namespace mempool::http {

namespace {

// The whole of a file of `size` bytes, or false if it reads short or fails.
bool read_all(int fd, char* out, std::size_t size) noexcept {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(done));
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

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
      inactive_(options.inactive),
      now_(options.now),
      now_context_(options.now_context),
      lru_(SmallObjectStlAllocator<Entry>(small)),
      dropped_(SmallObjectStlAllocator<Entry>(small)),
      index_(0, std::hash<std::string_view>{}, std::equal_to<std::string_view>{},
             SmallObjectStlAllocator<std::pair<const std::string_view, List::iterator>>(small)),
      max_content_size_(options.max_content_size),
      content_budget_(options.content_budget) {
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
      touch(it, t);
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
  // Anything changed (replaced, rewritten in place, touched): a new entry, since responses in
  // flight may still be sending this one's validators and content.
  if (!(FileInfo::from(st) == entry.info_)) return false;
  entry.checked_ = t;
  return true;
}

// The validators, and the content of a small file, in one allocation made with the entry. A
// file that reads short (changing as we read) is simply not kept in memory. Throws
// std::bad_alloc (the small-object allocator's failure rule).
void OpenFileCache::make_extras(Entry& e) {
  char date_buffer[http_date_length];
  const std::string_view date = format_http_date(e.info_.mtime, date_buffer);
  char etag_buffer[48];
  const auto etag = fmt::format_to_n(etag_buffer, sizeof etag_buffer, "\"{:x}-{:x}\"",
                                     static_cast<std::uint64_t>(e.info_.mtime), e.info_.size);
  const bool keep = max_content_size_ != 0 && e.info_.size <= max_content_size_ &&
                    content_bytes_ + e.info_.size <= content_budget_;
  const std::size_t content_size = keep ? e.info_.size : 0;
  const std::size_t bytes = sizeof(Entry::Extras) + etag.size + date.size() + content_size;
  auto* x = ::new (small_->allocate(bytes)) Entry::Extras{bytes, static_cast<std::uint16_t>(etag.size),
                                                          static_cast<std::uint16_t>(date.size()), 0, false};
  char* text = const_cast<char*>(x->text());
  std::memcpy(text, etag_buffer, etag.size);
  std::memcpy(text + etag.size, date.data(), date.size());
  if (keep && read_all(e.fd_, text + etag.size + date.size(), content_size)) {
    x->content_size = static_cast<std::uint32_t>(content_size);
    x->has_content = true;
    content_bytes_ += content_size;
  }
  e.extras_ = x;
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
  // The one place where the small-object allocator's std::bad_alloc becomes an answer.
  try {
    return {insert(path, file, t), 0};
  } catch (const std::bad_alloc&) {
    if (file.fd >= 0) ::close(file.fd);  // not yet handed to an entry
    return {Ref(), 500};
  }
}

// Makes and indexes the entry for a file just opened, and hands out its first Ref. Throws
// std::bad_alloc and then leaves nothing behind: the descriptor moves into the entry as soon as
// there is one, and an entry that is not yet indexed is destroyed on the way out.
OpenFileCache::Ref OpenFileCache::insert(std::string_view path, ResolvedFile& file, Clock::time_point t) {
  lru_.emplace_front();
  struct Unindexed {
    OpenFileCache& cache;
    List::iterator it;
    bool indexed = false;
    ~Unindexed() {
      if (!indexed) cache.destroy(cache.lru_, it);
    }
  } entry{*this, lru_.begin()};
  Entry& e = *entry.it;
  e.fd_ = std::exchange(file.fd, -1);
  if (e.fd_ >= 0) ++open_fds_;
  e.info_ = FileInfo::from(file.st);
  e.checked_ = t;
  e.used_ = t;
  auto* key = static_cast<char*>(small_->allocate(path.size() + 1));
  std::memcpy(key, path.data(), path.size());
  key[path.size()] = '\0';
  e.key_ = std::string_view(key, path.size());
  if (e.info_.is_regular()) make_extras(e);
  index_.emplace(e.key_, entry.it);
  entry.indexed = true;
  e.refs_ = 1;  // before evicting, so that a cache of max_entries 0 keeps it open for this Ref
  ++in_use_;
  evict_overflow();
  return Ref(this, entry.it);
}

void OpenFileCache::evict_overflow() noexcept {
  while (index_.size() > max_entries_) {
    ++evictions_;
    drop(std::prev(lru_.end()));
  }
}

void OpenFileCache::expire_inactive() noexcept {
  const Clock::time_point t = now();
  while (!lru_.empty() && t - lru_.back().used_ >= inactive_) {
    ++expirations_;
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
  if (Entry::Extras* x = it->extras_) {
    content_bytes_ -= x->content_size;
    small_->deallocate(x, x->bytes);
  }
  if (it->fd_ >= 0) {
    ::close(it->fd_);
    --open_fds_;
  }
  if (it->key_.data() != nullptr) small_->deallocate(const_cast<char*>(it->key_.data()), it->key_.size() + 1);
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
  s.expirations = expirations_;
  s.entries = index_.size();
  s.open_fds = open_fds_;
  s.in_use = in_use_;
  s.content_bytes = content_bytes_;
  return s;
}

}  // namespace mempool::http

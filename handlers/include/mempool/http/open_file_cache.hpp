/// \file
/// OpenFileCache: open descriptors of static files, kept between requests (nginx's
/// open_file_cache; DESIGN §4). A hit costs no system call and no heap allocation.
///
/// Keys are resolved relative paths (as normalize_request_path makes them); files are opened with
/// open_beneath(), so nothing outside the root gets in. Regular files keep their descriptor;
/// directories are remembered as directories only (no descriptor). Anything else is refused
/// (403) and not cached, as are failures (no negative caching).
///
/// Validity (nginx's open_file_cache_valid): an entry older than `validity` is checked with one
/// stat of its path before it is used again. Same device and inode: the entry is kept and its
/// size and times refreshed (a file rewritten in place or touched is noticed). Another inode,
/// or no file at all: the entry is dropped and the path opened afresh (a file replaced by a rename
/// or deleted is noticed). Within `validity` a change goes unseen: that is the cache's bargain.
///
/// Inactivity (nginx's open_file_cache inactive=): expire_inactive() drops the entries not looked
/// up for `inactive`, so a file served once does not keep its descriptor (and a deleted file its
/// disk space) for ever; the server calls it once a second.
///
/// Eviction: least recently used beyond `max_entries`. References are counted: an entry that an
/// in-flight response still holds (a Ref) leaves the index at once but keeps its descriptor open
/// until the last Ref goes; only then is it closed. So a response never has its file closed under
/// it, and a dropped entry is never served to a new request.
///
/// Memory: entries are nodes of a std::list and the index a std::unordered_map, both through a
/// SmallObjectStlAllocator over the reactor's SmallObjectAllocator; the key strings are the
/// cache's own (from the same allocator), never the request pool's. That allocator throws
/// std::bad_alloc when memory runs out; acquire() (noexcept) turns it into a 500 in one place and
/// leaves nothing behind: no entry, no descriptor, no memory.
///
/// Thread safety: none. One cache per reactor, used only on its thread (Refs included).
/// Lifetime: the cache must outlive every Ref (so every request pool holding one); its
/// destructor closes every descriptor. Checked builds abort if a Ref is still out.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <mempool/small_object_allocator.hpp>

namespace mempool::http {

struct ResolvedFile;  // path_resolution.hpp

/// What a request needs to know of a file, copied from its struct stat.
struct FileInfo {
  std::uint64_t size = 0;
  std::int64_t mtime = 0;        ///< seconds since the epoch
  std::uint32_t mtime_nsec = 0;  ///< the nanoseconds of mtime
  std::uint32_t mode = 0;        ///< st_mode: type and permission bits
  std::uint64_t device = 0;
  std::uint64_t inode = 0;

  bool is_directory() const noexcept { return S_ISDIR(mode); }
  bool is_regular() const noexcept { return S_ISREG(mode); }
  static FileInfo from(const struct stat& st) noexcept;
  bool operator==(const FileInfo&) const = default;
};

/// How a cache is built. Every field has a default.
struct OpenFileCacheOptions {
  using Clock = std::chrono::steady_clock;
  /// Entries kept in the index (nginx's open_file_cache max=). 0 caches nothing: every lookup
  /// opens the file and the last Ref closes it.
  std::size_t max_entries = 1000;
  /// How long an entry is trusted without a stat (nginx's open_file_cache_valid, 60 s by
  /// default there too). Zero: a stat before every use.
  Clock::duration validity = std::chrono::seconds(60);
  /// An entry not looked up for this long is dropped by expire_inactive() (nginx's
  /// open_file_cache inactive=, 60 s by default there too).
  Clock::duration inactive = std::chrono::seconds(60);
  /// The time source; nullptr is Clock::now. A reactor with a cached clock, or a test, sets it.
  Clock::time_point (*now)(void* context) noexcept = nullptr;
  void* now_context = nullptr;  ///< passed to `now` as is
  /// Regular files up to this size are read into memory when their entry is made, so a response
  /// sends head and body in one write instead of a write and a sendfile. 0: never.
  std::size_t max_content_size = 16 * 1024;
  /// Bytes of file content the cache keeps in memory at most; past it files go by sendfile.
  std::size_t content_budget = std::size_t{4} << 20;
};

/// A snapshot of one cache's counters.
struct OpenFileCacheStats {
  std::uint64_t hits = 0;           ///< lookups answered from the index (revalidated ones included)
  std::uint64_t misses = 0;         ///< lookups that opened the path (failures included)
  std::uint64_t evictions = 0;      ///< entries pushed out of the index by max_entries
  std::uint64_t revalidations = 0;  ///< stats of a cached path whose validity had run out
  std::uint64_t invalidations = 0;  ///< of those, entries found replaced or gone and dropped
  std::uint64_t expirations = 0;    ///< entries dropped by expire_inactive()
  std::size_t entries = 0;          ///< entries in the index
  std::size_t open_fds = 0;         ///< descriptors the cache holds, dropped-but-referenced ones included
  std::size_t in_use = 0;           ///< entries with at least one Ref out
  std::size_t content_bytes = 0;    ///< file content kept in memory
  bool operator==(const OpenFileCacheStats&) const = default;
};

class OpenFileCache {
 public:
  using Options = OpenFileCacheOptions;
  using Stats = OpenFileCacheStats;
  using Clock = Options::Clock;

  /// One cached file. Read-only to users; reached through a Ref.
  class Entry {
   public:
    /// The open descriptor (read-only, non-blocking, close-on-exec); -1 for a directory.
    int fd() const noexcept { return fd_; }
    const FileInfo& info() const noexcept { return info_; }
    bool is_directory() const noexcept { return info_.is_directory(); }
    /// The key: the resolved path relative to the root.
    std::string_view path() const noexcept { return key_; }
    /// Refs out on this entry.
    std::uint32_t references() const noexcept { return refs_; }
    /// The validators, formatted once when the entry was made: "\"<mtime hex>-<size hex>\"" and
    /// an HTTP date (empty for a directory, or a year past 9999).
    std::string_view etag() const noexcept { return extras_ ? extras_->etag() : std::string_view{}; }
    std::string_view last_modified() const noexcept { return extras_ ? extras_->last_modified() : std::string_view{}; }
    /// The whole file, read when the entry was made, if it was small enough; else data() is
    /// nullptr. An entry never changes: a file changed on disk gets a new entry.
    std::string_view content() const noexcept { return extras_ ? extras_->content() : std::string_view{}; }

   private:
    friend class OpenFileCache;
    /// One allocation per regular file's entry: this header, then the ETag, the date, the content.
    struct Extras {
      std::size_t bytes;            ///< of the whole allocation
      std::uint16_t etag_size;
      std::uint16_t date_size;
      std::uint32_t content_size;   ///< 0 with has_content false: not kept
      bool has_content;
      const char* text() const noexcept { return reinterpret_cast<const char*>(this + 1); }
      std::string_view etag() const noexcept { return {text(), etag_size}; }
      std::string_view last_modified() const noexcept { return {text() + etag_size, date_size}; }
      std::string_view content() const noexcept {
        return has_content ? std::string_view(text() + etag_size + date_size, content_size) : std::string_view{};
      }
    };
    Extras* extras_ = nullptr;
    std::string_view key_;  ///< key_.size() + 1 bytes (NUL-terminated) from the small-object allocator
    FileInfo info_;
    Clock::time_point checked_{};  ///< when info_ was last known to match the path
    Clock::time_point used_{};     ///< the last lookup that returned it (lru_ is in this order)
    int fd_ = -1;
    std::uint32_t refs_ = 0;
    bool indexed_ = true;  ///< in lru_ and the index; false: in dropped_, closed at refs_ == 0
  };

 private:
  using List = std::list<Entry, SmallObjectStlAllocator<Entry>>;

 public:
  /// One counted reference to an entry: while it lives, the entry's descriptor stays open. Move
  /// only; destroying or reset() releases it. Hand one to a request with
  /// `req.pool().make<OpenFileCache::Ref>(std::move(ref))`: the pool's cleanup releases it when
  /// the request pool is reset, after the response is sent.
  class Ref {
   public:
    Ref() noexcept = default;
    Ref(Ref&& other) noexcept : cache_(std::exchange(other.cache_, nullptr)), it_(other.it_) {}
    Ref& operator=(Ref&& other) noexcept {
      if (this != &other) {
        reset();
        cache_ = std::exchange(other.cache_, nullptr);
        it_ = other.it_;
      }
      return *this;
    }
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;
    ~Ref() { reset(); }

    void reset() noexcept {
      if (OpenFileCache* cache = std::exchange(cache_, nullptr)) cache->release(it_);
    }
    explicit operator bool() const noexcept { return cache_ != nullptr; }
    const Entry& operator*() const noexcept { return *it_; }
    const Entry* operator->() const noexcept { return &*it_; }

   private:
    friend class OpenFileCache;
    Ref(OpenFileCache* cache, List::iterator it) noexcept : cache_(cache), it_(it) {}
    OpenFileCache* cache_ = nullptr;
    List::iterator it_{};  ///< stays valid when the node moves between lru_ and dropped_ (splice)
  };

  /// What acquire() found: a Ref, or the HTTP status to answer instead (see path_resolution.hpp;
  /// 403 also for a file that is neither regular nor a directory, 500 when memory ran out).
  struct Lookup {
    Ref ref;
    int status = 0;
  };

  /// Buckets reserved up front are for at most this many entries; a larger cache may rehash
  /// (on a miss, which allocates anyway).
  static constexpr std::size_t max_reserved_entries = 64 * 1024;

  /// `root_fd` (borrowed; may be O_PATH) is the directory every key is resolved beneath.
  /// `small` holds the entries, the index and the keys; it must outlive the cache. Reserves the
  /// index for max_entries now, so a hit never allocates and an insertion does not rehash.
  OpenFileCache(int root_fd, SmallObjectAllocator& small, const Options& options = {});
  ~OpenFileCache();
  OpenFileCache(const OpenFileCache&) = delete;
  OpenFileCache& operator=(const OpenFileCache&) = delete;

  /// The entry for `path` (relative, as normalize_request_path makes it), opened if needed.
  [[nodiscard]] Lookup acquire(std::string_view path) noexcept;

  /// Drops the entries not looked up for `inactive` (a Ref still out keeps its descriptor open
  /// until it goes, as with any dropped entry).
  void expire_inactive() noexcept;

  Stats stats() const noexcept;
  int root_fd() const noexcept { return root_fd_; }

 private:
  using Index =
      std::unordered_map<std::string_view, List::iterator, std::hash<std::string_view>, std::equal_to<std::string_view>,
                         SmallObjectStlAllocator<std::pair<const std::string_view, List::iterator>>>;

  Clock::time_point now() const noexcept { return now_ ? now_(now_context_) : Clock::now(); }
  bool still_valid(Entry& entry, Clock::time_point now) noexcept;
  void make_extras(Entry& entry);
  Lookup open_and_insert(std::string_view path, Clock::time_point now) noexcept;
  Ref insert(std::string_view path, ResolvedFile& file, Clock::time_point now);
  void touch(List::iterator it, Clock::time_point now) noexcept {
    it->used_ = now;
    lru_.splice(lru_.begin(), lru_, it);
  }
  void evict_overflow() noexcept;
  void drop(List::iterator it) noexcept;
  void destroy(List& list, List::iterator it) noexcept;
  void release(List::iterator it) noexcept;

  SmallObjectAllocator* small_;
  int root_fd_;
  std::size_t max_entries_;
  Clock::duration validity_;
  Clock::duration inactive_;
  Clock::time_point (*now_)(void*) noexcept;
  void* now_context_;
  List lru_;      ///< indexed entries, most recently used first
  List dropped_;  ///< out of the index (evicted, replaced, gone) but still referenced
  Index index_;   ///< key → its node in lru_; keys view the entries' own key strings
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t revalidations_ = 0;
  std::uint64_t invalidations_ = 0;
  std::uint64_t expirations_ = 0;
  std::size_t open_fds_ = 0;
  std::size_t in_use_ = 0;  ///< entries with refs_ > 0
  std::size_t max_content_size_;
  std::size_t content_budget_;
  std::size_t content_bytes_ = 0;  ///< kept in memory by all entries, dropped ones included
};

// A node of lru_ (two links and an Entry) must fit a small-object size class, or every entry
// would go to the heap one by one.
static_assert(sizeof(OpenFileCache::Entry) + 2 * sizeof(void*) <= SmallObjectAllocator::max_small_size,
              "OpenFileCache: an entry's list node must be a small object");

}  // namespace mempool::http

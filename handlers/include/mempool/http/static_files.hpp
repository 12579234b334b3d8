/// \file
/// StaticFiles: the static-file handler of the reference server (DESIGN §4). GET and HEAD of
/// files under a root directory, with an index file, MIME types, validators and single ranges;
/// the body goes out with sendfile from the descriptor it puts in Response::set_file.
///
/// What it answers:
///   405 + "Allow: GET, HEAD"   any other method
///   400 / 403 / 404            a path refused or not found (see path_resolution.hpp)
///   301 + Location: path/      a directory named without its trailing slash (query kept)
///   200 <index>                a directory named with it, when it holds the index file
///   403                        a directory without one (no listings), or anything not a regular file
///   404                        a regular file named with a trailing slash
///   304                        If-None-Match matches (weak comparison, a list or "*"); or, when
///                              there is no If-None-Match, If-Modified-Since is not before the mtime.
///                              ETag and Last-Modified, no body.
///   206 + Content-Range        Range is one `bytes=a-b`, `bytes=a-` or `bytes=-n` that is
///                              satisfiable, and If-Range (strong ETag or exact date), if sent, matches
///   416 + Content-Range */size Range is one spec and unsatisfiable (first byte past the end, or `-0`)
///   200                        otherwise, the whole file. Also when Range is invalid, names several
///                              ranges (no multipart/byteranges: the whole file is a valid answer),
///                              the file is empty, or If-Range does not match.
/// Every 200/206 carries Content-Type (MimeTypes), Last-Modified, an nginx-style ETag
/// `"<mtime hex>-<size hex>"` (strong) and Accept-Ranges: bytes. HEAD answers exactly as GET,
/// file body included so that Content-Length is right: the server sends no body for HEAD.
///
/// Memory: everything a request needs comes from req.pool() (header values, the path, the
/// reference that keeps the file open: a Ref made in the pool, released by its cleanup when the
/// pool is reset after the response is sent). A cache hit allocates nothing from the heap.
///
/// Thread safety: none. One StaticFiles per reactor, used on its thread; the MimeTypes it reads is
/// shared and read-only. Lifetime: must outlive every request pool that handled one of its
/// requests (their cleanups release into its cache).
#pragma once

#include <string_view>

#include <mempool/http/mime_types.hpp>
#include <mempool/http/open_file_cache.hpp>
#include <mempool/http/request.hpp>
#include <mempool/http/response.hpp>
#include <mempool/small_object_allocator.hpp>

namespace mempool::http {

/// How a StaticFiles handler is built. Every field has a default.
struct StaticFilesOptions {
  /// The file served for a directory path ending in '/'. Not copied: a literal, or memory that
  /// outlives the handler (the config's arena).
  std::string_view index = "index.html";
  OpenFileCacheOptions cache{};
};

class StaticFiles {
 public:
  using Options = StaticFilesOptions;

  /// Serves the files beneath `root`, opened now (O_PATH): a root that is not a directory or
  /// cannot be opened throws std::system_error (the server reports it at start). `mime` is shared
  /// by all reactors and `small` is this reactor's; both must outlive the handler.
  StaticFiles(std::string_view root, const MimeTypes& mime, SmallObjectAllocator& small, const Options& options = {});
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;

  /// Answers one request (see the file comment). Throws std::bad_alloc only when the request
  /// pool is over its capacity, as Response::add_header does.
  void handle(const Request& req, Response& res);

  const OpenFileCache& cache() const noexcept { return cache_; }
  OpenFileCache& cache() noexcept { return cache_; }
  int root_fd() const noexcept { return root_.fd(); }

 private:
  // The root directory's descriptor, closed with the handler.
  class Root {
   public:
    explicit Root(std::string_view path);
    ~Root();
    Root(const Root&) = delete;
    Root& operator=(const Root&) = delete;
    int fd() const noexcept { return fd_; }

   private:
    int fd_;
  };

  void redirect_to_directory(const Request& req, Response& res, std::string_view relative) const;
  void serve(const Request& req, Response& res, OpenFileCache::Ref file) const;

  Root root_;  ///< first: the cache resolves beneath it
  const MimeTypes* mime_;
  std::string_view index_;
  OpenFileCache cache_;
};

}  // namespace mempool::http

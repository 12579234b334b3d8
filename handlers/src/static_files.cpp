#include <mempool/http/static_files.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

#include <mempool/http/path_resolution.hpp>

#include "request_conditions.hpp"

namespace mempool::http {

using detail::ByteRange;
using detail::if_range_allows;
using detail::not_modified;
using detail::parse_range;

namespace {

// --- Location --------------------------------------------------------------------------------

bool keeps_in_path(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$&'()*+,;=:@/").find(static_cast<char>(c)) != std::string_view::npos;
}

// "/" + relative (percent-encoded again) + "/": built from the normalized path, never from the
// path as sent, so "//host" cannot turn into a protocol-relative Location.
std::string_view directory_url(RequestPool pool, std::string_view relative, std::string_view query) {
  const std::size_t room = 2 + 3 * relative.size() + (query.empty() ? 0 : 1 + query.size()) + 1;
  char* out = pool.alloc_unaligned(room);
  constexpr char hex[] = "0123456789ABCDEF";
  std::size_t n = 0;
  out[n++] = '/';
  for (const char ch : relative) {
    const auto c = static_cast<unsigned char>(ch);
    if (keeps_in_path(c)) {
      out[n++] = ch;
    } else {
      out[n++] = '%';
      out[n++] = hex[c >> 4];
      out[n++] = hex[c & 15];
    }
  }
  if (!relative.empty()) out[n++] = '/';
  if (!query.empty()) {
    out[n++] = '?';
    std::memcpy(out + n, query.data(), query.size());
    n += query.size();
  }
  out[n] = '\0';
  return {out, n};
}

}  // namespace

StaticFiles::Root::Root(std::string_view path)
    : fd_(::open(std::string(path).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "static files root " + std::string(path));
}

StaticFiles::Root::~Root() { ::close(fd_); }

StaticFiles::StaticFiles(std::string_view root, const MimeTypes& mime, SmallObjectAllocator& small,
                         const Options& options)
    : root_(root), mime_(&mime), index_(options.index), cache_(root_.fd(), small, options.cache) {}

void StaticFiles::handle(const Request& req, Response& res) {
  if (req.method != Method::get && req.method != Method::head) {
    res.error(405);
    res.add_header("Allow", "GET, HEAD");
    return;
  }
  const RequestPool pool = req.pool();
  const NormalizedPath path = normalize_request_path(req.path, pool.pool());
  if (path.status != 0) return res.error(path.status);
  OpenFileCache::Lookup found = cache_.acquire(path.relative);
  if (found.status != 0) return res.error(found.status);

  if (found.ref->is_directory()) {
    if (!path.trailing_slash) return redirect_to_directory(req, res, path.relative);
    const std::string_view index = path.relative.empty() ? index_ : pool.format("{}/{}", path.relative, index_);
    found = cache_.acquire(index);                   // releases the directory
    if (found.status == 404) return res.error(403);  // a directory without an index: no listing
    if (found.status != 0) return res.error(found.status);
    if (found.ref->is_directory()) return res.error(403);
  } else if (path.trailing_slash) {
    return res.error(404);  // "file.txt/" names a directory that is not there (ENOTDIR)
  }
  serve(req, res, std::move(found.ref));
}

void StaticFiles::redirect_to_directory(const Request& req, Response& res, std::string_view relative) const {
  const std::string_view location = directory_url(req.pool(), relative, req.query);
  res.error(301);
  res.add_header("Location", location);
}

void StaticFiles::serve(const Request& req, Response& res, OpenFileCache::Ref file) const {
  const RequestPool pool = req.pool();
  const FileInfo& info = file->info();
  const std::string_view last_modified = file->last_modified();  // formatted once, with the entry
  const std::string_view etag = file->etag();
  auto add_validators = [&] {
    res.add_header("ETag", etag);
    if (!last_modified.empty()) res.add_header("Last-Modified", last_modified);  // empty: a year past 9999
  };

  if (not_modified(req, etag, info.mtime)) {
    res.status = 304;  // no body; the file is let go when `file` goes
    add_validators();
    return;
  }

  ByteRange range;
  if (const auto header = req.header("Range"); header && info.size > 0 && if_range_allows(req, etag, info.mtime)) {
    range = parse_range(*header, info.size);
  }
  if (range.kind == ByteRange::Kind::unsatisfiable) {
    res.error(416);
    res.add_header("Content-Range", pool.format("bytes */{}", info.size));
    return;
  }
  std::string_view content_range;
  FileBody body{file->fd(), 0, info.size};
  if (range.kind == ByteRange::Kind::partial) {
    content_range = pool.format("bytes {}-{}/{}", range.first, range.first + range.length - 1, info.size);
    body.offset = range.first;
    body.length = range.length;
  }
  const std::string_view content_type = mime_->for_path(file->path());
  const std::string_view content = file->content();  // a small file, already in memory

  // The descriptor must stay open until the response is sent: the Ref moves into the request
  // pool, whose cleanup releases it at the pool's reset.
  pool.make<OpenFileCache::Ref>(std::move(file));

  res.status = range.kind == ByteRange::Kind::partial ? 206 : 200;
  res.add_header("Content-Type", content_type);
  add_validators();
  res.add_header("Accept-Ranges", "bytes");
  if (!content_range.empty()) res.add_header("Content-Range", content_range);
  if (content.data() != nullptr) {
    res.set_body(content.substr(body.offset, body.length));  // head and body in one write
  } else {
    res.set_file(body);
  }
}

}  // namespace mempool::http

#include <mempool/http/static_files.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>

#include <mempool/http/http_date.hpp>
#include <mempool/http/path_resolution.hpp>

namespace mempool::http {

namespace {

std::string_view trim_ows(std::string_view s) noexcept {
  const std::size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// --- conditional requests (RFC 9110 §13) ----------------------------------------------------

// Whether one If-None-Match field value names `etag`, by weak comparison: "W/" is ignored on
// both sides (ours is strong). A malformed list matches nothing from the fault on.
bool etag_list_matches(std::string_view list, std::string_view etag) noexcept {
  list = trim_ows(list);
  if (list == "*") return true;
  for (;;) {
    const std::size_t start = list.find_first_not_of(" \t,");
    if (start == std::string_view::npos) return false;
    list.remove_prefix(start);
    if (list.starts_with("W/")) list.remove_prefix(2);
    if (!list.starts_with('"')) return false;
    const std::size_t close = list.find('"', 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(0, close + 1) == etag) return true;
    list.remove_prefix(close + 1);
  }
}

// RFC 9110 §13.2.2: If-None-Match decides when present (every field of that name counts);
// If-Modified-Since is looked at only without it. True: answer 304.
bool not_modified(const Request& req, std::string_view etag, std::int64_t mtime) noexcept {
  bool has_if_none_match = false;
  for (const Header& h : req.headers) {
    if (!iequals(h.name, "If-None-Match")) continue;
    has_if_none_match = true;
    if (etag_list_matches(h.value, etag)) return true;
  }
  if (has_if_none_match) return false;
  const auto since = req.header("If-Modified-Since");
  if (!since) return false;
  const auto date = parse_http_date(trim_ows(*since));
  return date && mtime <= static_cast<std::int64_t>(*date);
}

// RFC 9110 §13.1.5: an entity-tag must match by strong comparison, a date exactly. No If-Range
// at all lets the Range through.
bool if_range_allows(const Request& req, std::string_view etag, std::int64_t mtime) noexcept {
  const auto field = req.header("If-Range");
  if (!field) return true;
  const std::string_view value = trim_ows(*field);
  if (value.starts_with("W/")) return false;  // a weak tag never matches strongly
  if (value.starts_with('"')) return value == etag;
  const auto date = parse_http_date(value);
  return date && static_cast<std::int64_t>(*date) == mtime;
}

// --- Range (RFC 9110 §14) --------------------------------------------------------------------

struct ByteRange {
  enum class Kind { ignore, partial, unsatisfiable };
  Kind kind = Kind::ignore;
  std::uint64_t first = 0;
  std::uint64_t length = 0;
};

// Digits only, at least one; values past 2^64 - 1 saturate (they are past any file's end).
bool parse_position(std::string_view digits, std::uint64_t& value) noexcept {
  if (digits.empty()) return false;
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t v = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    v = v > (max - d) / 10 ? max : v * 10 + d;
  }
  value = v;
  return true;
}

// One range-spec of a file of `size` (> 0) bytes. An invalid header is ignored (a 200), as
// RFC 9110 §14.2 allows; so are several ranges.
ByteRange parse_range(std::string_view header, std::uint64_t size) noexcept {
  header = trim_ows(header);
  constexpr std::string_view unit = "bytes=";
  if (header.size() < unit.size() || !iequals(header.substr(0, unit.size()), unit)) return {};
  std::string_view set = header.substr(unit.size());
  std::string_view spec;
  int specs = 0;
  while (!set.empty()) {
    const std::size_t comma = set.find(',');
    const std::string_view element = trim_ows(set.substr(0, comma));
    if (!element.empty()) {
      spec = element;
      ++specs;
    }
    set = comma == std::string_view::npos ? std::string_view{} : set.substr(comma + 1);
  }
  if (specs != 1) return {};
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const std::string_view first_text = spec.substr(0, dash);
  const std::string_view last_text = spec.substr(dash + 1);

  if (first_text.empty()) {  // bytes=-n: the last n bytes
    std::uint64_t n = 0;
    if (!parse_position(last_text, n)) return {};
    if (n == 0) return {ByteRange::Kind::unsatisfiable};
    const std::uint64_t length = std::min(n, size);
    return {ByteRange::Kind::partial, size - length, length};
  }
  std::uint64_t first = 0;
  std::uint64_t last = std::numeric_limits<std::uint64_t>::max();
  if (!parse_position(first_text, first)) return {};
  if (!last_text.empty() && !parse_position(last_text, last)) return {};
  if (last < first) return {};  // invalid, not unsatisfiable
  if (first >= size) return {ByteRange::Kind::unsatisfiable};
  last = std::min(last, size - 1);
  return {ByteRange::Kind::partial, first, last - first + 1};
}

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

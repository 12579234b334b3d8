#include <mempool/http/mime_types.hpp>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mempool::http {

namespace {

// clang-format off
constexpr MimeMapping builtin_rows[] = {
    // text (each gets "; charset=utf-8")
    {"html", "text/html"}, {"htm", "text/html"}, {"shtml", "text/html"}, {"css", "text/css"},
    {"xml", "text/xml"}, {"txt", "text/plain"}, {"text", "text/plain"}, {"log", "text/plain"},
    {"js", "text/javascript"}, {"mjs", "text/javascript"}, {"csv", "text/csv"}, {"md", "text/markdown"},
    {"markdown", "text/markdown"}, {"ics", "text/calendar"}, {"vtt", "text/vtt"}, {"mml", "text/mathml"},
    {"htc", "text/x-component"}, {"jad", "text/vnd.sun.j2me.app-descriptor"}, {"wml", "text/vnd.wap.wml"},
    // images
    {"gif", "image/gif"}, {"jpeg", "image/jpeg"}, {"jpg", "image/jpeg"}, {"png", "image/png"},
    {"apng", "image/apng"}, {"avif", "image/avif"}, {"webp", "image/webp"}, {"svg", "image/svg+xml"},
    {"svgz", "image/svg+xml"}, {"tif", "image/tiff"}, {"tiff", "image/tiff"}, {"ico", "image/x-icon"},
    {"bmp", "image/bmp"}, {"wbmp", "image/vnd.wap.wbmp"}, {"jng", "image/x-jng"},
    // fonts
    {"woff", "font/woff"}, {"woff2", "font/woff2"}, {"ttf", "font/ttf"}, {"otf", "font/otf"},
    {"eot", "application/vnd.ms-fontobject"},
    // application
    {"json", "application/json"}, {"map", "application/json"}, {"jsonld", "application/ld+json"},
    {"webmanifest", "application/manifest+json"}, {"atom", "application/atom+xml"},
    {"rss", "application/rss+xml"}, {"xhtml", "application/xhtml+xml"}, {"wasm", "application/wasm"},
    {"pdf", "application/pdf"}, {"ps", "application/postscript"}, {"eps", "application/postscript"},
    {"ai", "application/postscript"}, {"rtf", "application/rtf"}, {"zip", "application/zip"},
    {"gz", "application/gzip"}, {"tgz", "application/gzip"}, {"bz2", "application/x-bzip2"},
    {"xz", "application/x-xz"}, {"zst", "application/zstd"}, {"7z", "application/x-7z-compressed"},
    {"tar", "application/x-tar"}, {"rar", "application/vnd.rar"}, {"jar", "application/java-archive"},
    {"war", "application/java-archive"}, {"ear", "application/java-archive"},
    {"m3u8", "application/vnd.apple.mpegurl"}, {"doc", "application/msword"},
    {"xls", "application/vnd.ms-excel"}, {"ppt", "application/vnd.ms-powerpoint"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"odt", "application/vnd.oasis.opendocument.text"}, {"epub", "application/epub+zip"},
    {"der", "application/x-x509-ca-cert"}, {"pem", "application/x-x509-ca-cert"},
    {"crt", "application/x-x509-ca-cert"}, {"bin", "application/octet-stream"},
    {"exe", "application/octet-stream"}, {"dll", "application/octet-stream"},
    {"deb", "application/octet-stream"}, {"dmg", "application/octet-stream"},
    {"iso", "application/octet-stream"}, {"img", "application/octet-stream"},
    {"msi", "application/octet-stream"},
    // audio
    {"mp3", "audio/mpeg"}, {"ogg", "audio/ogg"}, {"oga", "audio/ogg"}, {"opus", "audio/ogg"},
    {"m4a", "audio/x-m4a"}, {"aac", "audio/aac"}, {"flac", "audio/flac"}, {"wav", "audio/wav"},
    {"mid", "audio/midi"}, {"midi", "audio/midi"}, {"weba", "audio/webm"},
    // video
    {"mp4", "video/mp4"}, {"m4v", "video/x-m4v"}, {"webm", "video/webm"}, {"ogv", "video/ogg"},
    {"mpeg", "video/mpeg"}, {"mpg", "video/mpeg"}, {"mov", "video/quicktime"}, {"avi", "video/x-msvideo"},
    {"flv", "video/x-flv"}, {"ts", "video/mp2t"}, {"3gp", "video/3gpp"}, {"3gpp", "video/3gpp"},
    {"mkv", "video/x-matroska"},
};
// clang-format on

constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Orders a stored (lowercase) extension against a query of any case.
int compare_folded(std::string_view stored, std::string_view query) noexcept {
  const std::size_t n = std::min(stored.size(), query.size());
  for (std::size_t i = 0; i < n; ++i) {
    const char a = stored[i];
    const char b = lower(query[i]);
    if (a != b) return static_cast<unsigned char>(a) < static_cast<unsigned char>(b) ? -1 : 1;
  }
  return stored.size() == query.size() ? 0 : (stored.size() < query.size() ? -1 : 1);
}

std::string_view checked(std::string_view copy) {
  if (copy.data() == nullptr) throw std::bad_alloc();
  return copy;
}

}  // namespace

std::span<const MimeMapping> MimeTypes::builtin() noexcept { return builtin_rows; }

MimeTypes::MimeTypes(GlobalArena& arena, std::span<const MimeMapping> extra) {
  // Start-up only: gather, lowercase, sort, keep the last row of each extension.
  struct Row {
    std::string extension;
    std::string_view type;
  };
  std::vector<Row> rows;
  rows.reserve(std::size(builtin_rows) + extra.size());
  auto add = [&rows](std::string_view extension, std::string_view type) {
    if (extension.starts_with('.')) extension.remove_prefix(1);
    if (extension.empty() || type.empty()) throw std::invalid_argument("MimeTypes: empty extension or type");
    std::string folded(extension);
    std::transform(folded.begin(), folded.end(), folded.begin(), lower);
    rows.push_back({std::move(folded), type});
  };
  for (const MimeMapping& m : builtin_rows) add(m.extension, m.type);
  for (const MimeMapping& m : extra) add(m.extension, m.type);
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.extension < b.extension; });

  auto* out = static_cast<MimeMapping*>(arena.alloc(rows.size() * sizeof(MimeMapping), alignof(MimeMapping)));
  if (out == nullptr) throw std::bad_alloc();
  std::size_t count = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i + 1 < rows.size() && rows[i + 1].extension == rows[i].extension) continue;  // a later row wins
    const Row& row = rows[i];
    const bool text = row.type.starts_with("text/") && row.type.find(';') == std::string_view::npos;
    ::new (&out[count++]) MimeMapping{
        checked(arena.strdup(row.extension)),
        checked(text ? arena.format("{}; charset=utf-8", row.type) : arena.strdup(row.type)),
    };
  }
  rows_ = out;
  count_ = count;
}

std::string_view MimeTypes::lookup(std::string_view extension) const noexcept {
  const MimeMapping* end = rows_ + count_;
  const MimeMapping* it = std::lower_bound(rows_, end, extension, [](const MimeMapping& row, std::string_view q) {
    return compare_folded(row.extension, q) < 0;
  });
  return it != end && compare_folded(it->extension, extension) == 0 ? it->type : default_type;
}

std::string_view MimeTypes::for_path(std::string_view path) const noexcept {
  const std::size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return default_type;
  return lookup(name.substr(dot + 1));
}

}  // namespace mempool::http

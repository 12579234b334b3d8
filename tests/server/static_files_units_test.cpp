// The pure parts of the static-file handler: HTTP dates, the MIME table and request-path
// normalisation. No file system here (static_files_test.cpp has the document root).
#include <mempool/http/http_date.hpp>
#include <mempool/http/mime_types.hpp>
#include <mempool/http/path_resolution.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <ctime>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <mempool/global_arena.hpp>
#include <mempool/pool.hpp>

#include "support/seed.hpp"

using namespace std::string_view_literals;
using mempool::GlobalArena;
using mempool::Pool;
using mempool::http::format_http_date;
using mempool::http::http_date_length;
using mempool::http::MimeMapping;
using mempool::http::MimeTypes;
using mempool::http::normalize_request_path;
using mempool::http::parse_http_date;

namespace {

std::string format(std::time_t t) {
  char buf[http_date_length];
  return std::string(format_http_date(t, buf));
}

}  // namespace

// --- HTTP dates ---------------------------------------------------------------------------------

// RFC 9110's own example is the format every client and cache compares byte for byte.
TEST_CASE("format_http_date writes the RFC 9110 example IMF-fixdate") {
  CHECK(format(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(format(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(format(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");  // a leap day of a 400-year
}

// Last-Modified of a file with an absurd mtime must not write garbage: no 4-digit year, no view.
TEST_CASE("format_http_date gives an empty view past year 9999") {
  CHECK(format(253402300799) == "Fri, 31 Dec 9999 23:59:59 GMT");
  CHECK(format(253402300800).empty());
}

// If-Modified-Since compares what we wrote with what we read: every second must survive the trip.
TEST_CASE("format then parse is the identity over random times") {
  const std::uint64_t seed = mempool::test::test_seed(0xda7e);
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 20000; ++i) {
    const auto t = static_cast<std::time_t>(rng() % 253402300800ULL);
    char buf[http_date_length];
    const std::string_view text = format_http_date(t, buf);
    REQUIRE(text.size() == http_date_length);
    const auto back = parse_http_date(text);
    REQUIRE(back);
    REQUIRE(*back == t);
  }
}

// RFC 9110 says a recipient MUST accept the two obsolete forms as well.
TEST_CASE("parse_http_date accepts the RFC 850 and asctime forms") {
  CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);
  CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == 784111777);
  CHECK(parse_http_date("Sun Nov 16 08:49:37 1994") == 784111777 + 10 * 86400);
}

// The two-digit year must not be read as 19xx forever: RFC 9110's 50-year rule.
TEST_CASE("an RFC 850 year more than 50 years ahead is taken from the previous century") {
  std::tm now{};
  const std::time_t t = std::time(nullptr);
  gmtime_r(&t, &now);
  const int year = now.tm_year + 1900;
  const int this_yy = year % 100;
  char text[64];
  std::snprintf(text, sizeof text, "Monday, 01-Jan-%02d 00:00:00 GMT", this_yy);
  const auto parsed = parse_http_date(text);
  REQUIRE(parsed);
  std::tm back{};
  gmtime_r(&*parsed, &back);
  CHECK(back.tm_year + 1900 == year);  // the weekday is not checked against the date
}

// A header that is not a valid date must be ignored, never read as some other time.
TEST_CASE("parse_http_date refuses malformed and impossible dates") {
  const std::array bad{
      ""sv,
      "Sun, 06 Nov 1994 08:49:37 UTC"sv,
      "Sun, 06 Nov 1994 08:49:37 GMT "sv,
      "Sun, 06 Nov 1994 08:49:37 gmt"sv,
      "Sun, 6 Nov 1994 08:49:37 GMT"sv,
      "Sun, 30 Feb 1994 08:49:37 GMT"sv,
      "Sun, 29 Feb 1900 08:49:37 GMT"sv,
      "Sun, 06 Nov 1994 24:00:00 GMT"sv,
      "Sun, 06 Nov 1994 08:60:00 GMT"sv,
      "Sun, 06 Foo 1994 08:49:37 GMT"sv,
      "Xyz, 06 Nov 1994 08:49:37 GMT"sv,
      "Sun,06 Nov 1994 08:49:37 GMT"sv,
      "Sunday, 06-Nov-1994 08:49:37 GMT"sv,
      "Sun Nov 6 08:49:37 1994"sv,
      "784111777"sv,
  };
  for (const std::string_view text : bad) {
    INFO(text);
    CHECK_FALSE(parse_http_date(text));
  }
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:60 GMT") == 784111777 + 23);  // a leap second
}

// The server formats its Date header on every reactor at once: no shared buffer, no locale.
TEST_CASE("format_http_date is safe on several threads at once") {
  std::vector<std::thread> threads;
  std::array<bool, 4> ok{};
  for (std::size_t i = 0; i < ok.size(); ++i) {
    threads.emplace_back([i, &ok] {
      bool good = true;
      for (std::time_t t = static_cast<std::time_t>(i) * 1000003; t < static_cast<std::time_t>(i) * 1000003 + 20000;
           ++t) {
        char buf[http_date_length];
        good = good && parse_http_date(format_http_date(t, buf)) == t;
      }
      ok[i] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (const bool b : ok) CHECK(b);
}

// --- MIME types ---------------------------------------------------------------------------------

// The browser renders by Content-Type: the common web types must map as nginx's mime.types does.
TEST_CASE("MimeTypes maps the common web extensions") {
  GlobalArena arena;
  const MimeTypes mime(arena);
  CHECK(mime.lookup("html") == "text/html; charset=utf-8");
  CHECK(mime.lookup("htm") == "text/html; charset=utf-8");
  CHECK(mime.lookup("css") == "text/css; charset=utf-8");
  CHECK(mime.lookup("js") == "text/javascript; charset=utf-8");
  CHECK(mime.lookup("mjs") == "text/javascript; charset=utf-8");
  CHECK(mime.lookup("txt") == "text/plain; charset=utf-8");
  CHECK(mime.lookup("xml") == "text/xml; charset=utf-8");
  CHECK(mime.lookup("json") == "application/json");
  CHECK(mime.lookup("svg") == "image/svg+xml");
  CHECK(mime.lookup("png") == "image/png");
  CHECK(mime.lookup("jpg") == "image/jpeg");
  CHECK(mime.lookup("jpeg") == "image/jpeg");
  CHECK(mime.lookup("gif") == "image/gif");
  CHECK(mime.lookup("webp") == "image/webp");
  CHECK(mime.lookup("ico") == "image/x-icon");
  CHECK(mime.lookup("wasm") == "application/wasm");
  CHECK(mime.lookup("pdf") == "application/pdf");
  CHECK(mime.lookup("zip") == "application/zip");
  CHECK(mime.lookup("gz") == "application/gzip");
  CHECK(mime.lookup("mp4") == "video/mp4");
  CHECK(mime.lookup("woff") == "font/woff");
  CHECK(mime.lookup("woff2") == "font/woff2");
}

// "INDEX.HTML" from a Windows-made site is still HTML; an unknown type must download, not render.
TEST_CASE("MimeTypes lookup ignores case and falls back to application/octet-stream") {
  GlobalArena arena;
  const MimeTypes mime(arena);
  CHECK(mime.lookup("HTML") == "text/html; charset=utf-8");
  CHECK(mime.lookup("Png") == "image/png");
  CHECK(mime.lookup("nosuchext") == MimeTypes::default_type);
  CHECK(mime.lookup("") == MimeTypes::default_type);
  CHECK(mime.for_path("a/b/INDEX.HTML") == "text/html; charset=utf-8");
  CHECK(mime.for_path("archive.tar.gz") == "application/gzip");
  CHECK(mime.for_path("dir.d/README") == MimeTypes::default_type);
  CHECK(mime.for_path("a/.profile") == MimeTypes::default_type);
  CHECK(mime.for_path("trailing.") == MimeTypes::default_type);
}

// The config may add or override types; the table must still be one sorted arena array.
TEST_CASE("MimeTypes extra rows override the built-in ones and add new extensions") {
  GlobalArena arena;
  const std::array extra{MimeMapping{".js", "application/javascript"}, MimeMapping{"Foo", "application/x-foo"},
                         MimeMapping{"md", "text/plain"}};
  const MimeTypes mime(arena, extra);
  CHECK(mime.lookup("js") == "application/javascript");
  CHECK(mime.lookup("foo") == "application/x-foo");
  CHECK(mime.lookup("md") == "text/plain; charset=utf-8");
  CHECK(mime.size() == MimeTypes(arena).size() + 1);
  CHECK_THROWS_AS(MimeTypes(arena, std::array{MimeMapping{".", "x/y"}}), std::invalid_argument);
}

// Built once at start-up: the whole table lives in the arena, and lookups take nothing more.
TEST_CASE("MimeTypes is built into the GlobalArena and lookups allocate nothing there") {
  GlobalArena arena;
  const MimeTypes mime(arena);
  const auto built = arena.stats();
  CHECK(built.allocations >= 2 * mime.size());
  const std::string_view html = mime.lookup("html");
  for (int i = 0; i < 100; ++i) CHECK(mime.lookup("html").data() == html.data());
  CHECK(arena.stats() == built);
}

// --- request-path normalisation -----------------------------------------------------------------

struct Normalized {
  std::string relative;
  bool trailing_slash;
  int status;
};

Normalized normalize(std::string_view path) {
  Pool pool;
  const auto n = normalize_request_path(path, pool);
  return {std::string(n.relative), n.trailing_slash, n.status};
}

// The cache key must be one spelling per file: "." and empty segments collapse, escapes decode once.
TEST_CASE("normalize_request_path collapses dot and empty segments and decodes once") {
  CHECK(normalize("/").relative.empty());
  CHECK(normalize("/").trailing_slash);
  CHECK(normalize("/a/b.txt").relative == "a/b.txt");
  CHECK_FALSE(normalize("/a/b.txt").trailing_slash);
  CHECK(normalize("//a/./b//c").relative == "a/b/c");
  CHECK(normalize("/a/b/").trailing_slash);
  CHECK(normalize("/a/b/.").trailing_slash);
  CHECK(normalize("/a/b/.").relative == "a/b");
  CHECK(normalize("/%7Euser/a%20b.txt").relative == "~user/a b.txt");
  CHECK(normalize("/file%2Etxt").relative == "file.txt");  // an encoded dot inside a name is a dot
  CHECK(normalize("/%2e/x").relative == "x");              // "." however spelt collapses
  CHECK(normalize("/%252e%252e").relative == "%2e%2e");    // decoded exactly once
  CHECK(normalize("/..a/b..").relative == "..a/b..");      // only a whole ".." segment climbs
}

// Every refusal has one documented status (path_resolution.hpp): 400 malformed, 403 "..", 404 names we never serve.
TEST_CASE("normalize_request_path refuses traversal and malformed paths with their documented status") {
  CHECK(normalize("").status == 400);
  CHECK(normalize("a/b").status == 400);
  CHECK(normalize("/a%zz").status == 400);
  CHECK(normalize("/a%2").status == 400);
  CHECK(normalize("/a%").status == 400);
  CHECK(normalize("/a%00b").status == 400);
  CHECK(normalize(std::string_view("/a\0b", 4)).status == 400);
  CHECK(normalize("/..").status == 403);
  CHECK(normalize("/../etc/passwd").status == 403);
  CHECK(normalize("/a/../b").status == 403);
  CHECK(normalize("/%2e%2e/%2e%2e/etc/passwd").status == 403);
  CHECK(normalize("/.%2E/x").status == 403);
  CHECK(normalize("/a/..%2f..%2fetc").status == 404);
  CHECK(normalize("/a%2Fb").status == 404);
  CHECK(normalize("/a\\..\\b").status == 404);
  CHECK(normalize("/a%5c..%5cb").status == 404);
  CHECK(normalize("/a%5C").status == 404);
}

// A request path is copied once into the pool, never onto the heap.
TEST_CASE("normalize_request_path takes its output from the pool") {
  Pool pool;
  const auto before = pool.bytes_used();
  const auto n = normalize_request_path("/a/b/c.txt", pool);
  CHECK(n.status == 0);
  CHECK(pool.bytes_used() - before == std::string_view("/a/b/c.txt").size() + 1);
  CHECK(n.relative.data()[n.relative.size()] == '\0');
}

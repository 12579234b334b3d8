// The static-file handler against a real temporary document root: traversal attempts, validators,
// ranges, directories, the open-file cache, and that a cache hit allocates nothing from the heap.
#include <mempool/http/open_file_cache.hpp>
#include <mempool/http/path_resolution.hpp>
#include <mempool/http/static_files.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <mempool/global_arena.hpp>
#include <mempool/http/http_date.hpp>
#include <mempool/pool.hpp>
#include <mempool/small_object_allocator.hpp>

#include "support/temp_dir.hpp"

// --- counting heap allocations, for the zero-allocation test -----------------------------------
// Plain builds replace operator new (Pool's MEMPOOL_DEBUG mode uses malloc, so it is not counted);
// sanitizer builds keep the sanitizer's own operator new and count through its allocator hook,
// which sees malloc too.

namespace {
std::atomic<bool> counting_heap{false};
std::atomic<long> heap_allocations{0};
void count_one() noexcept {
  if (counting_heap.load(std::memory_order_relaxed)) heap_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// From sanitizer/allocator_interface.h, which GCC 12 does not install; every sanitizer runtime has it.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, std::size_t),
                                                         void (*free_hook)(const volatile void*));
namespace {
constexpr bool heap_counter_sees_malloc = true;
void on_malloc(const volatile void*, std::size_t) { count_one(); }
void on_free(const volatile void*) {}
[[maybe_unused]] const int hooks_installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}  // namespace
#else
namespace {
constexpr bool heap_counter_sees_malloc = false;
}  // namespace
// Not inlined: GCC would otherwise pair the inlined free() with `new` and warn of a mismatch.
[[gnu::noinline]] void* operator new(std::size_t n) {
  count_one();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace fs = std::filesystem;
using mempool::GlobalArena;
using mempool::Pool;
using mempool::SmallObjectAllocator;
using mempool::http::FileBody;
using mempool::http::Header;
using mempool::http::Method;
using mempool::http::MimeTypes;
using mempool::http::OpenFileCache;
using mempool::http::Request;
using mempool::http::ResolvedFile;
using mempool::http::Response;
using mempool::http::StaticFiles;
using mempool::http::StaticFilesOptions;

namespace {

constexpr std::string_view hello = "Hello, static world!\n";
constexpr std::string_view digits = "0123456789abcdefghijklmnopqrstuvwxyz";  // 36 bytes
constexpr std::string_view secret = "outside the root\n";

// base/secret.txt lies outside; base/root is the document root:
//   index.html hello.txt digits.txt empty.txt page.html style.css app.js data.json image.png
//   blob.unknownext noext   sub/{index.html,inner.txt}   noindex/file.txt   a/   fifo
//   link-inside -> hello.txt        link-sub -> sub           link-up -> sub/../hello.txt
//   link-out -> ../secret.txt       link-abs -> <base>/secret.txt
//   link-outdir -> ..               loop1 -> loop2 -> loop1
class TempRoot {
 public:
  TempRoot() {
    base_.write("secret.txt", secret);
    write("index.html", "<p>root</p>\n");
    write("hello.txt", hello);
    write("digits.txt", digits);
    write("empty.txt", "");
    for (const char* name :
         {"page.html", "style.css", "app.js", "data.json", "image.png", "blob.unknownext", "noext"}) {
      write(name, name);
    }
    write("sub/index.html", "<p>sub</p>\n");
    write("sub/inner.txt", "inner\n");
    write("noindex/file.txt", "file\n");
    fs::create_directories(root_ / "a");
    fs::create_symlink("hello.txt", root_ / "link-inside");
    fs::create_directory_symlink("sub", root_ / "link-sub");
    fs::create_symlink("sub/../hello.txt", root_ / "link-up");
    fs::create_symlink("../secret.txt", root_ / "link-out");
    fs::create_symlink(base_.path() / "secret.txt", root_ / "link-abs");
    fs::create_directory_symlink("..", root_ / "link-outdir");
    fs::create_symlink("loop2", root_ / "loop1");
    fs::create_symlink("loop1", root_ / "loop2");
    REQUIRE(::mkfifo((root_ / "fifo").c_str(), 0644) == 0);
  }

  const fs::path& root() const { return root_; }
  fs::path at(std::string_view relative) const { return root_ / relative; }
  /// Writes (or replaces) a file under the root.
  void write(std::string_view relative, std::string_view content) const { base_.write(at(relative), content); }

 private:
  mempool::test::TempDir base_{"mempool-static"};
  fs::path root_ = base_.path() / "root";
};

// A steady clock the test moves by hand.
struct FakeClock {
  OpenFileCache::Clock::time_point t{std::chrono::hours(1)};
  static OpenFileCache::Clock::time_point now(void* self) noexcept { return static_cast<FakeClock*>(self)->t; }
  void advance(OpenFileCache::Clock::duration d) { t += d; }
};

// What a reactor holds: a document root, the shared MIME table, its small-object allocator and
// its StaticFiles. Declared before any Exchange, so request pools die first and release.
// Small files are served by sendfile here, as large ones are, unless a test asks for the
// in-memory content path (`in_memory`).
struct Site {
  explicit Site(StaticFilesOptions options = {}, bool in_memory = false)
      : files(tree.root().string(), mime, small, with_clock(options, in_memory)) {}
  StaticFilesOptions with_clock(StaticFilesOptions options, bool in_memory) {
    options.cache.now = &FakeClock::now;
    options.cache.now_context = &clock;
    if (!in_memory) options.cache.max_content_size = 0;
    return options;
  }
  TempRoot tree;
  FakeClock clock;
  GlobalArena arena;
  MimeTypes mime{arena};
  SmallObjectAllocator small;
  StaticFiles files;
};

// One request and its response, filled by hand as the server's parser would.
struct Exchange {
  explicit Exchange(std::string_view target, Method method = Method::get, std::initializer_list<Header> fields = {})
      : headers(fields), res(pool) {
    static constexpr std::string_view names[] = {"GET",     "HEAD",  "POST",    "PUT",   "DELETE",
                                                 "OPTIONS", "PATCH", "CONNECT", "TRACE", "BREW"};
    req.method = method;
    req.method_name = names[static_cast<int>(method)];
    req.target = target;
    const std::size_t q = target.find('?');
    req.path = target.substr(0, q);
    req.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    req.headers = headers;
    req.request_pool = &pool;
  }
  Pool pool;
  std::vector<Header> headers;
  Request req;
  Response res;
};

// Runs one request on a fresh exchange.
Exchange& run(Site& site, Exchange& ex) {
  site.files.handle(ex.req, ex.res);
  return ex;
}

std::string header(const Response& res, std::string_view name) {
  const auto value = res.header(name);
  return value ? std::string(*value) : std::string("<none>");
}

// The bytes the server would sendfile: pread from the descriptor handed over.
std::string file_bytes(const Response& res) {
  const FileBody& f = res.file();
  REQUIRE(f.fd >= 0);
  std::string out(f.length, '\0');
  const ssize_t n = ::pread(f.fd, out.data(), out.size(), static_cast<off_t>(f.offset));
  REQUIRE(n == static_cast<ssize_t>(f.length));
  return out;
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st;
}

std::string expected_etag(const fs::path& p) {
  const struct stat st = stat_of(p);
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"%llx-%llx\"", static_cast<unsigned long long>(st.st_mtim.tv_sec),
                static_cast<unsigned long long>(st.st_size));
  return buf;
}

std::string http_date(std::time_t t) {
  char buf[mempool::http::http_date_length];
  return std::string(mempool::http::format_http_date(t, buf));
}

void set_mtime(const fs::path& p, std::time_t t) {
  const timespec times[2] = {{t, 0}, {t, 0}};
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

// Asserts the answer to a traversal attempt: the status, and never a byte of the outside file.
void expect_refused(Site& site, std::string_view target, int status) {
  INFO(target);
  Exchange ex(target);
  run(site, ex);
  CHECK(ex.res.status == status);
  CHECK_FALSE(ex.res.has_file());
  CHECK(ex.res.body().find("outside") == std::string_view::npos);
}

// An O_PATH descriptor of a directory, closed at scope exit.
struct DirFd {
  explicit DirFd(const fs::path& p) : fd(::open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) { REQUIRE(fd >= 0); }
  ~DirFd() { ::close(fd); }
  int fd;
};

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

}  // namespace

// --- the basic answer ---------------------------------------------------------------------------

// The common case: the whole file with its type, validators and the descriptor to sendfile.
TEST_CASE("GET of a regular file answers 200 with its headers and the whole file") {
  Site site;
  Exchange ex("/hello.txt");
  run(site, ex);
  CHECK(ex.res.status == 200);
  CHECK(header(ex.res, "Content-Type") == "text/plain; charset=utf-8");
  CHECK(header(ex.res, "Accept-Ranges") == "bytes");
  CHECK(header(ex.res, "ETag") == expected_etag(site.tree.at("hello.txt")));
  CHECK(header(ex.res, "Last-Modified") == http_date(stat_of(site.tree.at("hello.txt")).st_mtim.tv_sec));
  CHECK(header(ex.res, "Content-Range") == "<none>");
  CHECK(ex.res.file().offset == 0);
  CHECK(ex.res.file().length == hello.size());
  CHECK(ex.res.content_length() == hello.size());
  CHECK(file_bytes(ex.res) == hello);
}

// HEAD must announce exactly what GET would send, so the file body (and Content-Length) is set too.
TEST_CASE("HEAD answers with the same status headers and length as GET") {
  Site site;
  Exchange get("/digits.txt");
  Exchange head("/digits.txt", Method::head);
  run(site, get);
  run(site, head);
  CHECK(head.res.status == 200);
  CHECK(head.res.content_length() == digits.size());
  for (const char* name : {"Content-Type", "ETag", "Last-Modified", "Accept-Ranges"}) {
    CHECK(header(head.res, name) == header(get.res, name));
  }
}

// Browsers decide how to render by Content-Type, from the extension, case-insensitively.
TEST_CASE("Content-Type follows the extension through the MIME table") {
  Site site;
  const std::pair<const char*, const char*> cases[] = {
      {"/page.html", "text/html; charset=utf-8"},
      {"/style.css", "text/css; charset=utf-8"},
      {"/app.js", "text/javascript; charset=utf-8"},
      {"/data.json", "application/json"},
      {"/image.png", "image/png"},
      {"/blob.unknownext", "application/octet-stream"},
      {"/noext", "application/octet-stream"},
  };
  for (const auto& [target, type] : cases) {
    INFO(target);
    Exchange ex(target);
    run(site, ex);
    CHECK(ex.res.status == 200);
    CHECK(header(ex.res, "Content-Type") == type);
  }
}

// Only GET and HEAD read files; RFC 9110 requires Allow with a 405.
TEST_CASE("methods other than GET and HEAD get 405 with Allow") {
  Site site;
  for (const Method m : {Method::post, Method::put, Method::delete_, Method::options, Method::other}) {
    Exchange ex("/hello.txt", m);
    run(site, ex);
    CHECK(ex.res.status == 405);
    CHECK(header(ex.res, "Allow") == "GET, HEAD");
    CHECK_FALSE(ex.res.has_file());
  }
}

// A missing file is the most common error a static server sends.
TEST_CASE("a missing file answers 404") {
  Site site;
  expect_refused(site, "/nothing-here.txt", 404);
  expect_refused(site, "/sub/nothing/deeper.txt", 404);
}

// Reading a FIFO would block the reactor and a device is not content: only regular files are served.
TEST_CASE("a FIFO is refused with 403 without blocking") {
  Site site;
  expect_refused(site, "/fifo", 403);
  CHECK(site.files.cache().stats().open_fds == 0);
}

// --- directories --------------------------------------------------------------------------------

// "/sub/" is a directory: its index file is the answer, typed by the index's name.
TEST_CASE("a directory path with a trailing slash serves its index.html") {
  Site site;
  Exchange ex("/sub/");
  run(site, ex);
  CHECK(ex.res.status == 200);
  CHECK(header(ex.res, "Content-Type") == "text/html; charset=utf-8");
  CHECK(file_bytes(ex.res) == "<p>sub</p>\n");
}

// The site's front page.
TEST_CASE("the root path serves the root index.html") {
  Site site;
  Exchange ex("/");
  run(site, ex);
  CHECK(ex.res.status == 200);
  CHECK(file_bytes(ex.res) == "<p>root</p>\n");
}

// Relative links inside the index only work under "/sub/": redirect as nginx does, keeping the query.
TEST_CASE("a directory path without a trailing slash answers 301 to path slash") {
  Site site;
  Exchange ex("/sub?x=1");
  run(site, ex);
  CHECK(ex.res.status == 301);
  CHECK(header(ex.res, "Location") == "/sub/?x=1");
  CHECK_FALSE(ex.res.has_file());
  Exchange plain("/noindex");
  run(site, plain);
  CHECK(plain.res.status == 301);
  CHECK(header(plain.res, "Location") == "/noindex/");
}

// "//evil.example" must not redirect to a protocol-relative URL on another host.
TEST_CASE("the 301 Location is built from the normalized path and never starts with two slashes") {
  Site site;
  std::filesystem::create_directory(site.tree.at("evil.example"));
  Exchange ex("//evil.example");
  run(site, ex);
  CHECK(ex.res.status == 301);
  CHECK(header(ex.res, "Location") == "/evil.example/");
  Exchange dotted("/sub/./");
  run(site, dotted);
  CHECK(dotted.res.status == 200);
}

// No directory listings: a directory without an index file is forbidden, as nginx without autoindex.
TEST_CASE("a directory without index.html answers 403") {
  Site site;
  expect_refused(site, "/noindex/", 403);
}

// "file.txt/" names a directory that does not exist (ENOTDIR).
TEST_CASE("a regular file named with a trailing slash answers 404") {
  Site site;
  expect_refused(site, "/hello.txt/", 404);
}

// A configured index name other than index.html.
TEST_CASE("the index file name comes from the options") {
  Site site(StaticFilesOptions{.index = "inner.txt"});
  Exchange ex("/sub/");
  run(site, ex);
  CHECK(ex.res.status == 200);
  CHECK(file_bytes(ex.res) == "inner\n");
}

// --- traversal: every attempt from the issue, one case each ----------------------------------

// The classic: ".." climbs out of the root.
TEST_CASE("traversal /../etc/passwd answers 403") {
  Site site;
  expect_refused(site, "/../etc/passwd", 403);
  expect_refused(site, "/../secret.txt", 403);
}

// Encoded dots decode to ".." and must be refused as such.
TEST_CASE("traversal /%2e%2e/%2e%2e/etc/passwd answers 403") {
  Site site;
  expect_refused(site, "/%2e%2e/%2e%2e/etc/passwd", 403);
  expect_refused(site, "/%2E%2E/secret.txt", 403);
  expect_refused(site, "/.%2e/secret.txt", 403);
}

// An encoded slash would hide ".." inside one segment.
TEST_CASE("traversal /a/..%2f..%2fetc answers 404") {
  Site site;
  expect_refused(site, "/a/..%2f..%2fetc", 404);
  expect_refused(site, "/a/..%2f..%2fsecret.txt", 404);
}

// %2F is refused even where the decoded path exists: segments are split on real slashes only.
TEST_CASE("an encoded slash %2F answers 404 even for an existing file") {
  Site site;
  expect_refused(site, "/sub%2Finner.txt", 404);
  expect_refused(site, "/sub%2finner.txt", 404);
}

// Windows-style separators must never be read as separators by anyone down the line.
TEST_CASE("traversal with backslashes answers 404") {
  Site site;
  expect_refused(site, "/\\..\\secret.txt", 404);
  expect_refused(site, "/sub\\..\\..\\secret.txt", 404);
}

// The encoded backslash is the same attempt.
TEST_CASE("traversal with %5c answers 404") {
  Site site;
  expect_refused(site, "/%5c..%5csecret.txt", 404);
  expect_refused(site, "/sub%5C..%5C..%5Csecret.txt", 404);
}

// A NUL would cut the path short in a C string: "hello.txt%00.png" is malformed.
TEST_CASE("an encoded NUL %00 answers 400") {
  Site site;
  expect_refused(site, "/hello.txt%00.png", 400);
  expect_refused(site, "/%00", 400);
}

// The shortest climb.
TEST_CASE("traversal /.. answers 403") {
  Site site;
  expect_refused(site, "/..", 403);
  expect_refused(site, "/sub/..", 403);
}

// Decoding twice would turn %252e into "."; we decode once, so it names a file called "%2e%2e".
TEST_CASE("double-encoded %252e is decoded once and answers 404") {
  Site site;
  expect_refused(site, "/%252e%252e/secret.txt", 404);
  expect_refused(site, "/%252e%252e%252fsecret.txt", 404);
}

// A symlink placed in the root must not become a door out of it: relative, absolute or a directory.
TEST_CASE("a symlink that leads out of the root answers 403") {
  Site site;
  expect_refused(site, "/link-out", 403);
  expect_refused(site, "/link-abs", 403);
  expect_refused(site, "/link-outdir/secret.txt", 403);
  expect_refused(site, "/link-outdir/root/hello.txt", 403);
}

// A symlink loop must fail fast, not spin.
TEST_CASE("a symlink loop answers 403") {
  Site site;
  expect_refused(site, "/loop1", 403);
}

// Symlinks that stay inside the root are an ordinary way to lay out a site.
TEST_CASE("a symlink inside the root is followed") {
  Site site;
  for (const char* target : {"/link-inside", "/link-up"}) {
    INFO(target);
    Exchange ex(target);
    run(site, ex);
    CHECK(ex.res.status == 200);
    CHECK(file_bytes(ex.res) == hello);
  }
  Exchange dir("/link-sub/inner.txt");
  run(site, dir);
  CHECK(dir.res.status == 200);
  CHECK(file_bytes(dir.res) == "inner\n");
}

// Kernels before 5.6 (or seccomp filters) lack openat2: the fallback walk must refuse exactly
// what openat2 refuses and open exactly what it opens.
TEST_CASE("the O_NOFOLLOW walk agrees with openat2 on every path") {
  TempRoot tree;
  DirFd root(tree.root());
  const ResolvedFile probe = mempool::http::detail::open_beneath_openat2(root.fd, "hello.txt");
  if (probe.error == ENOSYS) WARN("openat2 is missing here: only the walk is checked");
  if (probe.fd >= 0) ::close(probe.fd);
  const char* paths[] = {"hello.txt",
                         "",
                         "sub",
                         "sub/",
                         "sub/inner.txt",
                         "link-inside",
                         "link-up",
                         "link-sub",
                         "link-sub/",
                         "link-sub/inner.txt",
                         "link-out",
                         "link-abs",
                         "link-outdir",
                         "link-outdir/secret.txt",
                         "loop1",
                         "../secret.txt",
                         "sub/../../secret.txt",
                         "sub/../hello.txt",
                         "/etc/passwd",
                         "hello.txt/",
                         "missing",
                         "missing/x",
                         "fifo",
                         "hello.txt/x"};
  for (const char* path : paths) {
    INFO("path '" << path << "'");
    const ResolvedFile walk = mempool::http::detail::open_beneath_walk(root.fd, path);
    if (probe.error != ENOSYS) {
      const ResolvedFile kernel = mempool::http::detail::open_beneath_openat2(root.fd, path);
      CHECK(walk.status == kernel.status);
      if (walk.fd >= 0 && kernel.fd >= 0) {
        CHECK(walk.st.st_ino == kernel.st.st_ino);
        CHECK(walk.st.st_dev == kernel.st.st_dev);
      }
      if (kernel.fd >= 0) ::close(kernel.fd);
    }
    if (walk.fd >= 0) ::close(walk.fd);
  }
  CHECK(mempool::http::detail::open_beneath_walk(root.fd, "link-out").status == 403);
  CHECK(mempool::http::detail::open_beneath_walk(root.fd, "../secret.txt").status == 403);
  CHECK(mempool::http::detail::open_beneath_walk(root.fd, "link-outdir/secret.txt").status == 403);
  const ResolvedFile inside = mempool::http::detail::open_beneath_walk(root.fd, "link-sub/inner.txt");
  CHECK(inside.status == 0);
  CHECK(inside.st.st_ino == stat_of(tree.at("sub/inner.txt")).st_ino);
  if (inside.fd >= 0) ::close(inside.fd);
}

// --- conditional requests -----------------------------------------------------------------------

// A cache revalidating with the ETag it holds must get 304 and no body.
TEST_CASE("If-None-Match with the current ETag answers 304 without a body") {
  Site site;
  const std::string etag = expected_etag(site.tree.at("hello.txt"));
  Exchange ex("/hello.txt", Method::get, {{"If-None-Match", etag}});
  run(site, ex);
  CHECK(ex.res.status == 304);
  CHECK_FALSE(ex.res.has_file());
  CHECK(ex.res.body().empty());
  CHECK(header(ex.res, "ETag") == etag);
  CHECK(header(ex.res, "Content-Type") == "<none>");
  CHECK(site.files.cache().stats().in_use == 0);  // the file is not held for a 304
}

// RFC 9110: If-None-Match uses weak comparison over a list and "*" matches any current file.
TEST_CASE("If-None-Match matches weakly within a list and for the star form") {
  Site site;
  const std::string etag = expected_etag(site.tree.at("hello.txt"));
  for (const std::string& value :
       {"W/" + etag, "\"nope\", " + etag, "\"a\" ,W/" + etag + " ,\"b\"", std::string("*")}) {
    INFO(value);
    Exchange ex("/hello.txt", Method::get, {{"If-None-Match", value}});
    run(site, ex);
    CHECK(ex.res.status == 304);
  }
}

// A changed ETag means changed content: send it, and If-Modified-Since must not override that.
TEST_CASE("If-None-Match that does not match answers 200 even when If-Modified-Since would match") {
  Site site;
  Exchange ex("/hello.txt", Method::get,
              {{"If-None-Match", "\"0-0\""}, {"If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"}});
  run(site, ex);
  CHECK(ex.res.status == 200);
  CHECK(file_bytes(ex.res) == hello);
}

// The date validator: unchanged since the client's copy gives 304.
TEST_CASE("If-Modified-Since at or after the mtime answers 304") {
  Site site;
  set_mtime(site.tree.at("hello.txt"), 1'000'000'000);
  for (const std::time_t t : {std::time_t{1'000'000'000}, std::time_t{1'000'000'500}}) {
    const std::string since = http_date(t);  // Header borrows: keep the text alive
    Exchange ex("/hello.txt", Method::head, {{"If-Modified-Since", since}});
    run(site, ex);
    CHECK(ex.res.status == 304);
    CHECK(header(ex.res, "Last-Modified") == http_date(1'000'000'000));
  }
}

// Modified since, or a date we cannot read: the full file.
TEST_CASE("If-Modified-Since before the mtime or unreadable answers 200") {
  Site site;
  set_mtime(site.tree.at("hello.txt"), 1'000'000'000);
  for (const std::string& value : {http_date(999'999'999), std::string("yesterday")}) {
    Exchange ex("/hello.txt", Method::get, {{"If-Modified-Since", value}});
    run(site, ex);
    CHECK(ex.res.status == 200);
  }
}

// --- ranges -------------------------------------------------------------------------------------

// A resumed download: bytes=a-b is exactly those bytes, inclusive.
TEST_CASE("Range bytes=a-b answers 206 with that slice") {
  Site site;
  Exchange ex("/digits.txt", Method::get, {{"Range", "bytes=10-15"}});
  run(site, ex);
  CHECK(ex.res.status == 206);
  CHECK(header(ex.res, "Content-Range") == "bytes 10-15/36");
  CHECK(ex.res.file().offset == 10);
  CHECK(ex.res.file().length == 6);
  CHECK(file_bytes(ex.res) == "abcdef");
  CHECK(header(ex.res, "Content-Type") == "text/plain; charset=utf-8");
}

// bytes=a- is the rest of the file from a.
TEST_CASE("Range bytes=a- answers 206 to the end of the file") {
  Site site;
  Exchange ex("/digits.txt", Method::get, {{"Range", "bytes=30-"}});
  run(site, ex);
  CHECK(ex.res.status == 206);
  CHECK(header(ex.res, "Content-Range") == "bytes 30-35/36");
  CHECK(file_bytes(ex.res) == "uvwxyz");
}

// bytes=-n is the last n bytes; more than the file is the whole file.
TEST_CASE("Range bytes=-n answers 206 with the last n bytes") {
  Site site;
  Exchange ex("/digits.txt", Method::get, {{"Range", "bytes=-4"}});
  run(site, ex);
  CHECK(ex.res.status == 206);
  CHECK(header(ex.res, "Content-Range") == "bytes 32-35/36");
  CHECK(file_bytes(ex.res) == "wxyz");
  Exchange all("/digits.txt", Method::get, {{"Range", "bytes=-1000"}});
  run(site, all);
  CHECK(all.res.status == 206);
  CHECK(header(all.res, "Content-Range") == "bytes 0-35/36");
}

// A last position past the end is cut at the end (RFC 9110 §14.1.2).
TEST_CASE("a Range end past the file end is clamped") {
  Site site;
  Exchange ex("/digits.txt", Method::get, {{"Range", "bytes=34-99999999999999999999999"}});
  run(site, ex);
  CHECK(ex.res.status == 206);
  CHECK(header(ex.res, "Content-Range") == "bytes 34-35/36");
  CHECK(file_bytes(ex.res) == "yz");
}

// Past the end there is nothing to send: 416 tells the client the real size.
TEST_CASE("an unsatisfiable Range answers 416 with Content-Range bytes star slash size") {
  Site site;
  for (const char* value : {"bytes=36-", "bytes=100-200", "bytes=-0", "bytes=99999999999999999999999-"}) {
    INFO(value);
    Exchange ex("/digits.txt", Method::get, {{"Range", value}});
    run(site, ex);
    CHECK(ex.res.status == 416);
    CHECK(header(ex.res, "Content-Range") == "bytes */36");
    CHECK_FALSE(ex.res.has_file());
  }
}

// We do not build multipart/byteranges: the whole file is a valid answer to several ranges.
TEST_CASE("several ranges are ignored and answer 200 with the whole file") {
  Site site;
  Exchange ex("/digits.txt", Method::get, {{"Range", "bytes=0-1,5-6"}});
  run(site, ex);
  CHECK(ex.res.status == 200);
  CHECK(header(ex.res, "Content-Range") == "<none>");
  CHECK(file_bytes(ex.res) == digits);
}

// RFC 9110 §14.2: a Range we cannot parse is ignored, never an error.
TEST_CASE("an invalid Range is ignored and answers 200") {
  Site site;
  for (const char* value : {"bytes=5-2", "items=0-1", "bytes=a-b", "bytes=", "bytes=-", "bytes 0-1", "bytes=1-2-3"}) {
    INFO(value);
    Exchange ex("/digits.txt", Method::get, {{"Range", value}});
    run(site, ex);
    CHECK(ex.res.status == 200);
    CHECK(ex.res.file().length == digits.size());
  }
}

// An empty file has no byte to point at: ranges do not apply.
TEST_CASE("a Range on an empty file answers 200 with an empty body") {
  Site site;
  Exchange ex("/empty.txt", Method::get, {{"Range", "bytes=0-10"}});
  run(site, ex);
  CHECK(ex.res.status == 200);
  CHECK(ex.res.has_file());
  CHECK(ex.res.content_length() == 0);
}

// If-Range with the current ETag or Last-Modified lets the range through.
TEST_CASE("If-Range matching the ETag or the date answers 206") {
  Site site;
  set_mtime(site.tree.at("digits.txt"), 1'000'000'000);
  for (const std::string& value : {expected_etag(site.tree.at("digits.txt")), http_date(1'000'000'000)}) {
    INFO(value);
    Exchange ex("/digits.txt", Method::get, {{"Range", "bytes=0-3"}, {"If-Range", value}});
    run(site, ex);
    CHECK(ex.res.status == 206);
    CHECK(file_bytes(ex.res) == "0123");
  }
}

// The client's partial copy is stale: stitching a range onto it would corrupt it, so send it all.
TEST_CASE("If-Range that does not match answers 200 with the whole file") {
  Site site;
  set_mtime(site.tree.at("digits.txt"), 1'000'000'000);
  const std::string etag = expected_etag(site.tree.at("digits.txt"));
  for (const std::string& value :
       {std::string("\"old-tag\""), "W/" + etag, http_date(999'999'999), std::string("junk")}) {
    INFO(value);
    Exchange ex("/digits.txt", Method::get, {{"Range", "bytes=0-3"}, {"If-Range", value}});
    run(site, ex);
    CHECK(ex.res.status == 200);
    CHECK(file_bytes(ex.res) == digits);
  }
}

// --- the file stays open while the response is in flight ---------------------------------------

// The server sends after handle() returns: the request pool's cleanup must hold the file until reset.
TEST_CASE("the request pool holds the file until it is reset") {
  Site site;
  Exchange ex("/hello.txt");
  run(site, ex);
  CHECK(site.files.cache().stats().in_use == 1);
  CHECK(ex.pool.stats().cleanups >= 1);
  ex.pool.reset();
  CHECK(site.files.cache().stats().in_use == 0);
  CHECK(site.files.cache().stats().open_fds == 1);  // still cached for the next request
}

// --- the open-file cache ------------------------------------------------------------------------

// The point of the cache: the second request for a file costs no open().
TEST_CASE("a second request for a file is a cache hit on the same descriptor") {
  Site site;
  Exchange first("/hello.txt");
  Exchange second("/hello.txt");
  run(site, first);
  run(site, second);
  const auto s = site.files.cache().stats();
  CHECK(s.misses == 1);
  CHECK(s.hits == 1);
  CHECK(s.entries == 1);
  CHECK(s.open_fds == 1);
  CHECK(s.in_use == 1);
  CHECK(first.res.file().fd == second.res.file().fd);
}

// Directories are cached as directories only: "/sub/" twice holds one descriptor, the index's.
TEST_CASE("a directory is cached without a descriptor") {
  Site site;
  for (int i = 0; i < 2; ++i) {
    Exchange ex("/sub/");
    run(site, ex);
    CHECK(ex.res.status == 200);
  }
  const auto s = site.files.cache().stats();
  CHECK(s.entries == 2);
  CHECK(s.open_fds == 1);
  CHECK(s.misses == 2);
  CHECK(s.hits == 2);
}

// nginx's open_file_cache_valid bargain: within the validity a touched file goes unseen, after it
// one stat notices the new mtime (same inode: same descriptor, fresh validators).
TEST_CASE("a touched file is noticed after the validity interval") {
  Site site;
  const auto file = site.tree.at("hello.txt");
  set_mtime(file, 1'000'000'000);
  Exchange first("/hello.txt");
  run(site, first);
  const std::string old_etag = header(first.res, "ETag");
  set_mtime(file, 1'000'000'100);

  Exchange within("/hello.txt");
  run(site, within);
  CHECK(header(within.res, "ETag") == old_etag);
  CHECK(site.files.cache().stats().revalidations == 0);

  site.clock.advance(std::chrono::seconds(61));
  Exchange after("/hello.txt");
  run(site, after);
  CHECK(header(after.res, "ETag") == expected_etag(file));
  CHECK(header(after.res, "Last-Modified") == http_date(1'000'000'100));
  // A changed file gets a new entry: the response in flight keeps the old one intact.
  CHECK(after.res.file().fd != first.res.file().fd);
  CHECK(header(first.res, "ETag") == old_etag);
  const auto s = site.files.cache().stats();
  CHECK(s.revalidations == 1);
  CHECK(s.invalidations == 1);
  CHECK(s.hits == 1);
}

// --- small files in memory ----------------------------------------------------------------------

// A small file goes out with its head in one write: its bytes are kept with its cache entry.
TEST_CASE("a small file is answered from memory with the same headers") {
  Site site({}, true);
  Exchange ex("/hello.txt");
  run(site, ex);
  CHECK(ex.res.status == 200);
  CHECK_FALSE(ex.res.has_file());
  CHECK(ex.res.body() == hello);
  CHECK(header(ex.res, "ETag") == expected_etag(site.tree.at("hello.txt")));
  CHECK(site.files.cache().stats().content_bytes == hello.size());
}

// Ranges of an in-memory file are slices of its bytes.
TEST_CASE("a Range of a small file is a slice of its bytes in memory") {
  Site site({}, true);
  Exchange ex("/hello.txt", Method::get, {{"Range", "bytes=1-3"}});
  run(site, ex);
  CHECK(ex.res.status == 206);
  CHECK(ex.res.body() == hello.substr(1, 3));
}

// Files over max_content_size, or past the content budget, still go by sendfile.
TEST_CASE("files over the size limit or past the content budget are sent from their descriptor") {
  Site site(StaticFilesOptions{.cache = {.max_content_size = hello.size() - 1}}, true);
  Exchange big("/hello.txt");
  run(site, big);
  CHECK(big.res.has_file());
  Site budget(StaticFilesOptions{.cache = {.content_budget = hello.size() - 1}}, true);
  Exchange over("/hello.txt");
  run(budget, over);
  CHECK(over.res.has_file());
  CHECK(budget.files.cache().stats().content_bytes == 0);
}

// A file rewritten while a response still holds its old bytes: that response keeps them, the
// next one gets the new ones, and the memory goes with the last reference.
TEST_CASE("a rewritten small file gets new bytes while the old response keeps its own") {
  Site site(StaticFilesOptions{.cache = {.validity = std::chrono::seconds(0)}}, true);
  Exchange first("/hello.txt");
  run(site, first);
  site.tree.write("hello.txt", "short\n");
  Exchange after("/hello.txt");
  run(site, after);
  CHECK(after.res.body() == "short\n");
  CHECK(first.res.body() == hello);
  CHECK(site.files.cache().stats().content_bytes == hello.size() + 6);
  first.pool.reset();
  CHECK(site.files.cache().stats().content_bytes == 6);
}

// Deploys replace files by rename: a new inode must be opened, the old descriptor kept only for
// the response still using it.
TEST_CASE("a file replaced by rename is reopened after the validity interval") {
  Site site;
  const auto file = site.tree.at("hello.txt");
  Exchange first("/hello.txt");
  run(site, first);
  site.tree.write("hello.new", "replaced content\n");
  std::filesystem::rename(site.tree.at("hello.new"), file);

  site.clock.advance(std::chrono::seconds(61));
  Exchange after("/hello.txt");
  run(site, after);
  CHECK(after.res.status == 200);
  CHECK(file_bytes(after.res) == "replaced content\n");
  CHECK(file_bytes(first.res) == hello);  // the in-flight response still reads the old file
  auto s = site.files.cache().stats();
  CHECK(s.invalidations == 1);
  CHECK(s.misses == 2);
  CHECK(s.entries == 1);
  CHECK(s.open_fds == 2);
  first.pool.reset();
  CHECK(site.files.cache().stats().open_fds == 1);  // the old one closed with its last reference
}

// A file rewritten in place (same inode, new size) must not be served with its old length.
TEST_CASE("a file rewritten in place gets its new size after the validity interval") {
  Site site(StaticFilesOptions{.cache = {.validity = std::chrono::seconds(0)}});
  Exchange first("/hello.txt");
  run(site, first);
  first.pool.reset();
  site.tree.write("hello.txt", "short\n");
  Exchange after("/hello.txt");
  run(site, after);
  CHECK(after.res.content_length() == 6);
  CHECK(file_bytes(after.res) == "short\n");
  CHECK(site.files.cache().stats().revalidations == 1);
}

// A deleted file must turn into a 404 and give its descriptor back.
TEST_CASE("a deleted file answers 404 after the validity interval and is dropped") {
  Site site;
  Exchange first("/hello.txt");
  run(site, first);
  first.pool.reset();
  std::filesystem::remove(site.tree.at("hello.txt"));
  site.clock.advance(std::chrono::seconds(61));
  Exchange after("/hello.txt");
  run(site, after);
  CHECK(after.res.status == 404);
  const auto s = site.files.cache().stats();
  CHECK(s.entries == 0);
  CHECK(s.open_fds == 0);
  CHECK(s.invalidations == 1);
}

// LRU: the least recently used entry goes first, and a touched one stays.
TEST_CASE("the cache evicts the least recently used entry past max_entries") {
  TempRoot tree;
  DirFd root(tree.root());
  SmallObjectAllocator small;
  OpenFileCache cache(root.fd, small, {.max_entries = 2});
  cache.acquire("hello.txt").ref.reset();
  cache.acquire("digits.txt").ref.reset();
  cache.acquire("hello.txt").ref.reset();  // now digits.txt is the least recent
  cache.acquire("page.html").ref.reset();
  auto s = cache.stats();
  CHECK(s.evictions == 1);
  CHECK(s.entries == 2);
  CHECK(s.open_fds == 2);
  CHECK(cache.acquire("hello.txt").status == 0);
  CHECK(cache.stats().hits == 2);
  CHECK(cache.acquire("digits.txt").status == 0);
  CHECK(cache.stats().misses == 4);
}

// Eviction must never close a descriptor a response is still sending from.
TEST_CASE("an evicted entry stays open until its last reference is released") {
  TempRoot tree;
  DirFd root(tree.root());
  SmallObjectAllocator small;
  OpenFileCache cache(root.fd, small, {.max_entries = 1});
  OpenFileCache::Lookup held = cache.acquire("hello.txt");
  REQUIRE(held.status == 0);
  const int fd = held.ref->fd();
  cache.acquire("digits.txt").ref.reset();
  auto s = cache.stats();
  CHECK(s.evictions == 1);
  CHECK(s.entries == 1);
  CHECK(s.open_fds == 2);
  CHECK(s.in_use == 1);
  CHECK(held.ref->references() == 1);
  char buf[5] = {};
  CHECK(::pread(fd, buf, 5, 0) == 5);
  CHECK(std::string_view(buf, 5) == "Hello");
  held.ref.reset();
  CHECK_FALSE(fd_is_open(fd));
  s = cache.stats();
  CHECK(s.open_fds == 1);
  CHECK(s.in_use == 0);
  CHECK(cache.acquire("hello.txt").status == 0);  // dropped from the index: a fresh miss
  CHECK(cache.stats().misses == 3);
}

// max_entries 0 turns caching off: every request opens and the last reference closes.
TEST_CASE("a cache with max_entries 0 keeps nothing open between requests") {
  TempRoot tree;
  DirFd root(tree.root());
  SmallObjectAllocator small;
  OpenFileCache cache(root.fd, small, {.max_entries = 0});
  {
    auto a = cache.acquire("hello.txt");
    REQUIRE(a.status == 0);
    CHECK(cache.stats().open_fds == 1);
    CHECK(cache.stats().entries == 0);
  }
  CHECK(cache.stats().open_fds == 0);
  CHECK(cache.acquire("hello.txt").status == 0);
  CHECK(cache.stats().misses == 2);
}

// nginx's open_file_cache inactive=: a file not looked up for the inactive time gives its
// descriptor back (a deleted file its disk space); one still in use keeps it until its response
// is done; one looked up within the time stays.
TEST_CASE("the cache closes the descriptors of entries unused for the inactive time") {
  Site site(StaticFilesOptions{.cache = {.inactive = std::chrono::seconds(30)}});
  OpenFileCache& cache = site.files.cache();
  Exchange idle("/hello.txt"), held("/digits.txt"), busy("/page.html");
  run(site, idle);
  run(site, held);
  run(site, busy);
  idle.pool.reset();
  busy.pool.reset();  // held keeps its reference: a response still sending
  CHECK(cache.stats().open_fds == 3);

  site.clock.advance(std::chrono::seconds(20));
  Exchange again("/page.html");
  run(site, again);  // page.html was looked up again: it stays
  again.pool.reset();
  cache.expire_inactive();
  CHECK(cache.stats().expirations == 0);

  site.clock.advance(std::chrono::seconds(10));  // hello and digits: 30 s unused
  cache.expire_inactive();
  auto s = cache.stats();
  CHECK(s.expirations == 2);
  CHECK(s.entries == 1);
  CHECK(s.open_fds == 2);  // page.html's, and digits.txt's until its response is done
  CHECK(file_bytes(held.res) == digits);
  held.pool.reset();
  CHECK(cache.stats().open_fds == 1);

  Exchange back("/hello.txt");
  run(site, back);  // an expired entry is opened afresh
  CHECK(back.res.status == 200);
  CHECK(cache.stats().misses == 4);
  back.pool.reset();
  site.clock.advance(std::chrono::seconds(30));
  cache.expire_inactive();
  s = cache.stats();
  CHECK(s.expirations == 4);
  CHECK(s.entries == 0);
  CHECK(s.open_fds == 0);
}

// Failures are not cached: a file created after a 404 is served at once.
TEST_CASE("a failed lookup is not cached") {
  TempRoot tree;
  DirFd root(tree.root());
  SmallObjectAllocator small;
  OpenFileCache cache(root.fd, small);
  CHECK(cache.acquire("later.txt").status == 404);
  tree.write("later.txt", "now\n");
  CHECK(cache.acquire("later.txt").status == 0);
  CHECK(cache.stats().entries == 1);
}

// --- memory -------------------------------------------------------------------------------------

// A MemorySource that counts what the small-object allocator asks of it.
class CountingSource final : public mempool::MemorySource {
 public:
  void* allocate(std::size_t bytes) noexcept override {
    ++allocations;
    return heap().allocate(bytes);
  }
  void deallocate(void* p, std::size_t bytes) noexcept override { heap().deallocate(p, bytes); }
  long allocations = 0;
};

// A MemorySource that gives `budget` allocations, then refuses every one.
class RefusingSource final : public mempool::MemorySource {
 public:
  void* allocate(std::size_t bytes) noexcept override {
    if (budget == 0) return nullptr;
    --budget;
    return heap().allocate(bytes);
  }
  void deallocate(void* p, std::size_t bytes) noexcept override { heap().deallocate(p, bytes); }
  long budget = 1'000'000;
};

std::size_t open_descriptors() {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{}));
}

// The small-object allocator throws when its source refuses; the cache answers 500 from
// whichever step ran out (the entry, its key, its validators and content, the index) and leaves
// no descriptor open and nothing allocated behind.
TEST_CASE("a lookup that runs out of memory answers 500 and leaves nothing behind") {
  TempRoot tree;
  tree.write("kilo.txt", std::string(1000, 'k'));  // its content goes to the source directly
  DirFd root(tree.root());
  RefusingSource source;
  SmallObjectAllocator small({.source = &source});
  OpenFileCache cache(root.fd, small);
  const std::size_t descriptors = open_descriptors();
  const std::size_t heap_bytes = small.stats().heap_bytes;
  int refused = 0;
  int served = 0;
  for (long budget = 0; budget < 8; ++budget) {
    INFO("the source gives " << budget << " more allocations");
    source.budget = budget;
    OpenFileCache::Lookup found = cache.acquire("kilo.txt");
    if (found.status == 500) {
      ++refused;
      CHECK(cache.stats().entries == 0);
      CHECK(cache.stats().open_fds == 0);
      CHECK(cache.stats().in_use == 0);
      CHECK(small.stats().heap_bytes == heap_bytes);
      CHECK(open_descriptors() == descriptors);
    } else {
      REQUIRE(found.status == 0);
      ++served;
      CHECK(found.ref->content().size() == 1000);
      break;
    }
  }
  CHECK(refused >= 2);  // at least the entry itself and its content
  CHECK(served == 1);
}

// DESIGN §1: zero heap allocations per request in steady state; for static files that is a cache hit.
TEST_CASE("a cache hit allocates nothing from the heap") {
  TempRoot tree;
  GlobalArena arena;
  const MimeTypes mime(arena);
  CountingSource source;
  SmallObjectAllocator small({.source = &source});
  StaticFiles files(tree.root().string(), mime, small);
  Pool pool;
  const std::vector<Header> fields{{"Accept", "*/*"}, {"Range", "bytes=1-4"}};
  Request req;
  req.method = Method::get;
  req.path = req.target = "/sub/inner.txt";
  req.headers = fields;
  req.request_pool = &pool;
  for (int warm = 0; warm < 2; ++warm) {
    Response res(pool);
    files.handle(req, res);
    REQUIRE(res.status == 206);
    pool.reset();
  }
  const auto blocks = pool.stats().blocks;
  const long small_before = source.allocations;
  counting_heap = true;  // first, the counter itself must see an allocation
  ::operator delete(::operator new(16));
  counting_heap = false;
  REQUIRE(heap_allocations == 1);
  heap_allocations = 0;
  counting_heap = true;
  {
    Response res(pool);
    files.handle(req, res);
    counting_heap = false;
    CHECK(res.status == 206);
  }
  counting_heap = false;
  // A MEMPOOL_DEBUG pool takes every allocation from malloc on purpose: only a malloc-blind
  // counter can speak for the handler there.
  if (!(heap_counter_sees_malloc && Pool::debug_allocations)) CHECK(heap_allocations == 0);
  CHECK(source.allocations == small_before);
  if (!Pool::debug_allocations) {
    CHECK(pool.stats().blocks == blocks);
    CHECK(pool.stats().large_allocations == 0);
  }
  CHECK(files.cache().stats().hits >= 2);
  pool.reset();
}

// A bad --root must fail at start, with the reason, not at the first request.
TEST_CASE("a root that cannot be opened as a directory throws at construction") {
  TempRoot tree;
  GlobalArena arena;
  const MimeTypes mime(arena);
  SmallObjectAllocator small;
  CHECK_THROWS_AS(StaticFiles((tree.root() / "no-such-dir").string(), mime, small), std::system_error);
  CHECK_THROWS_AS(StaticFiles(tree.at("hello.txt").string(), mime, small), std::system_error);
}

// The access log's lines (issue 10 item 4, issue 12 item 4): nginx's combined format with nginx's
// escaping (\xHH for '"', '\' and bytes outside printable ASCII), the JSON-lines form (valid JSON
// whatever the client sent), the address without its port, and a switch of file and format.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "access_log.hpp"
#include "support/temp_dir.hpp"

using mempool::http::AccessLogFormat;
using mempool::http::Header;
using mempool::http::Request;
using mempool::server::access_log_line;
using mempool::server::AccessLog;

namespace {

constexpr std::string_view date = "06/Nov/1994:08:49:37 +0000";

Request request(std::string_view target, std::span<const Header> headers, std::string_view peer = "10.0.0.1:5555") {
  Request req;
  req.method_name = "GET";
  req.target = target;
  req.headers = headers;
  req.remote_address = peer;
  return req;
}

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

// The line nginx writes for the same request, byte for byte.
TEST_CASE("access log combined line is nginx's combined format without the port") {
  const Header headers[] = {{"User-Agent", "curl/7.88.1"}, {"Referer", "http://a/"}};
  CHECK(access_log_line(request("/x?y=1", headers), 200, 13, date, AccessLogFormat::combined) ==
        R"(10.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET /x?y=1 HTTP/1.1" 200 13 "http://a/" "curl/7.88.1")");
  CHECK(access_log_line(request("/", {}), 404, 0, date, AccessLogFormat::combined) ==
        R"(10.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET / HTTP/1.1" 404 0 "-" "-")");
  CHECK(access_log_line(request("/", {}, "[::1]:80"), 200, 1, date, AccessLogFormat::combined).starts_with("::1 - - "));
  Request none;  // an error before any request line was parsed
  CHECK(access_log_line(none, 400, 0, date, AccessLogFormat::combined) ==
        R"(- - - [06/Nov/1994:08:49:37 +0000] "-" 400 0 "-" "-")");
}

// A quote or a control byte from the client must not forge a field or a line (nginx: \x22).
TEST_CASE("access log combined escapes quotes backslashes and bytes outside printable ASCII as hex like nginx") {
  const Header headers[] = {{"User-Agent", "a\"b\\c\x01\x7f\xc3\xa9"}};
  const std::string line =
      access_log_line(request("/\"q\"", headers), 200, 1, date, AccessLogFormat::combined);
  CHECK(line == R"(10.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET /\x22q\x22 HTTP/1.1" 200 1 "-" )"
                R"("a\x22b\x5Cc\x01\x7F\xC3\xA9")");
  CHECK(line.find('\n') == std::string::npos);
}

// JSON lines: '"' and '\' backslashed, the rest outside printable ASCII as \u00HH.
TEST_CASE("access log json line is one JSON object with escaped strings") {
  const Header headers[] = {{"User-Agent", "x\"y\\z\n\xff"}};
  CHECK(access_log_line(request("/a", headers), 201, 7, date, AccessLogFormat::json) ==
        R"({"time_local":"06/Nov/1994:08:49:37 +0000","remote_addr":"10.0.0.1","request":"GET /a HTTP/1.1",)"
        R"("status":201,"bytes_sent":7,"http_referer":"","http_user_agent":"x\"y\\z\u000A\u00FF"})");
}

// configure() switches the file and the format for the next line; reopen() continues under the
// name (after a move), and off writes nothing.
TEST_CASE("access log configure switches file and format and reopen follows a moved file") {
  mempool::test::TempDir dir("mempool-access-log-unit");
  const auto first = dir.path() / "a.log", second = dir.path() / "b.log";
  AccessLog log(first, AccessLogFormat::combined);
  CHECK(log.enabled());
  log.write(request("/1", {}), 200, 1, date);
  log.configure(second, AccessLogFormat::json);
  log.write(request("/2", {}), 200, 1, date);
  std::filesystem::rename(second, dir.path() / "b.log.1");
  log.write(request("/3", {}), 200, 1, date);  // still into the moved file
  log.reopen();
  log.write(request("/4", {}), 200, 1, date);
  log.configure(std::nullopt, AccessLogFormat::json);
  CHECK_FALSE(log.enabled());
  log.write(request("/5", {}), 200, 1, date);
  log.flush();
  const auto a = lines_of(first), b1 = lines_of(dir.path() / "b.log.1"), b = lines_of(second);
  REQUIRE(a.size() == 1);
  CHECK(a[0].find("\"GET /1 HTTP/1.1\"") != std::string::npos);
  REQUIRE(b1.size() == 2);
  CHECK(b1[0].starts_with("{\"time_local\""));
  CHECK(b1[1].find("GET /3") != std::string::npos);
  REQUIRE(b.size() == 1);
  CHECK(b[0].find("GET /4") != std::string::npos);
  CHECK_THROWS_AS(log.configure(dir.path() / "no" / "such" / "dir.log", AccessLogFormat::combined), std::system_error);
  CHECK_FALSE(log.enabled());  // the failed switch changed nothing
}

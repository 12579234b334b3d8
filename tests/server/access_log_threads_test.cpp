// The access log under a reload (issue 12 item 4): reactors write lines while another thread
// switches file and format. Every line lands whole, in the format of the file it lands in, and
// none is lost. (A line formatted before the switch and written after it once put combined lines
// into the JSON file: ops_signals caught it in CI.)
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "access_log.hpp"
#include "support/temp_dir.hpp"

using mempool::http::AccessLogFormat;
using mempool::http::Request;
using mempool::server::AccessLog;

namespace {

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("access log lines written during switches of file and format are each in their file's format") {
  mempool::test::TempDir dir("mempool-access-log-threads");
  const auto combined = dir.path() / "combined.log", json = dir.path() / "json.log";
  AccessLog log(combined, AccessLogFormat::combined);
  constexpr int writers = 2, lines_each = 20000;
  std::atomic<int> running{writers};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&] {
      Request req;
      req.method_name = "GET";
      req.target = "/x";
      req.remote_address = "10.0.0.1:5555";
      for (int i = 0; i < lines_each; ++i) log.write(req, 200, 1, "06/Nov/1994:08:49:37 +0000");
      running.fetch_sub(1);
    });
  }
  int switches = 0;
  while (running.load() > 0) {
    const bool to_json = switches++ % 2 == 0;
    log.configure(to_json ? json : combined, to_json ? AccessLogFormat::json : AccessLogFormat::combined);
  }
  for (auto& t : threads) t.join();
  log.flush();
  INFO("switches: " << switches);
  const auto in_combined = lines_of(combined), in_json = lines_of(json);
  CHECK(in_combined.size() + in_json.size() == std::size_t{writers} * lines_each);
  for (const auto& line : in_combined) REQUIRE(line.starts_with("10.0.0.1 - - ["));
  for (const auto& line : in_json) REQUIRE(line.starts_with("{\"time_local\":"));
}

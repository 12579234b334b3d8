// The include graph of the http component, read from the source tree (DESIGN §2, STYLE "a hub is
// not an architecture"): no module of server/ includes one that includes it back, the handler
// API never reaches the server, the allocators never reach HTTP, and the public headers leak
// none of Asio, llhttp, spdlog or toml++.
//
// A module is a header and its .cpp together (connection.hpp + connection.cpp): a .cpp that
// includes a header that includes the module's own header back is the cycle this forbids.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path source_dir = MEMPOOL_SOURCE_DIR;

struct Include {
  std::string text;  ///< as written: "reactor.hpp" or mempool/http/server.hpp
  bool quoted;
};

std::vector<Include> includes_of(const fs::path& file) {
  std::vector<Include> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line.compare(start, 8, "#include") != 0) continue;
    const auto open = line.find_first_of("\"<", start + 8);
    if (open == std::string::npos) continue;
    const auto close = line.find(line[open] == '"' ? '"' : '>', open + 1);
    out.push_back({line.substr(open + 1, close - open - 1), line[open] == '"'});
  }
  return out;
}

/// Project files by module name: "server/reactor" -> {server/reactor.hpp, server/reactor.cpp}.
class Graph {
 public:
  Graph() {
    add_folder("server", "server/");
    add_folder("server/include/mempool/http", "http/");
    add_folder("handlers/include/mempool/http", "http/");
    add_folder("handlers/src", "http/");
    add_folder("mempool/include/mempool", "mempool/");
    add_folder("mempool/src", "mempool/");
    for (const auto& [module, files] : files_) {
      for (const fs::path& file : files) {
        for (const Include& inc : includes_of(file)) {
          if (const auto target = resolve(file, inc); !target.empty() && target != module) edges_[module].insert(target);
        }
      }
    }
  }

  /// Modules reachable from `module` (not itself unless through a cycle).
  std::set<std::string> reachable(const std::string& module) const {
    std::set<std::string> seen;
    std::vector<std::string> todo{module};
    while (!todo.empty()) {
      const std::string m = todo.back();
      todo.pop_back();
      const auto it = edges_.find(m);
      if (it == edges_.end()) continue;
      for (const std::string& next : it->second)
        if (seen.insert(next).second) todo.push_back(next);
    }
    return seen;
  }

  std::vector<std::string> modules(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& [module, files] : files_)
      if (module.starts_with(prefix)) out.push_back(module);
    return out;
  }
  const std::vector<fs::path>& files(const std::string& module) const { return files_.at(module); }

 private:
  void add_folder(const std::string& folder, const std::string& prefix) {
    for (const auto& entry : fs::directory_iterator(source_dir / folder)) {
      const fs::path& p = entry.path();
      if (p.extension() != ".hpp" && p.extension() != ".cpp") continue;
      const std::string module = prefix + p.stem().string();
      files_[module].push_back(p);
      by_path_[p.lexically_normal()] = module;
    }
  }

  std::string resolve(const fs::path& from, const Include& inc) const {
    std::vector<fs::path> candidates;
    if (inc.quoted) candidates.push_back(from.parent_path() / inc.text);
    for (const char* root : {"server/include", "handlers/include", "mempool/include"})
      candidates.push_back(source_dir / root / inc.text);
    for (const fs::path& c : candidates)
      if (const auto it = by_path_.find(c.lexically_normal()); it != by_path_.end()) return it->second;
    return {};
  }

  std::map<std::string, std::vector<fs::path>> files_;
  std::map<fs::path, std::string> by_path_;
  std::map<std::string, std::set<std::string>> edges_;
};

const Graph& graph() {
  static const Graph g;
  return g;
}

}  // namespace

// Reactor included connection.hpp, connection.cpp included reactor.hpp; shared.cpp included it too.
TEST_CASE("no module of the server includes one that includes it back") {
  for (const std::string& module : graph().modules("server/")) {
    INFO(module << " reaches " << Catch::rangeToString(graph().reachable(module)));
    CHECK(graph().reachable(module).count(module) == 0);
  }
  for (const std::string& module : graph().modules("http/")) {
    INFO(module);
    CHECK(graph().reachable(module).count(module) == 0);
  }
}

// A connection knows its reactor only through ConnectionContext.
TEST_CASE("the connection, acceptor and response writer do not reach the reactor or the server") {
  for (const char* module : {"server/connection", "server/acceptor", "server/response_writer",
                             "server/connection_context", "server/access_log"}) {
    INFO(module);
    const auto reach = graph().reachable(module);
    CHECK(reach.count("server/reactor") == 0);
    CHECK(reach.count("server/shared") == 0);
    CHECK(reach.count("http/server") == 0);
  }
}

// DESIGN §2: handlers -> mempool, server -> handlers, mempool; never the other way.
TEST_CASE("the handler API never reaches the server and the allocators never reach HTTP") {
  const std::set<std::string> server_side = [] {
    std::set<std::string> s;
    for (const auto& m : graph().modules("server/")) s.insert(m);
    for (const char* m : {"http/server", "http/config", "http/workers"}) s.insert(m);
    return s;
  }();
  for (const std::string& module : graph().modules("http/")) {
    if (server_side.count(module) != 0) continue;
    for (const std::string& reached : graph().reachable(module)) {
      INFO(module << " reaches " << reached);
      CHECK(server_side.count(reached) == 0);
    }
  }
  for (const std::string& module : graph().modules("mempool/")) {
    for (const std::string& reached : graph().reachable(module)) {
      INFO(module << " reaches " << reached);
      CHECK_FALSE(reached.starts_with("http/"));
      CHECK_FALSE(reached.starts_with("server/"));
    }
  }
}

// A consumer of mempool::http needs none of the server's dependencies: the installed headers
// include only the standard library, POSIX, fmt and each other.
TEST_CASE("the public http headers include nothing of Asio, llhttp, spdlog or toml++") {
  for (const char* folder : {"handlers/include/mempool/http", "server/include/mempool/http"}) {
    for (const auto& entry : fs::directory_iterator(source_dir / folder)) {
      for (const Include& inc : includes_of(entry.path())) {
        INFO(entry.path().filename().string() << " includes " << inc.text);
        CHECK_FALSE(inc.quoted);
        for (const char* leak : {"asio", "llhttp", "spdlog", "toml"}) CHECK_FALSE(inc.text.starts_with(leak));
      }
    }
  }
}

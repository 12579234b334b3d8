/// \file
/// The config loader harness (load_config, server/include/mempool/http/config.hpp). Its input
/// is either raw bytes (a file of anything) or a document generated from mempool-server's keys
/// with values of every kind (in range, out of range, of the wrong type, malformed), in tables,
/// inline tables or dotted keys, sometimes cut or with a byte flipped. Driven by
/// tests/server/config_model_test.cpp and tests/fuzz/config_fuzz.cpp.
///
/// What it holds the loader to:
///   - whatever the file holds, load_config returns a config or throws ConfigError; nothing else
///     escapes, nothing crashes (the sanitizer builds watch);
///   - every ConfigError names the file and a position inside it: what() is
///     "FILE:LINE:COLUMN: message" with 1 <= LINE <= the file's lines (+1: the end) and COLUMN >= 1,
///     and a message that is not empty;
///   - a config it accepts agrees with itself: the cross-checked limits hold, every size and
///     timeout lies in its documented range.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <mempool/http/config.hpp>

#include "model/op_source.hpp"

namespace mempool::test::config_model {

namespace fs = std::filesystem;

/// One folder per process for the file the loader reads (it reads files, not strings), removed
/// at exit.
inline const fs::path& scratch_file() {
  struct Scratch {
    fs::path dir = fs::temp_directory_path() / ("mempool-config-model-" + std::to_string(::getpid()));
    fs::path file = (fs::create_directories(dir), dir / "server.toml");
    ~Scratch() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  };
  static const Scratch scratch;
  return scratch.file;
}

struct Key {
  std::string_view table;  ///< "" for the top level
  std::string_view name;
};

inline constexpr std::array<Key, 25> keys{{
    {"", "listen"}, {"", "reactors"}, {"", "root"}, {"", "access_log"}, {"", "log_level"},
    {"", "server_name"}, {"", "ring_buffer"}, {"limits", "header_buffer"}, {"limits", "max_header_bytes"},
    {"limits", "max_uri_bytes"}, {"limits", "max_body_bytes"}, {"limits", "request_pool_capacity"},
    {"limits", "connection_memory"}, {"limits", "max_connections"}, {"limits", "keepalive_requests"},
    {"limits", "linger_bytes"}, {"timeouts", "header"}, {"timeouts", "body"}, {"timeouts", "idle"},
    {"timeouts", "send"}, {"timeouts", "linger"}, {"timeouts", "shutdown_grace"}, {"routes", "\"/hello\""},
    {"routes", "\"/\""}, {"", "no_such_key"},
}};

inline constexpr std::array<std::string_view, 40> values{{
    "0", "1", "64", "1024", "16384", "-1", "4294967296", "9223372036854775807", "99999999999999999999",
    "\"1k\"", "\"16k\"", "\"1m\"", "\"8m\"", "\"1g\"", "\"2048g\"", "\"0\"", "\"k\"", "\"1x\"", "\"\"",
    "\"10s\"", "\"500ms\"", "\"1d\"", "\"2d\"", "\"0s\"", "\"-5s\"", "\"127.0.0.1:8080\"", "\"[::1]:0\"",
    "\"host\"", "\"off\"", "\"info\"", "\"loud\"", "\"hello\"", "\"static\"", "\"www\"", "true", "1.5",
    "[1, 2]", "{ a = 1 }", "2024-01-01", "\"a\\u0000b\"",
}};

/// A document of `in`'s choosing, shaped like mempool-server's config.
inline std::string generate(OpSource& in) {
  std::string text;
  std::string_view table;  // the table the lines now go to
  const std::size_t lines = in.below(24);
  for (std::size_t i = 0; i < lines && !in.done(); ++i) {
    const Key& key = keys[in.below(keys.size())];
    const std::string_view value = values[in.below(values.size())];
    switch (in.below(4)) {
      case 0:  // a dotted key from the top level
        if (!table.empty()) break;
        text += key.table.empty() ? std::string(key.name) : std::string(key.table) + "." + std::string(key.name);
        text += " = " + std::string(value) + "\n";
        continue;
      case 1:  // a table header first
        if (!key.table.empty() && key.table != table) {
          table = key.table;
          text += "[" + std::string(table) + "]\n";
        }
        break;
      case 2:  // a comment, a blank line
        text += in.flag() ? "# a comment\n" : "\n";
        continue;
      default: break;
    }
    if (key.table != table && !key.table.empty() && table.empty()) {
      text += std::string(key.table) + " = { " + std::string(key.name) + " = " + std::string(value) + " }\n";
      continue;
    }
    text += std::string(key.name) + " = " + std::string(value) + "\n";
  }
  if (!text.empty() && in.flag()) text.resize(in.below(text.size()));        // cut short
  if (!text.empty() && in.flag()) text[in.below(text.size())] = static_cast<char>(in.byte());  // a flipped byte
  return text;
}

/// The "LINE:COLUMN: " after "FILE:" in what(); false if it is not there.
inline bool position_of(std::string_view what, std::string_view file, std::uint32_t& line, std::uint32_t& column) {
  if (!what.starts_with(file) || what.size() <= file.size() || what[file.size()] != ':') return false;
  what.remove_prefix(file.size() + 1);
  unsigned long l = 0, c = 0;
  int used = 0;
  const std::string rest(what.substr(0, 40));
  if (std::sscanf(rest.c_str(), "%lu:%lu: %n", &l, &c, &used) != 2 || used == 0) return false;
  line = static_cast<std::uint32_t>(l);
  column = static_cast<std::uint32_t>(c);
  return true;
}

inline void check_accepted(const http::ServerConfig& c) {
  const http::Limits& l = c.limits;
  MODEL_CHECK(l.header_buffer <= l.max_header_bytes);
  MODEL_CHECK(l.max_uri_bytes <= l.max_header_bytes);
  MODEL_CHECK(l.request_pool_capacity <= l.connection_memory);
  MODEL_CHECK(l.max_connections >= 1 && l.keepalive_requests >= 1);
  for (const auto t : {c.timeouts.header, c.timeouts.body, c.timeouts.idle, c.timeouts.send, c.timeouts.linger,
                       c.timeouts.shutdown_grace}) {
    MODEL_CHECK(t >= std::chrono::milliseconds{1} && t <= std::chrono::hours{24});
  }
}

inline void config_model(OpSource& in) {
  const bool raw = in.flag();
  std::string text;
  if (raw) {
    while (!in.done() && text.size() < 4096) text += static_cast<char>(in.byte());
  } else {
    text = generate(in);
  }
  const fs::path& file = scratch_file();
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
  }
  const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  try {
    check_accepted(http::load_config(file));
  } catch (const http::ConfigError& e) {
    std::uint32_t line = 0, column = 0;
    const bool positioned = position_of(e.what(), file.string(), line, column);
    if (!positioned) std::fprintf(stderr, "config model: no position in \"%s\"\n", e.what());
    MODEL_CHECK(positioned);
    MODEL_CHECK(line == e.line() && column == e.column());
    MODEL_CHECK(line >= 1 && line <= lines + 1);
    MODEL_CHECK(column >= 1);
    MODEL_CHECK(!e.message().empty());
  }
}

}  // namespace mempool::test::config_model

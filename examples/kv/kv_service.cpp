#include "kv_service.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

#include <mempool/http/request.hpp>
#include <mempool/http/response.hpp>
#include <mempool/pool.hpp>

namespace kv {

namespace http = mempool::http;

namespace {

// --- parsing, into the request pool -------------------------------------------------------------

class Parser {
 public:
  Parser(std::string_view text, http::RequestPool pool) : text_(text), pool_(pool) {}

  Pairs object(std::optional<ParseError>& error) {
    Pairs pairs(pool_.resource());
    try {
      expect('{');
      if (!take('}')) {
        do {
          skip_space();
          const std::string_view key = string();
          expect(':');
          pairs.emplace_back(key, value());
        } while (take(','));
        expect('}');
      }
      skip_space();
      if (at_ < text_.size()) fail("trailing bytes after the object");
    } catch (const ParseError& e) {
      error = e;
      pairs.clear();
    }
    return pairs;
  }

 private:
  [[noreturn]] void fail(std::string_view reason) const { throw ParseError{reason, at_}; }

  void skip_space() {
    while (at_ < text_.size() && std::string_view(" \t\r\n").find(text_[at_]) != std::string_view::npos) ++at_;
  }
  bool take(char c) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!take(c)) fail(c == '{' ? "expected '{'" : c == '}' ? "expected '}' or ','" : "expected ':'");
  }

  std::optional<std::string_view> value() {
    skip_space();
    if (at_ < text_.size() && text_[at_] == '"') return string();
    const std::size_t start = at_;
    while (at_ < text_.size() && std::string_view(",} \t\r\n").find(text_[at_]) == std::string_view::npos) ++at_;
    const std::string_view token = text_.substr(start, at_ - start);
    if (token == "null") return std::nullopt;
    const bool number = !token.empty() && std::all_of(token.begin(), token.end(), [](char c) {
      return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
    });
    if (token == "true" || token == "false" || number) return token;  // a view of the body itself
    at_ = start;
    fail("expected a string, a number, true, false or null");
  }

  // A JSON string, unescaped into the request pool (a view of the body when it has no escape).
  std::string_view string() {
    if (at_ >= text_.size() || text_[at_] != '"') fail("expected '\"'");
    const std::size_t start = ++at_;
    const std::size_t end = text_.find('"', start);
    if (end != std::string_view::npos && text_.substr(start, end - start).find('\\') == std::string_view::npos) {
      at_ = end + 1;
      return text_.substr(start, end - start);
    }
    std::pmr::string out(pool_.resource());
    for (;;) {
      if (at_ >= text_.size()) fail("unterminated string");
      const char c = text_[at_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= text_.size()) fail("unterminated string");
      switch (const char e = text_[at_++]) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, hex4()); break;
        default: fail("unknown escape");
      }
    }
    return pool_.strdup(out);  // the pmr::string's buffer may be freed with it: keep a copy
  }

  unsigned hex4() {
    if (at_ + 4 > text_.size()) fail("short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[at_++];
      const int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (d < 0) fail("bad \\u escape");
      v = v * 16 + static_cast<unsigned>(d);
    }
    if (v >= 0xd800 && v <= 0xdfff) fail("surrogates are not supported");
    return v;
  }

  static void append_utf8(std::pmr::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::string_view text_;
  http::RequestPool pool_;
  std::size_t at_ = 0;
};

// "a,b,c" -> its non-empty items.
std::pmr::vector<std::string_view> split_keys(std::string_view query, http::RequestPool pool) {
  std::pmr::vector<std::string_view> keys(pool.resource());
  while (!query.empty()) {
    const std::string_view key = query.substr(0, query.find(','));
    if (!key.empty()) keys.push_back(key);
    query.remove_prefix(std::min(query.size(), key.size() + 1));
  }
  return keys;
}

// --- the handlers -------------------------------------------------------------------------------

// The answer lives in the request pool until the response has been sent: the string object too
// (made in the pool, its destructor a cleanup), since a large buffer is freed with its string.
std::pmr::string& answer(const http::Request& req) {
  return req.pool().make<std::pmr::string>(req.pool().resource());
}

void send_json(http::Response& res, int status, std::string_view json) {
  res.text(status, json, "application/json");
}

void put(const http::Request& req, http::Response& res, Store& store) {
  std::optional<ParseError> error;
  const Pairs pairs = parse_object(req.body, req.pool(), error);
  if (error) {
    std::pmr::string& out = answer(req);
    out += "{\"error\":";
    append_json_string(out, error->reason);
    fmt::format_to(std::back_inserter(out), ",\"at\":{}}}\n", error->offset);
    return send_json(res, 400, out);
  }
  for (const auto& [key, value] : pairs) store.put(key, value);
  send_json(res, 200, req.pool().format("{{\"stored\":{}}}\n", pairs.size()));
}

void get(const http::Request& req, http::Response& res, const Store& store) {
  std::pmr::string& out = answer(req);
  out += '{';
  auto add = [&out](std::string_view key, const std::optional<std::string>& value) {
    if (out.size() > 1) out += ',';
    append_json_string(out, key);
    out += ':';
    if (value) {
      append_json_string(out, *value);
    } else {
      out += "null";
    }
  };
  if (req.query.empty()) {
    for (const auto& [key, value] : store.all()) add(key, value);
  } else {
    for (const std::string_view key : split_keys(req.query, req.pool())) add(key, store.get(key));
  }
  out += "}\n";
  send_json(res, 200, out);
}

void erase(const http::Request& req, http::Response& res, Store& store) {
  std::size_t deleted = 0;
  for (const std::string_view key : split_keys(req.query, req.pool())) deleted += store.erase(key) ? 1 : 0;
  send_json(res, 200, req.pool().format("{{\"deleted\":{}}}\n", deleted));
}

// Runs when the request pool is reset, after the response was sent: the request is done, and
// the pool still knows how much it used.
struct Done {
  Tally* tally;
  mempool::Pool* pool;
  static void record(void* self) {
    const auto& done = *static_cast<const Done*>(self);
    ++done.tally->requests;
    done.tally->request_bytes_max = std::max(done.tally->request_bytes_max, done.pool->bytes_used());
  }
};

}  // namespace

Pairs parse_object(std::string_view body, http::RequestPool pool, std::optional<ParseError>& error) {
  return Parser(body, pool).object(error);
}

void append_json_string(std::pmr::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void Store::put(std::string_view key, std::optional<std::string_view> value) {
  const std::lock_guard guard(lock_);
  if (!value) {
    if (const auto it = data_.find(key); it != data_.end()) data_.erase(it);
    return;
  }
  data_.insert_or_assign(std::string(key), std::string(*value));
}

std::optional<std::string> Store::get(std::string_view key) const {
  const std::lock_guard guard(lock_);
  const auto it = data_.find(key);
  return it == data_.end() ? std::nullopt : std::optional<std::string>(it->second);
}

bool Store::erase(std::string_view key) {
  const std::lock_guard guard(lock_);
  const auto it = data_.find(key);
  if (it == data_.end()) return false;
  data_.erase(it);
  return true;
}

std::vector<std::pair<std::string, std::string>> Store::all() const {
  const std::lock_guard guard(lock_);
  return {data_.begin(), data_.end()};
}

void mount(http::Router& routes, http::ReactorServices& reactor, Store& store, Tally& tally) {
  routes.add_exact("/kv", [&store, &tally](const http::Request& req, http::Response& res) {
    req.pool().add_cleanup(&Done::record, &req.pool().make<Done>(Done{&tally, &req.pool().pool()}));
    switch (req.method) {
      case http::Method::put: return put(req, res, store);
      case http::Method::get: return get(req, res, store);
      case http::Method::delete_: return erase(req, res, store);
      default:
        res.error(405);
        res.add_header("Allow", "GET, PUT, DELETE");
    }
  });
  routes.add_exact("/kv/stats", [&tally, id = reactor.reactor()](const http::Request& req, http::Response& res) {
    send_json(res, 200,
              req.pool().format("{{\"reactor\":{},\"requests\":{},\"request_bytes_max\":{}}}\n", id, tally.requests,
                                tally.request_bytes_max));
  });
}

}  // namespace kv

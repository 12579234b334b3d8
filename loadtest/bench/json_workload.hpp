/// \file
/// An allocation-heavy handler (issue 13 §5): parse a 2–8 KiB JSON-like body into a tree of maps,
/// vectors and strings, transform it, render the answer. One piece of code, every container a
/// std::pmr one, so it is built twice only by the memory_resource it is given: a request pool's
/// (Pool::resource()) or the default heap (std::pmr::new_delete_resource(), i.e. operator new:
/// glibc malloc, or jemalloc/mimalloc when preloaded).
///
/// The JSON subset: objects, arrays, strings without escapes other than \" and \\, numbers
/// (strtod), true, false, null. Malformed input gives an empty result, never a crash.
/// Bodies (make_bodies) are deterministic: an order with tags and 8–60 line items, each with a
/// few attributes, cut to a size drawn from [2 KiB, 8 KiB] from a fixed seed.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <memory_resource>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace mempool::bench::json {

struct Value {
  using allocator_type = std::pmr::polymorphic_allocator<>;
  enum class Kind : unsigned char { null, boolean, number, string, array, object };

  explicit Value(allocator_type a) : text(a), items(a), fields(a) {}
  Value(const Value& other, allocator_type a)
      : kind(other.kind), number(other.number), text(other.text, a), items(other.items, a), fields(other.fields, a) {}
  Value(Value&& other, allocator_type a)
      : kind(other.kind), number(other.number), text(std::move(other.text), a), items(std::move(other.items), a),
        fields(std::move(other.fields), a) {}

  Kind kind = Kind::null;
  double number = 0;  ///< also a boolean's 0 or 1
  std::pmr::string text;
  std::pmr::vector<Value> items;
  std::pmr::map<std::pmr::string, Value, std::less<>> fields;
};

/// A recursive-descent parser over `in`, building into `a`'s resource.
class Parser {
 public:
  Parser(std::string_view in, Value::allocator_type a) : in_(in), alloc_(a) {}

  /// The document, or a null Value if the input is not one.
  Value parse() {
    Value v(alloc_);
    if (!value(v, 0)) return Value(alloc_);
    skip_space();
    return pos_ == in_.size() ? std::move(v) : Value(alloc_);
  }

 private:
  static constexpr int max_depth = 64;

  void skip_space() {
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\r' || in_[pos_] == '\t')) ++pos_;
  }
  bool eat(char c) {
    skip_space();
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool string(std::pmr::string& out) {
    if (!eat('"')) return false;
    while (pos_ < in_.size()) {
      const char c = in_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (pos_ == in_.size()) return false;
        out.push_back(in_[pos_++]);
      } else {
        out.push_back(c);
      }
    }
    return false;
  }
  bool value(Value& v, int depth) {
    if (depth > max_depth) return false;
    skip_space();
    if (pos_ == in_.size()) return false;
    const char c = in_[pos_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v.kind = Value::Kind::string;
      return string(v.text);
    }
    if (literal("true") || literal("false")) {
      v.kind = Value::Kind::boolean;
      v.number = in_[pos_ - 1] == 'e' && in_[pos_ - 2] == 'u' ? 1 : 0;
      return true;
    }
    if (literal("null")) return true;
    const char* begin = in_.data() + pos_;
    const auto [end, ec] = std::from_chars(begin, in_.data() + in_.size(), v.number);
    if (ec != std::errc() || end == begin) return false;
    v.kind = Value::Kind::number;
    pos_ += static_cast<std::size_t>(end - begin);
    return true;
  }
  bool array(Value& v, int depth) {
    ++pos_;  // '['
    v.kind = Value::Kind::array;
    if (eat(']')) return true;
    do {
      if (!value(v.items.emplace_back(), depth + 1)) return false;
    } while (eat(','));
    return eat(']');
  }
  bool object(Value& v, int depth) {
    ++pos_;  // '{'
    v.kind = Value::Kind::object;
    if (eat('}')) return true;
    do {
      std::pmr::string key(alloc_);
      if (!string(key) || !eat(':')) return false;
      if (!value(v.fields.try_emplace(std::move(key)).first->second, depth + 1)) return false;
    } while (eat(','));
    return eat('}');
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  Value::allocator_type alloc_;
};

/// Renders `v` as JSON into `out`.
inline void render(const Value& v, std::pmr::string& out) {
  switch (v.kind) {
    case Value::Kind::null: out += "null"; return;
    case Value::Kind::boolean: out += v.number != 0 ? "true" : "false"; return;
    case Value::Kind::number: {
      char digits[32];
      const auto end = std::to_chars(digits, digits + sizeof digits, v.number).ptr;
      out.append(digits, end);
      return;
    }
    case Value::Kind::string:
      out += '"';
      for (char c : v.text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
      return;
    case Value::Kind::array:
      out += '[';
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i > 0) out += ',';
        render(v.items[i], out);
      }
      out += ']';
      return;
    case Value::Kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, field] : v.fields) {
        if (!first) out += ',';
        first = false;
        out += '"';
        out += key;
        out += "\":";
        render(field, out);
      }
      out += '}';
      return;
    }
  }
}

/// The handler's transformation: per line item its total (qty × price) and upper-cased
/// attributes, items with qty 0 dropped, the tags upper-cased, sorted and deduplicated, and the
/// order's total. The result is a new tree in the same resource.
inline Value transform(const Value& order, Value::allocator_type a) {
  Value out(a);
  out.kind = Value::Kind::object;
  if (order.kind != Value::Kind::object) return out;
  auto field = [](const Value& v, std::string_view key) -> const Value* {
    const auto it = v.fields.find(key);
    return it == v.fields.end() ? nullptr : &it->second;
  };
  if (const Value* id = field(order, "id")) out.fields.try_emplace(std::pmr::string("id", a), *id);
  Value& tags = out.fields.try_emplace(std::pmr::string("tags", a)).first->second;
  tags.kind = Value::Kind::array;
  if (const Value* in = field(order, "tags"); in != nullptr && in->kind == Value::Kind::array) {
    std::pmr::vector<std::pmr::string> names(a);
    for (const Value& t : in->items) {
      std::pmr::string upper(t.text, a);
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      names.push_back(std::move(upper));
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (auto& n : names) {
      Value& t = tags.items.emplace_back();
      t.kind = Value::Kind::string;
      t.text = std::move(n);
    }
  }
  Value& lines = out.fields.try_emplace(std::pmr::string("lines", a)).first->second;
  lines.kind = Value::Kind::array;
  double total = 0;
  if (const Value* items = field(order, "items"); items != nullptr && items->kind == Value::Kind::array) {
    for (const Value& item : items->items) {
      const Value* qty = field(item, "qty");
      const Value* price = field(item, "price");
      if (qty == nullptr || price == nullptr || qty->number == 0) continue;
      Value& line = lines.items.emplace_back();
      line.kind = Value::Kind::object;
      if (const Value* sku = field(item, "sku")) line.fields.try_emplace(std::pmr::string("sku", a), *sku);
      Value& line_total = line.fields.try_emplace(std::pmr::string("total", a)).first->second;
      line_total.kind = Value::Kind::number;
      line_total.number = qty->number * price->number;
      total += line_total.number;
      if (const Value* attrs = field(item, "attrs"); attrs != nullptr && attrs->kind == Value::Kind::object) {
        Value& upper = line.fields.try_emplace(std::pmr::string("attrs", a)).first->second;
        upper.kind = Value::Kind::object;
        for (const auto& [key, value] : attrs->fields) {
          Value& copy = upper.fields.try_emplace(key).first->second;
          copy = Value(value, a);
          for (char& c : copy.text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
      }
    }
  }
  Value& sum = out.fields.try_emplace(std::pmr::string("total", a)).first->second;
  sum.kind = Value::Kind::number;
  sum.number = total;
  return out;
}

/// The whole handler: body in, answer out, every allocation from `mr`.
inline std::pmr::string answer(std::string_view body, std::pmr::memory_resource* mr) {
  const Value::allocator_type a(mr);
  const Value order = Parser(body, a).parse();
  const Value result = transform(order, a);
  std::pmr::string out(a);
  out.reserve(body.size() / 2);
  render(result, out);
  return out;
}

/// answer()'s size: what the benchmark keeps, so nothing is optimised away.
inline std::size_t handle(std::string_view body, std::pmr::memory_resource* mr) { return answer(body, mr).size(); }

/// `count` bodies of 2–8 KiB from a fixed seed (see the file comment).
inline std::vector<std::string> make_bodies(std::size_t count, unsigned seed = 5) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  static constexpr std::string_view words[] = {"red", "green", "blue", "large", "small", "fragile", "express",
                                               "gift", "bulk", "eco", "returned", "priority"};
  std::vector<std::string> bodies;
  for (std::size_t b = 0; b < count; ++b) {
    const std::size_t target = static_cast<std::size_t>(pick(2048, 8192));
    std::string s = "{\"id\":";
    s += std::to_string(pick(1, 1 << 30));
    s += ",\"customer\":\"c";
    s += std::to_string(b);
    s += "\",\"tags\":[";
    for (int t = pick(2, 8); t > 0; --t) {  // appends: GCC 12 warns falsely (-Wrestrict) on + chains
      s += '"';
      s += words[pick(0, 11)];
      s += t > 1 ? "\"," : "\"";
    }
    s += "],\"items\":[";
    for (int i = 0;; ++i) {
      std::string item = i > 0 ? "," : "";
      item += "{\"sku\":\"SKU-";
      item += std::to_string(pick(1000, 99999));
      item += "\",\"qty\":";
      item += std::to_string(pick(0, 9));
      item += ",\"price\":";
      item += std::to_string(pick(1, 9999));
      item += ".5,\"attrs\":{";
      for (int k = pick(1, 4); k > 0; --k) {
        item += '"';
        item += words[pick(0, 11)];
        item += std::to_string(k);
        item += "\":\"";
        item += words[pick(0, 11)];
        item += k > 1 ? "\"," : "\"";
      }
      item += pick(0, 1) ? "},\"gift\":true,\"note\":null}" : "},\"gift\":false,\"note\":null}";
      if (s.size() + item.size() + 2 > target && i > 0) break;
      s += item;
    }
    s += "]}";
    bodies.push_back(std::move(s));
  }
  return bodies;
}

}  // namespace mempool::bench::json

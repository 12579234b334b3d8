/// \file
/// The harness of the static-file handler's field parsers (handlers/src/request_conditions.hpp
/// and http_date.hpp): Range, If-None-Match, If-Modified-Since, If-Range. Driven by
/// tests/server/handler_parsing_test.cpp and tests/fuzz/request_conditions_fuzz.cpp.
///
/// Byte 0 picks the parser (bits 0-1) and the mode (bit 2: raw). Generated: the harness builds a
/// field value from the input's choices, knowing what it means (the model), and checks the parser
/// reads exactly that. Raw: the rest of the input is the field value, and what the parser makes
/// of it must be sound (a range within the file, a date that formats and reads back the same).
#pragma once

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <mempool/http/http_date.hpp>
#include <mempool/http/request.hpp>

#include "model/op_source.hpp"
#include "request_conditions.hpp"

namespace mempool::test::conditions_model {

using http::detail::ByteRange;

inline void report(const char* what, const std::string& input) {
  std::fprintf(stderr, "%s: \"", what);
  for (const unsigned char c : input) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      std::fputc(c, stderr);
    } else {
      std::fprintf(stderr, "\\x%02x", c);
    }
  }
  std::fprintf(stderr, "\"\n");
}

inline std::string rest_of(OpSource& in) {
  std::string s;
  while (!in.done()) s += static_cast<char>(in.byte());
  return s;
}

template <std::size_t N>
const char* pick(OpSource& in, const char* const (&from)[N]) {
  return from[in.below(N)];
}

inline constexpr const char* ows[] = {"", "", " ", "\t", "  "};

// --- Range ----------------------------------------------------------------------------------------

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

/// A position as text, and the value it means (saturated past 2^64 - 1).
struct Number {
  std::string text;
  std::uint64_t value;
};

inline Number number(OpSource& in, std::uint64_t size) {
  switch (in.below(6)) {
    case 0: return {"99999999999999999999999", u64_max};
    case 1: return {"18446744073709551615", u64_max};
    case 2: {
      const std::uint64_t v = in.below(size + 3);
      return {"00" + std::to_string(v), v};
    }
    default: {
      const std::uint64_t v = in.below(size + 3);
      return {std::to_string(v), v};
    }
  }
}

/// One range-spec; `valid` false when it is no range-spec at all.
struct Spec {
  std::string text;
  bool valid = true;
  ByteRange meaning;  ///< what it means for this file, when it is the only spec
};

inline Spec range_spec(OpSource& in, std::uint64_t size) {
  const Number a = number(in, size);
  const Number b = number(in, size);
  using Kind = ByteRange::Kind;
  switch (in.below(8)) {
    case 0: {  // bytes=-n: the last n bytes
      if (b.value == 0) return {"-" + b.text, true, {Kind::unsatisfiable}};
      const std::uint64_t length = std::min(b.value, size);
      return {"-" + b.text, true, {Kind::partial, size - length, length}};
    }
    case 1:  // bytes=a-: from a to the end
      if (a.value >= size) return {a.text + "-", true, {Kind::unsatisfiable}};
      return {a.text + "-", true, {Kind::partial, a.value, size - a.value}};
    case 2: {  // no range-spec
      static constexpr const char* junk[] = {"-", "x-1", "1-x", "+1-2", "1 -2", "1- 2", "1", "1-2-3", "--1", "0x1-2"};
      return {pick(in, junk), false, {}};
    }
    default:  // bytes=a-b
      if (b.value < a.value) return {a.text + "-" + b.text, false, {}};  // invalid, not unsatisfiable
      if (a.value >= size) return {a.text + "-" + b.text, true, {Kind::unsatisfiable}};
      return {a.text + "-" + b.text, true, {Kind::partial, a.value, std::min(b.value, size - 1) - a.value + 1}};
  }
}

inline bool same(const ByteRange& a, const ByteRange& b) {
  if (a.kind != b.kind) return false;
  return a.kind != ByteRange::Kind::partial || (a.first == b.first && a.length == b.length);
}

inline void check_range_sound(const ByteRange& r, std::uint64_t size) {
  if (r.kind != ByteRange::Kind::partial) return;
  MODEL_CHECK(r.length >= 1);
  MODEL_CHECK(r.first < size);
  MODEL_CHECK(r.length <= size - r.first);
}

inline void range_model(OpSource& in, bool raw) {
  const std::uint64_t size = in.flag() ? 1 + in.below(2000) : u64_max - in.below(4);
  if (raw) {
    const std::string header = rest_of(in);
    check_range_sound(http::detail::parse_range(header, size), size);
    return;
  }
  static constexpr const char* units[] = {"bytes=", "bytes=", "bytes=", "BYTES=", "Bytes=", "bytes =", "items=", "bytes"};
  const char* unit = pick(in, units);
  const bool unit_ok = std::string_view(unit).size() == 6 && http::iequals(unit, "bytes=");
  std::string header = std::string(pick(in, ows)) + unit;
  std::vector<Spec> specs;
  for (std::size_t i = 0, n = in.below(4); i < n; ++i) {
    if (i > 0 || in.below(4) == 0) header += std::string(pick(in, ows)) + "," + pick(in, ows);  // empty elements too
    specs.push_back(range_spec(in, size));
    header += specs.back().text;
  }
  header += pick(in, ows);
  const bool one = specs.size() == 1 && specs[0].valid;
  const ByteRange expected = unit_ok && one ? specs[0].meaning : ByteRange{};
  const ByteRange got = http::detail::parse_range(header, size);
  if (!same(got, expected)) {
    report("Range read differently from what it says", header);
    MODEL_CHECK(!"range");
  }
  check_range_sound(got, size);
}

// --- If-None-Match --------------------------------------------------------------------------------

inline constexpr const char* our_etag = "\"5f3a-2a\"";

/// An If-None-Match value and whether it names our_etag (weak comparison, up to the first fault).
inline std::pair<std::string, bool> etag_list(OpSource& in) {
  if (in.below(8) == 0) return {std::string(pick(in, ows)) + "*" + pick(in, ows), true};
  static constexpr const char* tags[] = {"\"5f3a-2a\"", "\"5f3a-2b\"", "\"\"", "\"a,b\"", "\"5F3A-2A\"", "\"x\x80\""};
  static constexpr const char* faults[] = {"5f3a-2a", "\"5f3a-2a", "w/\"5f3a-2a\"", "*,", "W/5f3a-2a"};
  std::string list = pick(in, ows);
  bool matched = false;
  bool faulted = false;
  for (std::size_t i = 0, n = 1 + in.below(4); i < n; ++i) {
    if (i > 0) list += std::string(pick(in, ows)) + "," + pick(in, ows);
    if (in.below(6) == 0) {
      list += pick(in, faults);
      faulted = true;  // nothing after this matches
      continue;
    }
    const char* tag = pick(in, tags);
    list += std::string(in.flag() ? "W/" : "") + tag;
    matched = matched || (!faulted && std::string_view(tag) == our_etag);
  }
  return {list + pick(in, ows), matched};
}

inline void if_none_match_model(OpSource& in, bool raw) {
  if (raw) {
    (void)http::detail::etag_list_matches(rest_of(in), our_etag);
    return;
  }
  const auto [list, matches] = etag_list(in);
  if (http::detail::etag_list_matches(list, our_etag) != matches) {
    report("If-None-Match read differently from what it says", list);
    MODEL_CHECK(!"if-none-match");
  }
}

// --- HTTP dates -----------------------------------------------------------------------------------

inline constexpr const char* day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
inline constexpr const char* long_day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                 "Thursday", "Friday", "Saturday"};
inline constexpr const char* month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/// A date in one of the three forms every recipient reads, and the time it means (nullopt: no
/// date, after a fault the generator put in).
inline std::pair<std::string, std::optional<std::time_t>> http_date(OpSource& in) {
  // Years 1 to 9999: what an IMF-fixdate can hold.
  constexpr std::int64_t first = -62135596800, last = 253402300799;
  const std::uint64_t high = in.u32();
  const std::uint64_t choice = high << 32 | in.u32();
  std::time_t t = static_cast<std::time_t>(first + static_cast<std::int64_t>(choice % static_cast<std::uint64_t>(last - first + 1)));
  if (in.flag()) t = static_cast<std::time_t>(in.u32());  // mostly 1970..2106: the usual ones
  std::tm tm{};
  gmtime_r(&t, &tm);
  const long year = tm.tm_year + 1900L;
  char text[80];
  std::optional<std::time_t> meaning = t;
  switch (in.below(3)) {
    case 0:
      std::snprintf(text, sizeof text, "%s, %02d %s %04ld %02d:%02d:%02d GMT", day_names[tm.tm_wday], tm.tm_mday,
                    month_names[tm.tm_mon], year, tm.tm_hour, tm.tm_min, tm.tm_sec);
      break;
    case 1: {  // RFC 850: a two-digit year, read as the one not more than 50 years ahead of now
      std::snprintf(text, sizeof text, "%s, %02d-%s-%02ld %02d:%02d:%02d GMT", long_day_names[tm.tm_wday], tm.tm_mday,
                    month_names[tm.tm_mon], year % 100, tm.tm_hour, tm.tm_min, tm.tm_sec);
      const std::time_t now = std::time(nullptr);
      std::tm now_tm{};
      gmtime_r(&now, &now_tm);
      const long this_year = now_tm.tm_year + 1900L;
      long read_as = this_year - this_year % 100 + year % 100;
      if (read_as > this_year + 50) read_as -= 100;
      std::tm shifted = tm;
      shifted.tm_year = static_cast<int>(read_as - 1900);
      meaning = timegm(&shifted);
      break;
    }
    default:
      std::snprintf(text, sizeof text, "%s %s %2d %02d:%02d:%02d %04ld", day_names[tm.tm_wday], month_names[tm.tm_mon],
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, year);
  }
  std::string date = text;
  switch (in.below(10)) {  // a fault, now and then
    case 0: return {date + " ", std::nullopt};
    case 1: return {date.substr(0, date.size() - 1), std::nullopt};
    case 2: date[0] = static_cast<char>(date[0] | 0x20); return {date, std::nullopt};  // "sun, ..."
    case 3: {  // a day past the month's end: "31" in a 30-day month, "30 Feb"
      if (date.find("Feb") == std::string::npos && date.find("Apr") == std::string::npos) break;
      const std::size_t at = date.find_first_of("0123456789");
      if (at == std::string::npos || date[at + 1] < '0' || date[at + 1] > '9') break;  // asctime " 6"
      date[at] = '3';
      date[at + 1] = '1';
      return {date, std::nullopt};
    }
    default: break;
  }
  return {date, meaning};
}

inline void date_model(OpSource& in, bool raw) {
  if (raw) {  // whatever it reads must be a time that formats and reads back the same
    const std::string text = rest_of(in);
    const auto t = http::parse_http_date(text);
    if (!t) return;
    char out[http::http_date_length];
    const std::string_view formatted = http::format_http_date(*t, out);
    if (formatted.empty()) return;  // a year outside 0..9999 (RFC 850 with a far date)
    if (http::parse_http_date(formatted) != t) {
      report("a date read, formatted and read again changes", text);
      MODEL_CHECK(!"date round trip");
    }
    return;
  }
  const auto [text, meaning] = http_date(in);
  if (http::parse_http_date(text) != meaning) {
    report("an HTTP date read differently from what it says", text);
    MODEL_CHECK(!"date");
  }
}

// --- the fields together: 304 and If-Range --------------------------------------------------------

inline void conditions_model(OpSource& in) {
  const std::int64_t mtime = in.u32();
  std::vector<std::string> values;  // the Request's header views point here: no reallocation
  values.reserve(4);
  std::vector<http::Header> headers;
  bool any_inm = false, inm_match = false;
  for (std::size_t i = 0, n = in.below(3); i < n; ++i) {
    auto [list, matches] = etag_list(in);
    values.push_back(std::move(list));
    headers.push_back({"If-None-Match", values.back()});
    any_inm = true;
    inm_match = inm_match || matches;
  }
  std::optional<std::time_t> since;
  if (in.flag()) {
    auto [date, meaning] = http_date(in);
    if (in.flag()) {  // a date at the mtime, just before or just after it
      const std::time_t when = static_cast<std::time_t>(mtime) + static_cast<std::time_t>(in.below(3)) - 1;
      char out[http::http_date_length];
      date = std::string(http::format_http_date(when, out));
      meaning = when;
    }
    if (meaning) {  // (date_model holds the date parser to its faults)
      values.push_back(std::move(date));
      headers.push_back({"If-Modified-Since", values.back()});
      since = meaning;
    }
  }
  http::Request req;
  req.headers = headers;
  const bool expected = any_inm ? inm_match : since && mtime <= static_cast<std::int64_t>(*since);
  if (http::detail::not_modified(req, our_etag, mtime) != expected) {
    for (const auto& h : headers) report(std::string(h.name).c_str(), std::string(h.value));
    std::fprintf(stderr, "mtime %" PRId64 ", expected %s\n", mtime, expected ? "304" : "no 304");
    MODEL_CHECK(!"304");
  }

  static constexpr const char* if_range[] = {"\"5f3a-2a\"", "W/\"5f3a-2a\"", "\"5f3a-2b\"", "date", "garbage"};
  const std::string_view choice = pick(in, if_range);
  char out[http::http_date_length];
  const bool exact = in.flag();
  const std::string value = choice == "date" ? std::string(http::format_http_date(mtime + (exact ? 0 : 1), out))
                                             : std::string(choice);
  const http::Header field{"If-Range", value};
  req.headers = {&field, 1};
  MODEL_CHECK(http::detail::if_range_allows(req, our_etag, mtime) == (value == our_etag || (choice == "date" && exact)));
  req.headers = {};
  MODEL_CHECK(http::detail::if_range_allows(req, our_etag, mtime));
}

inline void request_conditions_model(OpSource& in) {
  const std::uint8_t mode = in.byte();
  const bool raw = (mode & 4) != 0;
  switch (mode & 3) {
    case 0: ModelRun::current().op = "Range"; return range_model(in, raw);
    case 1: ModelRun::current().op = "If-None-Match"; return if_none_match_model(in, raw);
    case 2: ModelRun::current().op = "HTTP date"; return date_model(in, raw);
    default: ModelRun::current().op = "304 and If-Range"; return conditions_model(in);
  }
}

}  // namespace mempool::test::conditions_model

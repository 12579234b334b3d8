#include <mempool/http/http_date.hpp>

#include <algorithm>
#include <array>
#include <cstdint>

namespace mempool::http {

namespace {

constexpr std::array<std::string_view, 7> day_names{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> long_day_names{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                         "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

constexpr bool is_leap(std::int64_t y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr int days_in_month(std::int64_t y, int month /* 1..12 */) noexcept {
  constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(y) ? 29 : days[static_cast<std::size_t>(month - 1)];
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm).
constexpr std::int64_t days_from_civil(std::int64_t y, int m, int d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Fields {
  std::int64_t year = 0;
  int month = 0;  // 1..12
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
};

// Reads the text left to right; every read_* consumes on success only what it matched.
class Cursor {
 public:
  explicit Cursor(std::string_view text) noexcept : rest_(text) {}

  bool literal(std::string_view s) noexcept {
    if (!rest_.starts_with(s)) return false;
    rest_.remove_prefix(s.size());
    return true;
  }
  /// Exactly `count` digits.
  bool digits(int count, std::int64_t& value) noexcept {
    if (rest_.size() < static_cast<std::size_t>(count)) return false;
    std::int64_t v = 0;
    for (int i = 0; i < count; ++i) {
      const char c = rest_[static_cast<std::size_t>(i)];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    rest_.remove_prefix(static_cast<std::size_t>(count));
    value = v;
    return true;
  }
  bool two_digits(int& value) noexcept {
    std::int64_t v = 0;
    if (!digits(2, v)) return false;
    value = static_cast<int>(v);
    return true;
  }
  template <std::size_t N>
  bool one_of(const std::array<std::string_view, N>& names, int& index) noexcept {
    for (std::size_t i = 0; i < N; ++i) {
      if (literal(names[i])) {
        index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }
  /// "08:49:37"
  bool time_of_day(Fields& f) noexcept {
    return two_digits(f.hour) && literal(":") && two_digits(f.minute) && literal(":") && two_digits(f.second);
  }
  bool done() const noexcept { return rest_.empty(); }

 private:
  std::string_view rest_;
};

std::optional<std::time_t> to_time(const Fields& f) noexcept {
  // A second of 60 is a leap second (RFC 5322 allows it): it reads as the next minute's first.
  if (f.month < 1 || f.month > 12 || f.day < 1 || f.day > days_in_month(f.year, f.month) || f.hour > 23 ||
      f.minute > 59 || f.second > 60) {
    return std::nullopt;
  }
  const std::int64_t days = days_from_civil(f.year, f.month, f.day);
  return static_cast<std::time_t>(days * 86400 + f.hour * 3600 + f.minute * 60 + f.second);
}

// "Sun, 06 Nov 1994 08:49:37 GMT" after the day name.
bool parse_imf_fixdate(Cursor& c, Fields& f) noexcept {
  int month = 0;
  if (!(c.literal(", ") && c.two_digits(f.day) && c.literal(" ") && c.one_of(month_names, month) && c.literal(" ") &&
        c.digits(4, f.year) && c.literal(" ") && c.time_of_day(f) && c.literal(" GMT") && c.done())) {
    return false;
  }
  f.month = month + 1;
  return true;
}

// The current year, for the RFC 850 two-digit year rule.
std::int64_t current_year() noexcept {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  if (gmtime_r(&now, &tm) == nullptr) return 1970;
  return tm.tm_year + 1900;
}

// "Sunday, 06-Nov-94 08:49:37 GMT" after the long day name.
bool parse_rfc850(Cursor& c, Fields& f) noexcept {
  int month = 0;
  std::int64_t yy = 0;
  if (!(c.literal(", ") && c.two_digits(f.day) && c.literal("-") && c.one_of(month_names, month) && c.literal("-") &&
        c.digits(2, yy) && c.literal(" ") && c.time_of_day(f) && c.literal(" GMT") && c.done())) {
    return false;
  }
  f.month = month + 1;
  // RFC 9110 §5.6.7: a year that appears more than 50 years in the future is the most recent
  // past year with the same last two digits.
  const std::int64_t now = current_year();
  std::int64_t year = now - now % 100 + yy;
  if (year > now + 50) year -= 100;
  f.year = year;
  return true;
}

// "Sun Nov  6 08:49:37 1994" after the day name.
bool parse_asctime(Cursor& c, Fields& f) noexcept {
  int month = 0;
  if (!(c.literal(" ") && c.one_of(month_names, month) && c.literal(" "))) return false;
  if (c.literal(" ")) {  // "( SP DIGIT )"
    std::int64_t d = 0;
    if (!c.digits(1, d)) return false;
    f.day = static_cast<int>(d);
  } else if (!c.two_digits(f.day)) {
    return false;
  }
  if (!(c.literal(" ") && c.time_of_day(f) && c.literal(" ") && c.digits(4, f.year) && c.done())) return false;
  f.month = month + 1;
  return true;
}

void put2(char* p, int v) noexcept {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

std::string_view format_http_date(std::time_t t, char (&out)[http_date_length]) noexcept {
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return {};
  const int year = tm.tm_year + 1900;
  if (year < 0 || year > 9999) return {};
  const std::string_view day = day_names[static_cast<std::size_t>(tm.tm_wday)];
  const std::string_view month = month_names[static_cast<std::size_t>(tm.tm_mon)];
  char* p = out;
  p = std::copy(day.begin(), day.end(), p);
  *p++ = ',';
  *p++ = ' ';
  put2(p, tm.tm_mday);
  p += 2;
  *p++ = ' ';
  p = std::copy(month.begin(), month.end(), p);
  *p++ = ' ';
  put2(p, year / 100);
  put2(p + 2, year % 100);
  p += 4;
  *p++ = ' ';
  put2(p, tm.tm_hour);
  p[2] = ':';
  put2(p + 3, tm.tm_min);
  p[5] = ':';
  put2(p + 6, tm.tm_sec);
  p += 8;
  constexpr std::string_view gmt = " GMT";
  std::copy(gmt.begin(), gmt.end(), p);
  return {out, http_date_length};
}

std::optional<std::time_t> parse_http_date(std::string_view text) noexcept {
  Fields f;
  int weekday = 0;
  // The long day names start with the short ones: try the RFC 850 form first.
  if (Cursor c(text); c.one_of(long_day_names, weekday)) {
    return parse_rfc850(c, f) ? to_time(f) : std::nullopt;
  }
  Cursor c(text);
  if (!c.one_of(day_names, weekday)) return std::nullopt;
  if (text.size() > 3 && text[3] == ',') return parse_imf_fixdate(c, f) ? to_time(f) : std::nullopt;
  return parse_asctime(c, f) ? to_time(f) : std::nullopt;
}

}  // namespace mempool::http

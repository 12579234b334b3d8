#include <mempool/http/stats.hpp>

#include <algorithm>
#include <string>

namespace mempool::http {

namespace {

using Row = StatsTable::Row;
using Text = std::pmr::string;

void append_value(Text& out, std::uint64_t v) {
  char digits[24];
  auto end = fmt::format_to(digits, "{}", v);
  out.append(digits, end);
}

// Rows of one scope, in the order they were reported, as {"group":{"name":v,...},...}.
void append_scope_json(Text& out, std::span<const Row> rows) {
  std::string_view group;
  for (const Row& r : rows) {
    if (r.group != group) {
      out += group.empty() ? "\"" : "},\"";
      out += r.group;
      out += "\":{";
      group = r.group;
    } else {
      out += ',';
    }
    out += '"';
    out += r.name;
    out += "\":";
    append_value(out, r.value);
  }
  if (!group.empty()) out += '}';
}

template <class Body>
Handler get_only(Body body) {
  return [body = std::move(body)](const Request& req, Response& res) {
    if (req.method != Method::get && req.method != Method::head) {
      res.error(405);
      res.add_header("Allow", "GET, HEAD");
      return;
    }
    body(req, res);
  };
}

}  // namespace

std::string_view StatsTable::json(RequestPool pool) const {
  Text out(pool.resource());
  out.reserve(64 * rows_.size());
  out += "{\"reactors\":[";
  bool first_reactor = true;
  for (std::size_t i = 0; i < rows_.size();) {
    std::size_t j = i;
    while (j < rows_.size() && rows_[j].scope == rows_[i].scope) ++j;
    const std::span<const Row> scope(rows_.data() + i, j - i);
    if (rows_[i].scope != process) {
      out += first_reactor ? "{\"reactor\":" : ",{\"reactor\":";
      first_reactor = false;
      append_value(out, static_cast<std::uint64_t>(rows_[i].scope));
      out += ',';
      append_scope_json(out, scope);
      out += '}';
    }
    i = j;
  }
  out += "],\"process\":{";
  std::pmr::vector<Row> process_rows(pool.resource());
  for (const Row& r : rows_) {
    if (r.scope == process) process_rows.push_back(r);
  }
  append_scope_json(out, process_rows);
  out += "}}\n";
  return pool.strdup(out);
}

std::string_view StatsTable::prometheus(RequestPool pool) const {
  std::pmr::vector<Row> sorted(rows_, pool.resource());
  std::stable_sort(sorted.begin(), sorted.end(), [](const Row& a, const Row& b) {
    return a.group != b.group ? a.group < b.group : a.name < b.name;
  });
  Text out(pool.resource());
  out.reserve(80 * sorted.size());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const Row& r = sorted[i];
    const bool new_family = i == 0 || r.group != sorted[i - 1].group || r.name != sorted[i - 1].name;
    if (new_family) {
      out += "# TYPE mempool_";
      out += r.group;
      out += '_';
      out += r.name;
      out += r.kind == Kind::counter ? " counter\n" : " gauge\n";
    }
    out += "mempool_";
    out += r.group;
    out += '_';
    out += r.name;
    if (r.scope != process) {
      out += "{reactor=\"";
      append_value(out, static_cast<std::uint64_t>(r.scope));
      out += "\"}";
    }
    out += ' ';
    append_value(out, r.value);
    out += '\n';
  }
  return pool.strdup(out);
}

Handler stats_json_handler(StatsCollector collect) {
  return get_only([collect = std::move(collect)](const Request& req, Response& res) {
    StatsTable table(req.pool());
    collect(table);
    res.text(200, table.json(req.pool()), "application/json");
    res.add_header("Cache-Control", "no-store");
  });
}

Handler metrics_handler(StatsCollector collect) {
  return get_only([collect = std::move(collect)](const Request& req, Response& res) {
    StatsTable table(req.pool());
    collect(table);
    res.text(200, table.prometheus(req.pool()), "text/plain; version=0.0.4");
    res.add_header("Cache-Control", "no-store");
  });
}

}  // namespace mempool::http

#include <mempool/http/stats.hpp>

#include <algorithm>
#include <string>

namespace mempool::http {

namespace {

using Row = StatsTable::Row;
using Kind = StatsTable::Kind;
using Text = std::pmr::string;

void append_value(Text& out, std::uint64_t v) {
  char digits[24];
  auto end = fmt::format_to(digits, "{}", v);
  out.append(digits, end);
}

// A row's value: an integer, or microseconds written as seconds ("1.000250").
void append_row_value(Text& out, const Row& r) {
  if (r.kind != Kind::sum_micro) return append_value(out, r.value);
  char digits[32];
  auto end = fmt::format_to(digits, "{}.{:06}", r.value / 1'000'000, r.value % 1'000'000);
  out.append(digits, end);
}

// Its key in JSON: the name, with its label's value or the histogram part after it.
void append_json_key(Text& out, const Row& r) {
  out += r.name;
  switch (r.kind) {
    case Kind::bucket: out += "_le_"; break;
    case Kind::sum_micro: out += "_sum"; return;
    case Kind::count: out += "_count"; return;
    default:
      if (r.label.name.empty()) return;
      out += '_';
  }
  out += r.label.value;
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
    append_json_key(out, r);
    out += "\":";
    append_row_value(out, r);
  }
  if (!group.empty()) out += '}';
}

// mempool_<group>_<name>, and _total for a counter (Prometheus naming).
void append_family(Text& out, const Row& r) {
  out += "mempool_";
  out += r.group;
  out += '_';
  out += r.name;
  if (r.kind == Kind::counter) out += "_total";
}

// # HELP and # TYPE of the family a row opens.
void append_family_head(Text& out, const Row& r) {
  out += "# HELP ";
  append_family(out, r);
  out += ' ';
  out += r.help;  // literals without backslashes or newlines: nothing to escape
  out += "\n# TYPE ";
  append_family(out, r);
  out += r.kind == Kind::counter ? " counter\n" : r.kind == Kind::gauge ? " gauge\n" : " histogram\n";
}

// One sample: name{reactor="N",label="v"} value.
void append_sample(Text& out, const Row& r) {
  append_family(out, r);
  if (r.kind == Kind::bucket) out += "_bucket";
  if (r.kind == Kind::sum_micro) out += "_sum";
  if (r.kind == Kind::count) out += "_count";
  const bool worker = r.worker != 0;
  const bool reactor = r.scope != StatsTable::process;
  const bool label = !r.label.name.empty();
  if (worker || reactor || label) {
    out += '{';
    if (worker) {
      out += "worker=\"";
      append_value(out, static_cast<std::uint64_t>(r.worker));
      out += '"';
    }
    if (reactor) {
      if (worker) out += ',';
      out += "reactor=\"";
      append_value(out, static_cast<std::uint64_t>(r.scope));
      out += '"';
    }
    if (label) {
      if (worker || reactor) out += ',';
      out += r.label.name;
      out += "=\"";
      out += r.label.value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  append_row_value(out, r);
  out += '\n';
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
  // Runs of rows of one scope and worker: a reactor's object, a worker's, or the process's rows.
  const auto each_run = [this](auto&& visit) {
    for (std::size_t i = 0; i < rows_.size();) {
      std::size_t j = i;
      while (j < rows_.size() && rows_[j].scope == rows_[i].scope && rows_[j].worker == rows_[i].worker) ++j;
      visit(std::span<const Row>(rows_.data() + i, j - i));
      i = j;
    }
  };
  const auto objects = [&](std::string_view key, auto&& wanted) {
    out += '"';
    out += key;
    out += "\":[";
    bool first = true;
    each_run([&](std::span<const Row> run) {
      const Row& r = run.front();
      if (!wanted(r)) return;
      out += first ? "{" : ",{";
      first = false;
      if (r.scope != process) {
        out += "\"reactor\":";
        append_value(out, static_cast<std::uint64_t>(r.scope));
        out += ',';
      }
      if (r.worker != 0) {
        out += "\"worker\":";
        append_value(out, static_cast<std::uint64_t>(r.worker));
        out += ',';
      }
      append_scope_json(out, run);
      out += '}';
    });
    out += "],";
  };
  out += '{';
  objects("reactors", [](const Row& r) { return r.scope != process; });
  const bool workers = std::any_of(rows_.begin(), rows_.end(), [](const Row& r) { return r.worker != 0; });
  if (workers) objects("workers", [](const Row& r) { return r.scope == process && r.worker != 0; });
  out += "\"process\":{";
  std::pmr::vector<Row> process_rows(pool.resource());
  for (const Row& r : rows_) {
    if (r.scope == process && r.worker == 0) process_rows.push_back(r);
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
  out.reserve(120 * sorted.size());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const Row& r = sorted[i];
    if (i == 0 || r.group != sorted[i - 1].group || r.name != sorted[i - 1].name) append_family_head(out, r);
    append_sample(out, r);
  }
  return pool.strdup(out);
}

void StatsTable::histogram(int scope, std::string_view group, std::string_view name, std::string_view help,
                           const LatencyHistogram& h) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < LatencyHistogram::bounds_us.size(); ++i) {
    cumulative += h.counts[i];
    rows_.push_back({scope, group, name, help, cumulative, Kind::bucket, {"le", LatencyHistogram::bounds_text[i]}, worker_});
  }
  cumulative += h.counts.back();
  rows_.push_back({scope, group, name, help, cumulative, Kind::bucket, {"le", "+Inf"}, worker_});
  rows_.push_back({scope, group, name, help, h.sum_us, Kind::sum_micro, {}, worker_});
  rows_.push_back({scope, group, name, help, cumulative, Kind::count, {}, worker_});
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

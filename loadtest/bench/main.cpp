// Runs every micro-benchmark, then prints a table per workload: each contender's ns per
// operation and its ratio to ours, all from this one run (the machines are noisy: compare ratios
// taken together, never figures from different runs).
//
// Naming convention for every benchmark in this folder: "<workload>/<contender>", with
// state.SetItemsProcessed(<operations>). Within a workload, the reference is the contender whose
// name starts with "mempool"; ratio = contender ns/op / reference ns/op (> 1: we are faster).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

struct Row {
  std::string contender;
  double ns_per_op;
};

// Console output as usual, plus a copy of each run's per-item time for the summary.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      auto it = run.counters.find("items_per_second");
      if (it == run.counters.end() || it->second.value <= 0) continue;
      const std::string name = run.run_name.function_name;
      const auto slash = name.find('/');
      if (slash == std::string::npos) continue;
      const std::string workload = name.substr(0, slash);
      if (!workloads_.count(workload)) order_.push_back(workload);
      auto& rows = workloads_[workload];
      const Row row{name.substr(slash + 1), 1e9 / it->second.value};
      bool replaced = false;
      for (Row& r : rows) {
        if (r.contender == row.contender) r = row, replaced = true;  // a median supersedes repetitions
      }
      if (!replaced) rows.push_back(row);
    }
  }

  void PrintSummary() const {
    std::printf("\n## Summary: ns per operation and ratio to mempool (one run)\n");
    for (const std::string& workload : order_) {
      const auto& rows = workloads_.at(workload);
      const Row* reference = nullptr;
      for (const Row& r : rows) {
        if (r.contender.rfind("mempool", 0) == 0) {
          reference = &r;
          break;
        }
      }
      std::printf("\n%s\n| contender | ns/op | ratio to %s |\n|---|---:|---:|\n", workload.c_str(),
                  reference ? reference->contender.c_str() : "(no mempool contender)");
      for (const Row& r : rows) {
        if (reference) {
          std::printf("| %s | %.2f | %.2fx |\n", r.contender.c_str(), r.ns_per_op, r.ns_per_op / reference->ns_per_op);
        } else {
          std::printf("| %s | %.2f | - |\n", r.contender.c_str(), r.ns_per_op);
        }
      }
    }
  }

 private:
  std::map<std::string, std::vector<Row>> workloads_;
  std::vector<std::string> order_;
};

}  // namespace

// jemalloc (a contender, loaded with dlopen) uses initial-exec TLS, which dlopen can only place in
// glibc's static TLS surplus; the default surplus is too small. Ask for more and restart once.
void reserve_static_tls(char** argv) {
  if (std::getenv("MEMPOOL_BENCH_TLS_RESERVED") != nullptr) return;
  setenv("MEMPOOL_BENCH_TLS_RESERVED", "1", 1);
  setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536", 0);
  execv("/proc/self/exe", argv);  // returns only on failure: then run without jemalloc
}

int main(int argc, char** argv) {
  reserve_static_tls(argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}

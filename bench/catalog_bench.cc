// Catalog benchmark: a catalog with N runs x 10 params x 20 metrics x 20 curves of 100 steps,
// then the two reads a user waits on — `runs list` with a filter and an ordering (100 rows with
// their params, metrics and tags), and loading one run's curves — timed as the median of 21.
//
//   catalog_bench sqlite PATH N        (a fresh meta.db at PATH)
//   catalog_bench postgresql://... N   (an empty database)
// With --query-only last, the catalog is taken as already loaded and only the reads are timed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kiln/registry/sql_catalog.h"

using namespace kiln;
using namespace kiln::registry;

namespace {

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

template <typename F>
double MedianMs(F&& f) {
  std::vector<double> t;
  for (int i = 0; i < 21; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(Ms(std::chrono::steady_clock::now() - t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const bool query_only = argc > 1 && std::string(argv[argc - 1]) == "--query-only";
  if (query_only) --argc;
  if (argc != 4 && !(argc == 3 && SqlCatalog::IsPostgresUrl(argv[1]))) {
    std::fprintf(stderr,
                 "usage: catalog_bench (sqlite PATH | postgresql://...) N [--query-only]\n");
    return 2;
  }
  const bool pg = SqlCatalog::IsPostgresUrl(argv[1]);
  const int n = std::atoi(argv[pg ? 2 : 3]);
  auto opened = pg ? SqlCatalog::OpenPostgres(argv[1])
                   : SqlCatalog::OpenSqlite(argv[2], SqliteOptions{.durable = false});
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  SqlCatalog& c = **opened;
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(0, 1);
  const auto t0 = std::chrono::steady_clock::now();
  std::string some_run;
  for (int i = 0; i < (query_only ? 0 : n); ++i) {
    RunRecord r;
    r.experiment = fmt::format("exp{}", i % 20);
    for (int p = 0; p < 10; ++p) r.params[fmt::format("p{}", p)] = fmt::format("{}", (i + p) % 13);
    r.tags["team"] = i % 3 == 0 ? "risk" : "growth";
    auto run = c.CreateRun(r);
    if (!run.ok()) return std::fprintf(stderr, "%s\n", run.status().ToString().c_str()), 1;
    std::map<std::string, double> metrics;
    for (int m = 0; m < 20; ++m) metrics[fmt::format("m{}", m)] = u(rng);
    std::vector<Curve> curves(20);
    for (int k = 0; k < 20; ++k) {
      curves[k].key = fmt::format("m{}", k);
      for (int s = 0; s < 100; ++s) {
        curves[k].steps.push_back(s);
        curves[k].values.push_back(u(rng));
      }
    }
    Status st = c.FinishRun(run->id, RunStatus::kFinished, metrics, curves, {});
    if (!st.ok()) return std::fprintf(stderr, "%s\n", st.ToString().c_str()), 1;
    if (i == n / 2) some_run = run->id;
    if ((i + 1) % 10000 == 0) std::fprintf(stderr, "%d runs\n", i + 1);
  }
  const double load_s = Ms(std::chrono::steady_clock::now() - t0) / 1000;
  if (query_only) {
    RunQuery middle;
    middle.filter = fmt::format("params.p0 = '{}'", (n / 2) % 13);
    auto got = c.SearchRuns(middle);
    if (!got.ok() || got->empty()) return std::fprintf(stderr, "catalog is empty\n"), 1;
    some_run = got->front().id;
  }
  RunQuery q;
  q.filter = "metrics.m3 > 0.9 and (params.p1 in ('2', '5') or tags.team = 'risk')";
  q.order_by = "metrics.m7 desc";
  q.limit = 100;
  size_t rows = 0;
  if (auto probe = c.SearchRuns(q); !probe.ok()) {
    return std::fprintf(stderr, "%s\n", probe.status().ToString().c_str()), 1;
  }
  const double list_ms = MedianMs([&] { rows = c.SearchRuns(q)->size(); });
  RunQuery exp_q = q;
  exp_q.experiment = "exp7";
  const double list_exp_ms = MedianMs([&] { c.SearchRuns(exp_q).status().IgnoreError(); });
  size_t points = 0;
  const double curves_ms = MedianMs([&] {
    points = 0;
    auto got = c.GetCurves(some_run, "");
    if (!got.ok()) return;
    for (const auto& cv : *got) points += cv.values.size();
  });
  std::printf(
      "{\"backend\": \"%s\", \"runs\": %d, \"load_seconds\": %.1f, \"list_filter_order_ms\": "
      "%.2f, \"list_rows\": %zu, \"list_experiment_filter_order_ms\": %.2f, "
      "\"curves_ms\": %.2f, \"curve_points\": %zu}\n",
      pg ? "postgresql" : "sqlite", n, load_s, list_ms, rows, list_exp_ms, curves_ms, points);
  return 0;
}

// Micro benchmarks of the ingest hot path: read+convert, profiling, chunk encoding.
// Run: build/release/bench/ingest_bench  (bench/peers/ingest.sh compares kiln with its peers)
#include <fmt/format.h>
#include <random>

#include <benchmark/benchmark.h>

#include "kiln/base/mem_file_system.h"
#include "kiln/data/profile.h"
#include "kiln/ingest/reader.h"
#include "kiln/storage/chunk_codec.h"

namespace kiln {
namespace {

// A higgs-like CSV: 28 float columns in %.6g, one 0/1 label.
std::string MakeCsv(int rows) {
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal;
  std::string s;
  for (int c = 0; c < 28; ++c) s += fmt::format("f{},", c);
  s += "label\n";
  char buf[32];
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < 28; ++c) {
      int n = std::snprintf(buf, sizeof buf, "%.6g,", normal(rng));
      s.append(buf, static_cast<size_t>(n));
    }
    s += (rng() & 1) ? "1\n" : "0\n";
  }
  return s;
}

void BM_ReadCsv(benchmark::State& state) {
  const std::string csv = MakeCsv(200000);
  MemFileSystem fs;
  (void)fs.CreateDirs("/b");
  (void)AtomicWriteFile(fs, "/b/h.csv", csv);
  ExecContext ctx(ExecContext::Options{.threads = static_cast<int>(state.range(0))});
  for (auto _ : state) {
    auto reader = ingest::TableReader::Open(fs, "/b/h.csv", {}, ctx);
    data::Dataset chunk;
    while (*(*reader)->Next(&chunk) == ingest::ReadEvent::kChunk) {
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * csv.size()));
}
BENCHMARK(BM_ReadCsv)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

data::Column RandomColumn(size_t n) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal;
  data::Column c(data::DataType::kFloat64);
  for (size_t i = 0; i < n; ++i) c.AppendFloat64(static_cast<float>(normal(rng)));
  return c;
}

void BM_ProfileFloat64(benchmark::State& state) {
  const data::Column c = RandomColumn(65536);
  for (auto _ : state) {
    data::ProfileBuilder b(data::DataType::kFloat64);
    b.Add(c);
    benchmark::DoNotOptimize(b.Finish());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * c.size()));
}
BENCHMARK(BM_ProfileFloat64);

void BM_EncodeChunk(benchmark::State& state) {
  const data::Column c = RandomColumn(65536);
  for (auto _ : state)
    benchmark::DoNotOptimize(storage::EncodeChunk(c, static_cast<int>(state.range(0))));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.size() * 8));
}
BENCHMARK(BM_EncodeChunk)->Arg(1)->Arg(3);

}  // namespace
}  // namespace kiln

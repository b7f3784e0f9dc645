// FT-01/FT-03: `kill -9` at random instants of `kiln data ingest` (and of rm + gc) leaves a kiln
// home that opens cleanly, lists only complete versions, and verifies checksum-clean.
// KILN_CRASH_ITERATIONS sets the number of kills (default 50; the `slow` run uses more).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "app/home.h"
#include "testing/run_kiln.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

pid_t Spawn(const std::vector<std::string>& args) { return kiln::testing::SpawnKiln(args); }

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

void WriteCsv(const std::string& path, int rows, int seed) {
  std::ofstream out(path);
  std::mt19937 rng(seed);
  out << "id,x,y,cat,label\n";
  for (int i = 0; i < rows; ++i) {
    out << i << ',' << (rng() % 100000) / 7.0 << ',' << static_cast<int>(rng() % 1000) << ",c"
        << rng() % 20 << ',' << rng() % 2 << '\n';
  }
}

// Opens the home as a fresh process would and checks every invariant.
void CheckHome(const std::string& home, int64_t expected_rows) {
  auto h = app::KilnHome::Open(home);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto report = (*h)->datasets().Verify(/*deep=*/true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_TRUE(report->problems.empty()) << report->problems[0];
  auto versions = (*h)->datasets().catalog().ListVersions("d");
  ASSERT_TRUE(versions.ok());
  for (const auto& v : *versions) ASSERT_EQ(v.rows, expected_rows) << "v" << v.version;
}

TEST(CrashTest, KillNineDuringIngestRmAndGc) {
  const char* env = std::getenv("KILN_CRASH_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 50;
  const std::string dir = kiln::testing::MakeTempDir("kiln-crash");
  const std::string home = dir + "/home", csv = dir + "/in.csv";
  constexpr int kRows = 150000;
  WriteCsv(csv, kRows, 1);
  const std::vector<std::string> ingest = {"--home", home, "--threads", "2", "data",
                                           "ingest", csv,  "--name",    "d"};
  // An uninterrupted run gives the time window to kill in.
  auto t0 = Clock::now();
  ASSERT_EQ(Wait(Spawn(ingest)), 0);
  const auto full = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
  std::mt19937_64 rng(12345);
  int killed = 0;
  for (int i = 0; i < iterations; ++i) {
    std::vector<std::string> args = ingest;
    if (i % 5 == 4) {  // sometimes kill a delete + GC instead
      auto h = app::KilnHome::Open(home);
      auto vs = (*h)->datasets().catalog().ListVersions("d");
      if (vs.ok() && vs->size() > 1) {
        ASSERT_EQ(Wait(Spawn(
                      {"--home", home, "data", "rm", "d@v" + std::to_string(vs->front().version)})),
                  0);
      }
      args = {"--home", home, "data", "gc"};
    }
    pid_t pid = Spawn(args);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (full.count() + 1)));
    kill(pid, SIGKILL);
    if (Wait(pid) == -SIGKILL) ++killed;  // it was still working when the signal came
    CheckHome(home, kRows);
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf("killed %d of %d runs mid-work (an uninterrupted ingest takes %lld us)\n", killed,
              iterations, static_cast<long long>(full.count()));
  EXPECT_GT(killed, iterations / 3);
  // After all that, a clean GC leaves no temp files and the store still verifies.
  ASSERT_EQ(Wait(Spawn({"--home", home, "data", "gc"})), 0);
  CheckHome(home, kRows);
  for (const auto& e : fs::recursive_directory_iterator(home + "/objects")) {
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
  }
  fs::remove_all(dir);
}

// Readers list and read versions while another process commits.
TEST(CrashTest, ReadersDuringCommits) {
  const std::string dir = kiln::testing::MakeTempDir("kiln-rw");
  const std::string home = dir + "/home", csv = dir + "/in.csv";
  WriteCsv(csv, 20000, 2);
  std::vector<pid_t> writers;
  for (int i = 0; i < 4; ++i) {
    writers.push_back(Spawn({"--home", home, "data", "ingest", csv, "--name", "d"}));
  }
  int reads = 0;
  auto deadline = Clock::now() + std::chrono::seconds(20);
  bool running = true;
  while (running && Clock::now() < deadline) {
    running = false;
    for (pid_t p : writers) running |= waitpid(p, nullptr, WNOHANG) == 0;
    auto h = app::KilnHome::Open(home);
    if (!h.ok()) continue;  // the first writer may still be creating the home
    auto vs = (*h)->datasets().catalog().ListVersions("d");
    ASSERT_TRUE(vs.ok()) << vs.status().ToString();
    for (const auto& v : *vs) {
      auto m = (*h)->datasets().LoadManifest(v);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      auto all = (*h)->datasets().ReadAll(*m, {});
      ASSERT_TRUE(all.ok()) << all.status().ToString();
      ASSERT_EQ(all->num_rows(), 20000u);
      ++reads;
    }
  }
  for (pid_t p : writers) Wait(p);
  auto h = app::KilnHome::Open(home);
  auto vs = (*h)->datasets().catalog().ListVersions("d");
  ASSERT_EQ(vs->size(), 4u);
  EXPECT_EQ(vs->back().version, 4);
  EXPECT_GT(reads, 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln

// FT-01/FT-03: `kill -9` at random instants of `kiln data ingest` (and of rm + gc) leaves a kiln
// home that opens cleanly, lists only complete versions, and verifies checksum-clean; the same
// for model registration and alias moves (a consistent registry), and a killed `kiln train`
// shows as `killed`. KILN_CRASH_ITERATIONS sets the number of kills (default 50; the `slow` run
// uses more).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kiln/pipeline/home.h"
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
  auto h = pipeline::Home::Open(home);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto report = (*h)->datasets().Verify(/*deep=*/true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_TRUE(report->problems.empty()) << report->problems[0];
  auto versions = (*h)->datasets().catalog().ListVersions("d");
  ASSERT_TRUE(versions.ok());
  for (const auto& v : *versions) ASSERT_EQ(v.rows, expected_rows) << "v" << v.version;
}

int Iterations() {
  const char* env = std::getenv("KILN_CRASH_ITERATIONS");
  return env ? std::atoi(env) : 50;
}

TEST(CrashTest, KillNineDuringIngestRmAndGc) {
  const int iterations = Iterations();
  const std::string dir = kiln::testing::MakeTempDir("kiln-crash");
  const std::string home = dir + "/home", csv = dir + "/in.csv";
  fs::create_directories(home);
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
      auto h = pipeline::Home::Open(home);
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

// The registry of model `name` as a fresh process sees it: versions numbered 1..latest without
// gaps, each taking `run`'s artifact; every alias points at an existing version and agrees with
// the last move its history records, and the history is one unbroken chain per alias.
void CheckRegistry(const std::string& home, const std::string& name, const std::string& run) {
  auto h = pipeline::Home::Open(home);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto& catalog = (*h)->catalog();
  auto versions = catalog.ListModelVersions(name);
  ASSERT_TRUE(versions.ok()) << versions.status().ToString();
  auto source = catalog.GetRun(run);
  ASSERT_TRUE(source.ok());
  for (size_t i = 0; i < versions->size(); ++i) {
    const auto& v = (*versions)[i];
    ASSERT_EQ(v.version, static_cast<int64_t>(i + 1));
    ASSERT_EQ(v.run_id, run);
    ASSERT_EQ(v.artifact, source->attributes.artifact);
  }
  auto models = catalog.ListModels();
  ASSERT_TRUE(models.ok());
  auto history = catalog.AliasHistory(name);
  ASSERT_TRUE(history.ok());
  std::map<std::string, int64_t> replayed;
  for (const auto& e : *history) {
    ASSERT_EQ(e.previous, replayed.count(e.alias) ? replayed[e.alias] : 0) << e.alias;
    if (e.version == 0) {
      replayed.erase(e.alias);
    } else {
      replayed[e.alias] = e.version;
    }
  }
  bool found = false;
  for (const auto& m : *models) {
    if (m.name != name) continue;
    found = true;
    ASSERT_EQ(m.latest_version, static_cast<int64_t>(versions->size()));
    ASSERT_EQ(m.aliases, replayed);
    for (const auto& [alias, version] : m.aliases) {
      ASSERT_GE(version, 1);
      ASSERT_LE(version, m.latest_version);
    }
  }
  ASSERT_TRUE(found || versions->empty()) << "model " << name << " is not listed";
}

TEST(CrashTest, KillNineDuringRegistrationAndAliasMoves) {
  const int iterations = Iterations();
  const std::string dir = kiln::testing::MakeTempDir("kiln-crash-reg");
  const std::string home = dir + "/home", csv = dir + "/in.csv";
  fs::create_directories(home);
  WriteCsv(csv, 2000, 3);
  ASSERT_EQ(Wait(Spawn({"--home", home, "data", "ingest", csv, "--name", "d"})), 0);
  auto trained = kiln::testing::RunKiln({"--home", home, "train", "--data", "d", "--target",
                                         "label", "--param", "num_trees=5", "--json"},
                                        dir);
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const std::string run = nlohmann::json::parse(trained.out)["run_id"];
  const std::vector<std::string> reg = {"--home", home, "models", "register", run, "--name", "m"};
  // The kill window: the quickest of three uninterrupted registrations (a slow one, e.g. beside
  // a parallel build, would put most kills after the work).
  auto full = std::chrono::microseconds::max();
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    ASSERT_EQ(Wait(Spawn(reg)), 0);
    full = std::min(full, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0));
  }
  std::mt19937_64 rng(777);
  int killed = 0;
  for (int i = 0; i < iterations; ++i) {
    std::vector<std::string> args = reg;
    if (i % 2 == 1) {
      // An alias move to one of the versions that exist (version 1 always does).
      auto h = pipeline::Home::Open(home);
      ASSERT_TRUE(h.ok());
      auto vs = (*h)->catalog().ListModelVersions("m");
      ASSERT_TRUE(vs.ok());
      const int64_t target = 1 + static_cast<int64_t>(rng() % vs->size());
      const char* alias = rng() % 2 ? "production" : "staging";
      args = {"--home",   home,
              "models",   "alias",
              "m",        std::to_string(target),
              "--set",    alias,
              "--reason", fmt::format("move {}", i)};
    }
    pid_t pid = Spawn(args);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (full.count() + 1)));
    kill(pid, SIGKILL);
    if (Wait(pid) == -SIGKILL) ++killed;
    CheckRegistry(home, "m", run);
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf("killed %d of %d registrations / alias moves (an uninterrupted one takes %lld us)\n",
              killed, iterations, static_cast<long long>(full.count()));
  EXPECT_GT(killed, iterations / 5);
  // The registry still takes writes after all that.
  ASSERT_EQ(Wait(Spawn(reg)), 0);
  ASSERT_EQ(Wait(Spawn({"--home", home, "models", "alias", "m", "1", "--set", "production"})), 0);
  CheckRegistry(home, "m", run);
  fs::remove_all(dir);
}

// A `kiln train` killed with -9 cannot end its own run; the next `runs list` finds its liveness
// lock free and marks the run `killed`, while a live training's run stays `running`.
TEST(CrashTest, KilledTrainingIsMarkedKilled) {
  const std::string dir = kiln::testing::MakeTempDir("kiln-crash-train");
  const std::string home = dir + "/home", csv = dir + "/in.csv";
  fs::create_directories(home);
  WriteCsv(csv, 60000, 4);
  ASSERT_EQ(Wait(Spawn({"--home", home, "data", "ingest", csv, "--name", "d"})), 0);
  auto list = [&] {
    auto r = kiln::testing::RunKiln({"--home", home, "runs", "list", "--json"}, dir);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  };
  pid_t pid =
      Spawn({"--home", home, "train", "--data", "d", "--target", "label", "--param",
             "num_trees=100000", "--param", "early_stopping_rounds=0", "--param", "max_depth=8"});
  // Wait until the run is recorded; listing it while the job lives must not reap it.
  nlohmann::json runs;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    runs = list();
    if (!runs.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(runs.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  runs = list();
  EXPECT_EQ(runs[0]["status"], "running");
  const std::string id = runs[0]["run_id"];
  EXPECT_TRUE(fs::exists(home + "/runs/" + id + ".lock"));
  kill(pid, SIGKILL);
  ASSERT_EQ(Wait(pid), -SIGKILL);
  runs = list();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "killed");
  EXPECT_GT(runs[0]["end_ms"].get<int64_t>(), 0);
  EXPECT_FALSE(fs::exists(home + "/runs/" + id + ".lock"));
  fs::remove_all(dir);
}

// Readers list and read versions while another process commits.
TEST(CrashTest, ReadersDuringCommits) {
  const std::string dir = kiln::testing::MakeTempDir("kiln-rw");
  const std::string home = dir + "/home", csv = dir + "/in.csv";
  fs::create_directories(home);
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
    auto h = pipeline::Home::Open(home);
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
  auto h = pipeline::Home::Open(home);
  auto vs = (*h)->datasets().catalog().ListVersions("d");
  ASSERT_EQ(vs->size(), 4u);
  EXPECT_EQ(vs->back().version, 4);
  EXPECT_GT(reads, 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln

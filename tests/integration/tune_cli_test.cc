// `kiln tune` end to end: trials as child runs of a parent run, ASHA, cross-validation with a
// refit, registering the best model, resuming after kill -9, and bad search spaces.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing/kiln_home_test.h"

namespace kiln {
namespace {

using kiln::testing::RunKiln;
using nlohmann::json;
namespace fs = std::filesystem;

class TuneCliTest : public kiln::testing::KilnHomeTest {
 protected:
  void SetUp() override {
    KilnHomeTest::SetUp();
    // y depends on x1, x2 and their interaction, with label noise.
    std::string csv = "x1,x2,x3,y\n";
    uint64_t s = 7;
    auto next = [&s] {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<double>(s >> 11) / 9007199254740992.0;
    };
    for (int i = 0; i < 4000; ++i) {
      const double x1 = next(), x2 = next(), x3 = next();
      const bool y = (x1 + 0.5 * x2 + (x1 > 0.5 && x2 > 0.5 ? 0.5 : 0)) + 0.4 * next() > 1.0;
      csv += fmt::format("{:.4f},{:.4f},{:.4f},{}\n", x1, x2, x3, y ? 1 : 0);
    }
    std::ofstream(dir_ + "/t.csv") << csv;
    std::ofstream(dir_ + "/space.yaml") << "max_depth: {type: int, low: 2, high: 6}\n"
                                           "learning_rate: {type: float, low: 0.02, high: 0.5, "
                                           "log: true}\n"
                                           "min_data_in_leaf: {type: categorical, values: [5, "
                                           "20, 80]}\n";
    ASSERT_EQ(Kiln({"data", "ingest", dir_ + "/t.csv", "--name", "t"}).exit_code, 0);
  }
  json Children(const std::string& parent) {
    auto r = Kiln({"runs", "list", "--filter", "attributes.parent_id = '" + parent + "'", "--limit",
                   "1000", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }
};

TEST_F(TuneCliTest, AshaTrialsAreChildRunsAndTheBestIsRegistered) {
  auto r = Kiln({"tune", "--data", "t", "--target", "y", "--space", dir_ + "/space.yaml",
                 "--trials", "9", "--parallel", "2", "--param", "num_trees=90", "--grace", "10",
                 "--register", "tuned", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out);
  const std::string parent = out["run_id"];
  json children = Children(parent);
  ASSERT_EQ(children.size(), 9u);
  double best = 0;
  int stopped = 0, rounds = 0;
  for (const auto& c : children) {
    EXPECT_EQ(c["status"], "finished");
    EXPECT_EQ(c["attributes"]["artifact"].get<std::string>().size(), 64u);
    best = std::max(best, c["metrics"]["valid.auc"].get<double>());
    rounds += static_cast<int>(c["metrics"]["rounds"].get<double>());
    if (c["tags"].contains("tune.stopped_at")) ++stopped;
  }
  EXPECT_DOUBLE_EQ(out["best_score"].get<double>(), best);
  EXPECT_GT(best, 0.8);
  EXPECT_GT(stopped, 0);      // ASHA stopped some trials at a rung
  EXPECT_LT(rounds, 9 * 90);  // and saved rounds
  EXPECT_EQ(out["rounds"], rounds);
  auto show = Kiln({"runs", "show", parent, "--json"});
  ASSERT_EQ(show.exit_code, 0);
  json p = json::parse(show.out);
  EXPECT_EQ(p["status"], "finished");
  EXPECT_EQ(p["tags"]["best_run"], out["best_run"]);
  auto model = json::parse(Kiln({"models", "show", "tuned:1", "--json"}).out);
  EXPECT_EQ(model["run_id"], out["best_run"]);
  EXPECT_EQ(Kiln({"eval", "--model", "tuned@", "--data", "t"}).exit_code, 1);  // bad alias
  EXPECT_EQ(Kiln({"eval", "--model", "tuned", "--data", "t"}).exit_code, 0);
}

TEST_F(TuneCliTest, CrossValidationRefitsTheBest) {
  auto r = Kiln({"tune",
                 "--data",
                 "t",
                 "--target",
                 "y",
                 "--space",
                 dir_ + "/space.yaml",
                 "--trials",
                 "4",
                 "--cv",
                 "3",
                 "--scheduler",
                 "random",
                 "--sampler",
                 "random",
                 "--param",
                 "num_trees=30",
                 "--register",
                 "cv",
                 "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out);
  EXPECT_NE(out["model_run"], out["best_run"]);
  json children = Children(out["run_id"]);
  ASSERT_EQ(children.size(), 5u);  // 4 trials + the refit
  for (const auto& c : children) {
    if (c["name"] == "refit") {
      EXPECT_EQ(c["tags"]["tune.refit_of"], out["best_run"]);
      EXPECT_EQ(c["attributes"]["artifact"].get<std::string>().size(), 64u);
    } else {
      EXPECT_EQ(c["metrics"]["rounds"], 90);       // 30 rounds x 3 folds
      EXPECT_EQ(c["attributes"]["artifact"], "");  // fold models are not kept
    }
  }
  EXPECT_EQ(json::parse(Kiln({"models", "show", "cv:1", "--json"}).out)["run_id"],
            out["model_run"]);
}

TEST_F(TuneCliTest, ResumeAfterKillNineKeepsFinishedTrials) {
  pid_t pid =
      kiln::testing::SpawnKiln({"--home", dir_ + "/home", "tune", "--data", "t", "--target", "y",
                                "--space", dir_ + "/space.yaml", "--trials", "200", "--scheduler",
                                "random", "--param", "num_trees=100", "--experiment", "killme"});
  // Kill it once some trials have finished.
  std::string parent;
  size_t finished_before = 0;
  for (int i = 0; i < 600 && finished_before < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto p = Kiln(
        {"runs", "list", "--experiment", "killme", "--filter", "tags.kind = 'tune'", "--json"});
    if (p.exit_code != 0 || json::parse(p.out).empty()) continue;
    parent = json::parse(p.out)[0]["run_id"];
    finished_before = 0;
    for (const auto& c : Children(parent)) finished_before += c["status"] == "finished";
  }
  ASSERT_GE(finished_before, 3u);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the search ended before it was killed";
  std::set<std::string> kept;
  for (const auto& c : Children(parent)) {
    if (c["status"] == "finished") kept.insert(c["run_id"].get<std::string>());
  }
  // The settings (data, space, trials, ...) come from the parent run.
  auto r = Kiln({"tune", "--resume", parent, "--parallel", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out);
  EXPECT_GE(out["trials_resumed"].get<size_t>(), kept.size());
  json children = Children(parent);
  size_t finished = 0, killed = 0;
  std::set<std::string> after;
  for (const auto& c : children) {
    if (c["status"] == "finished") ++finished, after.insert(c["run_id"].get<std::string>());
    if (c["status"] == "killed") ++killed;
  }
  EXPECT_EQ(finished, 200u);
  EXPECT_LE(killed, 1u);  // the trial that was training when killed
  for (const auto& id : kept) EXPECT_TRUE(after.count(id)) << id;  // nothing repeated or lost
  EXPECT_EQ(Kiln({"tune", "--resume", parent}).exit_code, 1);      // already finished
}

TEST_F(TuneCliTest, BadSpacesAndArguments) {
  const std::vector<std::pair<std::string, std::string>> spaces = {
      {"max_bin: {type: int, low: 10, high: 255}\n", "cannot be tuned"},
      {"no_such_param: {type: int, low: 1, high: 2}\n", "no_such_param"},
      {"max_depth: {type: int, low: 9, high: 3}\n", "low > high"},
      {"learning_rate: {type: float, low: 0, high: 1, log: true}\n", "log"},
      {"max_depth: {type: banana}\n", "type"},
      {"max_depth: [1, 2\n", "space.yaml"},
      {"subsample: {type: float, low: 0.5, high: 7}\n", "subsample"},
      {"max_bins: {type: int, low: 10, high: 255}\n", "cannot be tuned"},
      {"eta: {type: float, low: 0.1, high: 0.3}\nlearning_rate: {type: float, low: 0.1, high: "
       "0.3}\n",
       "listed twice"},
  };
  for (const auto& [text, expect] : spaces) {
    std::ofstream(dir_ + "/bad.yaml") << text;
    auto r = Kiln({"tune", "--data", "t", "--target", "y", "--space", dir_ + "/bad.yaml"});
    EXPECT_EQ(r.exit_code, 1) << text;
    EXPECT_NE(r.err.find(expect), std::string::npos) << text << " -> " << r.err;
  }
  EXPECT_EQ(
      Kiln({"tune", "--data", "t", "--target", "y", "--space", dir_ + "/space.yaml", "--cv", "1"})
          .exit_code,
      1);
  EXPECT_EQ(Kiln({"tune", "--data", "t", "--target", "y", "--space", dir_ + "/space.yaml",
                  "--scheduler", "asha", "--eta", "1"})
                .exit_code,
            1);
  auto train = Kiln({"train", "--data", "t", "--target", "y", "--json"});
  ASSERT_EQ(train.exit_code, 0);
  auto not_tune = Kiln({"tune", "--resume", json::parse(train.out)["run_id"]});
  EXPECT_EQ(not_tune.exit_code, 1);
  EXPECT_NE(not_tune.err.find("not a tune run"), std::string::npos) << not_tune.err;
  EXPECT_EQ(Kiln({"tune", "--resume", "nope"}).exit_code, 1);
  // No trial runs were recorded by the failed calls.
  EXPECT_EQ(json::parse(Kiln({"runs", "list", "--experiment", "tune", "--json"}).out).size(), 0u);
}

// XGBoost / LightGBM names in space.yaml are the parameters they stand for.
TEST_F(TuneCliTest, AliasesInTheSpace) {
  std::ofstream(dir_ + "/alias.yaml") << "eta: {type: float, low: 0.05, high: 0.3}\n"
                                         "n_estimators: {type: int, low: 5, high: 20}\n";
  auto r = Kiln({"tune", "--data", "t", "--target", "y", "--space", dir_ + "/alias.yaml",
                 "--trials", "3", "--scheduler", "random", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json best = json::parse(r.out)["best_params"];
  const double lr = std::stod(best["learning_rate"].get<std::string>());
  EXPECT_GE(lr, 0.05);
  EXPECT_LE(lr, 0.3);
  const int trees = std::stoi(best["num_trees"].get<std::string>());
  EXPECT_GE(trees, 5);
  EXPECT_LE(trees, 20);
}

}  // namespace
}  // namespace kiln

// Automatic retraining end to end (pipeline/retrain.h, jobs/triggers.h): an alert with
// `retrain: true` in a running `kiln serve` queues a retraining, a worker trains the challenger
// with the production run's recipe, promotes it through the policy's gate and the server
// hot-reloads it; a rejected challenger leaves production alone and fires the `retraining`
// alert; the cool-down holds a second retraining back; a new dataset version and a schedule
// trigger retrainings from `kiln worker`.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing/kiln_server.h"
#include "testing/run_kiln.h"

namespace kiln {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class RetrainCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kiln::testing::MakeTempDir("kiln-retrain");
    home_ = dir_ + "/home";
    fs::create_directories(home_);
    const std::string ex = kiln::testing::SourceDir() + "/examples/credit/";
    ASSERT_EQ(Kiln({"data", "ingest", ex + "credit_2024.csv", "--name", "credit"}).exit_code, 0);
    ASSERT_EQ(Kiln({"data", "ingest", ex + "credit_2025q1.csv", "--name", "holdout"}).exit_code, 0);
    auto t = Kiln({"train", "--data", "credit@v1", "--target", "Status", "--param", "num_trees=30",
                   "--param", "max_depth=4", "--param", "learning_rate=0.2", "--valid-frac", "0.2",
                   "--metric", "auc", "--json"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    recipe_run_ = json::parse(t.out)["run_id"];
    ASSERT_EQ(Kiln({"models", "register", recipe_run_, "--name", "credit-risk"}).exit_code, 0);
    ASSERT_EQ(Kiln({"models", "alias", "credit-risk", "1", "--set", "production"}).exit_code, 0);
  }
  void TearDown() override { fs::remove_all(dir_); }

  kiln::testing::RunResult Kiln(std::vector<std::string> args) {
    args.insert(args.begin(), {"--home", home_});
    return kiln::testing::RunKiln(args, dir_);
  }
  void Config(const std::string& policy, const std::string& alerts = "") {
    std::ofstream(home_ + "/kiln.yaml")
        << "monitoring:\n  evaluate_every: 1s\n"
        << alerts << "  retraining:\n    - model: credit-risk\n      holdout: holdout@v1\n"
        << policy;
  }
  int64_t Production() {
    auto r = Kiln({"models", "show", "credit-risk@production", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out)["version"];
  }
  json Jobs() { return json::parse(Kiln({"jobs", "list", "--json"}).out)["jobs"]; }
  json LastRun() { return json::parse(Kiln({"runs", "list", "--limit", "1", "--json"}).out)[0]; }

  std::string dir_, home_, recipe_run_;
};

TEST_F(RetrainCliTest, AnAlertRetrainsPromotesAndTheServerReloads) {
  Config("      gate: auc >= champion.auc - 0.5\n",
         "  alerts:\n    - name: always\n      model: credit-risk\n"
         "      expr: model.valid.auc > 0\n      retrain: true\n");
  kiln::testing::ServeProcess server;
  ASSERT_TRUE(kiln::testing::StartServe(home_, {"--reload-interval-ms", "200"}, &server));
  // The rule holds from the first round: the server queues one retraining for it.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Jobs().empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  json jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["verb"], "retrain");
  EXPECT_EQ(jobs[0]["options"], json({{"model", "credit-risk"}, {"trigger", "alert:always"}}));

  auto w = Kiln({"worker", "--once"});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const json job = json::parse(Kiln({"jobs", "show", "1", "--json"}).out);
  EXPECT_EQ(job["state"], "succeeded") << job.dump(1);
  EXPECT_EQ(job["produced"], "credit-risk:2");
  const json& result = job["result"];
  EXPECT_EQ(result["outcome"], "promoted");
  EXPECT_EQ(result["champion"], 1);
  EXPECT_EQ(result["recipe_run"], recipe_run_);
  EXPECT_EQ(result["data"], "credit@v1");  // the newest version of the champion's dataset
  EXPECT_EQ(result["promotion"]["data"], "holdout@v1");
  EXPECT_TRUE(result["promotion"]["passed"].get<bool>());
  EXPECT_EQ(Production(), 2);

  // The challenger's run: the champion's recipe, tagged with what triggered it.
  const json run = LastRun();
  EXPECT_EQ(run["tags"]["trigger"], "alert:always");
  EXPECT_EQ(run["tags"]["kiln.retrain"], "credit-risk");
  EXPECT_EQ(run["tags"]["retrained_from"], "credit-risk:1");
  EXPECT_EQ(run["params"]["num_trees"], "30");
  EXPECT_EQ(run["params"]["max_depth"], "4");
  EXPECT_EQ(run["params"]["learning_rate"], "0.2");
  EXPECT_EQ(run["params"]["valid_frac"], "0.2");
  EXPECT_EQ(run["params"]["metric"], "auc");
  // The alias move is the monitor's.
  auto history = Kiln({"models", "history", "credit-risk", "--json"});
  ASSERT_EQ(history.exit_code, 0);
  const json moves = json::parse(history.out);
  bool by_monitor = false;
  for (const auto& m : moves) by_monitor |= m["version"] == 2 && m["actor"] == "monitor";
  EXPECT_TRUE(by_monitor) << moves.dump(1);

  // The server serves version 2 without a restart.
  std::string served;
  const auto reload = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < reload) {
    auto c = http::HttpClient::Connect("127.0.0.1", static_cast<uint16_t>(server.port));
    ASSERT_TRUE(c.ok());
    auto r = (*c)->Send("GET", "/v2/models/credit-risk");
    ASSERT_TRUE(r.ok());
    served = json::parse(r->body)["versions"][0];
    if (served == "2") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(served, "2");
  EXPECT_EQ(kiln::testing::StopServe(&server), 0);
}

TEST_F(RetrainCliTest, ARejectedChallengerAlertsAndTheCoolDownHolds) {
  Config("      gate: auc >= champion.auc + 1\n      cooldown: 1h\n");
  auto r = Kiln({"monitor", "retrain", "credit-risk", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out["outcome"], "rejected");
  EXPECT_EQ(out["challenger"], 2);
  EXPECT_FALSE(out["promotion"]["moved"].get<bool>());
  EXPECT_NE(out["detail"].get<std::string>().find("auc >= champion.auc + 1"), std::string::npos)
      << out.dump(1);
  EXPECT_EQ(Production(), 1);
  auto alerts = Kiln({"monitor", "alerts", "--json"});
  ASSERT_EQ(alerts.exit_code, 0) << alerts.err;
  const json a = json::parse(alerts.out);
  ASSERT_FALSE(a["events"].empty()) << a.dump(1);
  EXPECT_EQ(a["events"][0]["rule"], "retraining");
  EXPECT_EQ(a["events"][0]["state"], "firing");
  EXPECT_EQ(a["events"][0]["model"], "credit-risk");

  // Within the cool-down the next one is skipped, not run.
  auto again = Kiln({"monitor", "retrain", "credit-risk", "--json"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["outcome"], "skipped");
  EXPECT_NE(again.out.find("cool-down"), std::string::npos);

  // As a job, a rejection ends the job failed, and production stays.
  Config("      gate: auc >= champion.auc + 1\n      cooldown: 0s\n");
  ASSERT_EQ(Kiln({"jobs", "submit", "retrain", "credit-risk"}).exit_code, 0);
  ASSERT_EQ(Kiln({"worker", "--once"}).exit_code, 0);
  const json job = json::parse(Kiln({"jobs", "show", "1", "--json"}).out);
  EXPECT_EQ(job["state"], "failed") << job.dump(1);
  EXPECT_NE(job["error"].get<std::string>().find("rejected"), std::string::npos);
  EXPECT_EQ(job["attempts"], 1);  // a rejection is not retried
  EXPECT_EQ(Production(), 1);

  // The daily maximum.
  Config("      gate: auc >= 0\n      cooldown: 0s\n      max_per_day: 2\n");
  auto capped = Kiln({"monitor", "retrain", "credit-risk", "--json"});
  EXPECT_EQ(json::parse(capped.out)["outcome"], "skipped") << capped.out;
  EXPECT_NE(capped.out.find("max_per_day"), std::string::npos);
}

TEST_F(RetrainCliTest, NewDataAndSchedulesTriggerFromTheWorker) {
  Config("      gate: auc >= champion.auc - 0.5\n      new_data: true\n      every: 1d\n");
  const std::string ex = kiln::testing::SourceDir() + "/examples/credit/";
  // Nothing newer than the champion's data: the worker only keeps the schedule.
  auto idle = Kiln({"worker", "--once"});
  ASSERT_EQ(idle.exit_code, 0) << idle.err;
  EXPECT_NE(idle.err.find("schedule retrain-credit-risk set"), std::string::npos) << idle.err;
  EXPECT_TRUE(Jobs().empty());
  auto schedules = json::parse(Kiln({"jobs", "schedule", "list", "--json"}).out);
  ASSERT_EQ(schedules["schedules"].size(), 1u) << schedules.dump(1);
  EXPECT_EQ(schedules["schedules"][0]["name"], "retrain-credit-risk");
  EXPECT_EQ(schedules["schedules"][0]["every"], "1d");

  ASSERT_EQ(
      Kiln({"data", "ingest", ex + "credit_2025q1.csv", "--name", "credit", "--append"}).exit_code,
      0);
  auto w = Kiln({"worker", "--once"});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  json jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["state"], "succeeded") << jobs[0].dump(1);
  const json& result = jobs[0]["result"];
  EXPECT_EQ(result["trigger"], "data:credit@v2");
  EXPECT_EQ(result["data"], "credit@v2");
  EXPECT_EQ(Production(), 2);
  EXPECT_EQ(LastRun()["tags"]["trigger"], "data:credit@v2");
  // The champion now has the newest data: nothing more is queued, and the schedule is as set.
  auto again = Kiln({"worker", "--once"});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(again.err.find("schedule retrain-credit-risk set"), std::string::npos) << again.err;
  EXPECT_EQ(Jobs().size(), 1u);

  // A policy without a schedule removes it.
  Config("      gate: auc >= 0\n");
  ASSERT_EQ(Kiln({"worker", "--once"}).exit_code, 0);
  schedules = json::parse(Kiln({"jobs", "schedule", "list", "--json"}).out);
  EXPECT_TRUE(schedules["schedules"].empty()) << schedules.dump(1);
}

TEST_F(RetrainCliTest, WithoutAPolicyOrAChampionItSaysSo) {
  auto none = Kiln({"monitor", "retrain", "credit-risk"});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("no retraining policy for model 'credit-risk'"), std::string::npos)
      << none.err;
  std::ofstream(home_ + "/kiln.yaml")
      << "monitoring:\n  retraining:\n    - model: credit-risk\n      alias: staging\n"
         "      holdout: holdout@v1\n      gate: auc >= 0\n";
  auto unset = Kiln({"monitor", "retrain", "credit-risk"});
  EXPECT_NE(unset.exit_code, 0);
  EXPECT_NE(unset.err.find("credit-risk@staging is not set"), std::string::npos) << unset.err;
  auto bad = Kiln({"jobs", "submit", "retrain", "credit-risk", "--trigger", "whim"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("expected manual, alert:RULE"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace kiln

// `kiln jobs` and `kiln worker` end to end on the real binary: submit with the verb's own flags,
// run, wait, inspect; refusals at submit time; and workers killed with SIGKILL at random
// points, after which every job still ran exactly once in effect (one finished run, one
// registered version).
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "testing/kiln_home_test.h"

namespace kiln {
namespace {

using nlohmann::json;

class JobsCliTest : public kiln::testing::KilnHomeTest {
 protected:
  void SetUp() override {
    KilnHomeTest::SetUp();
    std::mt19937 rng(7);
    std::string csv = "a,b,c,d,label\n";
    for (int i = 0; i < 3000; ++i) {
      const double a = (rng() % 1000) / 10.0, b = (rng() % 1000) / 10.0;
      csv += fmt::format("{},{},{},k{},{}\n", a, b, rng() % 50, rng() % 7,
                         (a + b + static_cast<double>(rng() % 40)) > 110 ? 1 : 0);
    }
    ASSERT_EQ(Kiln({"data", "ingest", Write("d.csv", csv), "--name", "d"}).exit_code, 0);
  }

  int64_t SubmitTrain(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"jobs", "submit",   "train", "--data",
                                     "d",    "--target", "label", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = Kiln(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? json::parse(r.out)["job_id"].get<int64_t>() : 0;
  }

  json Show(int64_t id) {
    auto r = Kiln({"jobs", "show", std::to_string(id), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  }

  pid_t SpawnWorker() {
    return kiln::testing::SpawnKiln({"--home", home_, "--threads", "1", "worker"});
  }
};

TEST_F(JobsCliTest, SubmitRunWaitShow) {
  const int64_t id =
      SubmitTrain({"--param", "num_trees=20", "--register", "m", "--tag", "team=risk"});
  ASSERT_GT(id, 0);
  auto listed = Kiln({"jobs", "list", "--state", "queued", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  ASSERT_EQ(json::parse(listed.out)["jobs"].size(), 1u);
  auto worker = Kiln({"worker", "--once"});
  ASSERT_EQ(worker.exit_code, 0) << worker.err;
  EXPECT_NE(worker.err.find("1 succeeded"), std::string::npos) << worker.err;
  EXPECT_EQ(Kiln({"jobs", "wait", std::to_string(id), "--timeout", "10"}).exit_code, 0);
  const json job = Show(id);
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["attempts"], 1);
  EXPECT_EQ(job["options"]["params"][0], "num_trees=20");
  const std::string run = job["produced"];
  EXPECT_EQ(job["result"]["run_id"], run);
  EXPECT_EQ(job["result"]["registered"]["version"], 1);
  // The run carries its job and the submitted tag; the model version holds that run.
  auto shown = Kiln({"runs", "show", run.substr(0, 8), "--json"});  // a unique prefix will do
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(json::parse(shown.out)["tags"]["kiln.job"], std::to_string(id));
  EXPECT_EQ(json::parse(shown.out)["tags"]["team"], "risk");
  auto model = Kiln({"models", "show", "m:1", "--json"});
  ASSERT_EQ(model.exit_code, 0) << model.err;
  EXPECT_NE(model.out.find(run), std::string::npos);
  auto logs = Kiln({"jobs", "logs", std::to_string(id)});
  EXPECT_NE(logs.out.find("[20]"), std::string::npos) << logs.out;
  EXPECT_NE(Kiln({"jobs", "show", std::to_string(id)}).out.find("succeeded"), std::string::npos);
}

TEST_F(JobsCliTest, SubmitRefusesWhatTheVerbRefuses) {
  auto verb = Kiln({"jobs", "submit", "trian", "--data", "d"});
  EXPECT_EQ(verb.exit_code, 2);
  EXPECT_NE(verb.err.find("did you mean 'train'"), std::string::npos) << verb.err;
  auto missing = Kiln({"jobs", "submit", "train", "--data", "d"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--target"), std::string::npos) << missing.err;
  auto param = Kiln({"jobs", "submit", "train", "--data", "d", "--target", "label", "--param",
                     "learnin_rate=0.1"});
  EXPECT_EQ(param.exit_code, 1);
  EXPECT_NE(param.err.find("unknown parameter 'learnin_rate'"), std::string::npos) << param.err;
  auto flag =
      Kiln({"jobs", "submit", "train", "--data", "d", "--target", "label", "--regster", "m"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.err.find("did you mean '--register'"), std::string::npos) << flag.err;
  auto space = Kiln({"jobs", "submit", "tune", "--data", "d", "--target", "label", "--space",
                     Write("space.yaml", "max_depht: {type: int, low: 2, high: 5}\n")});
  EXPECT_EQ(space.exit_code, 1);
  EXPECT_NE(space.err.find("unknown parameter"), std::string::npos) << space.err;
  EXPECT_EQ(json::parse(Kiln({"jobs", "list", "--json"}).out)["jobs"].size(), 0u);
  EXPECT_EQ(Kiln({"jobs", "show", "7"}).exit_code, 1);
  EXPECT_EQ(Kiln({"jobs", "list", "--state", "done"}).exit_code, 1);
}

TEST_F(JobsCliTest, IdempotencyKeyFailuresAndCancel) {
  const int64_t a = SubmitTrain({"--idempotency-key", "nightly"});
  EXPECT_EQ(SubmitTrain({"--idempotency-key", "nightly"}), a);
  // A job on data that does not exist fails once and for all: retrying cannot help.
  auto bad = Kiln({"jobs", "submit", "train", "--data", "nope", "--target", "label"});
  ASSERT_EQ(bad.exit_code, 0) << bad.err;
  const int64_t b = std::stoll(bad.out);
  const int64_t c = SubmitTrain();
  EXPECT_EQ(Kiln({"jobs", "cancel", std::to_string(c)}).exit_code, 0);
  ASSERT_EQ(Kiln({"worker", "--once"}).exit_code, 0);
  EXPECT_EQ(Show(a)["state"], "succeeded");
  const json failed = Show(b);
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_EQ(failed["attempts"], 1);
  EXPECT_NE(failed["error"].get<std::string>().find("nope"), std::string::npos);
  EXPECT_EQ(Kiln({"jobs", "wait", std::to_string(b)}).exit_code, 1);
  EXPECT_EQ(Show(c)["state"], "cancelled");
  EXPECT_EQ(Kiln({"jobs", "cancel", std::to_string(c)}).exit_code, 1);
}

TEST_F(JobsCliTest, Schedules) {
  auto add = Kiln({"jobs", "schedule", "add", "nightly", "--cron", "0 3 * * *", "--", "train",
                   "--data", "d", "--target", "label", "--register", "m"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto dup = Kiln({"jobs", "schedule", "add", "nightly", "--every", "1h", "--", "eval", "--model",
                   "m@production", "--data", "d"});
  EXPECT_EQ(dup.exit_code, 1);
  auto bad_cron = Kiln({"jobs", "schedule", "add", "x", "--cron", "0 25 * * *", "--", "eval",
                        "--model", "m", "--data", "d"});
  EXPECT_EQ(bad_cron.exit_code, 1);
  EXPECT_NE(bad_cron.err.find("hour"), std::string::npos) << bad_cron.err;
  auto bad_job =
      Kiln({"jobs", "schedule", "add", "x", "--every", "1h", "--", "train", "--data", "d"});
  EXPECT_EQ(bad_job.exit_code, 1);
  auto list = Kiln({"jobs", "schedule", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const json s = json::parse(list.out)["schedules"];
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]["verb"], "train");
  EXPECT_EQ(s[0]["options"]["register"], "m");
  EXPECT_EQ(Kiln({"jobs", "schedule", "rm", "nightly"}).exit_code, 0);
  EXPECT_EQ(Kiln({"jobs", "schedule", "rm", "nightly"}).exit_code, 1);
}

// SIGTERM: the worker stops leasing and hands its running job back; the job completes later.
TEST_F(JobsCliTest, SigtermHandsBackAndExitsZero) {
  const int64_t id = SubmitTrain({"--param", "num_trees=100000", "--param",
                                  "early_stopping_rounds=0", "--param", "max_depth=8"});
  const pid_t w = kiln::testing::SpawnKiln({"--home", home_, "worker", "--drain-seconds", "0"});
  for (int i = 0; i < 200 && Show(id)["state"] != "running"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(Show(id)["state"], "running");
  kill(w, SIGTERM);
  int status = 0;
  waitpid(w, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const json j = Show(id);
  EXPECT_EQ(j["state"], "queued");
  EXPECT_EQ(j["history"][0]["outcome"], "handed back");
}

int Kills() {
  const char* env = std::getenv("KILN_JOB_KILLS");
  return env ? std::atoi(env) : 50;
}

// Workers die by SIGKILL at random points, again and again. Afterwards every job succeeded,
// with exactly one finished run (the killed attempts' runs are `killed`) and exactly one model
// version each.
TEST_F(JobsCliTest, KillNineNeverLosesNorDoublesAJob) {
  Write("home/kiln.yaml", "queue: {lease_seconds: 0.3}\n");
  std::vector<int64_t> ids;
  for (int j = 0; j < 3; ++j) {
    ids.push_back(SubmitTrain({"--param", "num_trees=600", "--param", "max_depth=6", "--register",
                               "m", "--max-attempts", "100"}));
  }
  std::mt19937 rng(42);
  int kills = 0;
  for (int i = 0; i < Kills(); ++i) {
    const pid_t w = SpawnWorker();
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 450));
    kill(w, SIGKILL);
    int status = 0;
    waitpid(w, &status, 0);
    kills += WIFSIGNALED(status) ? 1 : 0;
    // Mostly let the dead worker's lease expire, so the next one takes its job over; sometimes
    // not, so the next one starts while the lease still holds.
    if (rng() % 4 != 0) std::this_thread::sleep_for(std::chrono::milliseconds(320));
  }
  EXPECT_GT(kills, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the last lease expires
  auto finish = Kiln({"worker", "--once"});
  ASSERT_EQ(finish.exit_code, 0) << finish.err;
  auto runs = Kiln({"runs", "list", "--limit", "100000", "--json"});  // reaps killed runs
  ASSERT_EQ(runs.exit_code, 0) << runs.err;
  std::map<std::string, std::vector<std::string>> by_job;  // job -> statuses of its runs
  for (const auto& r : json::parse(runs.out)) {
    by_job[r["tags"]["kiln.job"].get<std::string>()].push_back(r["status"]);
  }
  std::set<std::string> finished_runs;
  int attempts = 0, killed_runs = 0;
  for (int64_t id : ids) {
    const json j = Show(id);
    attempts += j["attempts"].get<int>();
    const auto& runs_of_job = by_job[std::to_string(id)];
    killed_runs += static_cast<int>(std::count(runs_of_job.begin(), runs_of_job.end(), "killed"));
    ASSERT_EQ(j["state"], "succeeded") << j.dump(2);
    const auto& statuses = by_job[std::to_string(id)];
    EXPECT_EQ(std::count(statuses.begin(), statuses.end(), "finished"), 1) << j.dump(2);
    for (const auto& s : statuses) EXPECT_TRUE(s == "finished" || s == "killed") << s;
    finished_runs.insert(j["produced"].get<std::string>());
  }
  // The kills landed: attempts were lost, and runs were cut short mid-training.
  std::printf("%d kills: %d attempts for %zu jobs, %d killed runs\n", kills, attempts, ids.size(),
              killed_runs);
  EXPECT_GT(attempts, static_cast<int>(ids.size()));
  EXPECT_GT(killed_runs, 0);
  // One version per job, each holding that job's run.
  auto model = Kiln({"models", "show", "m", "--json"});
  ASSERT_EQ(model.exit_code, 0) << model.err;
  const json versions = json::parse(model.out)["versions"];
  ASSERT_EQ(versions.size(), ids.size()) << model.out;
  std::set<std::string> registered;
  for (const auto& v : versions) registered.insert(v["run_id"].get<std::string>());
  EXPECT_EQ(registered, finished_runs);
}

}  // namespace
}  // namespace kiln

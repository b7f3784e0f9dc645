// The control plane's handler called directly (no sockets): routes, methods, bodies and the
// job endpoints on a kiln home in a temp dir; the JSON and metrics builders.
#include "kiln/api/control_plane.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kiln/pipeline/home.h"
#include "testing/run_kiln.h"

namespace kiln::api {
namespace {

using nlohmann::json;

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kiln::testing::MakeTempDir("kiln-api");
    home_ = std::move(*pipeline::Home::Open(dir_ + "/home"));
    jobs_ = std::move(*registry::OpenCatalogJobQueue("sqlite", dir_ + "/home/meta.db"));
    service_ = std::make_unique<ControlPlaneService>(home_.get(), &ctx_, jobs_.get());
  }
  void TearDown() override {
    service_.reset();
    jobs_.reset();
    home_.reset();
    std::filesystem::remove_all(dir_);
  }
  http::HttpResponse Call(const std::string& method, const std::string& target,
                          const std::string& body = "") {
    std::string route;
    return service_->Handle(http::HttpRequest{method, target, {}, body}, &route);
  }

  std::string dir_;
  ExecContext ctx_{ExecContext::Options{.threads = 1}};
  std::unique_ptr<pipeline::Home> home_;
  std::unique_ptr<registry::JobQueue> jobs_;
  std::unique_ptr<ControlPlaneService> service_;
};

TEST_F(ControlPlaneTest, Routes) {
  EXPECT_TRUE(ControlPlaneService::Handles("/api/v1/models"));
  EXPECT_TRUE(ControlPlaneService::Handles("/api/v1?x=1"));
  EXPECT_FALSE(ControlPlaneService::Handles("/api/v10"));
  EXPECT_FALSE(ControlPlaneService::Handles("/v2/models"));
  EXPECT_EQ(Call("GET", "/api/v1/datasets").status, 200);
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/models").body).size(), 0u);
  EXPECT_EQ(Call("GET", "/api/v1/datasets/none").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/nothing").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1").status, 404);
  auto wrong = Call("DELETE", "/api/v1/models");
  EXPECT_EQ(wrong.status, 405);
  ASSERT_EQ(wrong.headers.size(), 1u);
  EXPECT_EQ(wrong.headers[0].first, "Allow");
  EXPECT_EQ(Call("GET", "/api/v1/runs?limit=-1").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/runs?limit=1000000").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/runs?limit=5").status, 200);
  // A promotion needs a positive version and a dataset version, never a path.
  EXPECT_EQ(
      Call("POST", "/api/v1/models/m/versions/0/promote", R"({"gate":"auc>0","on":"d"})").status,
      400);
  EXPECT_EQ(
      Call("POST", "/api/v1/models/m/versions/1/promote", R"({"gate":"auc>0","on":"../x.csv"})")
          .status,
      400);
  EXPECT_EQ(
      Call("POST", "/api/v1/models/m/versions/1/promote", R"({"gate":"auc>0","on":"d@v1"})").status,
      404);
}

TEST_F(ControlPlaneTest, Jobs) {
  auto posted = Call("POST", "/api/v1/jobs",
                     R"({"verb":"eval","options":{"model":"m@production","data":"d@v1"},
                         "max_attempts":5})");
  ASSERT_EQ(posted.status, 200) << posted.body;
  const json job = json::parse(posted.body);
  EXPECT_EQ(job["verb"], "eval");
  EXPECT_EQ(job["state"], "queued");
  EXPECT_EQ(job["max_attempts"], 5);
  EXPECT_EQ(job["options"]["model"], "m@production");
  EXPECT_TRUE(job["result"].is_null());
  const std::string id = std::to_string(job["job_id"].get<int64_t>());
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/jobs/" + id).body), job);
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/jobs?state=queued&limit=1").body)["jobs"].size(), 1u);
  EXPECT_EQ(json::parse(Call("GET", "/api/v1/jobs?state=running").body)["jobs"].size(), 0u);
  // The default number of attempts is kiln.yaml's (3 without one).
  auto plain = Call("POST", "/api/v1/jobs", R"({"verb":"promote","options":{"name":"m",
                    "version":2,"gate":"auc >= 0","on":"d@v1"}})");
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(json::parse(plain.body)["max_attempts"], 3);
  EXPECT_EQ(Call("POST", "/api/v1/jobs/" + id + "/cancel").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/jobs/" + id + "/cancel").status, 409);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/" + id + "/cancel").status, 405);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/" + id + "/nope").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/0").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/jobs", R"({"verb":"eval","options":{"model":"/m.kiln",
                 "data":"d"}})")
                .status,
            400);
  EXPECT_EQ(Call("POST", "/api/v1/jobs", R"({"verb":"predict","options":{"model":"m@p",
                 "data":"d","out":"x.csv"}})")
                .status,
            400);
  EXPECT_EQ(Call("POST", "/api/v1/jobs", R"({"verb":"eval","options":[]})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/jobs", R"({"options":{}})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/jobs", R"({"verb":"eval","max_attempts":"3"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/jobs", R"({"verb":1})").status, 400);
  EXPECT_EQ(
      Call("POST", "/api/v1/jobs", R"({"verb":"eval","options":{"a":{"b":{"c":{}}}}})").status,
      400);  // deeper than a body may nest
}

TEST_F(ControlPlaneTest, WithoutAQueueTheJobEndpointsAreUnavailable) {
  ControlPlaneService bare(home_.get(), &ctx_);
  std::string route;
  auto r = bare.Handle(http::HttpRequest{"GET", "/api/v1/jobs", {}, ""}, &route);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(route, "api_jobs");
}

TEST(JobMetricsTextTest, DepthAttemptsAndDurations) {
  registry::JobStats stats;
  stats.jobs[{"default", registry::JobState::kQueued}] = 4;
  stats.jobs[{"gpu", registry::JobState::kDead}] = 1;
  stats.attempts = 9;
  for (int64_t ms : {500, 2000, 7200000}) stats.AddDuration(ms);
  const std::string text = JobMetricsText(stats);
  EXPECT_NE(text.find("kiln_jobs{queue=\"default\",state=\"queued\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("kiln_jobs{queue=\"gpu\",state=\"dead\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("kiln_job_attempts_total 9\n"), std::string::npos);
  EXPECT_NE(text.find("kiln_job_duration_seconds_bucket{le=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("kiln_job_duration_seconds_bucket{le=\"5\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("kiln_job_duration_seconds_bucket{le=\"3600\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("kiln_job_duration_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("kiln_job_duration_seconds_sum 7202.5\n"), std::string::npos);
  EXPECT_NE(text.find("kiln_job_duration_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(JobMetricsText({}).find("kiln_job_duration_seconds_count 0\n"), std::string::npos);
}

TEST(JobJsonTest, KeepsStoredTextThatIsNotJson) {
  registry::JobRecord j;
  j.id = 3;
  j.spec.verb = "train";
  j.spec.payload = "{not json";
  j.result = R"({"run_id":"r"})";
  j.history.push_back({1, "w", 10, 20, "lost", "lease expired"});
  const json out = json::parse(JobJson(j));
  EXPECT_EQ(out["options"], "{not json");
  EXPECT_EQ(out["result"]["run_id"], "r");
  EXPECT_EQ(out["history"][0]["outcome"], "lost");
}

}  // namespace
}  // namespace kiln::api

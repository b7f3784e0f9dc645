// Job payloads: what `kiln jobs submit` writes is what a worker reads, and a payload from the
// queue is refused unless it is exactly a verb's options.
#include "kiln/jobs/operations.h"

#include <gtest/gtest.h>

namespace kiln::jobs {
namespace {

TEST(JobPayloadTest, EveryVerbRoundTrips) {
  pipeline::TrainOptions t;
  t.data = "credit@v1";
  t.target = "Status";
  t.params = {"num_trees=5"};
  t.tags = {{"team", "risk"}};
  t.register_name = "credit";
  EXPECT_TRUE(ValidatePayload("train", Payload(t)).ok()) << Payload(t);
  pipeline::IngestOptions i;
  i.file = "/data/x.csv";
  i.name = "x";
  EXPECT_TRUE(ValidatePayload("ingest", Payload(i)).ok());
  pipeline::TuneOptions u;
  u.settings.space = "max_depth: {type: int, low: 2, high: 4}\n";
  u.settings.data = "d";
  EXPECT_TRUE(ValidatePayload("tune", Payload(u)).ok()) << Payload(u);
  EXPECT_TRUE(
      ValidatePayload("predict", Payload(pipeline::BatchPredictOptions{"m", "d", "o"})).ok());
  EXPECT_TRUE(ValidatePayload("eval", Payload(pipeline::EvalOptions{"m", "d"})).ok());
  pipeline::PromoteOptions p;
  p.name = "credit";
  p.version = 2;
  EXPECT_TRUE(ValidatePayload("promote", Payload(p)).ok());
  pipeline::RetrainOptions r;
  r.model = "credit";
  for (const char* trigger : {"manual", "alert:acc-drop", "schedule:nightly", "data:credit@v4"}) {
    r.trigger = trigger;
    EXPECT_TRUE(ValidatePayload("retrain", Payload(r)).ok()) << Payload(r);
    EXPECT_TRUE(CheckRemotePayload("retrain", Payload(r)).ok());
  }
}

TEST(JobPayloadTest, RefusesWhatNoVerbTakes) {
  struct Case {
    const char* verb;
    const char* payload;
    const char* error;
  };
  const Case bad[] = {
      {"trian", "{}", "did you mean 'train'"},
      {"serve", "{}", "not a job verb"},
      {"train", "[1]", "not a JSON object"},
      {"train", "{\"data\":", "not a JSON object"},
      {"train", R"({"data":"d","target":"y","nmu_trees":1})", "unknown option 'nmu_trees'"},
      {"train", R"({"data":"d","target":"y","tagets":1})", "did you mean 'target'"},
      {"train", R"({"data":5,"target":"y"})", "'data' has the wrong type"},
      {"train", R"({"data":"d","target":"y","checkpoint_every":1e99})", "wrong type"},
      {"train", R"({"data":"d","target":"y","checkpoint_every":99999999999})", "wrong type"},
      {"train", R"({"data":"d","target":"y","params":["learnin_rate=1"]})", "learnin_rate"},
      {"train", R"({"data":"d","target":"y","valid_frac":1.5})", "valid-frac"},
      {"train", R"({"target":"y"})", "required"},
      {"train", R"({"data":"d","target":"y","register":"../x"})", "model name"},
      {"ingest", R"({"file":"f","name":"a/b"})", "dataset name"},
      {"tune", R"({"data":"d","space":"x: 1"})", "space.yaml"},
      {"promote", R"({"name":"m","version":"2"})", "'version' has the wrong type"},
      {"retrain", R"({"model":"../m"})", "model name"},
      {"retrain", R"({"model":"m","trigger":"whim"})", "expected manual, alert:RULE"},
      {"retrain", R"({"model":"m","trigger":"data:credit"})", "data:NAME@vN"},
      {"retrain", R"({"model":"m","trigger":"alert:../x"})", "alert:RULE"},
      {"retrain", R"({"model":"m","alias":"staging"})", "unknown option 'alias'"},
  };
  for (const auto& c : bad) {
    Status s = ValidatePayload(c.verb, c.payload);
    ASSERT_FALSE(s.ok()) << c.verb << " " << c.payload;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(c.error), std::string::npos) << c.payload << " -> " << s.message();
  }
  EXPECT_FALSE(ValidatePayload("train", std::string(70000, ' ')).ok());
}

}  // namespace
}  // namespace kiln::jobs

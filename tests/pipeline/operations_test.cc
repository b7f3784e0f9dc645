// The lifecycle operations as a library, on a kiln home in a temp dir (no binary): training
// data preparation, train with run recording, evaluate, register, promote, batch predict.
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kiln/pipeline/batch_predict.h"
#include "kiln/pipeline/ingest.h"
#include "kiln/pipeline/models.h"
#include "kiln/pipeline/promote.h"
#include "kiln/pipeline/result_json.h"
#include "kiln/pipeline/train.h"
#include "kiln/pipeline/training_data.h"
#include "testing/run_kiln.h"

namespace kiln::pipeline {
namespace {

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = kiln::testing::MakeTempDir("kiln-pipeline");
    home_ = std::move(*Home::Open(dir_ + "/home"));
    std::mt19937 rng(3);
    std::ofstream csv(dir_ + "/d.csv");
    csv << "x,y,colour,note,label\n";
    for (int i = 0; i < 600; ++i) {
      const int x = static_cast<int>(rng() % 100), y = static_cast<int>(rng() % 100);
      csv << x << ',' << y << ',' << (i % 3 == 0 ? "red" : "blue") << ",n" << i << ','
          << ((x + y + static_cast<int>(rng() % 30)) > 110 ? "yes" : "no") << '\n';
    }
    csv.close();
    IngestOptions o;
    o.file = dir_ + "/d.csv";
    o.name = "d";
    ASSERT_TRUE(Ingest(*home_, o, ctx_).ok());
  }
  void TearDown() override {
    home_.reset();
    std::filesystem::remove_all(dir_);
  }
  TrainOptions Options() {
    TrainOptions o;
    o.data = "d";
    o.target = "label";
    o.params = {"num_trees=10", "max_depth=3"};
    o.valid_frac = 0.25;
    return o;
  }

  std::string dir_;
  ExecContext ctx_{ExecContext::Options{.threads = 2}};
  std::unique_ptr<Home> home_;
};

TEST_F(OperationsTest, LabelsFeaturesAndSplits) {
  auto loaded = LoadData(&home_->datasets(), home_->fs(), "d", ctx_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const LoadedData& d = *loaded;
  EXPECT_EQ(d.label, "d@v1");
  auto labels = MakeLabels(d.data, "label", "");
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_EQ(labels->num_classes, 2);
  EXPECT_EQ(labels->values.size(), 600u);
  EXPECT_EQ(MakeLabels(d.data, "nope", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeLabels(d.data, "label", "regression").status().code(),
            StatusCode::kInvalidArgument);  // not numeric
  EXPECT_EQ(MakeLabels(d.data, "label", "ranking").status().code(), StatusCode::kInvalidArgument);
  const std::vector<std::string> known = {"no", "maybe", "yes"};
  EXPECT_EQ(MakeLabels(d.data, "label", "", &known)->num_classes, 3);
  std::vector<std::string> skipped;
  const auto features = FeatureColumns(d.data, "label", &skipped);
  EXPECT_EQ(features.size(), 3u);  // x, y, colour; the free-text note is skipped
  EXPECT_EQ(skipped, std::vector<std::string>{"note"});
  auto [train, valid] = SplitRows(1000, 0.2, 42);
  EXPECT_EQ(train.size() + valid.size(), 1000u);
  EXPECT_NEAR(static_cast<double>(valid.size()), 200, 40);
  EXPECT_EQ(SplitRows(1000, 0.2, 42).second, valid);  // seeded
  EXPECT_NE(SplitRows(1000, 0.2, 43).second, valid);
  EXPECT_EQ(ParseParams({"num_trees"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseParams({"learnin_rate=0.1"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseParams({"num_trees=7"})->num_trees, 7);
}

TEST_F(OperationsTest, TrainRecordsARunAndRegistersOnce) {
  TrainOptions o = Options();
  o.register_name = "m";
  o.tags = {{"team", "risk"}};
  int iterations = 0;
  o.on_iteration = [&](const learn::IterationLog&) { ++iterations; };
  auto r = Train(*home_, o, ctx_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(iterations, 10);
  EXPECT_EQ(r->trees, 10u);
  EXPECT_EQ(r->data, "d@v1");
  EXPECT_EQ(r->skipped_columns, std::vector<std::string>{"note"});
  EXPECT_TRUE(r->out.empty());  // no file unless asked for
  EXPECT_EQ(r->registered_version, 1);
  EXPECT_GT(r->valid_metrics.at("auc"), 0.7);
  auto run = home_->catalog().GetRun(r->run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, registry::RunStatus::kFinished);
  EXPECT_EQ(run->tags.at("team"), "risk");
  EXPECT_EQ(run->attributes.artifact, r->artifact);
  // The model loads by run id and by registry reference, the same.
  auto by_run = LoadModelRef(*home_, r->run_id);
  auto by_name = LoadModelRef(*home_, "m:1");
  ASSERT_TRUE(by_run.ok() && by_name.ok());
  EXPECT_EQ((*by_run)->trees.size(), (*by_name)->trees.size());
  // Registering the same run again finds its version.
  auto again = RegisterRun(*home_, "m", r->run_id, "again", "me");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, 1);
  EXPECT_NE(TrainResultJson(*r).find("\"registered\""), std::string::npos);
}

TEST_F(OperationsTest, AFailedTrainingRecordsItsError) {
  TrainOptions o = Options();
  o.init_model = dir_ + "/missing.kiln";  // fails after the run started
  auto r = Train(*home_, o, ctx_);
  ASSERT_FALSE(r.ok());
  registry::RunQuery q;
  q.filter = "attributes.status = 'failed'";
  auto runs = home_->catalog().SearchRuns(q);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_NE((*runs)[0].tags.at("error").find("missing.kiln"), std::string::npos);
  o = Options();
  o.valid_frac = 1.5;
  EXPECT_EQ(Train(*home_, o, ctx_).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.register_name = "../x";
  EXPECT_EQ(Train(*home_, o, ctx_).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(OperationsTest, TrainOnChosenFeatures) {
  TrainOptions o = Options();
  o.features = {"y", "x"};
  auto r = Train(*home_, o, ctx_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto m = LoadModelRef(*home_, r->run_id);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ((*m)->features.size(), 2u);
  EXPECT_EQ((*m)->features[0].name, "x");  // in the data's order
  EXPECT_EQ((*m)->features[1].name, "y");
  o.features = {"x", "z"};
  EXPECT_NE(Train(*home_, o, ctx_).status().message().find("feature 'z' is not a column"),
            std::string::npos);
  o.features = {"x", "label"};
  EXPECT_NE(Train(*home_, o, ctx_).status().message().find("cannot be a feature"),
            std::string::npos);
  o.features = {"note"};
  EXPECT_EQ(Train(*home_, o, ctx_).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(OperationsTest, EvaluatePromotePredict) {
  TrainOptions o = Options();
  o.register_name = "m";
  ASSERT_TRUE(Train(*home_, o, ctx_).ok());
  o.params = {"num_trees=30", "max_depth=4"};
  ASSERT_TRUE(Train(*home_, o, ctx_).ok());
  auto e = Evaluate(*home_, {"m:2", "d@v1"}, ctx_);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->rows, 600u);
  EXPECT_GT(e->metrics.at("auc"), 0.7);
  PromoteOptions p;
  p.name = "m";
  p.version = 1;
  p.gate = "auc >= 0";
  p.on = "d@v1";
  p.actor = "test";
  auto first = Promote(*home_, p, ctx_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->moved);
  EXPECT_EQ(first->champion, 0);
  EXPECT_GT(first->report_id, 0);
  EXPECT_EQ(Promote(*home_, p, ctx_).status().code(), StatusCode::kFailedPrecondition);
  p.version = 2;
  p.gate = "auc >= champion.auc + 1";  // cannot hold
  auto held = Promote(*home_, p, ctx_);
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(held->passed);
  EXPECT_FALSE(held->moved);
  EXPECT_EQ(held->champion, 1);
  EXPECT_EQ(*home_->catalog().ResolveAlias("m", "production"), 1);
  p.dataset_only = true;
  p.on = dir_ + "/d.csv";
  EXPECT_EQ(Promote(*home_, p, ctx_).status().code(), StatusCode::kInvalidArgument);
  auto scored = BatchPredict(*home_, {"m@production", "d@v1", dir_ + "/p.csv"}, ctx_);
  ASSERT_TRUE(scored.ok()) << scored.status().ToString();
  EXPECT_EQ(scored->rows, 600u);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/p.csv"));
}

}  // namespace
}  // namespace kiln::pipeline

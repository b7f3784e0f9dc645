#include "kiln/model/model_io.h"

#include <cmath>

#include <gtest/gtest.h>

#include "kiln/base/hash.h"
#include "kiln/model/predictor.h"

namespace kiln::model {
namespace {

// A tiny hand-built model: x0 <= 0.5 ? (color in {red} ? 1 : 2) : 3, missing x0 goes right.
TreeModel Tiny() {
  TreeModel m;
  m.objective = Objective::kRegressionL2;
  m.base_score = {0.5};
  m.target = "y";
  m.features = {{"x0", false, {}, {0.5, INFINITY}}, {"color", true, {"red", "green", "blue"}, {}}};
  Tree t;
  t.nodes.resize(5);
  t.nodes[0] = {.left = 1, .right = 2, .feature = 0, .default_left = false, .threshold = 0.5};
  t.nodes[1] = {.left = 3,
                .right = 4,
                .feature = 1,
                .default_left = true,
                .categorical = true,
                .cat_begin = 0,
                .cat_end = 1};
  t.nodes[2].value = 3;
  t.nodes[3].value = 1;
  t.nodes[4].value = 2;
  t.categories = {0};
  m.trees.push_back(t);
  return m;
}

TEST(ModelIoTest, RoundTripAndPredict) {
  TreeModel m = Tiny();
  ASSERT_TRUE(m.Validate().ok());
  auto back = DecodeModel(EncodeModel(m), "tiny");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(EncodeModel(*back), EncodeModel(m));
  auto p = *Predictor::Create(std::make_shared<const TreeModel>(*back));
  auto row = [&](double x0, double color) {
    double in[2] = {x0, color}, out;
    p->PredictRowMargin(in, &out);
    return out;
  };
  EXPECT_EQ(row(0.2, 0), 1.5);
  EXPECT_EQ(row(0.2, 2), 2.5);
  EXPECT_EQ(row(0.2, NAN), 1.5);  // unknown category: default left
  EXPECT_EQ(row(0.9, 0), 3.5);
  EXPECT_EQ(row(NAN, 0), 3.5);  // missing: default right
}

// The drift reference travels in the file; one that does not fit the model is refused.
TEST(ModelIoTest, ReferenceRoundTripsAndMustFitTheModel) {
  TreeModel m = Tiny();
  m.reference.data = "t@v2";
  m.reference.rows = 10;
  m.reference.features = {{{4, 5}, 1}, {{3, 3, 2}, 2}};
  m.reference.features[0].min = -1.5;
  m.reference.features[0].max = 7;
  m.reference.score_kind = ScoreKind::kValue;
  m.reference.score_edges = {1.5, 2.5};
  m.reference.score_counts = {2, 3, 5};
  m.reference.score_data = "validation";
  m.reference.valid_metrics = {{"rmse", 0.25}, {"mae", 0.125}};
  ASSERT_TRUE(m.Validate().ok()) << m.Validate().ToString();
  auto back = DecodeModel(EncodeModel(m), "ref");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const ReferenceProfile& r = back->reference;
  EXPECT_EQ(r.data, "t@v2");
  EXPECT_EQ(r.rows, 10u);
  ASSERT_EQ(r.features.size(), 2u);
  EXPECT_EQ(r.features[1].counts, (std::vector<uint64_t>{3, 3, 2}));
  EXPECT_EQ(r.features[1].missing, 2u);
  EXPECT_EQ(r.features[0].min, -1.5);
  EXPECT_EQ(r.features[0].max, 7);
  EXPECT_TRUE(std::isnan(r.features[1].min));  // no range recorded: none read back
  EXPECT_EQ(r.score_kind, ScoreKind::kValue);
  EXPECT_EQ(r.score_counts, (std::vector<uint64_t>{2, 3, 5}));
  EXPECT_EQ(r.valid_metrics.at("mae"), 0.125);
  EXPECT_EQ(EncodeModel(*back), EncodeModel(m));
  // A model without one (older files, imports) has an empty reference.
  auto none = DecodeModel(EncodeModel(Tiny()), "none");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->reference.empty());

  auto refused = [](TreeModel bad) {
    auto decoded = DecodeModel(EncodeModel(bad), "bad");
    return !decoded.ok() && decoded.status().code() == StatusCode::kDataLoss;
  };
  TreeModel wrong_bins = m;
  wrong_bins.reference.features[0].counts = {4, 5, 0};  // x0 has two bins
  EXPECT_TRUE(refused(wrong_bins));
  TreeModel wrong_total = m;
  wrong_total.reference.features[1].missing = 3;  // 11 values for 10 rows
  EXPECT_TRUE(refused(wrong_total));
  TreeModel inverted = m;
  inverted.reference.features[0].min = 8;  // above its max
  EXPECT_TRUE(refused(inverted));
  TreeModel wrong_scores = m;
  wrong_scores.reference.score_counts = {2, 8};
  EXPECT_TRUE(refused(wrong_scores));
  TreeModel unsorted = m;
  unsorted.reference.score_edges = {2.5, 1.5};
  EXPECT_TRUE(refused(unsorted));
}

TEST(ModelIoTest, PredictorMatchesCategoriesByText) {
  auto p = *Predictor::Create(std::make_shared<const TreeModel>(Tiny()));
  data::Dataset d;
  d.schema = *data::Schema::Make(
      {{"color", data::DataType::kCategorical}, {"x0", data::DataType::kFloat64}});
  data::Column color(data::DataType::kCategorical), x0(data::DataType::kFloat64);
  // Another dictionary order than the model's, plus a category the model never saw.
  color.set_dictionary(
      std::make_shared<const data::Dictionary>(data::Dictionary{"blue", "red", "mauve"}));
  for (uint32_t c : {1u, 0u, 2u}) color.AppendCode(c), x0.AppendFloat64(0.1);
  d.columns = {color, x0};
  auto x = p->Prepare(d);
  ASSERT_TRUE(x.ok());
  std::vector<float> out(3);
  ExecContext ctx;
  ASSERT_TRUE(p->Predict(*x, PredictKind::kMargin, out, ctx).ok());
  EXPECT_EQ(out, (std::vector<float>{1.5f, 2.5f, 1.5f}));
  data::Dataset missing_col;
  missing_col.schema = *data::Schema::Make({{"x0", data::DataType::kFloat64}});
  missing_col.columns = {x0};
  EXPECT_EQ(p->Prepare(missing_col).status().code(), StatusCode::kInvalidArgument);
}

// BI-17/BI-19: every truncation and every single-bit flip is a clean error, never a crash.
TEST(ModelIoTest, TruncationAndBitFlips) {
  const std::string bytes = EncodeModel(Tiny());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DecodeModel(bytes.substr(0, n), "m.kiln");
    ASSERT_FALSE(r.ok()) << n;
    ASSERT_NE(r.status().message().find("m.kiln"), std::string::npos);
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit : {0, 5}) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto r = DecodeModel(bad, "m.kiln");
      ASSERT_FALSE(r.ok()) << i;
      ASSERT_EQ(r.status().code(), StatusCode::kDataLoss) << i << " " << r.status().ToString();
    }
  }
}

std::string Reseal(std::string bytes) {
  bytes.resize(bytes.size() - 8);
  PutFixed64(&bytes, Xxh3_64(bytes));
  return bytes;
}

TEST(ModelIoTest, StructurallyInvalidModelsAreRefusedEvenWithAValidChecksum) {
  TreeModel cyclic = Tiny();
  cyclic.trees[0].nodes[1].left = 0;  // back edge
  EXPECT_EQ(DecodeModel(Reseal(EncodeModel(cyclic)), "m").status().code(), StatusCode::kDataLoss);
  TreeModel bad_feature = Tiny();
  bad_feature.trees[0].nodes[0].feature = 7;
  EXPECT_EQ(DecodeModel(Reseal(EncodeModel(bad_feature)), "m").status().code(),
            StatusCode::kDataLoss);
  TreeModel bad_cats = Tiny();
  bad_cats.trees[0].categories = {9};
  EXPECT_EQ(DecodeModel(Reseal(EncodeModel(bad_cats)), "m").status().code(), StatusCode::kDataLoss);
  // A header claiming 2^40 trees is refused before allocating.
  std::string huge = EncodeModel(Tiny());
  const size_t meta = DecodeFixed64(huge.data() + 16);
  std::string text = huge.substr(24, meta);
  const size_t at = text.find("\"num_trees\":1");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 13, "\"num_trees\":1099511627776");
  std::string forged = huge.substr(0, 16);
  PutFixed64(&forged, text.size());
  forged += text + huge.substr(24 + meta);
  EXPECT_EQ(DecodeModel(Reseal(forged), "m").status().code(), StatusCode::kDataLoss);
}

// BI-14: pickles, zip archives (torch/joblib) and other formats are refused without parsing.
TEST(ModelIoTest, ForeignFormatsAreRefused) {
  static constexpr char kPickle[] =
      "\x80\x04\x95\x10\x00"
      "cos\nsystem\n";  // protocol 4
  for (std::string b : {std::string(kPickle, sizeof kPickle - 1), std::string("PK\x03\x04...."),
                        std::string("{\"learner\": {}}")}) {
    auto r = DecodeModel(b, "evil.bin");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("refused unparsed"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln::model

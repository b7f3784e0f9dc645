#include "kiln/data/validate.h"

#include <gtest/gtest.h>

namespace kiln::data {
namespace {

DatasetSummary Summary() {
  DatasetSummary s;
  s.label = "t@v1";
  s.schema = *Schema::Make({{"age", DataType::kInt64}, {"color", DataType::kCategorical}});
  s.rows = 100;
  ColumnProfile age;
  age.count = 100;
  age.nulls = 5;
  age.min = 18;
  age.max = 70;
  age.quantiles = {18, 20, 25, 30, 35, 40, 45, 50, 55, 60, 70};
  ColumnProfile color;
  color.count = 100;
  color.top = {{"red", 60}, {"blue", 40}};
  color.top_complete = true;
  s.profiles = {age, color};
  return s;
}

const DuplicateCounter kNoDuplicates = [](size_t) -> Result<uint64_t> { return uint64_t{0}; };

const RuleOutcome* Find(const ValidationReport& r, const std::string& col,
                        const std::string& rule) {
  for (const auto& o : r.outcomes) {
    if (o.column == col && o.rule == rule) return &o;
  }
  return nullptr;
}

TEST(ValidateTest, PassingRules) {
  Rules rules;
  rules.min_rows = 10;
  rules.columns.push_back(
      {.name = "age", .type = DataType::kInt64, .max_null_fraction = 0.1, .min = 0, .max = 120});
  rules.columns.push_back({.name = "color", .allowed = std::vector<std::string>{"red", "blue"}});
  auto r = Validate(Summary(), rules, nullptr, kNoDuplicates);
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(r.outcomes.size(), 6u);
}

TEST(ValidateTest, EachRuleCanFail) {
  Rules rules;
  rules.max_rows = 50;
  rules.allow_extra_columns = false;
  rules.columns.push_back({.name = "age",
                           .type = DataType::kFloat64,
                           .max_null_fraction = 0.01,
                           .min = 21,
                           .max = 65,
                           .unique = true});
  rules.columns.push_back({.name = "missing"});
  auto dups = [](size_t) -> Result<uint64_t> { return uint64_t{3}; };
  auto r = Validate(Summary(), rules, nullptr, dups);
  EXPECT_FALSE(r.passed());
  for (const char* rule : {"type", "null_fraction", "min", "max", "unique"}) {
    ASSERT_NE(Find(r, "age", rule), nullptr) << rule;
    EXPECT_FALSE(Find(r, "age", rule)->passed) << rule;
  }
  EXPECT_FALSE(Find(r, "", "max_rows")->passed);
  EXPECT_FALSE(Find(r, "missing", "required")->passed);
  EXPECT_FALSE(Find(r, "color", "extra_column")->passed);
}

TEST(ValidateTest, UnexpectedCategoryFails) {
  Rules rules;
  rules.columns.push_back({.name = "color", .allowed = std::vector<std::string>{"red"}});
  auto r = Validate(Summary(), rules, nullptr, kNoDuplicates);
  ASSERT_FALSE(r.passed());
  EXPECT_NE(Find(r, "color", "allowed")->detail.find("blue"), std::string::npos);
}

TEST(ValidateTest, InferredRulesAcceptTheReferenceAndCatchDrift) {
  DatasetSummary ref = Summary();
  Rules rules = InferRules(ref);
  EXPECT_TRUE(Validate(ref, rules, &ref, kNoDuplicates).passed());
  DatasetSummary drifted = ref;
  drifted.profiles[0].quantiles = {40, 45, 50, 55, 60, 62, 64, 66, 68, 69, 70};
  drifted.profiles[1].top = {{"red", 10}, {"blue", 60}, {"green", 30}};
  drifted.rows = 1000;
  auto r = Validate(drifted, rules, &ref, kNoDuplicates);
  EXPECT_FALSE(r.passed());
  EXPECT_FALSE(Find(r, "age", "psi")->passed);
  EXPECT_FALSE(Find(r, "color", "allowed")->passed);
  EXPECT_FALSE(Find(r, "", "max_rows")->passed);
}

TEST(ValidateTest, CountDuplicatesIsExact) {
  Column a(DataType::kString), b(DataType::kString);
  for (const char* v : {"x", "y", "z"}) a.AppendString(v);
  b.AppendString("y");
  b.AppendNull();
  b.AppendNull();
  b.AppendString("w");
  EXPECT_EQ(CountDuplicates({&a}), 0u);
  EXPECT_EQ(CountDuplicates({&a, &b}), 1u);  // nulls are not duplicates
  Column n(DataType::kInt64);
  n.AppendInt64(9007199254740993);  // 2^53 + 1: distinct from 2^53 only as an integer
  n.AppendInt64(9007199254740992);
  EXPECT_EQ(CountDuplicates({&n}), 0u);
}

}  // namespace
}  // namespace kiln::data

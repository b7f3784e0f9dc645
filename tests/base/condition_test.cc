#include "kiln/base/condition.h"

#include <map>

#include <gtest/gtest.h>

namespace kiln {
namespace {

Condition::Lookup From(const std::map<std::string, double, std::less<>>& values) {
  return [&values](std::string_view name) -> std::optional<double> {
    auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<double>(it->second);
  };
}

TEST(ConditionTest, ComparisonsJoinedByAndOverArithmetic) {
  const std::map<std::string, double, std::less<>> v = {
      {"live.auc", 0.7}, {"model.valid.auc", 0.8}, {"drift.share", 0.4}};
  auto c = Condition::Parse("live.auc < model.valid.auc - 0.05 and drift.share > 0.3", "rule");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->clauses(), 2u);
  EXPECT_EQ(c->Text(0), "live.auc < model.valid.auc - 0.05");
  EXPECT_EQ(c->Names(0), (std::vector<std::string>{"live.auc", "model.valid.auc"}));
  auto r = c->Evaluate(From(v));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)[0].passed);
  EXPECT_DOUBLE_EQ((*r)[0].right, 0.75);
  EXPECT_TRUE((*r)[1].passed);
  EXPECT_EQ(c->Render(0, [](const std::string& n) { return "v(" + n + ")"; }),
            "v(live.auc) < (v(model.valid.auc) - 0.05)");
  auto missing = Condition::Parse("live.f1 > 0", "rule")->Evaluate(From(v));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("live.f1"), std::string::npos);
}

TEST(ConditionTest, ErrorsNameWhatAndWhere) {
  auto bad = Condition::Parse("drift.share >", "alert rule 'x'");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("alert rule 'x': unexpected end"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(Condition::Parse("a > 1 or b < 2", "r").ok());
  EXPECT_FALSE(Condition::Parse("a > " + std::string(129, 'x'), "r").ok());
  EXPECT_FALSE(Condition::Parse(std::string(5000, ' ') + "a > 1", "r").ok());
}

}  // namespace
}  // namespace kiln

#include "kiln/monitor/alerts.h"

#include <map>

#include <gtest/gtest.h>

namespace kiln::monitor {
namespace {

struct Fixture {
  int64_t now = 1'000'000;
  std::map<std::string, double, std::less<>> values = {{"drift.share", 0.1}};
  AlertEngine engine{{Rule("drift", "drift.share > 0.3", 60'000)}, [this] { return now; }};

  static AlertRule Rule(const std::string& name, const std::string& expr, int64_t for_ms) {
    AlertRule r;
    r.name = name;
    r.expr = expr;
    r.condition = *Condition::Parse(expr, "rule");
    r.for_ms = for_ms;
    return r;
  }
  std::vector<AlertSubject> Subjects() {
    return {{"m", 1, [this](std::string_view n) -> std::optional<double> {
               auto it = values.find(n);
               return it == values.end() ? std::nullopt : std::optional<double>(it->second);
             }}};
  }
};

TEST(AlertEngineTest, PendingThenFiringOnceThenResolved) {
  Fixture f;
  EXPECT_TRUE(f.engine.Evaluate(f.Subjects()).empty());
  EXPECT_TRUE(f.engine.Active().empty());
  f.values["drift.share"] = 0.5;
  EXPECT_TRUE(f.engine.Evaluate(f.Subjects()).empty());  // pending: not for 60 s yet
  ASSERT_EQ(f.engine.Active().size(), 1u);
  EXPECT_EQ(f.engine.Active()[0].state, AlertState::kPending);
  f.now += 30'000;
  EXPECT_TRUE(f.engine.Evaluate(f.Subjects()).empty());
  f.now += 30'000;
  auto fired = f.engine.Evaluate(f.Subjects());
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].state, "firing");
  EXPECT_EQ(fired[0].since_ms, 1'000'000);
  EXPECT_NE(fired[0].detail.find("drift.share > 0.3 (0.5 vs 0.3)"), std::string::npos)
      << fired[0].detail;
  f.now += 10'000;
  EXPECT_TRUE(f.engine.Evaluate(f.Subjects()).empty());  // still firing: not reported again
  EXPECT_NE(f.engine.Exposition().find(
                "kiln_alert{rule=\"drift\",model=\"m\",version=\"1\",severity=\"warning\","
                "state=\"firing\"} 1\n"),
            std::string::npos)
      << f.engine.Exposition();
  f.values["drift.share"] = 0.2;
  auto resolved = f.engine.Evaluate(f.Subjects());
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].state, "resolved");
  EXPECT_TRUE(f.engine.Active().empty());
  EXPECT_EQ(f.engine.Recent().size(), 2u);
  EXPECT_NE(
      f.engine.Exposition().find("kiln_alert_events_total{rule=\"drift\",state=\"resolved\"} 1"),
      std::string::npos);
}

TEST(AlertEngineTest, PendingThatStopsHoldingNeverFiresAndGoneVersionsResolve) {
  Fixture f;
  f.values["drift.share"] = 0.5;
  f.engine.Evaluate(f.Subjects());
  f.values["drift.share"] = 0.1;
  EXPECT_TRUE(f.engine.Evaluate(f.Subjects()).empty());  // pending -> inactive: no event
  EXPECT_TRUE(f.engine.Active().empty());

  AlertEngine now_engine({Fixture::Rule("drift", "drift.share > 0.3", 0)}, [&] { return f.now; });
  f.values["drift.share"] = 0.5;
  ASSERT_EQ(now_engine.Evaluate(f.Subjects()).size(), 1u);  // for: 0 fires at once
  auto gone = now_engine.Evaluate({});
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].state, "resolved");
  EXPECT_EQ(gone[0].detail, "no longer served");
  // A value the rule needs that is missing: the condition does not hold.
  f.values.erase("drift.share");
  EXPECT_TRUE(now_engine.Evaluate(f.Subjects()).empty());
  EXPECT_TRUE(now_engine.Active().empty());
}

TEST(AlertEngineTest, RulesForOneModelLeaveTheOthersAlone) {
  Fixture f;
  AlertRule rule = Fixture::Rule("only-x", "drift.share > 0.3", 0);
  rule.model = "x";
  AlertEngine engine({rule}, [&] { return f.now; });
  f.values["drift.share"] = 0.9;
  EXPECT_TRUE(engine.Evaluate(f.Subjects()).empty());  // the subject is model m
}

}  // namespace
}  // namespace kiln::monitor

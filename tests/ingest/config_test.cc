#include "kiln/ingest/config.h"

#include <gtest/gtest.h>

namespace kiln::ingest {
namespace {

TEST(SchemaYamlTest, ParsesTypesAndRoles) {
  auto s = ParseSchemaYaml("columns:\n  y: {type: categorical, role: label}\n  id: {role: id}\n",
                           Limits::Default());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s->at("y").type, data::DataType::kCategorical);
  EXPECT_EQ(*s->at("y").role, data::ColumnRole::kLabel);
  EXPECT_FALSE(s->at("id").type.has_value());
}

TEST(SchemaYamlTest, RejectsUnknownKeysTypesAndRoles) {
  for (const char* bad : {"columns:\n  y: {typo: int64}\n", "columns:\n  y: {type: int128}\n",
                          "columns:\n  y: {role: boss}\n", "cols: {}\n", "- a\n- b\n",
                          "columns: [1, 2]\n", "columns: {y: {type: [int64]}}\n"}) {
    EXPECT_EQ(ParseSchemaYaml(bad, Limits::Default()).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(RulesYamlTest, ParsesEveryRule) {
  auto r = ParseRulesYaml(
      "rows: {min: 10, max: 1000}\nallow_extra_columns: false\ncolumns:\n"
      "  age: {type: int64, min: 0, max: 120, max_null_fraction: 0.05, unique: false}\n"
      "  color: {allowed: [red, blue], required: false, max_psi: 0.1}\n",
      Limits::Default());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r->min_rows, 10);
  EXPECT_EQ(*r->max_rows, 1000);
  EXPECT_FALSE(r->allow_extra_columns);
  ASSERT_EQ(r->columns.size(), 2u);
  EXPECT_EQ(*r->columns[0].max, 120);
  EXPECT_EQ(r->columns[1].allowed->size(), 2u);
  EXPECT_FALSE(r->columns[1].required);
}

// BI-16: type tags, alias bombs and deep nesting are refused.
TEST(RulesYamlTest, HostileYaml) {
  EXPECT_FALSE(ParseRulesYaml("columns: !!python/object:os.system {}\n", Limits::Default()).ok());
  EXPECT_FALSE(ParseRulesYaml("rows: {min: !custom 5}\n", Limits::Default()).ok());
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c, ++prev) {
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + "]\n";
  }
  auto r = ParseRulesYaml(bomb, Limits::Default());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nodes"), std::string::npos) << r.status().message();
  std::string deep = std::string(150, '[') + std::string(150, ']');
  auto d = ParseRulesYaml("columns: " + deep + "\n", Limits::Default());
  ASSERT_FALSE(d.ok());
  EXPECT_FALSE(ParseRulesYaml("rows: {min: ten}\n", Limits::Default()).ok());
  // Found by config_fuzz: a count that does not fit int64 must be refused, not converted.
  EXPECT_FALSE(ParseRulesYaml("rows: {min: 1.3e38}\n", Limits::Default()).ok());
  EXPECT_FALSE(ParseRulesYaml("rows: {max: -1}\n", Limits::Default()).ok());
  EXPECT_FALSE(ParseRulesYaml("rows: {max: 2.5}\n", Limits::Default()).ok());
  EXPECT_FALSE(ParseRulesYaml("columns: {a: {min: 1, bogus: 2}}\n", Limits::Default()).ok());
  EXPECT_FALSE(ParseRulesYaml("{unclosed\n", Limits::Default()).ok());
  EXPECT_FALSE(ParseRulesYaml(std::string(5 << 20, '#'), Limits::Default()).ok());
}

}  // namespace
}  // namespace kiln::ingest

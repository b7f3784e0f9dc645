#include "kiln/jobs/schedule.h"

#include <ctime>

#include <gtest/gtest.h>

namespace kiln::jobs {
namespace {

// Unix ms of a UTC date and time.
int64_t At(int year, int month, int day, int hour, int minute) {
  tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  t.tm_mday = day;
  t.tm_hour = hour;
  t.tm_min = minute;
  return static_cast<int64_t>(timegm(&t)) * 1000;
}

TEST(ScheduleTest, Every) {
  EXPECT_EQ(*ParseEvery("6h"), 6 * 3600 * 1000);
  EXPECT_EQ(*ParseEvery("30m"), 30 * 60 * 1000);
  EXPECT_EQ(*ParseEvery("2d"), 2 * 86400 * 1000);
  EXPECT_EQ(*ParseEvery("90s"), 90 * 1000);
  for (const char* bad : {"", "h", "6", "6w", "-1h", "1.5h", "30s", "0m", " 6h", "99999999d"}) {
    EXPECT_EQ(ParseEvery(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ScheduleTest, CronNextTimes) {
  auto daily = ParseCron("0 3 * * *");
  ASSERT_TRUE(daily.ok()) << daily.status().ToString();
  EXPECT_EQ(NextCronTime(*daily, At(2026, 12, 5, 1, 30)), At(2026, 12, 5, 3, 0));
  EXPECT_EQ(NextCronTime(*daily, At(2026, 12, 5, 3, 0)), At(2026, 12, 6, 3, 0));
  auto quarter = ParseCron("*/15 * * * *");
  EXPECT_EQ(NextCronTime(*quarter, At(2026, 12, 5, 1, 16)), At(2026, 12, 5, 1, 30));
  // Weekdays at 9:30; Saturday 2026-12-05 -> Monday the 7th.
  auto weekdays = ParseCron("30 9 * * 1-5");
  EXPECT_EQ(NextCronTime(*weekdays, At(2026, 12, 5, 12, 0)), At(2026, 12, 7, 9, 30));
  // 7 is Sunday too.
  EXPECT_EQ(NextCronTime(*ParseCron("0 0 * * 7"), At(2026, 12, 5, 12, 0)), At(2026, 12, 6, 0, 0));
  // The 1st of every month, or any Friday (either day field matches).
  auto either = ParseCron("0 12 1 * 5");
  EXPECT_EQ(NextCronTime(*either, At(2026, 12, 5, 13, 0)), At(2026, 12, 11, 12, 0));
  // February 29th: the next leap year.
  EXPECT_EQ(NextCronTime(*ParseCron("0 0 29 2 *"), At(2026, 12, 5, 0, 0)), At(2028, 2, 29, 0, 0));
  auto list = ParseCron("5,10-12 1 * 1,6 *");
  EXPECT_EQ(NextCronTime(*list, At(2026, 12, 5, 0, 0)), At(2027, 1, 1, 1, 5));
}

TEST(ScheduleTest, BadCronNamesTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"0 3 * *", "5 fields"},    {"60 * * * *", "minute"},  {"* 24 * * *", "hour"},
      {"* * 0 * *", "day"},       {"* * * 13 *", "month"},   {"* * * * 8", "weekday"},
      {"*/0 * * * *", "minute"},  {"5-2 * * * *", "minute"}, {"a * * * *", "minute"},
      {"1,,2 * * * *", "minute"},
  };
  for (const auto& [text, field] : cases) {
    auto c = ParseCron(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.status().message().find(field), std::string::npos)
        << text << " -> " << c.status().message();
  }
}

TEST(ScheduleTest, NextRun) {
  registry::Schedule s;
  EXPECT_FALSE(NextRun(s, 0).ok());
  s.every = "1h";
  EXPECT_EQ(*NextRun(s, 1000), 1000 + 3600000);
  s.cron = "0 3 * * *";
  EXPECT_FALSE(NextRun(s, 0).ok());  // not both
  s.every.clear();
  EXPECT_EQ(*NextRun(s, At(2026, 12, 5, 4, 0)), At(2026, 12, 6, 3, 0));
}

}  // namespace
}  // namespace kiln::jobs

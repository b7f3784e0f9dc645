// When a schedule (`kiln jobs schedule add NAME --every 6h | --cron "0 3 * * *"`) is due next.
//
// --every: a whole number and a unit, s, m, h or d (at least 1 minute): due that long after
// it was added, then that long after each run. --cron: the five standard fields (minute hour
// day-of-month month day-of-week, in UTC), each `*`, a number, a range `a-b`, a list `a,b` or a
// step `*/n` / `a-b/n`; day-of-week 0 or 7 is Sunday; when both day fields are restricted either
// may match, as cron does.
#pragma once

#include <bitset>
#include <cstdint>
#include <string_view>

#include "kiln/base/status.h"
#include "kiln/registry/job_queue.h"

namespace kiln::jobs {

// "6h" -> 21600000 ms. InvalidArgument for anything else, or below a minute.
Result<int64_t> ParseEvery(std::string_view text);

struct CronSpec {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1..31
  std::bitset<13> months;   // 1..12
  std::bitset<7> weekdays;  // 0 = Sunday
  bool any_day = true, any_weekday = true;
};
Result<CronSpec> ParseCron(std::string_view text);
// The first minute strictly after `after_ms` (Unix ms, UTC) that `spec` matches.
int64_t NextCronTime(const CronSpec& spec, int64_t after_ms);

// The first time `schedule` is due after `now_ms` (its --every or --cron); InvalidArgument if
// it has neither or a bad one.
Result<int64_t> NextRun(const registry::Schedule& schedule, int64_t now_ms);

}  // namespace kiln::jobs

#include "kiln/jobs/schedule.h"

#include <ctime>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kiln/base/names.h"
#include "kiln/base/numbers.h"

namespace kiln::jobs {

namespace {

constexpr int64_t kMinute = 60'000;

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (true) {
    const size_t next = text.find(sep, at);
    out.push_back(text.substr(at, next == std::string_view::npos ? text.npos : next - at));
    if (next == std::string_view::npos) return out;
    at = next + 1;
  }
}

// One cron field into `bits` (positions lo..hi).
template <size_t N>
Status ParseField(std::string_view field, int lo, int hi, const char* what, std::bitset<N>* bits) {
  const std::string where = fmt::format("cron {} field '{}'", what, Printable(field));
  for (std::string_view part : Split(field, ',')) {
    int step = 1;
    if (const size_t slash = part.find('/'); slash != std::string_view::npos) {
      KILN_ASSIGN_OR_RETURN(int64_t s, ParseInteger(part.substr(slash + 1), where, 1, hi));
      step = static_cast<int>(s);
      part = part.substr(0, slash);
    }
    int from = lo, to = hi;
    if (part != "*") {
      const size_t dash = part.find('-');
      KILN_ASSIGN_OR_RETURN(int64_t a, ParseInteger(part.substr(0, dash), where, lo, hi));
      from = to = static_cast<int>(a);
      if (dash != std::string_view::npos) {
        KILN_ASSIGN_OR_RETURN(int64_t b, ParseInteger(part.substr(dash + 1), where, a, hi));
        to = static_cast<int>(b);
      } else if (step != 1) {
        to = hi;  // "a/n": from a to the end
      }
    }
    for (int v = from; v <= to; v += step) bits->set(static_cast<size_t>(v));
  }
  return Status::Ok();
}

}  // namespace

Result<int64_t> ParseEvery(std::string_view text) {
  return ParseDuration(text, fmt::format("--every '{}'", Printable(text)), kMinute,
                       int64_t{366} * 24 * 60 * kMinute);
}

Result<CronSpec> ParseCron(std::string_view text) {
  std::vector<std::string_view> fields;
  for (std::string_view f : Split(text, ' ')) {
    if (!f.empty()) fields.push_back(f);
  }
  if (fields.size() != 5) {
    return InvalidArgumentError(fmt::format(
        "cron '{}': expected 5 fields (minute hour day month weekday)", Printable(text)));
  }
  CronSpec c;
  KILN_RETURN_IF_ERROR(ParseField(fields[0], 0, 59, "minute", &c.minutes));
  KILN_RETURN_IF_ERROR(ParseField(fields[1], 0, 23, "hour", &c.hours));
  KILN_RETURN_IF_ERROR(ParseField(fields[2], 1, 31, "day", &c.days));
  KILN_RETURN_IF_ERROR(ParseField(fields[3], 1, 12, "month", &c.months));
  std::bitset<8> weekdays;
  KILN_RETURN_IF_ERROR(ParseField(fields[4], 0, 7, "weekday", &weekdays));
  for (size_t d = 0; d < 7; ++d) c.weekdays[d] = weekdays[d] || (d == 0 && weekdays[7]);
  c.any_day = fields[2] == "*";
  c.any_weekday = fields[4] == "*";
  return c;
}

int64_t NextCronTime(const CronSpec& c, int64_t after_ms) {
  // Minute by minute would be slow for a rare schedule: skip whole days and hours that cannot
  // match. Any valid spec matches within 4 years (Feb 29 in a leap year at worst).
  time_t t = static_cast<time_t>(after_ms / kMinute * 60 + 60);
  const time_t limit = t + 5 * 366 * 86400;
  while (t < limit) {
    tm u{};
    gmtime_r(&t, &u);
    const bool day_ok = c.any_day && c.any_weekday ? true
                        : c.any_day                ? c.weekdays[static_cast<size_t>(u.tm_wday)]
                        : c.any_weekday            ? c.days[static_cast<size_t>(u.tm_mday)]
                                                   : c.days[static_cast<size_t>(u.tm_mday)] ||
                                              c.weekdays[static_cast<size_t>(u.tm_wday)];
    if (!c.months[static_cast<size_t>(u.tm_mon + 1)] || !day_ok) {
      t += 86400 - (u.tm_hour * 3600 + u.tm_min * 60);  // next midnight
      continue;
    }
    if (!c.hours[static_cast<size_t>(u.tm_hour)]) {
      t += 3600 - u.tm_min * 60;  // next hour
      continue;
    }
    if (c.minutes[static_cast<size_t>(u.tm_min)]) return static_cast<int64_t>(t) * 1000;
    t += 60;
  }
  return INT64_MAX;  // unreachable for a parsed spec
}

Result<int64_t> NextRun(const registry::Schedule& s, int64_t now_ms) {
  if (!s.every.empty() && !s.cron.empty()) {
    return InvalidArgumentError("a schedule has --every or --cron, not both");
  }
  if (!s.every.empty()) {
    KILN_ASSIGN_OR_RETURN(int64_t every, ParseEvery(s.every));
    return now_ms + every;
  }
  if (!s.cron.empty()) {
    KILN_ASSIGN_OR_RETURN(CronSpec c, ParseCron(s.cron));
    return NextCronTime(c, now_ms);
  }
  return InvalidArgumentError("a schedule needs --every or --cron");
}

}  // namespace kiln::jobs

// RateLimiter's token buckets with a clock the test moves.
#include "kiln/api/rate_limiter.h"

#include <string>

#include <gtest/gtest.h>

namespace kiln::api {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST(RateLimiterTest, BurstThenRate) {
  RateLimiter limiter({.rate = 2, .burst = 3});
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Take("a", t0), 0) << i;
  EXPECT_EQ(limiter.Take("a", t0), 1);  // empty: the next one comes in half a second
  EXPECT_EQ(limiter.Take("b", t0), 0);  // another key has its own bucket
  EXPECT_EQ(limiter.Take("a", t0 + milliseconds(400)), 1);
  EXPECT_EQ(limiter.Take("a", t0 + milliseconds(600)), 0);  // 1.2 requests refilled, one taken
  EXPECT_EQ(limiter.Take("a", t0 + milliseconds(600)), 1);
  // A long pause refills to the burst, never past it.
  const auto later = t0 + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Take("a", later), 0);
  EXPECT_EQ(limiter.Take("a", later), 1);
}

TEST(RateLimiterTest, SlowRatesWaitLonger) {
  RateLimiter limiter({.rate = 0.1});  // one request per 10 s, burst 1
  const auto t0 = Clock::now();
  EXPECT_EQ(limiter.Take("a", t0), 0);
  EXPECT_EQ(limiter.Take("a", t0), 10);
  EXPECT_EQ(limiter.Take("a", t0 + std::chrono::seconds(5)), 5);
  EXPECT_FALSE(RateLimiter({}).enabled());
  EXPECT_EQ(RateLimiter({}).Take("a"), 0);
}

TEST(RateLimiterTest, ManyKeysStayBounded) {
  RateLimiter limiter({.rate = 1, .burst = 2, .max_keys = 160});
  const auto t0 = Clock::now();
  // Ten thousand addresses, each once: memory stays bounded and the limit still holds for a
  // key that keeps asking.
  for (int i = 0; i < 10000; ++i) {
    EXPECT_EQ(limiter.Take("10.0." + std::to_string(i), t0), 0);
    if (i % 1000 == 0) {
      limiter.Take("hot", t0);
    }
  }
  EXPECT_EQ(limiter.Take("hot-2", t0), 0);
  EXPECT_EQ(limiter.Take("hot-2", t0), 0);
  EXPECT_EQ(limiter.Take("hot-2", t0), 1);
}

}  // namespace
}  // namespace kiln::api

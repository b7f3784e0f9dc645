#include "kiln/monitor/drift.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace kiln::monitor {
namespace {

using Counts = std::vector<uint64_t>;

TEST(DriftTest, SameHistogramsHaveNoDrift) {
  const Counts h = {10, 40, 30, 20};
  EXPECT_DOUBLE_EQ(Psi(h, h), 0);
  EXPECT_DOUBLE_EQ(JensenShannon(h, h), 0);
  EXPECT_DOUBLE_EQ(KolmogorovSmirnov(h, h), 0);
  EXPECT_NEAR(ChiSquarePValue(h, h), 1, 1e-12);
  // Shares, not counts, are compared.
  EXPECT_NEAR(Psi(h, Counts{100, 400, 300, 200}), 0, 1e-12);
}

TEST(DriftTest, KnownValues) {
  // PSI = (.75 - .5) ln 1.5 + (.25 - .5) ln .5
  EXPECT_NEAR(Psi(Counts{50, 50}, Counts{75, 25}), 0.25 * std::log(1.5) + 0.25 * std::log(2),
              1e-12);
  EXPECT_NEAR(JensenShannon(Counts{10, 0}, Counts{0, 10}), 1, 1e-12);
  EXPECT_NEAR(KolmogorovSmirnov(Counts{50, 50, 0}, Counts{0, 50, 50}), 0.5, 1e-12);
  // Wasserstein: half a unit of mass moved by 1, twice, over a reference of std 0.5.
  const std::vector<double> centres = {0, 1, 2};
  EXPECT_NEAR(WassersteinNormed(Counts{50, 50, 0}, Counts{0, 50, 50}, centres), 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(WassersteinNormed(Counts{5, 0, 0}, Counts{0, 0, 5}, centres), 0);  // no spread
}

TEST(DriftTest, PValuesMatchTheTables) {
  // Chi-square critical values at 5%: 3.841 (1 degree of freedom), 18.307 (10).
  EXPECT_NEAR(GammaQ(0.5, 3.841 / 2), 0.05, 1e-3);
  EXPECT_NEAR(GammaQ(5, 18.307 / 2), 0.05, 1e-3);
  EXPECT_NEAR(GammaQ(1, 2), std::exp(-2.0), 1e-12);  // Q(1, x) = e^-x
  // Kolmogorov's distribution: P(K > 1.358) = 0.05.
  EXPECT_NEAR(KolmogorovSmirnovPValue(1.358 / 1000.12, 2000000, 2000000), 0.05, 2e-3);
  EXPECT_DOUBLE_EQ(KolmogorovSmirnovPValue(0.5, 0, 10), 1);
  // A 2x2 table: 30/70 against 50/50 out of 100 each: statistic 8.333, p = 0.0039.
  EXPECT_NEAR(ChiSquarePValue(Counts{30, 70}, Counts{50, 50}), 0.00389, 1e-4);
}

TEST(DriftTest, BinCentresOfEdges) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(BinCentres(std::vector<double>{1, 2, 3, inf}),
            (std::vector<double>{0.5, 1.5, 2.5, 3.5}));
  EXPECT_EQ(BinCentres(std::vector<double>{inf}).size(), 1u);
}

TEST(DriftTest, TheDecidingTestFollowsTypeAndSampleSize) {
  const Counts small = {100, 200, 300}, big = {1000, 2000, 3000};
  const Counts shifted = {300, 200, 100};
  const std::vector<double> centres = {0, 1, 2};
  FeatureDrift d = MeasureDrift(small, shifted, {.categorical = false, .centres = centres});
  EXPECT_EQ(d.test, "ks");
  EXPECT_TRUE(d.drifted);
  EXPECT_LT(d.score, 0.05);
  d = MeasureDrift(big, shifted, {.categorical = false, .centres = centres});
  EXPECT_EQ(d.test, "wasserstein");
  EXPECT_TRUE(d.drifted);
  d = MeasureDrift(small, small, {.categorical = true});
  EXPECT_EQ(d.test, "chi_square");
  EXPECT_FALSE(d.drifted);
  d = MeasureDrift(big, Counts{10, 20, 30}, {.categorical = true});
  EXPECT_EQ(d.test, "jensen_shannon");
  EXPECT_FALSE(d.drifted);
  EXPECT_EQ(d.current_rows, 60u);
  // Nothing seen yet: nothing decided.
  d = MeasureDrift(big, Counts{0, 0, 0}, {.categorical = true});
  EXPECT_EQ(d.test, "");
  EXPECT_FALSE(d.drifted);
}

}  // namespace
}  // namespace kiln::monitor

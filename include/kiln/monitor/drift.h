// Drift statistics: how far a current histogram is from a reference histogram over the same bins
// (the model's training bins, model/reference.h). Pure functions of counts; the monitor counts,
// this measures.
//
//   FeatureDrift d = MeasureDrift(reference.counts, live.counts, {.categorical = false,
//                                 .centres = BinCentres(feature.bin_edges)});
//   if (d.drifted) ...  // d.test names the test that decided, d.score its value
//
// Every statistic is computed; the deciding test is chosen by type and sample size as Evidently
// does: numeric with at most 1000 reference rows → Kolmogorov–Smirnov (p < 0.05), more → the
// Wasserstein distance normed by the reference's standard deviation (> 0.1); categorical with
// at most 1000 → chi-square (p < 0.05), more → Jensen–Shannon distance (> 0.1). PSI is reported
// for every feature (> 0.2 is the usual alarm). Missing values are not part of the histograms.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kiln::monitor {

// Population stability index, sum (c - r) ln(c / r) over bin shares, each share floored at 1e-4.
double Psi(std::span<const uint64_t> reference, std::span<const uint64_t> current);
// Jensen–Shannon distance (square root of the divergence, base 2): 0 same, 1 disjoint.
double JensenShannon(std::span<const uint64_t> reference, std::span<const uint64_t> current);
// Kolmogorov–Smirnov statistic on ordered bins: the largest gap between the two CDFs.
double KolmogorovSmirnov(std::span<const uint64_t> reference, std::span<const uint64_t> current);
// Its asymptotic p-value for sample sizes n and m.
double KolmogorovSmirnovPValue(double statistic, uint64_t n, uint64_t m);
// Chi-square test of homogeneity over the bins either sample uses: the p-value.
double ChiSquarePValue(std::span<const uint64_t> reference, std::span<const uint64_t> current);
// Wasserstein-1 distance between the histograms placed on `centres`, divided by the reference's
// standard deviation (0 when the reference has none).
double WassersteinNormed(std::span<const uint64_t> reference, std::span<const uint64_t> current,
                         std::span<const double> centres);
// The regularized upper incomplete gamma function Q(a, x) (exposed for tests).
double GammaQ(double a, double x);

// One value per bin of numeric `edges` (upper bounds, the last one +inf): the middle of each
// finite bin; the first and last bins are placed half a neighbouring width outside.
std::vector<double> BinCentres(std::span<const double> edges);

struct DriftOptions {
  bool categorical = false;
  std::vector<double> centres;  // numeric: BinCentres of the bins
};

struct FeatureDrift {
  uint64_t reference_rows = 0, current_rows = 0;
  double psi = 0, jensen_shannon = 0, ks = 0, ks_p_value = 1, chi_square_p_value = 1,
         wasserstein = 0;
  std::string test;  // the deciding test: "ks", "wasserstein", "chi_square" or "jensen_shannon"
  double score = 0;  // its value (a p-value for ks and chi_square)
  double threshold = 0;
  bool drifted = false;
};

FeatureDrift MeasureDrift(std::span<const uint64_t> reference, std::span<const uint64_t> current,
                          const DriftOptions& options);

}  // namespace kiln::monitor

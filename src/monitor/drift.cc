#include "kiln/monitor/drift.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::monitor {

namespace {

uint64_t Total(std::span<const uint64_t> h) {
  uint64_t n = 0;
  for (uint64_t c : h) n += c;
  return n;
}

// Shares of each bin; the two spans are read over the longer length (a missing bin counts 0).
std::vector<double> Shares(std::span<const uint64_t> h, size_t bins) {
  std::vector<double> out(bins, 0);
  const double n = static_cast<double>(Total(h));
  if (n == 0) return out;
  for (size_t i = 0; i < h.size() && i < bins; ++i) out[i] = static_cast<double>(h[i]) / n;
  return out;
}

uint64_t At(std::span<const uint64_t> h, size_t i) { return i < h.size() ? h[i] : 0; }

}  // namespace

double Psi(std::span<const uint64_t> reference, std::span<const uint64_t> current) {
  const size_t bins = std::max(reference.size(), current.size());
  const auto r = Shares(reference, bins), c = Shares(current, bins);
  double psi = 0;
  for (size_t i = 0; i < bins; ++i) {
    const double ri = std::max(r[i], 1e-4), ci = std::max(c[i], 1e-4);
    psi += (ci - ri) * std::log(ci / ri);
  }
  return psi;
}

double JensenShannon(std::span<const uint64_t> reference, std::span<const uint64_t> current) {
  const size_t bins = std::max(reference.size(), current.size());
  const auto p = Shares(reference, bins), q = Shares(current, bins);
  double d = 0;
  for (size_t i = 0; i < bins; ++i) {
    const double m = (p[i] + q[i]) / 2;
    if (p[i] > 0) d += 0.5 * p[i] * std::log2(p[i] / m);
    if (q[i] > 0) d += 0.5 * q[i] * std::log2(q[i] / m);
  }
  return std::sqrt(std::clamp(d, 0.0, 1.0));
}

double KolmogorovSmirnov(std::span<const uint64_t> reference, std::span<const uint64_t> current) {
  const size_t bins = std::max(reference.size(), current.size());
  const auto r = Shares(reference, bins), c = Shares(current, bins);
  double fr = 0, fc = 0, d = 0;
  for (size_t i = 0; i < bins; ++i) {
    fr += r[i];
    fc += c[i];
    d = std::max(d, std::abs(fr - fc));
  }
  return std::min(d, 1.0);
}

double KolmogorovSmirnovPValue(double statistic, uint64_t n, uint64_t m) {
  if (n == 0 || m == 0) return 1;
  const double ne = static_cast<double>(n) * static_cast<double>(m) / static_cast<double>(n + m);
  const double lambda = (std::sqrt(ne) + 0.12 + 0.11 / std::sqrt(ne)) * statistic;
  if (lambda < 1e-3) return 1;
  double q = 0, sign = 1;
  for (int j = 1; j <= 100; ++j) {
    const double term = std::exp(-2.0 * j * j * lambda * lambda);
    q += sign * term;
    if (term < 1e-12) break;
    sign = -sign;
  }
  return std::clamp(2 * q, 0.0, 1.0);
}

double GammaQ(double a, double x) {
  if (x <= 0) return 1;
  if (a <= 0) return 0;
  const double log_front = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1) {  // P(a, x) by its series; Q = 1 - P
    double term = 1 / a, sum = term;
    for (int k = 1; k < 10000; ++k) {
      term *= x / (a + k);
      sum += term;
      if (term < sum * 1e-15) break;
    }
    return std::clamp(1 - sum * std::exp(log_front), 0.0, 1.0);
  }
  // Q(a, x) by its continued fraction (modified Lentz).
  constexpr double kTiny = 1e-300;
  double b = x + 1 - a, c = 1 / kTiny, d = 1 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < 1e-15) break;
  }
  return std::clamp(std::exp(log_front) * h, 0.0, 1.0);
}

double ChiSquarePValue(std::span<const uint64_t> reference, std::span<const uint64_t> current) {
  const size_t bins = std::max(reference.size(), current.size());
  const double nr = static_cast<double>(Total(reference)), nc = static_cast<double>(Total(current));
  if (nr == 0 || nc == 0) return 1;
  const double n = nr + nc;
  double stat = 0;
  int used = 0;
  for (size_t i = 0; i < bins; ++i) {
    const double r = static_cast<double>(At(reference, i)), c = static_cast<double>(At(current, i));
    if (r + c == 0) continue;
    ++used;
    const double er = nr * (r + c) / n, ec = nc * (r + c) / n;
    stat += (r - er) * (r - er) / er + (c - ec) * (c - ec) / ec;
  }
  if (used < 2) return 1;
  return GammaQ((used - 1) / 2.0, stat / 2);
}

double WassersteinNormed(std::span<const uint64_t> reference, std::span<const uint64_t> current,
                         std::span<const double> centres) {
  const size_t bins = centres.size();
  const auto r = Shares(reference, bins), c = Shares(current, bins);
  double mean = 0, var = 0;
  for (size_t i = 0; i < bins; ++i) mean += r[i] * centres[i];
  for (size_t i = 0; i < bins; ++i) var += r[i] * (centres[i] - mean) * (centres[i] - mean);
  if (!(var > 0)) return 0;
  double fr = 0, fc = 0, w = 0;
  for (size_t i = 0; i + 1 < bins; ++i) {
    fr += r[i];
    fc += c[i];
    w += std::abs(fr - fc) * (centres[i + 1] - centres[i]);
  }
  return w / std::sqrt(var);
}

std::vector<double> BinCentres(std::span<const double> edges) {
  std::vector<double> finite;
  for (double e : edges) {
    if (std::isfinite(e)) finite.push_back(e);
  }
  std::vector<double> out(edges.size(), 0);
  if (finite.empty()) return out;  // one bin: its place does not matter
  const double first_width = finite.size() > 1 ? finite[1] - finite[0] : 1;
  const double last_width = finite.size() > 1 ? finite.back() - finite[finite.size() - 2] : 1;
  for (size_t i = 0; i < edges.size(); ++i) {
    if (i == 0) {
      out[i] = finite[0] - first_width / 2;
    } else if (i >= finite.size()) {
      out[i] = finite.back() + last_width / 2;
    } else {
      out[i] = (finite[i - 1] + finite[i]) / 2;
    }
  }
  return out;
}

FeatureDrift MeasureDrift(std::span<const uint64_t> reference, std::span<const uint64_t> current,
                          const DriftOptions& o) {
  FeatureDrift d;
  d.reference_rows = Total(reference);
  d.current_rows = Total(current);
  if (d.reference_rows == 0 || d.current_rows == 0) return d;
  d.psi = Psi(reference, current);
  d.jensen_shannon = JensenShannon(reference, current);
  d.chi_square_p_value = ChiSquarePValue(reference, current);
  if (!o.categorical) {
    d.ks = KolmogorovSmirnov(reference, current);
    d.ks_p_value = KolmogorovSmirnovPValue(d.ks, d.reference_rows, d.current_rows);
    d.wasserstein = WassersteinNormed(reference, current, o.centres);
  }
  const bool small = d.reference_rows <= 1000;
  if (o.categorical) {
    d.test = small ? "chi_square" : "jensen_shannon";
    d.score = small ? d.chi_square_p_value : d.jensen_shannon;
  } else {
    d.test = small ? "ks" : "wasserstein";
    d.score = small ? d.ks_p_value : d.wasserstein;
  }
  d.threshold = small ? 0.05 : 0.1;
  d.drifted = small ? d.score < d.threshold : d.score > d.threshold;
  return d;
}

}  // namespace kiln::monitor

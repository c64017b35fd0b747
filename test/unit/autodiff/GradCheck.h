//===- GradCheck.h - central finite differences in double precision --------===//
//
// For a scalar function L(inputs) and its claimed gradient, compares every
// element of the gradient with (L(x + h) - L(x - h)) / 2h, h = 1e-6 * max(1, |x|).
// In double precision the truncation error is O(h^2) ~ 1e-12 and the rounding
// error about eps * |L| / h ~ 1e-10 * |L|, so a 1e-6 relative tolerance (with a
// floor of 1 on the scale) separates a right gradient from a wrong one by many
// orders of magnitude. Inputs are drawn away from kinks (relu at 0, pool ties,
// ...) so that no finite-difference step crosses one.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_TEST_AUTODIFF_GRADCHECK_H
#define KILN_TEST_AUTODIFF_GRADCHECK_H

#include "kiln/reference/Reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace kiln::test {

using ref::RefTensor;

inline constexpr double kStep = 1e-6;
inline constexpr double kTolerance = 1e-6;

/// Deterministic random tensors.
class Random {
 public:
  explicit Random(uint64_t seed) : engine(seed) {}

  double uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(engine);
  }

  /// Uniform in [lo, hi], at least `gap` away from every point of `kinks`.
  RefTensor tensor(std::vector<int64_t> shape, double lo = -1.0, double hi = 1.0,
                   std::vector<double> kinks = {}, double gap = 1e-3) {
    RefTensor t(std::move(shape));
    for (double& v : t.data) {
      do {
        v = uniform(lo, hi);
      } while (std::any_of(kinks.begin(), kinks.end(),
                           [&](double k) { return std::fabs(v - k) < gap; }));
    }
    return t;
  }

  /// Distinct values at least 1e-3 apart in random order (pool windows then
  /// have a unique maximum that a 1e-6 step cannot change).
  RefTensor distinct(std::vector<int64_t> shape) {
    RefTensor t(std::move(shape));
    std::vector<size_t> order(t.data.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), engine);
    for (size_t i = 0; i < order.size(); ++i)
      t.data[order[i]] = -1.0 + 2e-3 * static_cast<double>(i) + uniform(0.0, 5e-4);
    return t;
  }

  std::mt19937_64 engine;
};

inline double dot(const RefTensor& a, const RefTensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  double sum = 0.0;
  for (size_t i = 0; i < a.data.size() && i < b.data.size(); ++i) sum += a.data[i] * b.data[i];
  return sum;
}

/// Checks `grad` (the claimed dL/d(*x)) against central differences of `loss`
/// while `x` is perturbed in place. Returns the number of elements compared.
inline size_t checkAgainstFiniteDifferences(const std::string& what, RefTensor& x,
                                            const RefTensor& grad,
                                            const std::function<double()>& loss) {
  EXPECT_EQ(grad.shape, x.shape) << what;
  if (grad.shape != x.shape) return 0;
  size_t failures = 0;
  for (size_t j = 0; j < x.data.size(); ++j) {
    const double x0 = x.data[j];
    const double h = kStep * std::max(1.0, std::fabs(x0));
    x.data[j] = x0 + h;
    const double up = loss();
    x.data[j] = x0 - h;
    const double down = loss();
    x.data[j] = x0;
    const double fd = (up - down) / (2.0 * h);
    const double tol = kTolerance * std::max(1.0, std::fabs(fd));
    if (std::fabs(grad.data[j] - fd) > tol && failures++ < 5)
      ADD_FAILURE() << what << " element " << j << ": analytic " << grad.data[j]
                    << ", finite difference " << fd << " (|diff| "
                    << std::fabs(grad.data[j] - fd) << " > " << tol << ")";
  }
  return x.data.size();
}

/// Largest |v| of a tensor: used to make sure a gradient is not vacuously zero.
inline double maxAbs(const RefTensor& t) {
  double m = 0.0;
  for (double v : t.data) m = std::max(m, std::fabs(v));
  return m;
}

}  // namespace kiln::test

#endif  // KILN_TEST_AUTODIFF_GRADCHECK_H

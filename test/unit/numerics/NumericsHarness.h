//===- NumericsHarness.h - compile, run, compare with kiln::ref -*- C++ -*-===//
//
// The numerics and model tests build a graph with the frontend, compile it
// (fused, and optionally unfused), run the artifact through the runtime at
// several batches and thread counts, and compare every output with the
// double-precision reference interpreter (test/reference).
//
//   fe::Graph g;
//   auto x = g.input("x", {fe::kDynamic, 3, 9, 9});
//   g.output(g.relu(x, "relu"), "relu");
//   numtest::CheckSpec spec;
//   numtest::checkGraph(g, spec); // EXPECT failures name output/batch/threads
//
// Error metrics (f32 result `a` against the double reference `b`):
//   relL2  = ||a - b||_2 / ||b||_2
//   maxRel = max_i |a_i - b_i| / max(|b_i|, 1e-3 * max_j |b_j|)
// The floor keeps elements that cancel to (almost) zero from dominating maxRel.
//
// KILN_NUMERICS_VERBOSE=1 prints each graph's compile time and kernels and the
// errors of every comparison (to stderr), for calibrating and debugging.
//===----------------------------------------------------------------------===//
#ifndef KILN_TEST_NUMERICS_HARNESS_H
#define KILN_TEST_NUMERICS_HARNESS_H

#include "kiln/Driver/Compiler.h"
#include "kiln/frontend/Graph.h"
#include "kiln/frontend/Random.h"
#include "kiln/reference/Reference.h"
#include "kiln/runtime/Runtime.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln::numtest {

/// The unit roundoff of f32 (round to nearest): 2^-24.
constexpr double kF32Eps = 5.9604644775390625e-08;

struct Diff {
  double relL2 = 0;
  double maxRel = 0;
  double maxAbs = 0;
  int64_t worst = -1; // index of the element with the largest maxRel term
  double got = 0, want = 0;
  std::string str() const;
};

/// Both metrics; `got` and `want` must have the same length.
Diff compare(const std::vector<float> &got, const std::vector<double> &want);
Diff compare(const std::vector<float> &got, const std::vector<float> &want);

struct Tolerance {
  double relL2 = 1e-5;
  double maxRel = 1e-4;
};

/// The tolerance for an output whose every element is an f32 sum of at most
/// `terms` rounded products (1 for pointwise ops), followed by a few more
/// roundings (bias, batch norm, activation).
///
/// relL2: the bar is 1e-5. Recursive f32 summation of K terms has a
/// worst-case relative error of about K * 2^-24 (times sum|terms| / |sum|);
/// where K * 2^-24 exceeds 1e-5 (K > 167) that bound is used instead. The
/// typical error is ~sqrt(K) * 2^-24, far below either, so a real bug (a wrong
/// element, a missed tap, a wrong divisor) is still orders of magnitude above it.
///
/// maxRel: rounding errors of a K-term sum behave like a random walk: with
/// O(1) random terms of size t the sum is ~sqrt(K) t (its maximum ~3.5 sqrt(K) t)
/// and the error ~K t 2^-24 / sqrt(2), so at the 1e-3 * max|b| floor the
/// relative error is ~2e2 * sqrt(K) * 2^-24; we allow 10 times that. A floor of
/// 1e-4 covers the pointwise ops, where a near-zero result can carry the
/// rounding error of a larger intermediate (batch norm's x * scale + shift,
/// a * b + c: ~2^-24 / 1e-3 = 6e-5). An off-by-one window, a wrong pad value
/// or a wrong divisor errs by >= 1e-2 relative and is still caught.
Tolerance accumulation(int64_t terms);

/// How the random values of one graph input are drawn.
struct InputRange {
  double lo = -1.0, hi = 1.0;
  /// Magnitudes in [lo, hi] with a random sign (for divisors).
  bool randomSign = false;
};

struct CheckSpec {
  /// Batches in run order: growing then shrinking the arena of one session.
  std::vector<int64_t> batches = {1, 17, 3};
  std::vector<int> threads = {1, 2};
  /// Per graph input (by name); U(-1, 1) if absent.
  std::map<std::string, InputRange> ranges;
  /// Per graph output (by name); `tolerance` if absent.
  std::map<std::string, Tolerance> tolerances;
  Tolerance tolerance = accumulation(1);
  /// Also compile with fusion=false; the two must agree within 1e-5 relative L2
  /// and both must match the reference.
  bool alsoUnfused = false;
  /// 0: derived from the running test's name.
  uint64_t seed = 0;
  /// The graph treats batch items independently (no op mixes them), so the
  /// reference may evaluate slices of the batch on several threads.
  bool referenceItemsIndependent = false;
};

struct CheckResult {
  bool compiled = false;
  CompileResult fused;
  CompileResult unfused; // empty unless spec.alsoUnfused
};

/// Compiles, runs and compares as described above; reports with EXPECT/ADD_FAILURE.
CheckResult checkGraph(const fe::Graph &graph, const CheckSpec &spec);

/// Compiles `graph` and loads the artifact (throws on failure).
std::shared_ptr<const rt::Artifact> compileAndLoad(const fe::Graph &graph, bool fusion,
                                                   CompileResult *result = nullptr);

/// Random inputs for every graph input at `batch`, as exactly representable floats.
std::vector<ref::RefTensor> makeInputs(const fe::Graph &graph, int64_t batch,
                                       const std::map<std::string, InputRange> &ranges,
                                       uint64_t seed);

/// ref::evaluate; with `threads` > 1, on that many slices of the batch at once
/// (only valid for graphs whose ops never mix batch items).
std::vector<ref::RefTensor> evaluateReference(const fe::Graph &graph,
                                              const std::vector<ref::RefTensor> &inputs,
                                              int threads = 1);

/// Runs the "infer" entry of a session on reference tensors (converted to f32).
std::vector<rt::Tensor> runSession(rt::Session &session, const std::vector<ref::RefTensor> &inputs);

/// A seed that is stable per test: FNV-1a of "Suite.Name".
uint64_t testSeed();

/// "conv2d+batch_norm+relu | global_avg_pool | linear" for messages.
std::string kernelList(const CompileResult &result);

/// A fresh parameter with values U(lo, hi) (`scale` times).
fe::Value randomParam(fe::Graph &g, const std::string &name, const fe::Shape &shape,
                      fe::Rng &rng, double lo = -1.0, double hi = 1.0);
/// Weights U(-1, 1) / sqrt(fanIn): keeps activations O(1) whatever the sizes.
fe::Value weightParam(fe::Graph &g, const std::string &name, const fe::Shape &shape,
                      int64_t fanIn, fe::Rng &rng);

/// Batch-norm parameters for `channels`: weight U(0.5, 1.5), bias N(0, 0.1^2),
/// running mean N(0, 0.1^2), running variance U(0.5, 1.5).
struct BnParams {
  fe::Value weight, bias, mean, var;
};
BnParams bnParams(fe::Graph &g, const std::string &prefix, int64_t channels, fe::Rng &rng);

} // namespace kiln::numtest

#endif

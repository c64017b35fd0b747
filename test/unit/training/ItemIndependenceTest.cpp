//===- ItemIndependenceTest.cpp - Entry.items_independent ------------------===//
//
// The compiler marks an entry items_independent only when no op mixes batch
// items and no parameter is written (compiler/lib/Driver/ItemIndependence.cpp);
// the runtime then splits the batch between threads (Session.cpp, items
// mode). Each function below is one case: per-item ops must be marked; a
// reduction over the batch, the batch leaving dimension 0 and an input
// without a batch must not (parameter updates: TrainingArtifactTest's
// train_step). A mixing case also runs on two threads: its results must be
// those of the whole batch, which a split would break. A marked case must
// give each row what the row gives alone.
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"
#include "kiln/runtime/Runtime.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

using namespace kiln;

constexpr const char *kCases = R"(
func.func @per_item(%x: tensor<?x4xf32>, %y: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w = kiln.parameter "w" : tensor<3x4xf32>
  %a = "kiln.add"(%x, %y) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = "kiln.relu"(%a) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %l = "kiln.linear"(%r, %w) : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  %s = "kiln.softmax"(%l) {axis = -1 : i64} : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return %s : tensor<?x3xf32>
}
func.func @row_sums(%x: tensor<?x2x3xf32>) -> tensor<?x2x1xf32> {
  %t = "kiln.transpose"(%x) {perm = array<i64: 0, 2, 1>} : (tensor<?x2x3xf32>) -> tensor<?x3x2xf32>
  %r = "kiln.reshape"(%t) {shape = array<i64: -1, 2, 3>} : (tensor<?x3x2xf32>) -> tensor<?x2x3xf32>
  %s = "kiln.reduce_sum"(%r) {axes = array<i64: 2>, keepdim = true} : (tensor<?x2x3xf32>) -> tensor<?x2x1xf32>
  return %s : tensor<?x2x1xf32>
}
func.func @minus_batch_mean(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %m = "kiln.reduce_mean"(%x) {axes = array<i64: 0>, keepdim = true} : (tensor<?x4xf32>) -> tensor<1x4xf32>
  %d = "kiln.sub"(%x, %m) : (tensor<?x4xf32>, tensor<1x4xf32>) -> tensor<?x4xf32>
  return %d : tensor<?x4xf32>
}
func.func @batch_last(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %t = "kiln.transpose"(%x) {perm = array<i64: 1, 0>} : (tensor<?x4xf32>) -> tensor<4x?xf32>
  %r = "kiln.relu"(%t) : (tensor<4x?xf32>) -> tensor<4x?xf32>
  %b = "kiln.transpose"(%r) {perm = array<i64: 1, 0>} : (tensor<4x?xf32>) -> tensor<?x4xf32>
  return %b : tensor<?x4xf32>
}
func.func @fixed_input(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %r = "kiln.relu"(%x) : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}
)";

std::shared_ptr<const rt::Artifact> compileCases() {
  std::vector<float> w(12);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = 0.1f * float(i) - 0.5f;
  CompileResult compiled = compileMlir(kCases, {{"w", {3, 4}, w, false}}, CompileOptions{});
  return rt::Artifact::loadBuffer(compiled.artifact, "items cases");
}

std::vector<float> ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = std::sin(0.7f * float(i));
  return v;
}

TEST(ItemIndependence, PerItemOpsAreMarkedAndMixingOpsAreNot) {
  auto artifact = compileCases();
  EXPECT_TRUE(artifact->itemsIndependent("per_item"));
  EXPECT_TRUE(artifact->itemsIndependent("row_sums"));
  EXPECT_FALSE(artifact->itemsIndependent("minus_batch_mean"));
  // Items apart in fact, but the batch leaves dimension 0 on the way: the
  // analysis stays conservative.
  EXPECT_FALSE(artifact->itemsIndependent("batch_last"));
  EXPECT_FALSE(artifact->itemsIndependent("fixed_input"));
}

// Two threads, batch 6: a split batch would centre each thread's three rows
// on their own mean.
TEST(ItemIndependence, MixingEntriesSeeTheWholeBatchOnTwoThreads) {
  auto artifact = compileCases();
  rt::Session session(artifact, {2});
  const int64_t batch = 6;
  std::vector<float> x = ramp(batch * 4);
  auto centred = session.run("minus_batch_mean", {{x.data(), {batch, 4}}});
  for (int64_t c = 0; c < 4; ++c) {
    double mean = 0; // over all six rows, in double
    for (int64_t n = 0; n < batch; ++n)
      mean += x[n * 4 + c] / double(batch);
    for (int64_t n = 0; n < batch; ++n)
      EXPECT_NEAR(centred[0].data[n * 4 + c], x[n * 4 + c] - mean, 1e-6)
          << "row " << n << ", column " << c;
  }
}

// The split itself: per_item on 1-3 threads gives each row what the row run
// alone gives it (batch 1 on one thread: never split, while one thread
// chunks batches over 20 too), at batches that do and do not divide between
// the threads or into chunks.
TEST(ItemIndependence, SplitBatchMatchesEachRowAlone) {
  auto artifact = compileCases();
  rt::Session alone(artifact, {1});
  for (int threads : {1, 2, 3}) {
    rt::Session many(artifact, {threads});
    for (int64_t batch : {2, 3, 5, 41, 64}) {
      std::vector<float> x = ramp(batch * 4), y = ramp(batch * 4 + 3);
      y.erase(y.begin(), y.begin() + 3);
      auto got = many.run("per_item", {{x.data(), {batch, 4}}, {y.data(), {batch, 4}}});
      ASSERT_EQ(got[0].shape, (std::vector<int64_t>{batch, 3}));
      for (int64_t n = 0; n < batch; ++n) {
        auto want = alone.run("per_item", {{x.data() + n * 4, {1, 4}}, {y.data() + n * 4, {1, 4}}});
        // Probabilities from 4-term dot products: float32 rounding only.
        for (int64_t k = 0; k < 3; ++k)
          ASSERT_NEAR(got[0].data[n * 3 + k], want[0].data[k], 1e-6)
              << threads << " threads, batch " << batch << ", row " << n << ", column " << k;
      }
    }
  }
}

} // namespace

// The model zoo end to end: lenet5 and resnet20 compiled from the frontend,
// run through the runtime at batch 1, 128 and 7 from ONE artifact (one session,
// so the arena grows and is then reused for a smaller batch), compared with the
// double-precision reference; fused and unfused artifacts must agree. Also pins
// the fused kernel structure and the arena bytes per item, so that a fusion or
// memory-planner regression is caught here.
#include "NumericsHarness.h"

#include "kiln/frontend/Models.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace kiln;
using namespace kiln::numtest;

namespace {

/// The model with seeded weights and batch-norm layers that do something:
/// running mean ~N(0, 0.1^2), running var ~U(0.5, 1.5), weight ~U(0.5, 1.5),
/// bias ~N(0, 0.1^2) (a fresh model has mean 0, var 1, weight 1, bias 0, which
/// would leave a bug in the mean/variance handling unnoticed).
fe::Model buildModel(const std::string &name) {
  fe::Model model = fe::buildModel(name, /*seed=*/42);
  fe::Rng rng(fe::fnv1a64(name + ".batch_norm_statistics"));
  for (const fe::BatchNormInfo &bn : model.graph.batchNorms()) {
    const size_t c = size_t(model.graph.node(bn.node).shape.at(1));
    model.graph.setParameterValue(bn.runningMean, fe::normalValues(c, 0.1, rng));
    model.graph.setParameterValue(bn.runningVar, fe::uniformValues(c, 0.5, 1.5, rng));
    model.graph.setParameterValue(bn.weight, fe::uniformValues(c, 0.5, 1.5, rng));
    model.graph.setParameterValue(bn.bias, fe::normalValues(c, 0.1, rng));
  }
  return model;
}

/// Batches 1, 128 and 7 (in that order, one session per artifact), 2 threads;
/// fused and unfused. The bar: 1e-5 relative L2 per batch. (resnet20's
/// longest reduction is 64 * 9 = 576 terms, but the logits come out of 20
/// layers of O(1)-conditioned sums whose rounding errors average out: measured
/// relL2 is ~1e-7.) maxRel uses the K = 576 bound of accumulation().
void checkModel(const std::string &name) {
  fe::Model model = buildModel(name);
  CheckSpec spec;
  spec.batches = {1, 128, 7};
  spec.threads = {2};
  spec.alsoUnfused = true;
  spec.ranges[model.inputName] = InputRange{0.0, 1.0}; // images
  spec.tolerance = Tolerance{1e-5, accumulation(576).maxRel};
  spec.referenceItemsIndependent = true;
  CheckResult r = checkGraph(model.graph, spec);
  EXPECT_TRUE(r.compiled);
}

const CompiledEntry *inferEntry(const CompileResult &r) {
  auto it = std::find_if(r.entries.begin(), r.entries.end(),
                         [](const CompiledEntry &e) { return e.name == "infer"; });
  return it == r.entries.end() ? nullptr : &*it;
}

} // namespace

TEST(Models, Lenet5MatchesReference) { checkModel("lenet5"); }

TEST(Models, Resnet20MatchesReference) { checkModel("resnet20"); }

// conv+relu, pool, conv+relu, pool, linear+relu, linear+relu, linear.
TEST(ModelStructure, Lenet5FusedKernels) {
  CompileResult r;
  auto artifact = compileAndLoad(buildModel("lenet5").graph, /*fusion=*/true, &r);
  const CompiledEntry *entry = inferEntry(r);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->kernels.size(), 7u) << kernelList(r);
  EXPECT_EQ(artifact->kernels("infer").size(), entry->kernels.size());
}

// 19 conv+bn(+add)+relu, 2 shortcut conv+bn, the global pool and the
// classifier: every batch_norm, relu and residual add is an epilogue.
TEST(ModelStructure, Resnet20FusedKernels) {
  CompileResult r;
  auto artifact = compileAndLoad(buildModel("resnet20").graph, /*fusion=*/true, &r);
  const CompiledEntry *entry = inferEntry(r);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->kernels.size(), 23u) << kernelList(r);
  for (const CompiledKernel &k : entry->kernels) {
    EXPECT_NE(k.ops, "batch_norm") << k.name << ": a standalone batch_norm kernel";
    EXPECT_NE(k.ops, "relu") << k.name << ": a standalone relu kernel";
    EXPECT_NE(k.ops, "add") << k.name << ": a standalone add kernel";
  }
  // The runtime sees the same launch list.
  auto kernels = artifact->kernels("infer");
  ASSERT_EQ(kernels.size(), entry->kernels.size());
  for (size_t i = 0; i < kernels.size(); ++i)
    EXPECT_EQ(kernels[i].ops, entry->kernels[i].ops) << "kernel " << i;
}

// Memory per inference. ResNet-20's largest activations are 16 x 28 x 28 floats
// (50176 B); a residual block must hold its input (the shortcut), the first
// conv's output and the second conv's output at once, so 3 * 50176 = 150528
// B/item is the least the planner can do, and what it does today.
TEST(ModelStructure, Resnet20ArenaPerItem) {
  CompileResult r;
  auto artifact = compileAndLoad(buildModel("resnet20").graph, /*fusion=*/true, &r);
  const CompiledEntry *entry = inferEntry(r);
  ASSERT_NE(entry, nullptr);
  EXPECT_LE(entry->arenaBytesPerItem, 150528);
  EXPECT_LE(entry->peakBytesPerItem, entry->arenaBytesPerItem);
  // The artifact records the same plan: fixed + per_item * batch.
  EXPECT_EQ(artifact->arenaBytes("infer", 0), uint64_t(entry->arenaBytesFixed));
  EXPECT_EQ(artifact->arenaBytes("infer", 128) - artifact->arenaBytes("infer", 0),
            uint64_t(entry->arenaBytesPerItem) * 128);
}

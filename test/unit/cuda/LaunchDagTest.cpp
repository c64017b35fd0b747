//===- LaunchDagTest.cpp - the GPU graph's edges are every real dependency -===//
//
// The CUDA executor builds each entry's graph with launchDependencies()
// (runtime/src/cuda/LaunchDag.h) as edges, so the GPU may run any order the
// edges allow. Here every entry of lenet5 and resnet20 runs on the CPU
// kernels in several random orders that respect the edges; each must give the
// bit-identical outputs and parameters of the sequential order. A missing
// edge (a read before the write it needs, a write over bytes still to be
// read) changes the results of some order.
//===----------------------------------------------------------------------===//
#include "CudaTestUtil.h"

#include "cuda/LaunchDag.h"
#include "kiln/Driver/Compiler.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>

using namespace kiln;

namespace {

struct State {
  std::vector<float> params;
  std::vector<std::vector<float>> outputs;
};

/// Runs the launches of `e` in `order` on the CPU kernels (one thread), then
/// the output copies; returns the outputs and the parameters.
State runInOrder(const rt::ArtifactImpl &a, const rt::EntryPlan &e, int64_t batch,
                 const std::vector<rt::TensorView> &inputs, const std::vector<size_t> &order) {
  State s;
  s.params.assign(a.paramData, a.paramData + a.paramDataSize);
  std::vector<uint8_t> arena(e.arenaFixed + e.arenaPerItem * uint64_t(batch) + 64, 0);
  s.outputs.resize(e.outputs.size());
  for (size_t i = 0; i < e.outputs.size(); ++i)
    s.outputs[i].assign(size_t(e.outputElems[i]) * (e.outputDynamic[i] ? size_t(batch) : 1), 0.0f);
  auto resolve = [&](const rt::BindingPlan &b) -> float * {
    switch (b.kind) {
    case artifact::BufferKind::Arena:
      return reinterpret_cast<float *>(arena.data() + b.offsetFixed +
                                       b.offsetPerItem * uint64_t(batch));
    case artifact::BufferKind::Param:
      return s.params.data() + a.params[b.index].offset;
    case artifact::BufferKind::Input:
      return const_cast<float *>(inputs[b.index].data);
    case artifact::BufferKind::Output:
      return s.outputs[b.index].data();
    }
    return nullptr;
  };
  // The runtime's own aligned scratch, as KernelABI.h promises kernels.
  rt::AlignedBuffer scratchStore = rt::allocateAligned(a.maxScratchBytes + 64, "test scratch");
  float *scratch = reinterpret_cast<float *>(scratchStore.get());
  std::vector<float *> ptrs;
  for (size_t li : order) {
    const rt::LaunchPlan &l = e.launches[li];
    ptrs.clear();
    for (uint32_t j = 0; j < l.numBindings; ++j)
      ptrs.push_back(resolve(e.bindings[l.firstBinding + j]));
    const int64_t tasks = l.numTasks(batch);
    if (tasks > 0)
      l.fn(ptrs.data(), batch, 0, tasks, scratch);
  }
  for (const rt::CopyPlan &c : e.copies) {
    std::vector<float> &dst = s.outputs[c.to];
    const float *src = resolve(c.from);
    if (!dst.empty() && src != dst.data())
      std::memmove(dst.data(), src, dst.size() * sizeof(float));
  }
  return s;
}

void expectOrdersAgree(const std::string &model) {
  CompileResult compiled = compileTrainingModel(model, 42, TrainingOptions{}, CompileOptions{});
  auto artifact = rt::Artifact::loadBuffer(compiled.artifact, model);
  const rt::ArtifactImpl &a = artifact->impl();
  const auto *root = artifact::GetArtifact(a.bytes.get());
  std::vector<std::vector<std::vector<int64_t>>> shapes;
  for (const artifact::Kernel *k : *root->kernels()) {
    std::vector<std::vector<int64_t>> args;
    for (const artifact::TensorSig *sig : *k->args())
      args.emplace_back(sig->shape()->begin(), sig->shape()->end());
    shapes.push_back(std::move(args));
  }
  // Every kernel "uses scratch" in a second pass: that must serialise them all.
  for (bool allScratch : {false, true}) {
    std::vector<bool> scratch(shapes.size(), allScratch);
    for (const std::string entry : {"infer", "eval_step", "train_step"}) {
      const int64_t batch = 3;
      const rt::EntryPlan &e = a.entry(entry);
      auto deps = rt::cuda::launchDependencies(e, batch, shapes, scratch);
      ASSERT_EQ(deps.size(), e.launches.size());
      // Critical path length: the GPU's sequential depth.
      std::vector<size_t> depth(deps.size(), 1);
      size_t longest = 0, edges = 0;
      for (size_t i = 0; i < deps.size(); ++i) {
        for (uint32_t d : deps[i]) {
          ASSERT_LT(d, i);
          depth[i] = std::max(depth[i], depth[d] + 1);
        }
        edges += deps[i].size();
        longest = std::max(longest, depth[i]);
      }
      if (allScratch) {
        EXPECT_EQ(longest, deps.size()) << "shared scratch serialises every launch";
        continue;
      }
      fmt::print("{} {}: {} launches, {} edges, critical path {}\n", model, entry, deps.size(),
                 edges, longest);
      test::Inputs in = test::entryInputs(*artifact, entry, batch, 11);
      std::vector<size_t> sequential(deps.size());
      for (size_t i = 0; i < sequential.size(); ++i)
        sequential[i] = i;
      State reference = runInOrder(a, e, batch, in.views, sequential);
      for (unsigned seed = 1; seed <= 4; ++seed) {
        // A random order the edges allow.
        std::mt19937 rng(seed);
        std::vector<size_t> waiting(deps.size()), order;
        std::vector<std::vector<size_t>> users(deps.size());
        for (size_t i = 0; i < deps.size(); ++i) {
          waiting[i] = deps[i].size();
          for (uint32_t d : deps[i])
            users[d].push_back(i);
        }
        std::vector<size_t> ready;
        for (size_t i = 0; i < deps.size(); ++i)
          if (!waiting[i])
            ready.push_back(i);
        while (!ready.empty()) {
          size_t pick = std::uniform_int_distribution<size_t>(0, ready.size() - 1)(rng);
          size_t i = ready[pick];
          ready[pick] = ready.back();
          ready.pop_back();
          order.push_back(i);
          for (size_t u : users[i])
            if (--waiting[u] == 0)
              ready.push_back(u);
        }
        ASSERT_EQ(order.size(), deps.size());
        State s = runInOrder(a, e, batch, in.views, order);
        EXPECT_EQ(s.outputs, reference.outputs) << model << " " << entry << " order " << seed;
        EXPECT_EQ(s.params, reference.params) << model << " " << entry << " order " << seed;
      }
    }
  }
}

} // namespace

TEST(CudaLaunchDag, Lenet5AnyAllowedOrderGivesTheSameResults) { expectOrdersAgree("lenet5"); }

TEST(CudaLaunchDag, Resnet20AnyAllowedOrderGivesTheSameResults) { expectOrdersAgree("resnet20"); }

//===- TrainingArtifactTest.cpp - one artifact that trains, evaluates, infers ===//
//
// kiln::compileTraining builds train_step (training-mode forward, backward and
// the optimizer update, in place), eval_step and infer into one artifact. These
// tests drive the artifact the way the train driver will: the step learns (the
// loss of a fixed batch falls), the updated weights are what eval_step and
// infer then use, and optimizer state and batch-norm running statistics live
// in the parameter table.
//===----------------------------------------------------------------------===//
#include "kiln/Driver/Compiler.h"
#include "kiln/frontend/Models.h"
#include "kiln/runtime/Runtime.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

namespace {

using namespace kiln;

// Logits (of order 1) of the same images from sessions that split the work
// differently: launches run on other task ranges (the classifier's GEMM on
// another number of rows, for one), which may round differently (measured:
// up to 1.8e-7, one or two ulps, already between one and two threads before
// items were split); float32 sums of 64-576 terms of this size stay within
// 1e-5 whatever their order.
constexpr float kThreadsTolerance = 1e-5f;

struct Batch {
  int64_t size;
  std::vector<float> images, target;
};

// Random images with random labels: a batch a network can only fit by
// memorising, which is what a falling loss on a fixed batch shows.
Batch randomBatch(int64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> pixel(0.0f, 1.0f);
  Batch b{size, std::vector<float>(size * 28 * 28), std::vector<float>(size * 10, 0.0f)};
  for (float &v : b.images)
    v = pixel(rng);
  for (int64_t i = 0; i < size; ++i)
    b.target[i * 10 + rng() % 10] = 1.0f;
  return b;
}

std::vector<rt::TensorView> stepInputs(const Batch &b, const std::vector<float> &scalars) {
  std::vector<rt::TensorView> in = {{b.images.data(), {b.size, 1, 28, 28}},
                                    {b.target.data(), {b.size, 10}}};
  for (const float &s : scalars)
    in.push_back({&s, {1}});
  return in;
}

TEST(TrainingArtifact, Lenet5SgdLearnsAFixedBatch) {
  TrainingOptions training; // SGD, momentum 0.9
  CompileResult compiled = compileTrainingModel("lenet5", 7, training, CompileOptions{});
  auto artifact = rt::Artifact::loadBuffer(compiled.artifact, "lenet5 training");
  for (const char *entry : {"train_step", "eval_step", "infer"})
    EXPECT_TRUE(artifact->hasEntry(entry)) << entry;
  const auto &in = artifact->inputs("train_step");
  ASSERT_EQ(in.size(), 3u);
  EXPECT_EQ(in[0].name, "image");
  EXPECT_EQ(in[1].name, "target");
  EXPECT_EQ(in[2].name, "lr");
  EXPECT_EQ(artifact->outputs("train_step")[0].name, "loss");
  EXPECT_EQ(artifact->outputs("train_step")[1].name, "grad:conv1.weight");

  rt::Session session(artifact, {2});
  Batch b = randomBatch(32, 1);
  std::vector<float> lr = {0.05f};
  float first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    auto out = session.run("train_step", stepInputs(b, lr));
    ASSERT_EQ(out[0].shape, (std::vector<int64_t>{1}));
    ASSERT_TRUE(std::isfinite(out[0].data[0])) << "step " << step;
    (step == 0 ? first : last) = out[0].data[0];
  }
  // log(10) = 2.30 at the start; memorising 32 random samples drives it down.
  EXPECT_NEAR(first, std::log(10.0f), 0.3f);
  EXPECT_LT(last, 0.5f * first) << "first " << first << ", last " << last;
  // The momentum buffers are real state in the parameter table.
  const float *buf = session.paramData("fc3.weight.momentum_buffer");
  double norm = 0;
  for (int i = 0; i < 10 * 84; ++i)
    norm += std::abs(buf[i]);
  EXPECT_GT(norm, 0.0);

  // eval_step and infer read the trained weights: same logits, and the loss
  // eval_step reports is the loss of the trained model on the batch.
  auto eval = session.run("eval_step", {{b.images.data(), {b.size, 1, 28, 28}},
                                        {b.target.data(), {b.size, 10}}});
  auto infer = session.run("infer", {{b.images.data(), {b.size, 1, 28, 28}}});
  // (infer splits the batch between the threads, eval_step every launch.)
  ASSERT_EQ(eval[1].data.size(), infer[0].data.size());
  for (size_t i = 0; i < infer[0].data.size(); ++i)
    ASSERT_NEAR(eval[1].data[i], infer[0].data[i], kThreadsTolerance) << "logit " << i;
  EXPECT_LT(eval[0].data[0], 0.5f * first);
}

TEST(TrainingArtifact, Resnet20AdamWUpdatesWeightsStateAndRunningStats) {
  TrainingOptions training;
  training.optimizer = "adamw";
  training.weightDecay = 0.05;
  training.labelSmoothing = 0.1f;
  CompileResult compiled = compileTrainingModel("resnet20", 3, training, CompileOptions{});
  auto artifact = rt::Artifact::loadBuffer(compiled.artifact, "resnet20 training");
  ASSERT_EQ(artifact->inputs("train_step").size(), 5u); // image, target, lr, bc1, bc2
  rt::Session session(artifact, {2});
  std::vector<float> w0(session.paramData("conv1.weight"),
                        session.paramData("conv1.weight") + 16 * 9);
  Batch b = randomBatch(8, 2);
  for (int t = 1; t <= 3; ++t) {
    std::vector<float> scalars = {1e-3f, 1.0f - std::pow(0.9f, float(t)),
                                  1.0f - std::pow(0.999f, float(t))};
    auto out = session.run("train_step", stepInputs(b, scalars));
    ASSERT_TRUE(std::isfinite(out[0].data[0]));
  }
  const float *w = session.paramData("conv1.weight");
  EXPECT_NE(std::vector<float>(w, w + 16 * 9), w0);
  // Running statistics moved away from their initial 0 / 1.
  const float *mean = session.paramData("bn1.running_mean");
  const float *var = session.paramData("bn1.running_var");
  double moved = 0;
  for (int c = 0; c < 16; ++c)
    moved += std::abs(mean[c]) + std::abs(var[c] - 1.0f);
  EXPECT_GT(moved, 1e-4);
  const float *v = session.paramData("fc.weight.exp_avg_sq");
  EXPECT_GT(v[0] + v[1] + v[2], 0.0f);
}

// Kernels and memory per training step, pinned (tinygrad-style): a change to
// autodiff, CSE, fusion or the memory plan that adds launches or activation
// bytes shows up here, with the pattern list to see where. resnet20, SGD with
// momentum: 21 forward convolutions, 21 weight gradients, 20 input gradients
// (the stem needs none), the batch-norm statistics and their gradients as
// reductions with fused prologues, and two small kernels per parameter for
// the momentum update; activations are the 1.2 MB/image that
// docs/architecture.md (fusion) accounts for.
TEST(TrainingArtifact, Resnet20TrainStepKernelsAndMemoryArePinned) {
  CompileResult compiled = compileTrainingModel("resnet20", 7, TrainingOptions{}, CompileOptions{});
  auto entry = std::find_if(compiled.entries.begin(), compiled.entries.end(),
                            [](const CompiledEntry &e) { return e.name == "train_step"; });
  ASSERT_NE(entry, compiled.entries.end());
  std::map<std::string, int> patterns;
  for (const CompiledKernel &k : entry->kernels)
    ++patterns[k.ops];
  std::string list;
  for (const auto &[ops, count] : patterns)
    list += "  " + std::to_string(count) + " x " + ops + "\n";
  EXPECT_EQ(entry->kernels.size(), 505u) << list;
  EXPECT_EQ(patterns["conv2d"], 21) << list;
  EXPECT_EQ(patterns["conv2d_grad_weight"], 21) << list;
  EXPECT_EQ(patterns["conv2d_grad_input"] + patterns["conv2d_grad_input+relu_grad"] +
                patterns["conv2d_grad_input+add+relu_grad"],
            20)
      << list;
  // Momentum and parameter update per trainable parameter (65 of them).
  EXPECT_EQ(patterns["mul+add"], 65) << list;
  EXPECT_EQ(patterns["mul+sub"], 65) << list;
  EXPECT_LE(entry->arenaBytesPerItem, 1204480);
  EXPECT_LE(entry->peakBytesPerItem, entry->arenaBytesPerItem);
}

// Entry.items_independent (compiler/lib/Driver/ItemIndependence.cpp): infer
// keeps batch items apart; train_step (batch-norm statistics, the loss over
// the batch, parameter updates) and eval_step (the loss over the batch) do
// not, so the runtime never splits their batch between threads.
TEST(TrainingArtifact, OnlyInferHasIndependentItems) {
  for (const char *model : {"lenet5", "resnet20"}) {
    CompileResult compiled = compileTrainingModel(model, 7, TrainingOptions{}, CompileOptions{});
    auto artifact = rt::Artifact::loadBuffer(compiled.artifact, model);
    EXPECT_TRUE(artifact->itemsIndependent("infer")) << model;
    EXPECT_FALSE(artifact->itemsIndependent("eval_step")) << model;
    EXPECT_FALSE(artifact->itemsIndependent("train_step")) << model;
  }
}

// With independent items a session runs the batch in chunks (Session.cpp,
// items mode): several threads whenever the batch has an image per thread
// (chunks of unequal size included), one thread when the batch holds more
// than one chunk. A chunk holds as many images as keep its arena within
// three quarters of a core's L2 (1 to 20). Every image's logits must be those
// of the image run alone (batch 1, one thread: no split of any kind) within
// kThreadsTolerance. The profile shows the split: thread 0's launches ran on
// the largest chunk (the batch cut into a multiple of `threads` chunks of at
// most that many images), or on the whole batch where the launches were split.
TEST(TrainingArtifact, Resnet20InferSplitsItemsIntoChunks) {
  CompileResult compiled = compileTrainingModel("resnet20", 7, TrainingOptions{}, CompileOptions{});
  auto artifact = rt::Artifact::loadBuffer(compiled.artifact, "resnet20");
  ASSERT_TRUE(artifact->itemsIndependent("infer"));
  rt::Session alone(artifact, {1});
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  const uint64_t perItem = artifact->arenaBytes("infer", 1) - artifact->arenaBytes("infer", 0);
  ASSERT_GT(perItem, 0u);
  const int64_t perChunk = std::clamp<int64_t>(
      int64_t((l2 > 0 ? uint64_t(l2) : uint64_t(1) << 20) * 3 / 4 / perItem), 1, 20);
  const int64_t pixels = 28 * 28;
  rt::SessionOptions profiled;
  profiled.profile = true;
  for (int threads : {1, 2, 3}) {
    profiled.numThreads = threads;
    rt::Session session(artifact, profiled);
    for (int64_t batch : {1, 2, 3, 7, 21, 45}) {
      Batch b = randomBatch(batch, uint64_t(batch));
      session.resetProfile();
      auto got = session.run("infer", {{b.images.data(), {batch, 1, 28, 28}}});
      ASSERT_EQ(got[0].shape, (std::vector<int64_t>{batch, 10}));
      for (int64_t n = 0; n < batch; ++n) {
        auto want = alone.run("infer", {{b.images.data() + n * pixels, {1, 1, 28, 28}}});
        for (int64_t k = 0; k < 10; ++k)
          ASSERT_NEAR(got[0].data[n * 10 + k], want[0].data[k], kThreadsTolerance)
              << threads << " threads, batch " << batch << ", image " << n << ", logit " << k;
      }
      // The first launch: the stem convolution, one task per output row.
      const bool chunked = threads > 1 ? batch >= threads : batch > perChunk;
      const int64_t chunks =
          threads * std::max<int64_t>(1, (batch + perChunk * threads - 1) / (perChunk * threads));
      const int64_t largest = (batch + chunks - 1) / chunks;
      EXPECT_EQ(session.profile().front().tasks, 28 * (chunked ? largest : batch))
          << threads << " threads, batch " << batch << ", " << perChunk << " images a chunk";
    }
  }
}

} // namespace

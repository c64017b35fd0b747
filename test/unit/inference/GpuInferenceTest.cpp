//===- GpuInferenceTest.cpp - the inference API on the GPU ----------------===//
//
// Built twice (test/unit/inference/CMakeLists.txt):
//   inference_gpu_emu_tests  (KILN_TEST_WITH_EMULATOR) the runtime loads the
//                            fake CUDA driver of test/support/cuda_emu, which
//                            runs the model's CUDA kernels in the CPU
//                            emulator: every CI run, on a CPU-only machine;
//   inference_gpu_tests      (ctest label gpu) the real driver and GPU 0;
//                            skipped when there is none.
// The models: lenet5 with the released weights, exported with CUDA kernels
// by test/e2e/infer's export_for_emulator (the export_model library, default
// architectures sm_80, sm_90 + PTX) and with --target=cpu, and resnet20 (the
// synthetic checkpoint with non-trivial batch norm) with CUDA kernels
// (fixture infer_gpu_models).
//
// Reference: the CPU predictor on the same model file (its CPU kernels are
// checked against the double-precision interpreter by inference_tests).
// Tolerance: relative error max|gpu - cpu| / max|cpu| < 1e-5 on the logits.
// The GPU kernels compute the same fused groups in FP32 with the same
// parameters, so the outputs differ only by summation order (block and warp
// reductions, tiled GEMM, split-K) and FMA contraction: each output of
// lenet5 is a chain of dot products of length <= 400 (fc1), whose rounding
// error is a few units of 2^-24 ~ 6e-8 times the magnitude, ~1e-6 in the
// worst case, so 1e-5 leaves a factor of ten while any indexing or
// synchronisation error is of order 1. The same bar as test/unit/cuda's
// per-kernel checks. Class ids must be identical (top-1 logits differ by
// far more than 1e-5 on these images).
//===----------------------------------------------------------------------===//
#include "kiln/data/Image.h"
#include "kiln/inference/Predictor.h"
#include "CudaTestUtil.h"
#include "PredictorTestHelpers.h"
#include "kiln/runtime/Cuda.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace ki = kiln::inference;
using namespace kiln;

namespace {

#ifdef KILN_TEST_WITH_EMULATOR
constexpr bool kEmulated = true;
#else
constexpr bool kEmulated = false;
#endif

constexpr double kTolerance = 1e-5;

std::string work(const std::string &rel) { return std::string(KILN_INFER_WORK) + "/" + rel; }

/// Empty when the GPU (or the emulator) is usable, else why the test is
/// skipped. With the emulator, points the runtime at the fake driver first
/// (before anything loads a driver: the runtime loads it once per process).
std::string deviceUnavailable() {
#ifdef KILN_TEST_WITH_EMULATOR
  setenv("KILN_CUDA_DRIVER", KILN_FAKE_CUDA_DRIVER, 1);
  setenv("KILN_EMU_MODULE_DIR", work("emu-modules").c_str(), 1);
#endif
  rt::CudaDeviceInfo info = rt::probeCuda(0);
  if (!info.available)
    return (kEmulated ? "the emulated driver does not load: " : "no usable GPU: ") + info.error;
  return "";
}

#define REQUIRE_DEVICE()                                                                       \
  do {                                                                                         \
    std::string why_ = deviceUnavailable();                                                    \
    if (!why_.empty()) {                                                                       \
      if (kEmulated)                                                                           \
        FAIL() << why_;                                                                        \
      GTEST_SKIP() << why_;                                                                    \
    }                                                                                          \
  } while (0)

using kiln::inference::test::demoImages;

std::shared_ptr<ki::Predictor> predictor(const std::string &dir, bool gpu, int deviceId = 0) {
  ki::Config config(work(dir));
  config.set_cpu_math_library_num_threads(1);
  if (gpu)
    config.enable_use_gpu(100, deviceId);
  return ki::create_predictor(config);
}

/// Images [first, first + n) of the demo images as one batch.
std::vector<float> runBatch(ki::Predictor &p, int first, int n) {
  return kiln::inference::test::runBatch(p, demoImages(), first, n);
}

using kiln::test::relError;

std::vector<int> argmaxRows(const std::vector<float> &logits) {
  std::vector<int> ids;
  for (size_t r = 0; r + 10 <= logits.size(); r += 10)
    ids.push_back(int(std::max_element(logits.begin() + long(r), logits.begin() + long(r) + 10) -
                      (logits.begin() + long(r))));
  return ids;
}

void expectMatchesCpu(const std::vector<float> &gpu, const std::vector<float> &cpu,
                      const std::string &what) {
  double err = relError(gpu, cpu);
  EXPECT_LT(err, kTolerance) << what;
  EXPECT_EQ(argmaxRows(gpu), argmaxRows(cpu)) << what;
  std::printf("%s: relative error %.3g\n", what.c_str(), err);
}

using kiln::inference::test::errorOf;

} // namespace

// Batch 1 and batch 3 (a batch that divides nothing: the kernels' grids and
// tails at an odd size), on the GPU and on the CPU, same images.
TEST(GpuPredictor, Lenet5MatchesCpuAtBatch1And3) {
  REQUIRE_DEVICE();
  auto gpu = predictor("lenet5_cuda", true), cpu = predictor("lenet5_cuda", false);
  expectMatchesCpu(runBatch(*gpu, 7, 1), runBatch(*cpu, 7, 1), "batch 1 (image 7)");
  expectMatchesCpu(runBatch(*gpu, 0, 3), runBatch(*cpu, 0, 3), "batch 3 (images 0-2)");
  if (!kEmulated) // the emulator is slow; a GPU takes the whole demo set and more
    for (int n : {8, 5})
      expectMatchesCpu(runBatch(*gpu, 0, n), runBatch(*cpu, 0, n), "batch " + std::to_string(n));
}

// resnet20: 20 convolutions with batch norm and residual adds, batch 1 (the
// emulator runs it in about half a second).
TEST(GpuPredictor, Resnet20MatchesCpuAtBatch1) {
  REQUIRE_DEVICE();
  auto gpu = predictor("resnet20_cuda", true), cpu = predictor("resnet20_cuda", false);
  expectMatchesCpu(runBatch(*gpu, 6, 1), runBatch(*cpu, 6, 1), "resnet20 batch 1 (image 6)");
  if (!kEmulated)
    for (int n : {8, 3})
      expectMatchesCpu(runBatch(*gpu, 0, n), runBatch(*cpu, 0, n),
                       "resnet20 batch " + std::to_string(n));
}

// The resnet20 model's 7x7-plane convolution weights are stored HWIO
// (export_model's default --pack-conv-weights, where the CPU kernels use the
// direct convolution): its CUDA kernels read them through the HWIO
// implicit-GEMM load. Batch 3 as well as the batch 1 above.
TEST(GpuPredictor, Resnet20WithPackedWeightsMatchesCpu) {
  REQUIRE_DEVICE();
  std::ifstream json(work("resnet20_cuda/inference.kmodel.json"));
  std::string text((std::istreambuf_iterator<char>(json)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  if (text.find("\"conv_weights_packed\": true") == std::string::npos)
    GTEST_SKIP() << "resnet20_cuda holds no packed weights (this host's CPU kernels use im2col "
                    "+ sgemm, so export_model packed nothing)";
  auto gpu = predictor("resnet20_cuda", true), cpu = predictor("resnet20_cuda", false);
  expectMatchesCpu(runBatch(*gpu, 0, 3), runBatch(*cpu, 0, 3), "resnet20 packed, batch 3");
}

// One predictor reused: the first run of a batch size is eager, the second
// captures a CUDA graph, the third replays it; another size in between
// (new buffers, new graph). Every run of a size gives bit-identical logits
// (fixed reduction order), and a clone (its own session: device memory,
// stream, graphs) gives the same bits, interleaved with the original.
TEST(GpuPredictor, ReuseAndCloneAreDeterministic) {
  REQUIRE_DEVICE();
  auto p = predictor("lenet5_cuda", true);
  auto cpu = predictor("lenet5_cuda", false);
  const std::vector<float> three = runBatch(*p, 2, 3);
  expectMatchesCpu(three, runBatch(*cpu, 2, 3), "batch 3 (images 2-4)");
  const std::vector<float> one = runBatch(*p, 5, 1);
  expectMatchesCpu(one, runBatch(*cpu, 5, 1), "batch 1 (image 5)");
  EXPECT_EQ(runBatch(*p, 2, 3), three) << "second run (graph capture)";
  EXPECT_EQ(runBatch(*p, 2, 3), three) << "third run (graph replay)";
  EXPECT_EQ(runBatch(*p, 5, 1), one) << "batch 1 again";

  std::unique_ptr<ki::Predictor> clone = p->clone();
  EXPECT_EQ(clone->device(), p->device());
  EXPECT_EQ(runBatch(*clone, 2, 3), three) << "clone, batch 3";
  EXPECT_EQ(runBatch(*p, 5, 1), one) << "original after the clone ran";
  EXPECT_EQ(runBatch(*clone, 5, 1), one) << "clone, batch 1";
  EXPECT_EQ(runBatch(*clone, 2, 3), three) << "clone, batch 3 again";
  // Different images through the same graph: the inputs are really copied in.
  std::vector<float> other = runBatch(*clone, 0, 3);
  EXPECT_NE(other, three);
  expectMatchesCpu(other, runBatch(*cpu, 0, 3), "clone, batch 3 (images 0-2)");
}

// Three GPU predictors (two from the files, a clone) run at once on three
// threads, each result bit-identical to the same run done alone. Real GPU
// only: the emulated driver is single-threaded test support.
TEST(GpuPredictor, ConcurrentPredictorsOnThreads) {
  if (kEmulated)
    GTEST_SKIP() << "the emulated CUDA driver runs one thread's work at a time";
  REQUIRE_DEVICE();
  auto base = predictor("lenet5_cuda", true);
  std::vector<std::shared_ptr<ki::Predictor>> ps = {
      base, predictor("resnet20_cuda", true), std::shared_ptr<ki::Predictor>(base->clone())};
  auto job = [](ki::Predictor &p, int t, int i) {
    int first = (t + i) % 8;
    return runBatch(p, first, std::min(1 + i % 5, 8 - first));
  };
  auto refLenet = predictor("lenet5_cuda", true), refResnet = predictor("resnet20_cuda", true);
  EXPECT_EQ(kiln::inference::test::concurrentMismatches(
                ps, 20, job,
                [&](size_t t) -> ki::Predictor & { return t == 1 ? *refResnet : *refLenet; }),
            0);
}

TEST(GpuPredictor, ReportsTheDevice) {
  REQUIRE_DEVICE();
  auto p = predictor("lenet5_cuda", true);
  EXPECT_EQ(p->device().rfind("gpu:0 (", 0), 0u) << p->device();
  EXPECT_EQ(p->device().back(), ')');
  EXPECT_EQ(p->num_threads(), 1) << "the host thread only issues work";
  EXPECT_TRUE(p->config().use_gpu());
  EXPECT_CONTAINS(p->device_description(), "driver");
  if (kEmulated) {
    // The fake driver reports an sm_90 device: the sm_90 cubin is chosen.
    EXPECT_EQ(p->device(), "gpu:0 (Kiln CPU emulator)");
    EXPECT_CONTAINS(p->device_description(), "cubin sm_90");
  }
  EXPECT_EQ(predictor("lenet5_cuda", false)->device(), "cpu");
}

// A model exported for the CPU only, with a usable GPU: the message says to
// re-export with CUDA kernels and names the flag.
TEST(GpuPredictor, ModelWithoutCudaKernelsSaysReExport) {
  REQUIRE_DEVICE();
  std::string what = errorOf([] { predictor("lenet5_cpu", true); });
  EXPECT_CONTAINS(what, "lenet5_cpu/inference.kmodel");
  EXPECT_CONTAINS(what, "no CUDA kernels");
  EXPECT_CONTAINS(what, "export_model --target=cpu,cuda");
  EXPECT_CONTAINS(what, "run on the CPU instead");
  // The same files run on the CPU.
  EXPECT_EQ(runBatch(*predictor("lenet5_cpu", false), 0, 1).size(), 10u);
}

TEST(GpuPredictor, MissingDeviceIsNamed) {
  REQUIRE_DEVICE();
  std::string what = errorOf([] { predictor("lenet5_cuda", true, 42); });
  EXPECT_CONTAINS(what, "GPU device 42");
  EXPECT_CONTAINS(what, "no device 42");
  EXPECT_CONTAINS(what, "run on the CPU instead");
}

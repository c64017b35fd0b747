//===- CodegenTest.cpp - NVRTC builds every kernel; errors; the cache -----===//
#include "CudaTestUtil.h"

#include "kiln/Codegen/CudaEmitter.h"
#include "kiln/runtime/schema/kiln_artifact_generated.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace kiln;
namespace fs = std::filesystem;

namespace {

#define REQUIRE_NVRTC()                                                                        \
  do {                                                                                         \
    if (!codegen::nvrtcAvailable())                                                            \
      GTEST_SKIP() << "built without NVRTC (no CUDA toolkit at configure time)";               \
  } while (0)

/// Every kernel of every entry has a CUDA kernel whose symbol the sm_90 cubin
/// exports, with a sane launch shape; the PTX fallback is there too.
void expectEveryKernelCompiled(const std::string &model) {
  test::CudaArtifact a = test::cudaTrainingArtifact(model, {"sm_90"});
  const auto *root = artifact::GetArtifact(a.bytes.data());
  ASSERT_NE(root->cuda(), nullptr);
  const artifact::CudaModule *cubin = nullptr, *ptx = nullptr;
  for (const artifact::CudaModule *m : *root->cuda()) {
    if (m->arch()->str() == "sm_90")
      cubin = m;
    if (m->arch()->str() == "compute_90")
      ptx = m;
  }
  ASSERT_NE(cubin, nullptr);
  ASSERT_NE(cubin->cubin(), nullptr);
  ASSERT_NE(ptx, nullptr);
  ASSERT_NE(ptx->ptx(), nullptr);
  EXPECT_NE(ptx->ptx()->str().find(".target sm_90"), std::string::npos);
  std::vector<uint8_t> bytes(cubin->cubin()->begin(), cubin->cubin()->end());
  std::set<std::string> symbols = test::elfSymbols(bytes);
  std::set<std::string> entries;
  size_t kernels = 0;
  for (const artifact::Kernel *k : *root->kernels()) {
    ++kernels;
    entries.insert(k->name()->str().substr(0, k->name()->str().rfind("_k")));
    ASSERT_NE(k->cuda_symbol(), nullptr) << k->name()->str();
    EXPECT_TRUE(symbols.count(k->cuda_symbol()->str()))
        << k->name()->str() << " -> " << k->cuda_symbol()->str() << " is not in the cubin";
    EXPECT_GE(k->cuda_block_threads(), 32u);
    EXPECT_LE(k->cuda_block_threads(), 1024u);
    EXPECT_GE(k->cuda_grid_x_divisor(), 1);
    EXPECT_GE(k->cuda_grid_y(), 1u);
    EXPECT_GT(k->cuda_grid_x_fixed() + k->cuda_grid_x_per_item(), 0) << k->name()->str();
    // 0: no tensor of the kernel has a batch dimension (e.g. optimizer updates),
    // so no batch overflows its indexing.
    EXPECT_TRUE(k->cuda_max_batch() == 0 || k->cuda_max_batch() > 1000)
        << k->name()->str() << ": cuda_max_batch " << k->cuda_max_batch();
    ASSERT_NE(k->args(), nullptr);
    EXPECT_EQ(k->args()->size(), k->num_inputs() + 1);
  }
  EXPECT_EQ(entries, (std::set<std::string>{"infer", "eval_step", "train_step"}));
  fmt::print("{}: {} kernels in 3 entries, all in the sm_90 cubin ({} bytes)\n", model, kernels,
             bytes.size());
}

codegen::CudaSource oneKernel(const std::string &body) {
  codegen::CudaSource s;
  s.text = std::string(codegen::cudaPrelude()) + "\n";
  s.symbolLines["broken_k0"] = int(std::count(s.text.begin(), s.text.end(), '\n')) + 1;
  s.text += "extern \"C\" __global__ void broken_k0(float *out, float *scratch, long long batch) {\n" +
            body + "\n}\n";
  return s;
}

} // namespace

TEST(CudaCodegen, Lenet5EveryKernelCompilesForSm90) {
  REQUIRE_NVRTC();
  expectEveryKernelCompiled("lenet5");
}

TEST(CudaCodegen, Resnet20EveryKernelCompilesForSm90) {
  REQUIRE_NVRTC();
  expectEveryKernelCompiled("resnet20");
}

TEST(CudaCodegen, NvrtcErrorShowsSourceLineAndKernel) {
  REQUIRE_NVRTC();
  codegen::CudaSource s = oneKernel("  out[threadIdx.x] = undefined_thing + 1.0f;");
  codegen::CudaCompileOptions options;
  options.archs = {"sm_90"};
  std::vector<codegen::CudaBinary> out;
  codegen::CudaCompileReport report;
  std::string error;
  ASSERT_FALSE(codegen::compileCudaSource(s, options, out, report, error));
  EXPECT_NE(error.find("NVRTC failed for sm_90"), std::string::npos) << error;
  EXPECT_NE(error.find("identifier \"undefined_thing\" is undefined"), std::string::npos) << error;
  // The quoted source line keeps its indentation after the kernel name.
  EXPECT_NE(error.find("(in broken_k0):   out[threadIdx.x] = undefined_thing + 1.0f;"),
            std::string::npos)
      << error;
}

TEST(CudaCodegen, BadArchitectureIsAnError) {
  REQUIRE_NVRTC();
  codegen::CudaCompileOptions options;
  options.archs = {"compute_90"};
  std::vector<codegen::CudaBinary> out;
  codegen::CudaCompileReport report;
  std::string error;
  EXPECT_FALSE(codegen::compileCudaSource(oneKernel(""), options, out, report, error));
  EXPECT_NE(error.find("expected sm_<NN>"), std::string::npos) << error;
}

TEST(CudaCodegen, CacheHitsAndSurvivesCorruption) {
  REQUIRE_NVRTC();
  std::string dir = std::string(KILN_CUDA_TEST_DIR) + "/cache-test";
  fs::remove_all(dir);
  codegen::CudaSource s = oneKernel("  out[threadIdx.x] = (float)batch;");
  codegen::CudaCompileOptions options;
  options.archs = {"sm_90"};
  options.cacheDir = dir;
  std::vector<codegen::CudaBinary> first, second, third;
  codegen::CudaCompileReport report;
  std::string error;
  ASSERT_TRUE(codegen::compileCudaSource(s, options, first, report, error)) << error;
  EXPECT_EQ(report.compiled, 1);
  EXPECT_EQ(report.cacheHits, 0);
  ASSERT_EQ(first.size(), 2u); // sm_90 cubin + compute_90 PTX
  EXPECT_FALSE(first[0].cubin.empty());
  EXPECT_FALSE(first[1].ptx.empty());
  ASSERT_TRUE(codegen::compileCudaSource(s, options, second, report, error)) << error;
  EXPECT_EQ(report.cacheHits, 1);
  EXPECT_EQ(report.compiled, 0);
  EXPECT_EQ(second[0].cubin, first[0].cubin);
  EXPECT_EQ(second[1].ptx, first[1].ptx);
  // Truncate the cache entry: it is recompiled, never used.
  for (const auto &entry : fs::directory_iterator(dir))
    fs::resize_file(entry.path(), fs::file_size(entry.path()) / 2);
  ASSERT_TRUE(codegen::compileCudaSource(s, options, third, report, error)) << error;
  EXPECT_EQ(report.compiled, 1);
  EXPECT_EQ(third[0].cubin, first[0].cubin);
  // Another source or other options: another key.
  codegen::CudaSource other = oneKernel("  out[threadIdx.x] = 2.0f * (float)batch;");
  ASSERT_TRUE(codegen::compileCudaSource(other, options, third, report, error)) << error;
  EXPECT_EQ(report.compiled, 1);
}

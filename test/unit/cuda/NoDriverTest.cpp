//===- NoDriverTest.cpp - a GPU session without a driver is a clean error -===//
//
// Each test runs in its own process (gtest_discover_tests), and the runtime
// loads the driver once per process: every test points KILN_CUDA_DRIVER at a
// library that does not exist before anything touches the GPU.
//===----------------------------------------------------------------------===//
#include "kiln/Codegen/CudaEmitter.h"
#include "kiln/Driver/Compiler.h"
#include "kiln/runtime/Cuda.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <dlfcn.h>

using namespace kiln;

namespace {

constexpr const char *kMissing = "/nonexistent/kiln-test/libcuda.so.1";

std::shared_ptr<const rt::Artifact> lenet5Infer(bool cuda) {
  CompileOptions options;
  options.cuda = cuda;
  options.cudaArchs = {"sm_90"};
  options.cudaCacheDir = std::string(KILN_CUDA_TEST_DIR) + "/nvrtc-cache";
  CompileResult r = compileModel("lenet5", 42, options);
  return rt::Artifact::loadBuffer(std::move(r.artifact), "lenet5.kiln");
}

std::string sessionError(const std::shared_ptr<const rt::Artifact> &artifact) {
  rt::SessionOptions options;
  options.device = rt::Device::Cuda;
  try {
    rt::Session session(artifact, options);
  } catch (const rt::Error &e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST(CudaNoDriver, ProbeSaysWhy) {
  setenv("KILN_CUDA_DRIVER", kMissing, 1);
  rt::CudaDeviceInfo info = rt::probeCuda();
  EXPECT_FALSE(info.available);
  EXPECT_NE(info.error.find(std::string("cannot load the NVIDIA driver library ") + kMissing),
            std::string::npos)
      << info.error;
  EXPECT_EQ(info.error.find('\n'), std::string::npos) << "one line: " << info.error;
}

TEST(CudaNoDriver, SessionSaysWhy) {
  if (!codegen::nvrtcAvailable())
    GTEST_SKIP() << "built without NVRTC: no CUDA artifact to load";
  setenv("KILN_CUDA_DRIVER", kMissing, 1);
  std::string error = sessionError(lenet5Infer(/*cuda=*/true));
  EXPECT_NE(error.find("kiln: CUDA: cannot load the NVIDIA driver library"), std::string::npos)
      << error;
  EXPECT_NE(error.find(kMissing), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << "one line: " << error;
}

TEST(CudaNoDriver, CpuOnlyArtifactSaysRecompile) {
  setenv("KILN_CUDA_DRIVER", kMissing, 1);
  std::string error = sessionError(lenet5Infer(/*cuda=*/false));
  EXPECT_NE(error.find("lenet5.kiln: the artifact has no CUDA kernels; compile it with "
                       "kiln-compile --target=cpu,cuda"),
            std::string::npos)
      << error;
}

TEST(CudaNoDriver, DefaultLibraryName) {
  // Where the machine really has no driver (CI), the default lookup of
  // libcuda.so.1 must fail the same clean way.
  if (void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(lib);
    GTEST_SKIP() << "this machine has libcuda.so.1";
  }
  unsetenv("KILN_CUDA_DRIVER");
  rt::CudaDeviceInfo info = rt::probeCuda();
  EXPECT_FALSE(info.available);
  EXPECT_NE(info.error.find("cannot load the NVIDIA driver library libcuda.so.1"),
            std::string::npos)
      << info.error;
}

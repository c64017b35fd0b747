//===- CudaExecutor.cpp - the GPU path: what is missing, in order ---------===//
//
// There is no CUDA executor in this runtime yet (the compiler writes no CUDA
// modules either). Asking for the GPU must still end in a message that says
// what is missing rather than in a crash or a silent CPU run, so this checks,
// in the order a user can fix them:
//   1. the NVIDIA driver library libcuda.so.1 (loaded with dlopen: linking the
//      driver stub would make every Kiln binary fail to start on machines
//      without a driver, such as the CPU-only development machine);
//   2. cuInit and a device with the configured id;
//   3. CUDA kernels in the model (the artifact's `cuda` modules);
//   4. a CUDA executor in this runtime.
// A CUDA executor replaces step 4 with an Executor that loads the module for
// the device's architecture and launches the artifact's kernels.
//===----------------------------------------------------------------------===//
#include "Executor.h"

#include <fmt/format.h>

#include <dlfcn.h>

namespace kiln::inference {

namespace {

// The three driver entry points needed to find a device (cuda.h's types, by value).
using CUresult = int;
using cuInit_t = CUresult (*)(unsigned int);
using cuDeviceGetCount_t = CUresult (*)(int *);
using cuGetErrorName_t = CUresult (*)(CUresult, const char **);

struct DlHandle {
  void *handle = nullptr;
  ~DlHandle() {
    if (handle)
      dlclose(handle);
  }
};

} // namespace

std::unique_ptr<Executor> createCudaExecutor(std::shared_ptr<const Model> model,
                                             const Config &config) {
  const int device = config.gpu_device_id();
  const std::string cpuHint = "run on the CPU instead (Config::disable_gpu, infer --use-gpu=False)";
  if (device < 0)
    throw Error(fmt::format("kiln: GPU device id {} is invalid (must be >= 0)", device));

  DlHandle cuda;
  cuda.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!cuda.handle) {
    const char *err = dlerror();
    throw Error(fmt::format("kiln: GPU requested (device {}) but the NVIDIA CUDA driver library "
                            "libcuda.so.1 cannot be loaded ({}): this machine has no NVIDIA "
                            "driver; {}",
                            device, err ? err : "unknown error", cpuHint));
  }
  auto cuInit = reinterpret_cast<cuInit_t>(dlsym(cuda.handle, "cuInit"));
  auto cuDeviceGetCount = reinterpret_cast<cuDeviceGetCount_t>(dlsym(cuda.handle, "cuDeviceGetCount"));
  auto cuGetErrorName = reinterpret_cast<cuGetErrorName_t>(dlsym(cuda.handle, "cuGetErrorName"));
  if (!cuInit || !cuDeviceGetCount)
    throw Error(fmt::format("kiln: GPU requested but libcuda.so.1 lacks cuInit/cuDeviceGetCount "
                            "(not an NVIDIA driver library?); {}",
                            cpuHint));
  auto errorName = [&](CUresult r) {
    const char *name = nullptr;
    if (cuGetErrorName && cuGetErrorName(r, &name) == 0 && name)
      return fmt::format("{} ({})", name, r);
    return fmt::format("CUDA error {}", r);
  };
  if (CUresult r = cuInit(0); r != 0)
    throw Error(fmt::format("kiln: GPU requested (device {}) but cuInit failed: {} (no usable "
                            "NVIDIA GPU or driver); {}",
                            device, errorName(r), cpuHint));
  int count = 0;
  if (CUresult r = cuDeviceGetCount(&count); r != 0)
    throw Error(fmt::format("kiln: GPU requested but cuDeviceGetCount failed: {}; {}",
                            errorName(r), cpuHint));
  if (count <= 0)
    throw Error(fmt::format("kiln: GPU device {} requested but the CUDA driver reports no CUDA "
                            "device; {}",
                            device, cpuHint));
  if (device >= count)
    throw Error(fmt::format("kiln: GPU device {} requested but this machine has {} CUDA "
                            "device{} (ids 0..{}); {}",
                            device, count, count == 1 ? "" : "s", count - 1, cpuHint));

  if (model->cudaArchitectures.empty())
    throw Error(fmt::format("kiln: GPU device {} found, but the model {} has no CUDA kernels "
                            "(its artifact holds a CPU module only) and this Kiln runtime has no "
                            "CUDA executor yet; {}",
                            device, model->modelFile, cpuHint));
  std::string archs;
  for (const std::string &a : model->cudaArchitectures)
    archs += (archs.empty() ? "" : ", ") + a;
  throw Error(fmt::format("kiln: GPU device {} found and the model {} has CUDA kernels ({}), but "
                          "this Kiln runtime has no CUDA executor yet; {}",
                          device, model->modelFile, archs, cpuHint));
}

} // namespace kiln::inference

//===- Cuda.h - GPU availability and the per-kernel GPU/CPU check -*- C++ -*-===//
//
// GPU sessions themselves are ordinary Sessions (SessionOptions::device =
// Device::Cuda). This header adds what tools and tests need around them.
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_CUDA_H
#define KILN_RUNTIME_CUDA_H

#include "kiln/runtime/Runtime.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

struct CudaDeviceInfo {
  bool available = false;
  std::string description; // "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs), driver 13.0"
  std::string error;       // why not, when !available (one line)
};

/// Loads the driver (libcuda.so.1) and looks for device `ordinal`. Never throws.
CudaDeviceInfo probeCuda(int ordinal = 0);

/// One launch of an entry: the GPU kernel's output against the CPU kernel's
/// for the same input values.
struct KernelCheck {
  size_t launch = 0;
  std::string kernel, ops, symbol;
  uint64_t elements = 0;
  double maxAbsError = 0; // max |gpu - cpu| over finite pairs
  double maxAbsCpu = 0;   // max |cpu|
  double relError = 0;    // maxAbsError / max(maxAbsCpu, 1e-30)
  uint64_t nonFiniteMismatches = 0; // elements non-finite on one side only
};

/// Runs `entry` launch by launch with the CPU kernels and, before each
/// launch, the same kernel on GPU `ordinal` with copies of the same input
/// buffers, so that every kernel is compared on realistic inputs and errors
/// do not compound. The artifact's parameters are the initial values (the
/// CPU side updates its own copy as train_step would). Throws Error when the
/// GPU is unusable.
std::vector<KernelCheck> checkCudaKernels(const std::shared_ptr<const Artifact> &artifact,
                                          const std::string &entry,
                                          const std::vector<TensorView> &inputs, int ordinal = 0);

} // namespace kiln::rt

#endif

//===- CudaTestUtil.h - artifacts, inputs and drivers for the CUDA tests -*- C++ -*-===//
#ifndef KILN_TEST_CUDA_CUDATESTUTIL_H
#define KILN_TEST_CUDA_CUDATESTUTIL_H

#include "kiln/runtime/Runtime.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace kiln::test {

struct CudaArtifact {
  std::vector<uint8_t> bytes;
  std::string cudaSource;
  std::shared_ptr<const rt::Artifact> artifact;
};

/// The training artifact (train_step with SGD momentum, eval_step, infer) of
/// `model` with the CUDA target for `archs`. Compiled once per build of the
/// test binary and kept under KILN_CUDA_TEST_DIR (NVRTC's cache is there too),
/// because every test runs in a process of its own.
CudaArtifact cudaTrainingArtifact(const std::string &model, const std::vector<std::string> &archs,
                                  const std::string &optimizer = "sgd");

/// Why artifacts with the CUDA target cannot be compiled here ("" if they can).
std::string cudaTargetUnavailable();

/// Makes the runtime load the emulated driver (test/support/cuda_emu) and
/// builds the emulator module of every CUDA image of `artifact` (once).
void useEmulatedDriver(const CudaArtifact &artifact);

/// Deterministic inputs for an entry: images N(0,1), one-hot targets, the
/// optimizer scalars (lr = 0.05, bias corrections of step 1).
struct Inputs {
  std::vector<std::vector<float>> data;
  std::vector<rt::TensorView> views;
};
Inputs entryInputs(const rt::Artifact &artifact, const std::string &entry, int64_t batch,
                   uint64_t seed);

/// Names in the ELF symbol table of a cubin.
std::set<std::string> elfSymbols(const std::vector<uint8_t> &elf);

/// max |a - b| / max(max |b|, 1e-30); inf when sizes differ, both are empty or
/// a value is non-finite. Inline (header-only) so that the GPU inference API
/// tests use it without linking this library (and the compiler behind it).
inline double relError(const std::vector<float> &a, const std::vector<float> &b) {
  if (a.size() != b.size() || a.empty())
    return INFINITY;
  double maxDiff = 0, maxRef = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i]))
      return INFINITY;
    maxDiff = std::max(maxDiff, std::fabs(double(a[i]) - double(b[i])));
    maxRef = std::max(maxRef, std::fabs(double(b[i])));
  }
  return maxDiff / std::max(maxRef, 1e-30);
}

} // namespace kiln::test

#endif

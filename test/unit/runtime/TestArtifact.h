//===- TestArtifact.h - build Kiln artifacts in tests ------------*- C++ -*-===//
//
// The compiler cannot produce artifacts yet, so the runtime tests describe
// one in plain structs (easy to corrupt field by field) and serialise it with
// the flatbuffers builder, embedding the real kernels of test_kernels.c.
//===----------------------------------------------------------------------===//
#ifndef KILN_TEST_RUNTIME_TESTARTIFACT_H
#define KILN_TEST_RUNTIME_TESTARTIFACT_H

#include "kiln/runtime/KernelABI.h"
#include "kiln/runtime/schema/kiln_artifact_generated.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::test {

using artifact::BufferKind;
using artifact::FusionKind;

struct BindingDesc {
  BufferKind kind = BufferKind::Arena;
  uint32_t index = 0;
  uint64_t offsetFixed = 0;
  uint64_t offsetPerItem = 0;
};
inline BindingDesc arena(uint64_t fixed, uint64_t perItem) {
  return {BufferKind::Arena, 0, fixed, perItem};
}
inline BindingDesc param(uint32_t i) { return {BufferKind::Param, i, 0, 0}; }
inline BindingDesc input(uint32_t i) { return {BufferKind::Input, i, 0, 0}; }
inline BindingDesc output(uint32_t i) { return {BufferKind::Output, i, 0, 0}; }

struct SigDesc {
  std::string name;
  std::vector<int64_t> shape;
};

struct LaunchDesc {
  uint32_t kernel = 0;
  std::vector<BindingDesc> buffers;
};

struct EntryDesc {
  std::string name;
  std::vector<SigDesc> inputs, outputs;
  std::vector<LaunchDesc> launches;
  std::vector<BindingDesc> copyFrom;
  std::vector<uint32_t> copyTo;
  uint64_t arenaFixed = 0, arenaPerItem = 0;
  bool itemsIndependent = false; // Entry.items_independent
};

struct KernelDesc {
  std::string name, ops;
  FusionKind kind = FusionKind::Elementwise;
  int64_t workPerItem = 0, workFixed = 0, workPerTask = 1;
  uint64_t scratchBytes = 0;
  int64_t flopsPerItem = 0;
  uint32_t numInputs = 0;
};

struct ParamDesc {
  std::string name;
  std::vector<int64_t> shape;
  bool trainable = true;
  uint64_t offset = 0;
};

struct ArtifactDesc {
  uint32_t schemaVersion = KILN_ARTIFACT_SCHEMA_VERSION;
  std::string compilerVersion = "test", modelName = "test-model";
  std::vector<EntryDesc> entries;
  std::vector<KernelDesc> kernels;
  std::vector<ParamDesc> params;
  std::vector<float> paramData;
  bool withCpu = true;
  std::vector<uint8_t> sharedObject;
  bool withCrc = true;
  std::optional<uint32_t> crcOverride;
  std::string cpuFeatures; // CpuModule.features ("+avx2,+fma,...")
};

std::vector<uint8_t> buildArtifact(const ArtifactDesc &desc);

std::vector<uint8_t> readFile(const std::string &path);
void writeFile(const std::string &path, const std::vector<uint8_t> &bytes);
/// A fresh directory under the system temp dir, removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
  std::string file(const std::string &name) const { return path + "/" + name; }
};

/// The bytes of test_kernels.c's shared library.
const std::vector<uint8_t> &testKernelLibrary();

// The reference artifact used throughout the tests.
//
// entry "infer": x [?,4] -> y [?,3], stats [3], y_copy [?,3], bias_out [4],
//                x_echo [?,4], a_dump [?,4]
//   A = x * s              kt_scale     -> arena A (64 + 0*b)
//   B = A + bias           kt_add_bias  -> arena B (64 + 16*b)
//   A = B + rowsum(B)      kt_rowsum    -> arena A again (scratch)
//   y = A @ W              kt_matmul    -> output 0 (cblas_sgemm)
//   stats = 10*s + t       kt_stats     -> output 1 (work_fixed only)
//   copies: y_copy = y, bias_out = bias, x_echo = x, a_dump = A
// entry "sum2":     a, b [?,2,3] -> out [?,2,3] (kt_add)
// entry "coverage": x [?,5] -> counts [?,5] (kt_count, every element once)
// entry "update":   g [4] -> (no outputs); s += g in place (kt_accumulate)
// entry "trace":    x [?,1] -> ticks [?,2] (kt_trace: start and end tick of
//                   each task; task 0 sleeps 50 ms)
// params: s [4], bias [4], W [4,3] (W frozen)
ArtifactDesc referenceDesc();

extern const float kScale[4], kBias[4], kW[12];

/// What "infer" must produce for x [batch,4].
struct InferExpected {
  std::vector<float> a, y, stats;
};
InferExpected expectedInfer(const std::vector<float> &x, int64_t batch,
                            const float *scale = kScale);

} // namespace kiln::test

#endif

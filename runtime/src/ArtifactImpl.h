//===- ArtifactImpl.h - the runtime's view of a verified artifact -*- C++ -*-===//
//
// Private to the runtime. Everything Session::run needs is resolved here once,
// at load time (kernel function pointers, flattened bindings, signatures), so
// that a run does no flatbuffers lookups, no string work and no validation
// beyond the caller's input shapes.
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_ARTIFACTIMPL_H
#define KILN_RUNTIME_ARTIFACTIMPL_H

#include "kiln/runtime/KernelABI.h"
#include "kiln/runtime/Runtime.h"
#include "kiln/runtime/schema/kiln_artifact_generated.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln::rt {

/// 64-byte aligned heap memory (arenas, parameters, scratch, the artifact bytes).
struct AlignedFree {
  void operator()(void *p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t[], AlignedFree>;
/// Allocates max(bytes, 1) rounded up to 64 bytes; throws Error (naming `what`)
/// when the allocation fails or the size overflows.
AlignedBuffer allocateAligned(uint64_t bytes, const char *what);

/// A buffer binding with the enum already range-checked.
struct BindingPlan {
  artifact::BufferKind kind;
  uint32_t index;          // Param / Input / Output
  uint64_t offsetFixed;    // Arena: bytes
  uint64_t offsetPerItem;  // Arena: bytes per batch item
};

struct LaunchPlan {
  kiln_cpu_kernel_fn fn;
  uint32_t kernel;         // index into ArtifactImpl::kernels
  uint32_t firstBinding;   // into EntryPlan::bindings
  uint32_t numBindings;    // kernel num_inputs + 1
  int64_t workFixed;
  int64_t workPerItem;
  int64_t workPerTask;
  /// Tasks for `work` units: ceil(work / workPerTask).
  int64_t tasksFor(int64_t work) const {
    return work / workPerTask + (work % workPerTask != 0 ? 1 : 0);
  }
  /// Tasks at `batch` (callers that cannot trust the batch check overflow
  /// of workFixed + workPerItem * batch first, as Session does).
  int64_t numTasks(int64_t batch) const { return tasksFor(workFixed + workPerItem * batch); }
};

struct CopyPlan {
  BindingPlan from;
  uint32_t to;             // output index
};

struct EntryPlan {
  std::string name;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  /// Elements per batch item (dynamic signatures) or total elements (static),
  /// and whether dimension 0 is the batch; precomputed for run().
  std::vector<int64_t> outputElems;
  std::vector<bool> outputDynamic;
  std::vector<LaunchPlan> launches;
  std::vector<BindingPlan> bindings;
  std::vector<CopyPlan> copies;
  uint64_t arenaFixed = 0;
  uint64_t arenaPerItem = 0;
  int64_t flopsPerItem = 0;
  /// Elements per batch item of each input (all dynamic where
  /// itemsIndependent).
  std::vector<int64_t> inputElems;
  /// The artifact's items_independent, kept only where every input and
  /// output is batched and no output is a copy: run() may then give each
  /// thread its own items (Session.cpp).
  bool itemsIndependent = false;
};

struct ParamPlan {
  ParamInfo info;
  uint64_t offset = 0;     // floats into param_data
  uint64_t numel = 0;
};

class ArtifactImpl {
public:
  ArtifactImpl() = default;
  ~ArtifactImpl();
  ArtifactImpl(const ArtifactImpl &) = delete;
  ArtifactImpl &operator=(const ArtifactImpl &) = delete;

  /// Verifies `bytes` (already 64-byte aligned, `size` bytes) and loads the
  /// CPU module. Throws Error("kiln: <origin>: ...").
  void load(AlignedBuffer bytes, uint64_t size, std::string origin);

  [[noreturn]] void fail(const std::string &what) const;

  /// Entry by name; throws Error listing the entries when unknown.
  const EntryPlan &entry(const std::string &name) const;
  const EntryPlan *findEntry(const std::string &name) const;

  std::string origin;
  AlignedBuffer bytes;
  uint64_t size = 0;
  const artifact::Artifact *root = nullptr;

  std::vector<EntryPlan> entries;
  std::vector<KernelInfo> kernels;
  std::vector<kiln_cpu_kernel_fn> kernelFns;
  uint64_t maxScratchBytes = 0;
  std::vector<ParamPlan> params;
  std::unordered_map<std::string, size_t> paramIndex;
  const float *paramData = nullptr;
  uint64_t paramDataSize = 0; // floats

private:
  void validateAndPlan();
  void loadCpuModule();
  void *dl_ = nullptr;
};

/// "[?,1,28,28]" (-1 printed as '?').
std::string formatShape(const std::vector<int64_t> &shape);

} // namespace kiln::rt

#endif

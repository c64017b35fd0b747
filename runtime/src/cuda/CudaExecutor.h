//===- CudaExecutor.h - runs an artifact's entries on a GPU -----*- C++ -*-===//
//
// Private to the runtime. One executor per GPU Session:
//   - the CUDA module: the cubin built for the device's architecture (same
//     major, highest minor not above the device's), else the PTX (JIT);
//   - the parameters resident on the device (each 256-byte aligned), the
//     host copy in the Session kept as a mirror that is synchronised on
//     demand (exportParams/importParams/paramData);
//   - per entry one device arena laid out by the artifact's memory plan
//     (offset_fixed + offset_per_item * batch), and staging buffers for the
//     entry's inputs and outputs; all grown to the largest batch seen;
//   - one stream; after an (entry, batch) has run once, its launches become a
//     CUDA graph that is replayed from then on: built node by node with the
//     launches' data dependencies as edges (LaunchDag.h), so independent
//     kernels overlap; where that is not possible (an artifact without
//     argument shapes, KILN_CUDA_GRAPH_DAG=0) the launches are captured from
//     the stream in order. Host<->device copies (inputs, outputs) stay
//     outside the graph.
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_CUDA_CUDAEXECUTOR_H
#define KILN_RUNTIME_CUDA_CUDAEXECUTOR_H

#include "../ArtifactImpl.h"
#include "CudaDriver.h"

#include <map>
#include <set>
#include <vector>

namespace kiln::rt::cuda {

/// How one kernel is launched (validated from the artifact).
struct KernelLaunch {
  cu::CUfunction fn = nullptr;
  std::string symbol;
  unsigned blockThreads = 0, gridY = 1;
  int64_t gridXFixed = 0, gridXPerItem = 0, gridXDivisor = 1;
  int64_t maxBatch = 0;
  /// Shapes of inputs then output (-1 = batch); empty for old artifacts.
  std::vector<std::vector<int64_t>> args;
};

class Executor {
public:
  /// Loads the driver, picks the device and the module, uploads the
  /// parameters from `hostParams` (the session's copy, laid out as
  /// ArtifactImpl::params). Throws Error with a one-line reason.
  Executor(const ArtifactImpl &artifact, int ordinal, bool useGraphs, const float *hostParams);
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  /// Runs an entry whose inputs were checked and outputs allocated by
  /// Session::run.
  void run(const EntryPlan &entry, int64_t batch, const std::vector<TensorView> &inputs,
           std::vector<Tensor> &outputs);

  /// Parameter mirror: device -> host (all, or one) and host -> device.
  void downloadParams(float *hostBase);
  void uploadParams(const float *hostBase);

  /// Runs kernel `kernel` once on fresh device buffers holding `inputs`
  /// (inputs[i] has numel(args[i]) floats at `batch`); returns its output.
  /// With `outputAliasesInput` >= 0 the output buffer is that input's buffer
  /// (an in-place parameter update). For the kernel check.
  std::vector<float> runKernel(uint32_t kernel, int64_t batch,
                               const std::vector<std::vector<float>> &inputs,
                               int outputAliasesInput);

  const KernelLaunch &launchOf(uint32_t kernel) const { return kernels_[kernel]; }
  /// "NVIDIA H100 80GB HBM3, sm_90, cubin sm_90, driver 13.0"
  const std::string &description() const { return description_; }
  /// Graph replays and captures so far (tests).
  int graphLaunches() const { return graphLaunches_; }
  int graphCaptures() const { return graphCaptures_; }
  int dagGraphs() const { return dagGraphs_; }

private:
  struct Buffer {
    cu::CUdeviceptr ptr = 0;
    uint64_t capacity = 0;
  };
  struct Graph {
    cu::CUgraph graph = nullptr;
    cu::CUgraphExec exec = nullptr;
    bool copiesOutside = false; // output copies run after the graph
  };
  struct EntryState {
    Buffer arena;
    std::vector<Buffer> inputs, outputs;
    std::map<int64_t, Graph> graphs; // by batch
    std::set<int64_t> ranOnce;       // batches run eagerly once (next run captures)
    std::set<int64_t> noGraph;       // batches whose capture failed
  };

  void pickModule();
  /// Frees every device resource (destructor, failed constructor).
  void cleanup() noexcept;
  /// Grows `b` to `bytes` (contents lost); returns true if it moved.
  bool reserve(Buffer &b, uint64_t bytes);
  void release(Buffer &b);
  void dropGraphs(EntryState &s);
  uint64_t paramBytes(size_t index) const;
  /// Launches and output copies of one run (eager or under capture).
  void enqueue(const EntryPlan &entry, EntryState &s, int64_t batch);
  void enqueueCopies(const EntryPlan &entry, EntryState &s, int64_t batch);
  cu::CUdeviceptr resolve(const BindingPlan &b, EntryState &s, int64_t batch) const;
  /// The graph of the entry's launches with their data dependencies as edges;
  /// false (nothing allocated) when that is not possible.
  bool buildDagGraph(const EntryPlan &entry, EntryState &s, int64_t batch, Graph &g);
  /// Grid x of a launch at `batch` (0: nothing to do).
  int64_t gridX(uint32_t kernel, int64_t batch) const;
  void launch(uint32_t kernel, int64_t batch, std::vector<cu::CUdeviceptr> &buffers);

  const ArtifactImpl &a_;
  const cu::Driver &d_;
  bool useGraphs_;
  bool useDag_ = true;
  cu::CUdevice device_ = 0;
  cu::CUcontext ctx_ = nullptr;
  cu::CUstream stream_ = nullptr;
  cu::CUmodule module_ = nullptr;
  std::string description_;
  std::vector<KernelLaunch> kernels_;
  std::vector<std::vector<std::vector<int64_t>>> argShapes_; // per kernel (LaunchDag)
  std::vector<bool> usesScratch_;                            // per kernel
  Buffer params_;
  std::vector<uint64_t> paramOffsets_; // bytes into params_
  Buffer scratch_;
  std::vector<EntryState> entries_;
  int graphLaunches_ = 0, graphCaptures_ = 0, dagGraphs_ = 0;
};

/// Numel of `shape` with -1 replaced by `batch`.
uint64_t numelAt(const std::vector<int64_t> &shape, int64_t batch);

} // namespace kiln::rt::cuda

#endif

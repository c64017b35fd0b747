//===- LaunchDag.h - which launches of an entry may run concurrently -*- C++ -*-===//
//
// Private to the runtime. The CUDA executor turns an entry into a CUDA graph
// whose edges are the real data dependencies between launches, so that
// independent kernels (the optimizer update of each parameter, running
// statistics, weight and input gradients of a layer) overlap on the GPU
// instead of paying one kernel latency each. Computed from the artifact
// alone, without CUDA, so the CPU tests check it (LaunchDagTest runs the CPU
// kernels in random orders the DAG allows and expects identical results).
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_CUDA_LAUNCHDAG_H
#define KILN_RUNTIME_CUDA_LAUNCHDAG_H

#include "../ArtifactImpl.h"

#include <cstdint>
#include <vector>

namespace kiln::rt::cuda {

/// For every launch of `entry` at `batch`, the earlier launches it must wait
/// for, transitively reduced (no edge implied by others). Launch j precedes
/// launch i when i reads bytes j writes, writes bytes j reads or writes
/// (arena ranges overlap, or the same parameter/output), or both use the
/// shared device scratch (`usesScratch[kernel]`). `argShapes[kernel]` holds
/// the shapes of the kernel's inputs then output (-1 = batch); returns an
/// empty vector when any launch's kernel lacks them.
std::vector<std::vector<uint32_t>>
launchDependencies(const EntryPlan &entry, int64_t batch,
                   const std::vector<std::vector<std::vector<int64_t>>> &argShapes,
                   const std::vector<bool> &usesScratch);

} // namespace kiln::rt::cuda

#endif

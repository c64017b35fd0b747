//===- CudaEmitter.h - fused kernels -> CUDA C -> NVRTC ---------*- C++ -*-===//
//
// The CUDA target. generateCudaSource() turns every kiln.kernel of a module
// (after kiln-fuse and kiln-plan-memory) into one CUDA C __global__ function;
// compileCudaSource() compiles the whole translation unit with NVRTC into a
// cubin per real architecture (plus the PTX of the oldest one as a fallback the
// driver can JIT), through a disk cache.
//
// Kernel calling convention (the runtime's CUDA executor relies on it):
//   extern "C" __global__ void <symbol>(const float *in0, ..., float *out,
//                                       float *scratch, long long batch)
// launched on a grid of (ceil((grid_x_fixed + grid_x_per_item * batch) /
// grid_x_divisor), grid_y) blocks of block_threads threads, no dynamic shared
// memory. `scratch` is device memory of at least scratch_bytes, zero-filled
// when the session starts; a kernel that uses it leaves its counters at zero
// again. Index arithmetic is 32-bit: max_batch is the largest batch at which
// every tensor the kernel touches has fewer than 2^31 elements.
//===----------------------------------------------------------------------===//
#ifndef KILN_CODEGEN_CUDAEMITTER_H
#define KILN_CODEGEN_CUDAEMITTER_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::codegen {

/// How the runtime launches one kiln.kernel on the GPU.
struct CudaLaunch {
  std::string symbol;          // __global__ function in the module (shared by identical kernels)
  int64_t blockThreads = 256;
  int64_t gridXFixed = 0, gridXPerItem = 0, gridXDivisor = 1;
  int64_t gridY = 1;
  int64_t scratchBytes = 0;    // device scratch the kernel needs (static)
  int64_t maxBatch = 0;        // 0: no limit
  std::string strategy;        // e.g. "elementwise vec4", "gemm 64x64x16 splitk=8" (reports, tests)
};

/// The CUDA C of a module: one translation unit.
struct CudaSource {
  std::string text;                             // prelude + every distinct kernel
  std::map<std::string, CudaLaunch> kernels;    // by kiln.kernel name
  /// First line (1-based) of each distinct function in `text`, for error messages.
  std::map<std::string, int> symbolLines;
  size_t numDistinct = 0;
};

/// Generates the CUDA C for every kiln.kernel in `module`. `withPrelude` false
/// leaves out the shared device helpers (for printing; such text does not
/// compile). On failure emits an MLIR diagnostic at the offending kernel.
mlir::LogicalResult generateCudaSource(mlir::ModuleOp module, CudaSource &out,
                                       bool withPrelude = true);

/// The shared device helpers every kernel uses (block/warp reductions, the
/// tiled GEMM mainloop and its split-K finish).
const char *cudaPrelude();

struct CudaCompileOptions {
  /// Real architectures to build cubins for; the PTX of the first one is kept
  /// as the JIT fallback (compute_<first>).
  std::vector<std::string> archs = {"sm_80", "sm_90"};
  /// Disk cache directory ("" = no cache).
  std::string cacheDir;
};

struct CudaBinary {
  std::string arch;            // "sm_90", or "compute_80" for the PTX fallback
  std::string ptx;             // set for the compute_ entry
  std::vector<uint8_t> cubin;  // set for sm_ entries
};

struct CudaCompileReport {
  double seconds = 0;
  int cacheHits = 0, compiled = 0;
  std::string nvrtcVersion;
};

/// True when this compiler was built with NVRTC.
bool nvrtcAvailable();
/// "13.0" (or "" without NVRTC).
std::string nvrtcVersion();
/// The NVRTC options for one architecture (also part of the cache key).
std::vector<std::string> nvrtcOptions(const std::string &arch);

/// Compiles `source` for every architecture in `options` (in parallel threads,
/// through the cache). On a compile error returns false with `error` holding
/// the NVRTC log, each error line followed by the source line it names and the
/// kernel that contains it.
bool compileCudaSource(const CudaSource &source, const CudaCompileOptions &options,
                       std::vector<CudaBinary> &out, CudaCompileReport &report,
                       std::string &error);

/// The default cache directory: $KILN_CUDA_CACHE_DIR, else
/// $XDG_CACHE_HOME/kiln/cuda, else $HOME/.cache/kiln/cuda ("" if none is set).
std::string defaultCudaCacheDir();

} // namespace kiln::codegen

#endif

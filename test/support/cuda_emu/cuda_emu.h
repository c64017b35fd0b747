//===- cuda_emu.h - compile Kiln's generated CUDA C as host C++ ----------===//
//
// Force-included (-include) when the emulator builds a module: every CUDA
// construct the generated kernels and the prelude use is mapped onto host
// C++, and the thread-level parts (threadIdx, __syncthreads, warp shuffles)
// onto the fiber scheduler in Emulator.cpp through the module's own globals
// (the scheduler sets them with dlsym, so the module needs no symbol from
// the process that loads it).
//===----------------------------------------------------------------------===//
#ifndef KILN_CUDA_EMU_H
#define KILN_CUDA_EMU_H

#include <algorithm>
#include <cmath>
#include <cstring>
#include <math.h>

#include "cuda_emu_types.h"

extern "C" {
extern kiln_emu_thread *kiln_emu_current;
extern void (*kiln_emu_syncthreads)(void);
extern float (*kiln_emu_shfl_xor)(float value, int laneMask);
}

#define threadIdx (kiln_emu_current->threadIdx)
#define blockIdx (kiln_emu_current->blockIdx)
#define blockDim (kiln_emu_current->blockDim)
#define gridDim (kiln_emu_current->gridDim)
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
// Blocks run one after another, so one static per declaration is exactly a
// block's shared memory.
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

inline void __syncthreads() { kiln_emu_syncthreads(); }
inline float __shfl_xor_sync(unsigned, float v, int laneMask) {
  return kiln_emu_shfl_xor(v, laneMask);
}
// Fibers never preempt each other: a plain read-modify-write is atomic.
inline unsigned atomicAdd(unsigned *p, unsigned v) {
  unsigned old = *p;
  *p = old + v;
  return old;
}
inline void __threadfence() {}
inline float __ldcg(const float *p) { return *p; }
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
using std::max;
using std::min;

#endif

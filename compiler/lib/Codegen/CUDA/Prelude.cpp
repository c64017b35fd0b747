//===- Prelude.cpp - device helpers shared by the generated CUDA kernels --===//
//
// Everything here is deterministic: a reduction always adds in the same order
// for a given launch shape, so a training run on the GPU repeats bit for bit.
// No header is included (NVRTC needs none for these builtins), and the code
// also compiles as host C++ under the test emulator (test/support/cuda_emu).
//===----------------------------------------------------------------------===//
#include "kiln/Codegen/CudaEmitter.h"

namespace kiln::codegen {

const char *cudaPrelude() {
  return R"CUDA(// ---- Kiln CUDA prelude ----
#define KILN_INF __int_as_float(0x7f800000)

// Sum over the 32 lanes of a warp; every lane gets the same (bitwise) value:
// at each butterfly step the two partners add the same two numbers.
__device__ __forceinline__ float kiln_warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float kiln_warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over a block of NT threads (NT a multiple of 32); every thread gets the
// result. Every thread of the block must call it.
template <int NT>
__device__ __forceinline__ float kiln_block_sum(float v) {
  __shared__ float partial[NT / 32];
  v = kiln_warp_sum(v);
  if ((threadIdx.x & 31) == 0)
    partial[threadIdx.x >> 5] = v;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < NT / 32; ++w)
    total += partial[w];
  __syncthreads(); // `partial` may be reused by the next call
  return total;
}

// Split reduction finish: block `split` of `splits` that share one output
// stores its partial sum (every thread passes the same value); the last block
// to arrive (an atomic ticket on *counter) gets true and, in `total`, the sum
// of the partials in split order, and resets the counter. Deterministic
// whichever block finishes last. Every thread of the block must call it.
__device__ __forceinline__ bool kiln_split_sum(float partial, float *partials, unsigned *counter,
                                               int splits, int split, float &total) {
  __shared__ unsigned ticket;
  if (threadIdx.x == 0) {
    partials[split] = partial;
    __threadfence();
    ticket = atomicAdd(counter, 1u);
  }
  __syncthreads();
  if (ticket != (unsigned)(splits - 1))
    return false; // uniform over the block
  __threadfence();
  float t = 0.0f;
  for (int s = 0; s < splits; ++s)
    t += __ldcg(partials + s);
  total = t;
  __syncthreads(); // everyone has read `ticket` and the partials
  if (threadIdx.x == 0)
    *counter = 0u;
  return true;
}

// Tiled GEMM main loop: acc[i][j] += sum over k in [kBegin, kEnd) of
// A(m, k) * B(k, n) for the thread's TM x TN sub-tile of the BM x BN tile at
// (m0, n0): rows m0 + ty*TM + i, columns n0 + tx*TN + j, with
// tx = threadIdx.x % (BN/TN), ty = threadIdx.x / (BN/TN). loadA(m, k) and
// loadB(k, n) are only called in bounds (m < M, n < N, k < kEnd). A_KFAST /
// B_KFAST pick which index consecutive threads walk when loading a tile, so
// that they read consecutive addresses of the operand. Global-load latency is
// hidden by occupancy (the kernels stay under 64 registers: four 256-thread
// blocks per SM) rather than by register double-buffering, which pushed the
// gather-heavy convolutions to 170 registers and one block per SM.
template <int BM, int BN, int BK, int TM, int TN, bool A_KFAST, bool B_KFAST, class LoadA,
          class LoadB>
__device__ __forceinline__ void kiln_gemm_mainloop(int M, int N, int m0, int n0, int kBegin,
                                                   int kEnd, LoadA loadA, LoadB loadB,
                                                   float (&acc)[TM][TN]) {
  constexpr int NT = (BM / TM) * (BN / TN);
  // Rows padded by 4 floats: the k-major stores of a tile (k-fast loads) hit
  // 16 banks instead of 1-2, and rows stay 16-byte aligned for float4 reads.
  __shared__ __align__(16) float As[BK][BM + 4];
  __shared__ __align__(16) float Bs[BK][BN + 4];
  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  for (int k0 = kBegin; k0 < kEnd; k0 += BK) {
#pragma unroll
    for (int e = tid; e < BM * BK; e += NT) {
      const int mm = A_KFAST ? e / BK : e % BM;
      const int kk = A_KFAST ? e % BK : e / BM;
      const int m = m0 + mm, k = k0 + kk;
      As[kk][mm] = (m < M && k < kEnd) ? loadA(m, k) : 0.0f;
    }
#pragma unroll
    for (int e = tid; e < BN * BK; e += NT) {
      const int nn = B_KFAST ? e / BK : e % BN;
      const int kk = B_KFAST ? e % BK : e / BN;
      const int n = n0 + nn, k = k0 + kk;
      Bs[kk][nn] = (n < N && k < kEnd) ? loadB(k, n) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i)
        a[i] = As[kk][ty * TM + i];
#pragma unroll
      for (int j = 0; j < TN; ++j)
        b[j] = Bs[kk][tx * TN + j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j)
          acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
}

// Stores the thread's sub-tile through store(m, n, value) (in bounds only).
template <int BM, int BN, int TM, int TN, class Store>
__device__ __forceinline__ void kiln_gemm_store(int M, int N, int m0, int n0,
                                                float (&acc)[TM][TN], Store store) {
  const int tx = threadIdx.x % (BN / TN), ty = threadIdx.x / (BN / TN);
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int m = m0 + ty * TM + i, n = n0 + tx * TN + j;
      if (m < M && n < N)
        store(m, n, acc[i][j]);
    }
}

// Split-K finish: block `split` of `splits` writes its partial tile to
// partials[split] (each BM x BN); the last block of the tile to arrive (an
// atomic ticket on *counter) adds the partials in split order, stores the sum
// and resets the counter, so the result does not depend on which block
// finished last. Every thread of the block must call it.
template <int BM, int BN, int TM, int TN, class Store>
__device__ __forceinline__ void kiln_gemm_splitk_store(int M, int N, int m0, int n0,
                                                       float (&acc)[TM][TN], float *partials,
                                                       unsigned *counter, int splits,
                                                       int split, Store store) {
  const int tx = threadIdx.x % (BN / TN), ty = threadIdx.x / (BN / TN);
  float *mine = partials + split * (BM * BN);
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j)
      mine[(ty * TM + i) * BN + tx * TN + j] = acc[i][j];
  __threadfence();
  __syncthreads();
  __shared__ unsigned ticket;
  if (threadIdx.x == 0)
    ticket = atomicAdd(counter, 1u);
  __syncthreads();
  if (ticket != (unsigned)(splits - 1))
    return; // not the last block of this tile (uniform over the block)
  __threadfence();
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int local = (ty * TM + i) * BN + tx * TN + j;
      float sum = 0.0f;
      for (int s = 0; s < splits; ++s)
        sum += __ldcg(partials + s * (BM * BN) + local);
      const int m = m0 + ty * TM + i, n = n0 + tx * TN + j;
      if (m < M && n < N)
        store(m, n, sum);
    }
  if (threadIdx.x == 0)
    *counter = 0u;
}
// ---- end of prelude ----
)CUDA";
}

} // namespace kiln::codegen

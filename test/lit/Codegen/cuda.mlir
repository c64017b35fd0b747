// The CUDA C that the CUDA target hands to NVRTC, for representative fused
// groups (kiln-fuse makes the kernels; kiln-print-cuda prints the translation
// unit without the shared prelude, then the unchanged module). Each distinct
// kernel is preceded by `// <symbol>: <ops> [<strategy>]`. The kernels'
// numerics are checked on every build by test/unit/cuda (emulated, and on a
// GPU when there is one); these tests pin down the structure.
// RUN: kiln-opt -split-input-file -kiln-fuse -kiln-print-cuda %s -o /dev/null | FileCheck %s

// conv2d + batch_norm + residual add + relu: one implicit-GEMM kernel (M =
// Cout = 32 -> 32x128 tiles; N = batch*8*8; K = 16*3*3). The block first
// tabulates, per k = (ci, ky, kx), the input offset and the tap displacement,
// so that gathering an im2col element is two adds and a bounds test; the
// epilogue is applied in the store lambda on (image, channel, pixel).
func.func @conv_bn_add_relu(%x: tensor<?x16x8x8xf32>, %res: tensor<?x32x8x8xf32>) -> tensor<?x32x8x8xf32> {
  %w = kiln.parameter "w" : tensor<32x16x3x3xf32>
  %g = kiln.parameter "bn.weight" : tensor<32xf32>
  %b = kiln.parameter "bn.bias" : tensor<32xf32>
  %m = kiln.parameter "bn.mean" : tensor<32xf32>
  %v = kiln.parameter "bn.var" : tensor<32xf32>
  %c = kiln.conv2d %x, %w {padding = array<i64: 1, 1>} : (tensor<?x16x8x8xf32>, tensor<32x16x3x3xf32>) -> tensor<?x32x8x8xf32>
  %n = kiln.batch_norm %c, %g, %b, %m, %v : (tensor<?x32x8x8xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32x8x8xf32>
  %a = kiln.add %n, %res : (tensor<?x32x8x8xf32>, tensor<?x32x8x8xf32>) -> tensor<?x32x8x8xf32>
  %r = kiln.relu %a : (tensor<?x32x8x8xf32>) -> tensor<?x32x8x8xf32>
  return %r : tensor<?x32x8x8xf32>
}
// CHECK-LABEL: // conv_bn_add_relu_k0: conv2d+batch_norm+add+relu [conv implicit-gemm 32x128x16]
// CHECK-NEXT:  extern "C" __global__ void __launch_bounds__(256) conv_bn_add_relu_k0(const float *__restrict__ in0, const float *__restrict__ in1, const float *__restrict__ in2, const float *__restrict__ in3, const float *__restrict__ in4, const float *__restrict__ in5, const float *__restrict__ in6, float *__restrict__ out, float *__restrict__ scratch, long long batch) {
// CHECK:         const int M = 32, N = B * 64, K = 144;
// CHECK:         __shared__ int koff[144];
// CHECK:         for (int j = threadIdx.x; j < 144; j += blockDim.x) {
// CHECK:           koff[j] = c * 64 + ky * 8 + kx * 1;
// CHECK:         __syncthreads();
// CHECK-NEXT:    auto loadA = [&](int m, int k) -> float { return wg[m * K + k]; };
// CHECK-NEXT:    auto loadB = [&](int k, int n) -> float {
// CHECK-NEXT:      const int img = n / 64, p = n % 64;
// CHECK-NEXT:      const int y0 = (p / 8) * 1 - 1, x0 = (p % 8) * 1 - 1;
// CHECK-NEXT:      const int iy = y0 + kdy[k], ix = x0 + kdx[k];
// CHECK-NEXT:      if ((unsigned)iy >= 8u || (unsigned)ix >= 8u) return 0.0f;
// CHECK-NEXT:      return in0[(img * 16 + 0) * 64 + y0 * 8 + x0 + koff[k]];
// CHECK:         auto store = [&](int m, int n, float v) {
// CHECK:           const float [[E0:e[0-9]+]] = ((v - [[MEAN:x[0-9]+]]) * ([[GAMMA:x[0-9]+]] / sqrtf([[VAR:x[0-9]+]] + 9.99999975e-06f)) + [[BETA:x[0-9]+]]);
// CHECK:           const float [[RES:x[0-9]+]] = in6[(img*2048 + co*64 + p)];
// CHECK-NEXT:      const float [[E1:e[0-9]+]] = ([[E0]] + [[RES]]);
// CHECK-NEXT:      const float [[E2:e[0-9]+]] = fmaxf([[E1]], 0.0f);
// CHECK-NEXT:      out[(img * 32 + co) * 64 + p] = [[E2]];
// CHECK:         kiln_gemm_mainloop<32, 128, 16, 4, 4, true, false>(M, N, m0, n0, 0, K, loadA, loadB, acc);
// CHECK-NEXT:    kiln_gemm_store<32, 128, 4, 4>(M, N, m0, n0, acc, store);
// CHECK-NEXT:  }

// -----

// Training-mode batch norm after the statistics: x * scale + shift with
// per-channel [C,1,1] operands, then relu. Elementwise over [?,16,8,8]: the
// pixel dims merge, the inner extent 64 is a multiple of 4, so each thread
// handles a float4; the per-channel operands are read once per thread.
func.func @bn_relu(%x: tensor<?x16x8x8xf32>, %s: tensor<16x1x1xf32>, %t: tensor<16x1x1xf32>) -> tensor<?x16x8x8xf32> {
  %m = kiln.mul %x, %s : (tensor<?x16x8x8xf32>, tensor<16x1x1xf32>) -> tensor<?x16x8x8xf32>
  %a = kiln.add %m, %t : (tensor<?x16x8x8xf32>, tensor<16x1x1xf32>) -> tensor<?x16x8x8xf32>
  %r = kiln.relu %a : (tensor<?x16x8x8xf32>) -> tensor<?x16x8x8xf32>
  return %r : tensor<?x16x8x8xf32>
}
// CHECK-LABEL: // bn_relu_k0: mul+add+relu [elementwise vec4]
// CHECK:         const int u = blockIdx.x * 256 + threadIdx.x;
// CHECK-NEXT:    if (u >= (256*B)) return;
// CHECK-NEXT:    const int i0 = u * 4;
// CHECK:         const int c2 = [[R:r[0-9]+]] % 64;
// CHECK:         const int c1 = [[R]] % 16;
// CHECK:         const float4 [[X:v[0-9]+]] = *reinterpret_cast<const float4 *>(in0 + (c0*1024 + c1*64 + c2));
// CHECK-NEXT:    const float [[S:s[0-9]+]] = in1[c1];
// CHECK-NEXT:    const float [[T:s[0-9]+]] = in2[c1];
// CHECK:         const float [[X0:x[0-9]+]] = [[X]].x;
// CHECK:         = fmaxf(
// CHECK:         const float {{x[0-9]+}} = [[X]].w;
// CHECK:         *reinterpret_cast<float4 *>(out + i0) = make_float4(

// -----

// Batch-norm statistics: a mean over (N, H, W) per channel reduces batch*64
// elements per output. Only 16 outputs: each is split over 17 blocks of 256
// threads (block tree sums), about 264 blocks in all; the last block of an
// output adds the 17 partial sums in order (kiln_split_sum, deterministic).
func.func @bn_mean(%x: tensor<?x16x8x8xf32>) -> tensor<16xf32> {
  %m = kiln.reduce_mean %x {axes = array<i64: 0, 2, 3>} : (tensor<?x16x8x8xf32>) -> tensor<16xf32>
  return %m : tensor<16xf32>
}
// CHECK-LABEL: // bn_mean_k0: reduce_mean [reduce block split=17]
// CHECK:         const int o = blockIdx.x, split = blockIdx.y;
// CHECK:         const int base = o0*64;
// CHECK-NEXT:    const int per = ((64*B) + 17 - 1) / 17;
// CHECK-NEXT:    const int rEnd = min((64*B), (split + 1) * per);
// CHECK-NEXT:    float acc = 0.0f;
// CHECK-NEXT:    for (int r = split * per + threadIdx.x; r < rEnd; r += 256) {
// CHECK:           const int q1 = [[R:r[0-9]+]] % 64;
// CHECK:           const int q0 = [[R]];
// CHECK-NEXT:      acc += in0[base + (q0*1024 + q1)];
// CHECK:         const float partial = kiln_block_sum<256>(acc);
// CHECK:         if (!kiln_split_sum(partial, scratch + 4096 + o * 17, reinterpret_cast<unsigned *>(scratch) + o, 17, split, sum))
// CHECK-NEXT:      return;
// CHECK-NEXT:    if (threadIdx.x == 0) {
// CHECK-NEXT:      const float [[M:m[0-9]+]] = sum / (float)((64*B));
// CHECK-NEXT:      out[o] = [[M]];

// A reduction with a dynamic number of outputs and few addends per output
// (the per-image loss over 10 classes): one thread per output.
func.func @row_sum(%x: tensor<?x10xf32>) -> tensor<?xf32> {
  %s = kiln.reduce_sum %x {axes = array<i64: 1>} : (tensor<?x10xf32>) -> tensor<?xf32>
  return %s : tensor<?xf32>
}
// CHECK-LABEL: // row_sum_k0: reduce_sum [reduce thread]
// CHECK:         const int o = blockIdx.x * 256 + threadIdx.x;
// CHECK-NEXT:    if (o >= B) return;
// CHECK:         for (int r = 0; r < 10; r += 1) {
// CHECK:           acc += in0[base + q0];

// -----

// The loss's softmax-cross-entropy backward (softmax * scale - target): one
// thread per row of 10.
func.func @softmax_grad(%l: tensor<?x10xf32>, %s: tensor<?x1xf32>, %t: tensor<?x10xf32>) -> tensor<?x10xf32> {
  %p = kiln.softmax %l {axis = 1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  %m = kiln.mul %p, %s : (tensor<?x10xf32>, tensor<?x1xf32>) -> tensor<?x10xf32>
  %d = kiln.sub %t, %m : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<?x10xf32>
  return %d : tensor<?x10xf32>
}
// CHECK-LABEL: // softmax_grad_k0: softmax+mul+sub [softmax thread]
// CHECK:         for (int j = 0; j < 10; j += 1) mx = fmaxf(mx, in0[base + j * 1]);
// CHECK:         for (int j = 0; j < 10; j += 1) sum += expf(in0[base + j * 1] - mx);
// CHECK:         const float inv = 1.0f / sum;
// CHECK:         const float sm = expf(shifted) * inv;
// CHECK:         const float [[SC:x[0-9]+]] = in1[c0];
// CHECK-NEXT:    const float [[P:e[0-9]+]] = (sm * [[SC]]);
// CHECK-NEXT:    const float [[T:x[0-9]+]] = in2[(c0*10 + j)];
// CHECK-NEXT:    const float [[D:e[0-9]+]] = ([[T]] - [[P]]);
// CHECK-NEXT:    out[base + j * 1] = [[D]];

// -----

// Backward groups: max_pool2d_grad + relu_grad (gather form, one thread per
// input element), the input gradient of a strided convolution (a transposed
// convolution as implicit GEMM, taps that no window reads skipped by the
// stride test) and the weight gradient (a contraction over batch*OH*OW:
// split-K, the last block of each tile adds the partial tiles in order).
func.func @backward(%x: tensor<?x4x8x8xf32>, %dy: tensor<?x4x4x4xf32>, %z: tensor<?x4x8x8xf32>, %w: tensor<8x4x3x3xf32>, %dc: tensor<?x8x4x4xf32>) -> (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<8x4x3x3xf32>) {
  %g = kiln.max_pool2d_grad %x, %dy {kernel_size = array<i64: 2, 2>} : (tensor<?x4x8x8xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x8x8xf32>
  %r = kiln.relu_grad %z, %g : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %dx = kiln.conv2d_grad_input %dc, %w {input_shape = array<i64: -1, 4, 8, 8>, padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x8x8xf32>
  %dw = kiln.conv2d_grad_weight %x, %dc {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>, weight_shape = array<i64: 8, 4, 3, 3>} : (tensor<?x4x8x8xf32>, tensor<?x8x4x4xf32>) -> tensor<8x4x3x3xf32>
  return %r, %dx, %dw : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<8x4x3x3xf32>
}
// CHECK-LABEL: // backward_k0: max_pool2d_grad+relu_grad [pointwise]
// CHECK:         const int oyTop = (iy + 0) / 2, oxTop = (ix + 0) / 2;
// CHECK:         if (bestAt == iy * 8 + ix) [[A:a[0-9]+]] = [[A]] + g;
// CHECK:         const float [[Z:x[0-9]+]] = in2[(c0*256 + c1*64 + c2*8 + c3)];
// CHECK-NEXT:    const float [[E:e[0-9]+]] = ([[Z]] > 0.0f ? [[A]] : 0.0f);
// CHECK-NEXT:    out[i0] = [[E]];
// CHECK-LABEL: // backward_k1: conv2d_grad_input [conv-grad-input implicit-gemm 16x256x16]
// CHECK:         const int M = 4, N = B * 64, K = 72;
// CHECK:           woff[j] = c * 36 + tap;
// CHECK-NEXT:      doff[j] = c * 16;
// CHECK-NEXT:      kdy[j] = 1 - ky * 1;
// CHECK-NEXT:      kdx[j] = 1 - kx * 1;
// CHECK:         auto loadA = [&](int m, int k) -> float { return wg[woff[k] + m * 9]; };
// CHECK:         const int ty = iy + kdy[k], tx = ix + kdx[k];
// CHECK-NEXT:    if (ty < 0 || tx < 0) return 0.0f;
// CHECK-NEXT:    if (ty % 2 != 0) return 0.0f;
// CHECK-NEXT:    if (tx % 2 != 0) return 0.0f;
// CHECK-NEXT:    const int oy = ty / 2, ox = tx / 2;
// CHECK-NEXT:    if (oy >= 4 || ox >= 4) return 0.0f;
// CHECK-NEXT:    return in0[(img * 8 + 0) * 16 + doff[k] + oy * 4 + ox];
// CHECK:         kiln_gemm_mainloop<16, 256, 16, 4, 4, true, false>(M, N, m0, n0, 0, K, loadA, loadB, acc);
// CHECK-LABEL: // backward_k2: conv2d_grad_weight [conv-grad-weight implicit-gemm 16x256x16 splitk=64]
// CHECK:         const int M = 8, N = 36, K = B * 16;
// CHECK:         const int split = blockIdx.y;
// CHECK-NEXT:    const int kPer = ((K + 64 - 1) / 64 + 16 - 1) / 16 * 16;
// CHECK-NEXT:    const int kBegin = min(K, split * kPer), kEnd = min(K, kBegin + kPer);
// CHECK-NEXT:    unsigned *counter = reinterpret_cast<unsigned *>(scratch) + tile;
// CHECK-NEXT:    float *partials = scratch + 4096 + tile * 262144;
// CHECK:           noff[j] = c * 64 + ky * 8 + kx * 1;
// CHECK:           const int y0 = (p / 4) * 2 - 1, x0 = (p % 4) * 2 - 1;
// CHECK-NEXT:      const int iy = y0 + ndy[n], ix = x0 + ndx[n];
// CHECK:         kiln_gemm_mainloop<16, 256, 16, 4, 4, true, true>(M, N, m0, n0, kBegin, kEnd, loadA, loadB, acc);
// CHECK-NEXT:    kiln_gemm_splitk_store<16, 256, 4, 4>(M, N, m0, n0, acc, partials, counter, 64, split, store);

// -----

// Kernels identical up to their name share one function; an in-place
// parameter update (the output is a parameter that is also an input) gets no
// __restrict__ promises.
func.func @dedup(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %x = kiln.relu %a : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %y = kiln.relu %b : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %x, %y : tensor<?x8xf32>, tensor<?x8xf32>
}
// CHECK-LABEL: // dedup_k0: relu [elementwise vec4]
// CHECK-NOT:   dedup_k1

// -----

// Batch-norm variance with its prologue (kiln-fuse's producer rule): the
// squared deviation is computed per addend inside the reduction loop, from x
// and the per-channel mean, and never stored.
func.func @bn_variance(%x: tensor<?x16x8x8xf32>, %m: tensor<16x1x1xf32>) -> tensor<16xf32> {
  %c = kiln.sub %x, %m : (tensor<?x16x8x8xf32>, tensor<16x1x1xf32>) -> tensor<?x16x8x8xf32>
  %s = kiln.mul %c, %c : (tensor<?x16x8x8xf32>, tensor<?x16x8x8xf32>) -> tensor<?x16x8x8xf32>
  %v = kiln.reduce_mean %s {axes = array<i64: 0, 2, 3>} : (tensor<?x16x8x8xf32>) -> tensor<16xf32>
  return %v : tensor<16xf32>
}
// CHECK-LABEL: // bn_variance_k0: sub+mul+reduce_mean [reduce block split=17]
// CHECK:         for (int r = split * per + threadIdx.x; r < rEnd; r += 256) {
// CHECK:           const int q1 = [[R:r[0-9]+]] % 64;
// CHECK:           const int q0 = [[R]];
// CHECK-NEXT:      const float [[X:x[0-9]+]] = in0[(q0*1024 + o0*64 + q1)];
// CHECK-NEXT:      const float [[M:x[0-9]+]] = in1[o0];
// CHECK-NEXT:      const float [[C:e[0-9]+]] = ([[X]] - [[M]]);
// CHECK-NEXT:      const float [[S:e[0-9]+]] = ([[C]] * [[C]]);
// CHECK-NEXT:      acc += [[S]];
// CHECK-NEXT:    }
// CHECK:         const float partial = kiln_block_sum<256>(acc);

// -----

// An HWIO weight (kiln-pack-conv-weights): the same implicit GEMM over
// k = (ci, ky, kx), with A(m, k) read at a tabulated offset (tap * Cin + ci)
// * Cout plus m; the tile loads run along m (A_KFAST false), where the
// weight is contiguous.
func.func @conv_hwio(%x: tensor<?x16x7x7xf32>) -> tensor<?x32x7x7xf32> {
  %w = kiln.parameter "w.hwio" : tensor<3x3x16x32xf32>
  %c = kiln.conv2d %x, %w {padding = array<i64: 1, 1>, weight_layout = "hwio"} : (tensor<?x16x7x7xf32>, tensor<3x3x16x32xf32>) -> tensor<?x32x7x7xf32>
  return %c : tensor<?x32x7x7xf32>
}
// CHECK-LABEL: // conv_hwio_k0: conv2d [conv implicit-gemm 32x128x16]
// CHECK:         const int M = 32, N = B * 49, K = 144;
// CHECK:         __shared__ int woff[144];
// CHECK:           koff[j] = c * 49 + ky * 7 + kx * 1;
// CHECK:           woff[j] = (tap * 16 + c) * 32;
// CHECK:         auto loadA = [&](int m, int k) -> float { return wg[woff[k] + m]; };
// CHECK:         kiln_gemm_mainloop<32, 128, 16, 4, 4, false, false>(M, N, m0, n0, 0, K, loadA, loadB, acc);

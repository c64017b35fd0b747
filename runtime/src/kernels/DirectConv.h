//===- DirectConv.h - the direct convolution's paths, for tests -*- C++ -*-===//
//
// Generated kernels call kiln_conv2d_same_f32 (KernelABI.h), which picks the
// AVX-512 path when the CPU has it. Tests call each path by name so both are
// checked on any machine that can run them.
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_KERNELS_DIRECTCONV_H
#define KILN_RUNTIME_KERNELS_DIRECTCONV_H

#include "kiln/runtime/KernelABI.h"

#include <cstdint>

namespace kiln::rt {

/// Arguments of kiln_conv2d_same_f32, in its order.
struct DirectConvArgs {
  const float *x, *wt;
  float *out;
  int64_t ld, cin, h, w, cout, kh, kw, ph, pw, wsCo, wsCi, wsY, wsX, oy0, oy1;
  const kiln_conv2d_epilogue *epilogue = nullptr;
};

/// The plain loop (any CPU).
void directConvPortable(const DirectConvArgs &a);
/// The AVX-512 path; returns false (and does nothing) where the CPU or the
/// shape does not allow it.
bool directConvAvx512(const DirectConvArgs &a);

/// Arguments of kiln_conv2d_same_images_f32, in its order.
struct DirectConvImagesArgs {
  const float *x, *wt;
  float *out, *scratch;
  int64_t images, xImage, outImage, cin, h, w, cout, kh, kw, ph, pw, wsCo, wsCi, wsY, wsX;
  const kiln_conv2d_epilogue *epilogue = nullptr;
};
/// One kiln_conv2d_same_f32 call per image (any CPU).
void directConvImagesPortable(const DirectConvImagesArgs &a);
/// The packed AVX-512 path; false (nothing done) where the CPU or the shape
/// does not allow it.
bool directConvImagesAvx512(const DirectConvImagesArgs &a);
/// Arguments of kiln_conv2d_stride2_f32, in its order.
struct DirectConvStride2Args {
  const float *x, *wt;
  float *out, *scratch;
  int64_t row0, row1, cin, h, w, cout;
  const kiln_conv2d_epilogue *epilogue = nullptr;
};
/// Arguments of kiln_conv2d_hwio_f32, in its order.
struct DirectConvHwioArgs {
  const float *x, *wt;
  float *out;
  int64_t row0, row1, cin, h, w, cout, kh, kw, stride, ph, pw;
  const kiln_conv2d_epilogue *epilogue = nullptr;
  int64_t outRows() const { return (h + 2 * ph - kh) / stride + 1; }
  int64_t outCols() const { return (w + 2 * pw - kw) / stride + 1; }
};
/// The plain loop (any CPU, any shape).
void directConvHwioPortable(const DirectConvHwioArgs &a);
/// Channels in lanes; false (nothing done) where the CPU, the stride (1 or
/// 2) or the output plane (kiln_conv2d_channels_in_lanes) does not allow it.
bool directConvHwioAvx512(const DirectConvHwioArgs &a);
/// The plain loop (any CPU).
void directConvStride2Portable(const DirectConvStride2Args &a);
/// The phase-split AVX-512 path; false (nothing done) where the CPU or the
/// shape (odd h or w) does not allow it.
bool directConvStride2Avx512(const DirectConvStride2Args &a);
/// Arguments of kiln_conv2d_stride2_grad_input_f32, in its order.
struct DirectConvStride2GradInputArgs {
  const float *dy, *wt;
  float *dx, *scratch;
  int64_t cin, h, w, cout;
};
void directConvStride2GradInputPortable(const DirectConvStride2GradInputArgs &a);
/// False (nothing done) where the CPU or the shape does not allow it.
bool directConvStride2GradInputAvx512(const DirectConvStride2GradInputArgs &a);
/// Arguments of kiln_conv2d_stride2_grad_weight_f32, in its order.
struct DirectConvStride2GradWeightArgs {
  const float *x, *dy;
  float *dw, *scratch;
  int64_t batch, cin, h, w, cout, ci0, ci1;
};
void directConvStride2GradWeightPortable(const DirectConvStride2GradWeightArgs &a);
/// False (nothing done) where the CPU or the shape does not allow it.
bool directConvStride2GradWeightAvx512(const DirectConvStride2GradWeightArgs &a);
/// Arguments of kiln_conv2d_same_grad_weight_f32, in its order.
struct DirectConvGradWeightArgs {
  const float *x, *dy;
  float *dw, *scratch;
  int64_t batch, cin, h, w, cout, kh, kw, ph, pw, ci0, ci1;
};

void directConvGradWeightPortable(const DirectConvGradWeightArgs &a);
/// False (and nothing done) where the CPU or the kernel size (3x3 and 5x5
/// have AVX-512 blocks) does not allow it.
bool directConvGradWeightAvx512(const DirectConvGradWeightArgs &a);

} // namespace kiln::rt

#endif

//===- DirectConv.h - the direct convolution's paths, for tests -*- C++ -*-===//
//
// Generated kernels call kiln_conv2d_same_f32 (KernelABI.h), which picks the
// AVX-512 path when the CPU has it. Tests call each path by name so both are
// checked on any machine that can run them.
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_KERNELS_DIRECTCONV_H
#define KILN_RUNTIME_KERNELS_DIRECTCONV_H

#include <cstdint>

namespace kiln::rt {

/// Arguments of kiln_conv2d_same_f32, in its order.
struct DirectConvArgs {
  const float *x, *wt;
  float *out;
  int64_t ld, cin, h, w, cout, kh, kw, ph, pw, wsCo, wsCi, wsY, wsX, oy0, oy1;
};

/// The plain loop (any CPU).
void directConvPortable(const DirectConvArgs &a);
/// The AVX-512 path; returns false (and does nothing) where the CPU or the
/// shape does not allow it.
bool directConvAvx512(const DirectConvArgs &a);

} // namespace kiln::rt

#endif

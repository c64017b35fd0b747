//===- DirectConvPaths.h - the forward convolution's three paths -*- C++ -*-===//
//
// DirectConvTest and ConvEpilogueTest run each forward entry of
// runtime/src/kernels/DirectConv.cpp through every path: the AVX-512 code
// (false where the CPU lacks it), the portable loop and the extern "C" ABI
// entry that compiled kernels call. Each path here takes the entry's
// argument struct and returns whether it ran.
//===----------------------------------------------------------------------===//
#ifndef KILN_TEST_DIRECTCONVPATHS_H
#define KILN_TEST_DIRECTCONVPATHS_H

#include "kernels/DirectConv.h"

#include "kiln/runtime/KernelABI.h"

namespace kiln::rt::test {

// ---- kiln_conv2d_same_f32: rows of one image ----
inline bool sameAvx512(const DirectConvArgs &a) { return directConvAvx512(a); }
inline bool samePortable(const DirectConvArgs &a) {
  directConvPortable(a);
  return true;
}
inline bool sameAbiEntry(const DirectConvArgs &a) {
  kiln_conv2d_same_f32(a.x, a.wt, a.out, a.ld, a.cin, a.h, a.w, a.cout, a.kh, a.kw, a.ph, a.pw,
                       a.wsCo, a.wsCi, a.wsY, a.wsX, a.oy0, a.oy1, a.epilogue);
  return true;
}

// ---- kiln_conv2d_same_images_f32: whole images, packed ----
inline bool imagesAvx512(const DirectConvImagesArgs &a) { return directConvImagesAvx512(a); }
inline bool imagesPortable(const DirectConvImagesArgs &a) {
  directConvImagesPortable(a);
  return true;
}
inline bool imagesAbiEntry(const DirectConvImagesArgs &a) {
  kiln_conv2d_same_images_f32(a.x, a.wt, a.out, a.scratch, a.images, a.xImage, a.outImage, a.cin,
                              a.h, a.w, a.cout, a.kh, a.kw, a.ph, a.pw, a.wsCo, a.wsCi, a.wsY,
                              a.wsX, a.epilogue);
  return true;
}

// ---- kiln_conv2d_stride2_f32: rows across images ----
inline bool stride2Avx512(const DirectConvStride2Args &a) { return directConvStride2Avx512(a); }
inline bool stride2Portable(const DirectConvStride2Args &a) {
  directConvStride2Portable(a);
  return true;
}
inline bool stride2AbiEntry(const DirectConvStride2Args &a) {
  kiln_conv2d_stride2_f32(a.x, a.wt, a.out, a.scratch, a.row0, a.row1, a.cin, a.h, a.w, a.cout,
                          a.epilogue);
  return true;
}

// ---- kiln_conv2d_hwio_f32: HWIO weights, stride 1 or 2, any padding ----
/// Channels in lanes where it takes the shape, else the plain loop (as the
/// ABI entry falls back).
inline bool hwioAvx512OrPortable(const DirectConvHwioArgs &a) {
  if (!directConvHwioAvx512(a))
    directConvHwioPortable(a);
  return true;
}
inline bool hwioPortable(const DirectConvHwioArgs &a) {
  directConvHwioPortable(a);
  return true;
}
inline bool hwioAbiEntry(const DirectConvHwioArgs &a) {
  kiln_conv2d_hwio_f32(a.x, a.wt, a.out, a.row0, a.row1, a.cin, a.h, a.w, a.cout, a.kh, a.kw,
                       a.stride, a.ph, a.pw, a.epilogue);
  return true;
}

} // namespace kiln::rt::test

#endif

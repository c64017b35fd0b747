//===- OpQueries.h - small questions both code generators ask --*- C++ -*-===//
//
// The CPU (LLVM) and CUDA code generators read the same facts off kiln ops
// and kernel bodies; they read them here so that the two cannot drift apart.
//===----------------------------------------------------------------------===//
#ifndef KILN_DIALECT_OPQUERIES_H
#define KILN_DIALECT_OPQUERIES_H

#include "mlir/IR/Block.h"
#include "mlir/IR/Operation.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <optional>

namespace kiln {

class Conv2dOp;

/// The reduction of a reduce_sum or reduce_mean. `axes` points into the op's
/// attribute (owned by the MLIRContext); negative axes count from the end.
struct ReduceAxes {
  llvm::ArrayRef<int64_t> axes;
  bool keepdim = false;
  bool isMean = false;
};

/// The axes of a reduce_sum or reduce_mean; nullopt for any other op.
std::optional<ReduceAxes> reduceAxesOf(mlir::Operation *op);

/// Ops that compute each output element from many input elements (conv,
/// GEMM, pools, softmax, reductions, transpose and their gradients): at most
/// one per kernel, its anchor.
bool isAnchorOp(mlir::Operation *op);

/// The anchor of a kernel body, or null for a purely elementwise kernel. It is
/// the first op, unless a reduction has a prologue (pointwise ops computing its
/// input, absorbed by kiln-fuse's producer rule) in front of it.
mlir::Operation *kernelAnchor(mlir::Block &body);

/// The ops of a kernel body before its anchor, in order: the prologue of a
/// reduction. Empty when the anchor is null or first.
llvm::SmallVector<mlir::Operation *> opsBeforeAnchor(mlir::Block &body, mlir::Operation *anchor);

/// The ops of a kernel body after its anchor, in order, without the
/// terminator: the elementwise epilogue. Every op when `anchor` is null.
llvm::SmallVector<mlir::Operation *> opsAfterAnchor(mlir::Block &body, mlir::Operation *anchor);

/// The extents of a convolution that decide which kernel computes it (input
/// and output plane, window, strides, dilation, groups).
struct ConvExtents {
  int64_t h, w, oh, ow, kh, kw, sh, sw, dh, dw, groups;
};

/// Those of a conv2d, from its types and attributes (the weight read in its
/// logical OIHW order); nullopt when a plane or window extent is dynamic.
std::optional<ConvExtents> convExtentsOf(Conv2dOp conv);

/// Stride 1, dilation 1, one group, output as large as the input, at most 49
/// taps: the convolutions the runtime's direct "same" convolution
/// (kiln_conv2d_same_f32) computes. The CPU lowering picks that kernel by
/// it, and kiln-pack-conv-weights packs weights only for convolutions that
/// get it, so both must ask the same question.
bool directSameConvApplies(const ConvExtents &c);

/// 3x3, stride 2, dilation 1, one group, even planes halved (which makes the
/// padding 1): the convolutions the runtime's stride-2 convolution
/// (kiln_conv2d_stride2_f32) computes, ResNet's downsampling ones. Asked,
/// like directSameConvApplies, by the CPU lowering and kiln-pack-conv-weights.
bool directStride2ConvApplies(const ConvExtents &c);

/// 1x1, stride above 1, dilation 1, one group, every s-th pixel read from
/// the first (the output size of no padding): ResNet's downsampling
/// shortcuts, which the CPU lowering gathers and runs as a 1x1 "same"
/// convolution (it also checks the padding, which ConvExtents does not
/// hold; a padded 1x1 stride-2 window has another output size).
bool directSubsampledConvApplies(const ConvExtents &c);

/// One group, dilation 1, the same stride 1 or 2 in both directions: the
/// convolutions the runtime's entry for HWIO weights (kiln_conv2d_hwio_f32)
/// computes channels in lanes, given a small output plane (any window and
/// padding: ResNet's 3x3 and 1x1 stride-2 ones, lenet5's "valid" 5x5).
bool hwioConvApplies(const ConvExtents &c);

} // namespace kiln

#endif

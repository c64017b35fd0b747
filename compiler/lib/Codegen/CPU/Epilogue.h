//===- Epilogue.h - elementwise part of a fused group ----------*- C++ -*-===//
//
// Every fused group is "an optional anchor, then elementwise/broadcast ops over
// the anchor's iteration space". This file computes, once per kernel:
//   - for each use of an external input by an elementwise op, its strides in
//     the group's output index space (0 on broadcast dims),
//   - which output dims may be collapsed into one loop (all accesses agree),
//   - which values do not depend on the innermost loop (hoisted per row),
// and emits the scalar code for one output element.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_CODEGEN_CPU_EPILOGUE_H
#define KILN_CODEGEN_CPU_EPILOGUE_H

#include "KernelIR.h"
#include "kiln/Codegen/BroadcastStrides.h"
#include "kiln/Dialect/KilnOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace kiln::codegen {

/// A shape with -1 for the dynamic batch, plus the runtime batch value.
struct RuntimeShape {
  llvm::SmallVector<int64_t> dims;
  /// dims with the batch substituted (constants where static).
  llvm::SmallVector<mlir::Value> values(KernelIR &ir, mlir::Value batch) const;
  /// Row-major strides as values.
  llvm::SmallVector<mlir::Value> strides(KernelIR &ir, mlir::Value batch) const;
  int64_t staticNumelPerItem() const; // product of the static dims
  bool hasDynamic() const;
};
RuntimeShape shapeOf(mlir::Value v);

/// The elementwise ops of a kernel body that follow the anchor.
class Epilogue {
public:
  /// `anchor` is null for a purely elementwise group. `buffers[i]` is the
  /// pointer of kernel operand i (block argument i).
  Epilogue(KernelOp kernel, mlir::Operation *anchor);

  /// The prologue of a reduction anchor: the pointwise ops in front of it
  /// (kiln-fuse's producer rule), over the shape of the anchor's input, whose
  /// value they compute. Empty when the input is a kernel operand.
  static Epilogue prologue(KernelOp kernel, mlir::Operation *anchor);
  /// The prologue's value at full coordinates (one per dim of its shape).
  /// Index arithmetic only, so `coords[d]` may run past dim d when dims d-k..d
  /// are iterated as one index and mergesAt() allows it for each of them.
  mlir::Value emitAt(KernelIR &ir, mlir::Value batch, llvm::ArrayRef<mlir::Value> buffers,
                     llvm::ArrayRef<mlir::Value> coords);
  /// Whether every external input steps consistently across dims d-1 and d.
  bool mergesAt(int64_t d) const;

  /// Dims of the output that may be merged into one loop dimension, given
  /// that the anchor itself only tolerates merging the dims in `anchorMergeable`
  /// (pairs (d, d+1) are mergeable when mergeable[d] is true).
  /// Returns groups of original dims, outermost first.
  llvm::SmallVector<llvm::SmallVector<int64_t>>
  collapse(llvm::ArrayRef<bool> anchorMergeable) const;

  /// Sets the iteration space (groups of original dims, as from collapse()).
  void setIterationSpace(llvm::SmallVector<llvm::SmallVector<int64_t>> groups);

  /// Emits, at the current insertion point, the values that do not depend on
  /// the innermost iteration coordinate. `outer` has one coordinate per
  /// iteration dim except the last.
  void emitRowInvariants(KernelIR &ir, mlir::Value batch,
                         llvm::ArrayRef<mlir::Value> buffers,
                         llvm::ArrayRef<mlir::Value> outer);
  /// Emits the value of the group's result for one element. `inner` is the
  /// innermost iteration coordinate; `anchorValue` the anchor's scalar (null
  /// without anchor). Must follow emitRowInvariants for the same row.
  mlir::Value emitElement(KernelIR &ir, mlir::Value batch,
                          llvm::ArrayRef<mlir::Value> buffers, mlir::Value inner,
                          mlir::Value anchorValue);

  /// The epilogue as the output stage of the runtime's convolutions
  /// (kiln_conv2d_epilogue, KernelABI.h): batch_norm with per-channel
  /// parameters, then an add of an input laid out exactly as the output,
  /// then relu; each optional, each applied to the value before it (the
  /// first to the anchor's). Operands are kernel operand numbers (-1:
  /// absent). nullopt for any other epilogue, which stays a loop of its own.
  struct ConvStage {
    int bnWeight = -1, bnBias = -1, bnMean = -1, bnVar = -1;
    float bnEps = 0.0f;
    int residual = -1;
    bool relu = false;
  };
  std::optional<ConvStage> matchConvStage() const;

  /// Elementwise FLOPs per output element (for reports).
  int64_t flopsPerElement() const;
  bool empty() const { return ops.empty(); }

private:
  struct Use {
    unsigned argNumber;                   // which external input
    llvm::SmallVector<Stride, 4> strides; // per output dim; 0 = broadcast (BroadcastStrides.h)
  };
  mlir::Value strideValue(KernelIR &ir, mlir::Value batch, const Stride &stride) const;
  mlir::Value emitScalarOp(KernelIR &ir, mlir::Operation *op,
                           llvm::ArrayRef<mlir::Value> operands);

  Epilogue(KernelOp kernel, llvm::SmallVector<mlir::Operation *> ops, mlir::Value result);
  void analyseUses();

  KernelOp kernel;
  mlir::Operation *anchor;
  mlir::Value result; // the value the ops compute (the kernel's yield for an epilogue)
  RuntimeShape outShape;
  llvm::SmallVector<mlir::Operation *> ops;              // epilogue ops in order
  llvm::DenseMap<mlir::OpOperand *, Use> uses;           // external operand uses
  llvm::DenseMap<mlir::Value, bool> invariant;           // inner-loop invariant?
  llvm::SmallVector<llvm::SmallVector<int64_t>> iterGroups;
  // Per row: the outer part of each use's index, and hoisted scalars.
  llvm::DenseMap<mlir::OpOperand *, mlir::Value> rowBase;
  llvm::DenseMap<mlir::OpOperand *, mlir::Value> innerStride;
  llvm::DenseMap<mlir::Value, mlir::Value> rowValues;
  llvm::DenseMap<mlir::Operation *, mlir::Value> bnScale; // hoisted BN scales
};

} // namespace kiln::codegen

#endif

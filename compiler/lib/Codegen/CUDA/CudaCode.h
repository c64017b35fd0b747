//===- CudaCode.h - text building blocks of the CUDA generator -*- C++ -*-===//
//
// Private to compiler/lib/Codegen/CUDA. Shapes carry -1 for the dynamic batch;
// in generated code the batch is the int `B`. All index arithmetic is 32-bit
// (see CudaLaunch::maxBatch).
//===----------------------------------------------------------------------===//
#ifndef KILN_CODEGEN_CUDA_CUDACODE_H
#define KILN_CODEGEN_CUDA_CUDACODE_H

#include "kiln/Codegen/BroadcastStrides.h"
#include "kiln/Codegen/CudaEmitter.h"
#include "kiln/Dialect/KilnOps.h"

#include "llvm/ADT/SmallVector.h"

#include <fmt/format.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace kiln::codegen::cuda {

using Dims = llvm::SmallVector<int64_t, 4>;

/// Shape of a tensor value (-1 for a dynamic dim).
Dims dimsOf(mlir::Value v);
/// "B" for the batch, else the number.
std::string extent(int64_t d);
/// A float literal that reads back as exactly `v` ("1.00000005e-05f").
std::string floatLit(float v);

/// Indented text.
class Code {
public:
  explicit Code(int indent = 0) : indent_(indent) {}
  void line(const std::string &s) {
    text_.append(size_t(indent_) * 2, ' ');
    text_ += s;
    text_ += '\n';
  }
  void open(const std::string &s) {
    line(s + " {");
    ++indent_;
  }
  void close(const std::string &suffix = "") {
    --indent_;
    line("}" + suffix);
  }
  const std::string &text() const { return text_; }
  /// A fresh variable name.
  std::string fresh(const char *prefix) { return fmt::format("{}{}", prefix, counter_++); }

private:
  std::string text_;
  int indent_ = 0;
  int counter_ = 0;
};

// Stride (a coefficient, possibly times the batch) and rowMajorStrides: the
// CPU generator's, from kiln/Codegen/BroadcastStrides.h.
using codegen::Stride;
using codegen::rowMajorStrides;

/// A stride as a C operand: "0", "12", "B" or "12*B".
std::string strideExpr(const Stride &stride);

/// Emits `const int <names[i]> = ...` for the coordinates of linear index
/// `index` over `extents` (row-major, outermost first; the outermost one is
/// not reduced modulo its extent).
void decompose(Code &c, const std::string &index, llvm::ArrayRef<std::string> extents,
               llvm::ArrayRef<std::string> names);

/// sum_i coords[i] * strides[i] as C text ("0" when empty).
std::string linearExpr(llvm::ArrayRef<std::string> coords, llvm::ArrayRef<Stride> strides);

/// The elementwise part of a fused group (everything after the anchor),
/// evaluated per output element from the output coordinates.
class Epilogue {
public:
  Epilogue(KernelOp kernel, mlir::Operation *anchor);
  /// The prologue of a reduction anchor: the pointwise ops in front of it
  /// (kiln-fuse's producer rule) over the shape of the anchor's input, whose
  /// value emit() returns. Empty when the input is a kernel operand.
  static Epilogue prologue(KernelOp kernel, mlir::Operation *anchor);
  /// Whether every external input steps consistently across dims d-1 and d.
  bool mergesAt(int64_t d) const;

  /// Output dims; a rank-0 result is treated as [1].
  const Dims &outDims() const { return out_; }
  bool empty() const { return ops_.empty(); }
  int64_t flopsPerElement() const;

  /// Groups of output dims that may be iterated as one index (every external
  /// input steps consistently across them); `mergeable[d]` says whether the
  /// anchor allows merging dims d and d+1. Dynamic dims never merge.
  std::vector<std::vector<int64_t>> collapse(llvm::ArrayRef<bool> mergeable) const;

  /// True when every external input reads the innermost group with stride 0
  /// or 1 (so four consecutive outputs read at most four consecutive floats).
  bool innerStrideUnitOrZero(const std::vector<std::vector<int64_t>> &groups) const;

  /// Reads external input use #use at `offset` for vector lane `lane`.
  using Load = std::function<std::string(size_t use, int lane, const std::string &offset)>;

  /// Emits the statements for one element and returns the C expression of the
  /// result. `coords[g]` is the coordinate of group g; `anchorValue` the
  /// anchor's value at this element ("" without anchor).
  std::string emit(Code &c, const std::vector<std::vector<int64_t>> &groups,
                   llvm::ArrayRef<std::string> coords, const std::string &anchorValue,
                   int lane = 0, const Load &load = nullptr);

  /// True when emit() met an op it cannot lower (diagnosed at the op).
  bool failed() const { return failed_; }

  /// Number of external-input uses and, per use, its block argument and the
  /// stride of the innermost dim of `groups`.
  size_t numUses() const { return uses_.size(); }
  unsigned useArg(size_t use) const { return uses_[use].arg; }
  Stride useInnerStride(size_t use, const std::vector<std::vector<int64_t>> &groups) const {
    return uses_[use].strides[groups.back().back()];
  }
  /// Offset expression of use #use for the given group coordinates.
  std::string useOffset(size_t use, const std::vector<std::vector<int64_t>> &groups,
                        llvm::ArrayRef<std::string> coords) const;

private:
  struct Use {
    mlir::OpOperand *operand;
    unsigned arg;
    llvm::SmallVector<Stride, 4> strides; // per output dim; 0 = broadcast
  };
  std::string scalarOp(mlir::Operation *op, llvm::ArrayRef<std::string> v) const;
  Epilogue(KernelOp kernel, std::vector<mlir::Operation *> ops, mlir::Value result);
  void analyseUses();

  KernelOp kernel_;
  mlir::Operation *anchor_;
  mlir::Value result_; // the value the ops compute (the kernel's yield for an epilogue)
  Dims out_;
  std::vector<mlir::Operation *> ops_;
  std::vector<Use> uses_; // in op/operand order (deterministic text)
  bool failed_ = false;
};

/// Everything one kernel emitter needs and produces.
struct KernelGen {
  KernelOp kernel;
  mlir::Operation *anchor = nullptr;
  Code code{1};           // the function body (after the signature)
  CudaLaunch launch;      // symbol left empty
  int64_t blockThreads = 256;
  /// Argument name of a block argument (an external input).
  std::string arg(mlir::Value v) const;
  std::string in(unsigned i) const { return fmt::format("in{}", i); }
};

// ---- emitters, one per family of anchors ----
mlir::LogicalResult emitPointwise(KernelGen &g, Epilogue &epi);
mlir::LogicalResult emitReduce(KernelGen &g, Epilogue &epi);
mlir::LogicalResult emitSoftmax(KernelGen &g, Epilogue &epi, int64_t axis, bool isLog);
mlir::LogicalResult emitGemm(KernelGen &g, Epilogue &epi);
mlir::LogicalResult emitConv(KernelGen &g, Epilogue &epi);
mlir::LogicalResult emitConvGradInput(KernelGen &g, Epilogue &epi);
mlir::LogicalResult emitConvGradWeight(KernelGen &g, Epilogue &epi);

/// The device scratch starts with kScratchCounters zero-initialised unsigned
/// counters shared by every kernel that splits work over blocks (each leaves
/// its counters at zero again); partial results follow them. Keeping the
/// counters apart from every kernel's partials is what keeps them zero.
constexpr int64_t kScratchCounters = 4096;

/// Blocks the runtime aims for when it splits a reduction (about two waves on
/// a 132-SM H100; more blocks only add partial tiles to sum).
constexpr int64_t kTargetBlocks = 264;

} // namespace kiln::codegen::cuda

#endif

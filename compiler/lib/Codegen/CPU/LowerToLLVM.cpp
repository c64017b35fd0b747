//===- LowerToLLVM.cpp - kiln.kernel -> llvm.func (kiln-lower-to-llvm) ----===//
//
// Each fused group becomes one function with the KernelABI signature
//   void @name(ptr %buffers, i64 %batch, i64 %begin, i64 %end, ptr %scratch)
// that computes work units [begin, end). The runtime splits a kernel's units
// evenly over its threads; a kernel chunks its range further where that keeps
// data in cache (convolution processes R output rows at a time: im2col of those
// rows into scratch, one cblas_sgemm, then the epilogue while the GEMM tile is
// still in L2).
//
// Anchors and their work units:
//   conv2d           one output row (n, oh); im2col + sgemm + epilogue
//   linear / matmul  one row of the left operand; sgemm + epilogue
//   softmax family   one row along the softmax axis
//   everything else  (row, chunk) pairs of the output iterated as
//                    [collapsed outer dims..., innermost dims]
//
// The body is written with scf/arith/math ops on raw pointers and converted to
// the LLVM dialect at the end of the pass, so the output of this pass is pure
// LLVM dialect kernels next to the (unchanged) kiln scheduling functions.
//===----------------------------------------------------------------------===//
#include "Epilogue.h"
#include "KernelIR.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>
#include <limits>

using namespace mlir;

namespace kiln {
#define GEN_PASS_DEF_KILNLOWERTOLLVM
#include "kiln/Transforms/Passes.h.inc"
} // namespace kiln

namespace kiln::codegen {
namespace {

// CBLAS enum values (cblas.h); blasint is 32-bit in Debian's OpenBLAS.
constexpr int32_t kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;

// Cache budget for one convolution chunk's im2col tile (floats): about half of
// Zen 3's 512 KiB L2, so the GEMM's packed panels and output tile fit beside it.
constexpr int64_t kIm2colTileFloats = 64 * 1024;
// Elements per unit of a pointwise kernel's innermost loop.
constexpr int64_t kInnerChunk = 8192;

/// What the lowering records on a kernel for the artifact.
struct KernelPlan {
  int64_t workPerItem = 0, workFixed = 0, workPerTask = 1;
  int64_t scratchBytes = 0, flopsPerItem = 0;
};

/// Shared state while emitting one kernel.
struct KernelContext {
  KernelOp kernel;
  KernelIR &ir;
  Value batch, begin, end, scratch;
  SmallVector<Value> buffers; // operand pointers, then the output pointer
  Value output() const { return buffers.back(); }
  Value argBuffer(Value v) const {
    return buffers[llvm::cast<BlockArgument>(v).getArgNumber()];
  }
};

bool isDynamic(int64_t d) { return d < 0; }

Value dimValue(KernelIR &ir, int64_t d, Value batch) { return isDynamic(d) ? batch : ir.c(d); }

// Only dim 0 may be dynamic: that keeps every stride static.
LogicalResult checkBatchLayout(KernelOp kernel) {
  auto check = [&](Value v) -> bool {
    auto dims = llvm::cast<RankedTensorType>(v.getType()).getShape();
    for (size_t i = 1; i < dims.size(); ++i)
      if (ShapedType::isDynamic(dims[i]))
        return false;
    return true;
  };
  for (Value v : kernel.getOperands())
    if (!check(v))
      return kernel.emitError("kiln-lower-to-llvm: only dimension 0 may be dynamic");
  if (!check(kernel.getResult()))
    return kernel.emitError("kiln-lower-to-llvm: only dimension 0 may be dynamic");
  return success();
}

/// Offset of a row-major element, given static dims (dim 0 may be -1).
Value linearIndex(KernelIR &ir, ArrayRef<int64_t> dims, ArrayRef<Value> coords) {
  Value index = ir.c(0);
  int64_t stride = 1;
  for (int64_t i = (int64_t)dims.size() - 1; i >= 0; --i) {
    index = ir.add(index, ir.mul(coords[i], stride));
    stride *= isDynamic(dims[i]) ? 1 : dims[i];
  }
  return index;
}

LLVM::LLVMFuncOp getOrDeclareSgemm(ModuleOp module, OpBuilder &builder) {
  if (auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>("cblas_sgemm"))
    return fn;
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(module.getBody());
  Type i32 = builder.getI32Type(), f32 = builder.getF32Type();
  Type ptr = LLVM::LLVMPointerType::get(builder.getContext());
  auto type = LLVM::LLVMFunctionType::get(
      LLVM::LLVMVoidType::get(builder.getContext()),
      {i32, i32, i32, i32, i32, i32, f32, ptr, i32, ptr, i32, f32, ptr, i32});
  return builder.create<LLVM::LLVMFuncOp>(module.getLoc(), "cblas_sgemm", type);
}

/// C[M,N] = op(A)[M,K] * op(B)[K,N], row-major, through OpenBLAS.
void emitSgemm(KernelIR &ir, LLVM::LLVMFuncOp sgemm, bool transB, Value m, Value n,
               Value k, Value a, Value lda, Value bPtr, Value ldb, Value c, Value ldc) {
  SmallVector<Value> args = {ir.i32(kCblasRowMajor),
                             ir.i32(kCblasNoTrans),
                             ir.i32(transB ? kCblasTrans : kCblasNoTrans),
                             ir.truncI32(m),
                             ir.truncI32(n),
                             ir.truncI32(k),
                             ir.f(1.0f),
                             a,
                             ir.truncI32(lda),
                             bPtr,
                             ir.truncI32(ldb),
                             ir.f(0.0f),
                             c,
                             ir.truncI32(ldc)};
  ir.b.create<LLVM::CallOp>(ir.loc, sgemm, args);
}

// ---------------------------------------------------------------------------
// conv2d: im2col + sgemm + epilogue, R output rows at a time
// ---------------------------------------------------------------------------

LogicalResult emitConv(KernelContext &cx, Conv2dOp conv, Epilogue &epi, KernelPlan &plan,
                       LLVM::LLVMFuncOp sgemm) {
  KernelIR &ir = cx.ir;
  auto xDims = shapeOf(conv.getInput()).dims, wDims = shapeOf(conv.getWeight()).dims;
  auto oDims = shapeOf(conv.getResult()).dims;
  const int64_t cin = xDims[1], h = xDims[2], w = xDims[3];
  const int64_t cout = wDims[0], kh = wDims[2], kw = wDims[3];
  const int64_t oh = oDims[2], ow = oDims[3];
  auto strides = conv.getStrides(), pads = conv.getPadding(), dil = conv.getDilation();
  const int64_t sh = strides[0], sw = strides[1], ph = pads[0], pw = pads[1];
  const int64_t dh = dil[0], dw = dil[1];
  const int64_t groups = conv.getGroups();
  const int64_t cinG = cin / groups, coutG = cout / groups, k = cinG * kh * kw;

  // Rows per chunk: as many as fit the im2col budget (at least one).
  const int64_t colsBudget = std::max<int64_t>(ow, kIm2colTileFloats / k);
  const int64_t rowsPerChunk = std::max<int64_t>(1, colsBudget / ow);
  const int64_t maxCols = rowsPerChunk * ow;
  plan.scratchBytes = (k * maxCols + cout * maxCols) * 4;
  if (isDynamic(xDims[0]))
    plan.workPerItem = oh;
  else
    plan.workFixed = xDims[0] * oh;
  plan.flopsPerItem = isDynamic(xDims[0]) ? 2 * cout * k * oh * ow +
                                                 epi.flopsPerElement() * cout * oh * ow
                                           : 0;

  // Iteration space of the epilogue: (n, co, pixel) when every access agrees
  // that oh and ow merge, else (n, co, oh, ow).
  SmallVector<bool> mergeable = {false, false, true};
  auto iterGroups = epi.collapse(mergeable);
  const bool pixelsMerged = iterGroups.size() == 3;
  epi.setIterationSpace(iterGroups);

  Value x = cx.argBuffer(conv.getInput());
  Value wt = cx.argBuffer(conv.getWeight());
  Value bias = conv.getBias() ? cx.argBuffer(conv.getBias()) : Value();
  Value colBuf = cx.scratch;                                 // [k, cols]
  Value gemmOut = ir.offsetPtr(cx.scratch, ir.c(k * maxCols)); // [cout, cols]

  ir.forLoopStep(cx.begin, cx.end, rowsPerChunk, [&](Value r0) {
    Value r1 = ir.min(ir.add(r0, rowsPerChunk), cx.end);
    Value ncols = ir.mul(ir.sub(r1, r0), ow);
    for (int64_t g = 0; g < groups; ++g) {
      // im2col: B[kk, (r - r0)*ow + ox] = x[n, g*cinG + ci, oy*sh - ph + ky*dh, ox*sw - pw + kx*dw]
      // One output row (n, oy) at a time so that the input rows it reads stay
      // in L1 across the kh*kw taps. Which output columns read inside the image
      // is static per kx; with stride 1 each tap is one contiguous copy.
      auto ceilDiv = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
      ir.forLoop(r0, r1, [&](Value r) {
        Value n = ir.div(r, oh);
        Value oy = ir.rem(r, oh);
        Value colOffset = ir.mul(ir.sub(r, r0), ow);
        ir.forLoop(0, cinG, [&](Value ci) {
          Value channel = ir.add(ir.add(ir.mul(n, cin), g * cinG), ci);
          for (int64_t ky = 0; ky < kh; ++ky) {
            Value iy = ir.add(ir.mul(oy, sh), ky * dh - ph);
            Value inside = ir.b.create<arith::AndIOp>(
                ir.loc, ir.cmp(arith::CmpIPredicate::sge, iy, ir.c(0)),
                ir.cmp(arith::CmpIPredicate::slt, iy, ir.c(h)));
            Value kkBase = ir.add(ir.mul(ci, kh * kw), ky * kw);
            auto rowStart = [&](int64_t kx) {
              return ir.add(ir.mul(ir.add(kkBase, kx), ncols), colOffset);
            };
            ir.ifThenElse(
                inside,
                [&] {
                  Value src = ir.mul(ir.add(ir.mul(channel, h), iy), w);
                  for (int64_t kx = 0; kx < kw; ++kx) {
                    int64_t lo = std::clamp<int64_t>(ceilDiv(pw - kx * dw, sw), 0, ow);
                    int64_t hi = std::clamp<int64_t>(ceilDiv(w + pw - kx * dw, sw), lo, ow);
                    Value dst = rowStart(kx);
                    ir.zeroFloats(ir.offsetPtr(colBuf, dst), lo);
                    if (sw == 1) {
                      Value from = ir.add(src, lo + kx * dw - pw);
                      ir.copyFloats(ir.offsetPtr(colBuf, ir.add(dst, lo)),
                                    ir.offsetPtr(x, from), hi - lo);
                    } else {
                      ir.forLoop(lo, hi, [&](Value ox) {
                        Value ix = ir.add(ir.mul(ox, sw), kx * dw - pw);
                        ir.store(colBuf, ir.add(dst, ox), ir.load(x, ir.add(src, ix)));
                      });
                    }
                    ir.zeroFloats(ir.offsetPtr(colBuf, ir.add(dst, hi)), ow - hi);
                  }
                },
                [&] {
                  for (int64_t kx = 0; kx < kw; ++kx)
                    ir.zeroFloats(ir.offsetPtr(colBuf, rowStart(kx)), ow);
                });
          }
        });
      });
      Value a = ir.offsetPtr(wt, ir.c(g * coutG * k));
      Value c = ir.offsetPtr(gemmOut, ir.mul(ncols, g * coutG));
      emitSgemm(ir, sgemm, /*transB=*/false, ir.c(coutG), ncols, ir.c(k), a, ir.c(k), colBuf,
                ncols, c, ncols);
    }
    // Epilogue, one image segment at a time: columns of one image are
    // contiguous both in the GEMM tile and in the NCHW output.
    Value nFirst = ir.div(r0, oh);
    Value nLast = ir.div(ir.sub(r1, ir.c(1)), oh);
    ir.forLoop(nFirst, ir.add(nLast, 1), [&](Value n) {
      Value imageRow0 = ir.mul(n, oh);
      Value y0 = ir.sub(ir.max(r0, imageRow0), imageRow0);
      Value y1 = ir.sub(ir.min(r1, ir.add(imageRow0, oh)), imageRow0);
      Value tileCol0 = ir.mul(ir.sub(ir.add(imageRow0, y0), r0), ow);
      ir.forLoop(ir.c(0), ir.c(cout), [&](Value co) {
        Value biasValue = bias ? ir.load(bias, co) : Value();
        Value tileRow = ir.add(ir.mul(co, ncols), tileCol0);
        Value outBase = ir.mul(ir.add(ir.mul(n, cout), co), oh * ow);
        auto element = [&](Value tileIndex, Value outIndex, Value inner) {
          Value v = ir.load(gemmOut, tileIndex);
          if (biasValue)
            v = ir.fadd(v, biasValue);
          v = epi.empty() ? v : epi.emitElement(ir, cx.batch, cx.buffers, inner, v);
          ir.store(cx.output(), outIndex, v);
        };
        if (pixelsMerged) {
          epi.emitRowInvariants(ir, cx.batch, cx.buffers, {n, co});
          Value p0 = ir.mul(y0, ow), p1 = ir.mul(y1, ow);
          ir.forLoop(p0, p1, [&](Value p) {
            element(ir.add(tileRow, ir.sub(p, p0)), ir.add(outBase, p), p);
          });
        } else {
          ir.forLoop(y0, y1, [&](Value oy) {
            epi.emitRowInvariants(ir, cx.batch, cx.buffers, {n, co, oy});
            Value rowOff = ir.mul(ir.sub(oy, y0), ow);
            ir.forLoop(0, ow, [&](Value ox) {
              element(ir.add(tileRow, ir.add(rowOff, ox)),
                      ir.add(outBase, ir.add(ir.mul(oy, ow), ox)), ox);
            });
          });
        }
      });
    });
  });
  return success();
}

// ---------------------------------------------------------------------------
// linear / matmul: sgemm over a chunk of rows + epilogue
// ---------------------------------------------------------------------------

LogicalResult emitGemm(KernelContext &cx, Operation *anchor, Epilogue &epi, KernelPlan &plan,
                       LLVM::LLVMFuncOp sgemm) {
  KernelIR &ir = cx.ir;
  Value lhsV = anchor->getOperand(0), rhsV = anchor->getOperand(1);
  Value biasV;
  bool transB = false;
  int64_t kDim, nDim;
  auto lhsDims = shapeOf(lhsV).dims, rhsDims = shapeOf(rhsV).dims;
  if (auto linear = dyn_cast<LinearOp>(anchor)) {
    transB = true; // weight is [out, in]
    kDim = rhsDims[1];
    nDim = rhsDims[0];
    biasV = linear.getBias();
  } else {
    kDim = rhsDims[0];
    nDim = rhsDims[1];
  }
  if (isDynamic(lhsDims[0]))
    plan.workPerItem = 1;
  else
    plan.workFixed = lhsDims[0];
  const int64_t rowsPerChunk = std::max<int64_t>(1, kIm2colTileFloats / std::max(kDim, nDim));
  plan.scratchBytes = rowsPerChunk * nDim * 4;
  plan.flopsPerItem = isDynamic(lhsDims[0]) ? 2 * kDim * nDim + epi.flopsPerElement() * nDim : 0;
  epi.setIterationSpace({{0}, {1}});

  Value lhs = cx.argBuffer(lhsV), rhs = cx.argBuffer(rhsV);
  Value bias = biasV ? cx.argBuffer(biasV) : Value();
  ir.forLoopStep(cx.begin, cx.end, rowsPerChunk, [&](Value r0) {
    Value r1 = ir.min(ir.add(r0, rowsPerChunk), cx.end);
    Value rows = ir.sub(r1, r0);
    emitSgemm(ir, sgemm, transB, rows, ir.c(nDim), ir.c(kDim),
              ir.offsetPtr(lhs, ir.mul(r0, kDim)), ir.c(kDim), rhs,
              ir.c(transB ? kDim : nDim), cx.scratch, ir.c(nDim));
    ir.forLoop(r0, r1, [&](Value r) {
      if (!epi.empty())
        epi.emitRowInvariants(ir, cx.batch, cx.buffers, {r});
      Value tileRow = ir.mul(ir.sub(r, r0), nDim);
      Value outRow = ir.mul(r, nDim);
      ir.forLoop(0, nDim, [&](Value j) {
        Value v = ir.load(cx.scratch, ir.add(tileRow, j));
        if (bias)
          v = ir.fadd(v, ir.load(bias, j));
        if (!epi.empty())
          v = epi.emitElement(ir, cx.batch, cx.buffers, j, v);
        ir.store(cx.output(), ir.add(outRow, j), v);
      });
    });
  });
  return success();
}

// ---------------------------------------------------------------------------
// softmax / log_softmax: one row along the axis per unit
// ---------------------------------------------------------------------------

LogicalResult emitSoftmax(KernelContext &cx, Operation *anchor, int64_t axisAttr, bool isLog,
                          Epilogue &epi, KernelPlan &plan) {
  KernelIR &ir = cx.ir;
  auto dims = shapeOf(anchor->getResult(0)).dims;
  const int64_t rank = dims.size();
  const int64_t axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  const int64_t len = dims[axis];
  // Units: every combination of the non-axis dims (dim 0 outermost).
  int64_t staticRows = 1;
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis && !isDynamic(dims[d]))
      staticRows *= dims[d];
  if (isDynamic(dims[0]))
    plan.workPerItem = staticRows;
  else
    plan.workFixed = staticRows;
  plan.flopsPerItem = isDynamic(dims[0]) ? staticRows * len * (4 + epi.flopsPerElement()) : 0;
  SmallVector<SmallVector<int64_t>> singletons;
  for (int64_t d = 0; d < rank; ++d)
    singletons.push_back({d});
  epi.setIterationSpace(singletons);
  int64_t axisStride = 1;
  for (int64_t d = axis + 1; d < rank; ++d)
    axisStride *= dims[d];

  Value in = cx.argBuffer(anchor->getOperand(0));
  ir.forLoop(cx.begin, cx.end, [&](Value unit) {
    // Decompose the unit into the non-axis coordinates.
    SmallVector<Value> coords(rank);
    Value rest = unit;
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (d == axis)
        continue;
      if (d == 0) {
        coords[d] = rest;
      } else {
        coords[d] = ir.rem(rest, dims[d]);
        rest = ir.div(rest, dims[d]);
      }
    }
    if (axis == 0)
      coords[0] = ir.c(0);
    coords[axis] = ir.c(0);
    Value base = linearIndex(ir, dims, coords);
    auto at = [&](Value j) { return ir.add(base, ir.mul(j, axisStride)); };
    Value maxV = ir.forReduce(ir.c(0), ir.c(len), ir.f(-std::numeric_limits<float>::infinity()),
                              [&](Value j, Value acc) { return ir.fmax(acc, ir.load(in, at(j))); });
    Value sum = ir.forReduce(ir.c(0), ir.c(len), ir.f(0.0f), [&](Value j, Value acc) {
      return ir.faddReduce(acc, ir.fexp(ir.fsub(ir.load(in, at(j)), maxV)));
    });
    Value logSum = isLog ? ir.flog(sum) : Value();
    Value inv = isLog ? Value() : ir.fdiv(ir.f(1.0f), sum);
    bool rowInvariantsOnce = axis == rank - 1;
    if (!epi.empty() && rowInvariantsOnce)
      epi.emitRowInvariants(ir, cx.batch, cx.buffers,
                            ArrayRef<Value>(coords).take_front(rank - 1));
    ir.forLoop(0, len, [&](Value j) {
      Value shifted = ir.fsub(ir.load(in, at(j)), maxV);
      Value v = isLog ? ir.fsub(shifted, logSum) : ir.fmul(ir.fexp(shifted), inv);
      if (!epi.empty()) {
        SmallVector<Value> full = coords;
        full[axis] = j;
        if (!rowInvariantsOnce)
          epi.emitRowInvariants(ir, cx.batch, cx.buffers,
                                ArrayRef<Value>(full).take_front(rank - 1));
        v = epi.emitElement(ir, cx.batch, cx.buffers, full[rank - 1], v);
      }
      ir.store(cx.output(), at(j), v);
    });
  });
  return success();
}

// ---------------------------------------------------------------------------
// Pointwise anchors: each output element computed from its coordinates
// ---------------------------------------------------------------------------

/// Scalar value of the anchor at output coordinates `oc` (original dims).
Value emitAnchorScalar(KernelContext &cx, Operation *anchor, ArrayRef<Value> oc) {
  KernelIR &ir = cx.ir;
  if (isa<MaxPool2dOp, AvgPool2dOp>(anchor)) {
    auto xDims = shapeOf(anchor->getOperand(0)).dims;
    const int64_t c = xDims[1], h = xDims[2], w = xDims[3];
    ArrayRef<int64_t> kernelSize, pads;
    std::optional<ArrayRef<int64_t>> stridesAttr;
    bool isMax = false, countIncludePad = true;
    if (auto mp = dyn_cast<MaxPool2dOp>(anchor)) {
      kernelSize = mp.getKernelSize();
      stridesAttr = mp.getStrides();
      pads = mp.getPadding();
      isMax = true;
    } else {
      auto ap = cast<AvgPool2dOp>(anchor);
      kernelSize = ap.getKernelSize();
      stridesAttr = ap.getStrides();
      pads = ap.getPadding();
      countIncludePad = ap.getCountIncludePad();
    }
    ArrayRef<int64_t> strides = stridesAttr ? *stridesAttr : kernelSize;
    Value x = cx.argBuffer(anchor->getOperand(0));
    Value y0 = ir.sub(ir.mul(oc[2], strides[0]), ir.c(pads[0]));
    Value x0 = ir.sub(ir.mul(oc[3], strides[1]), ir.c(pads[1]));
    Value plane = ir.mul(ir.add(ir.mul(oc[0], c), oc[1]), h * w);
    Value acc = ir.f(isMax ? -std::numeric_limits<float>::infinity() : 0.0f);
    Value count = ir.c(0);
    for (int64_t ky = 0; ky < kernelSize[0]; ++ky) {
      for (int64_t kx = 0; kx < kernelSize[1]; ++kx) {
        Value iy = ir.add(y0, ky), ix = ir.add(x0, kx);
        Value inside = ir.b.create<arith::AndIOp>(
            ir.loc,
            ir.b.create<arith::AndIOp>(ir.loc, ir.cmp(arith::CmpIPredicate::sge, iy, ir.c(0)),
                                       ir.cmp(arith::CmpIPredicate::slt, iy, ir.c(h))),
            ir.b.create<arith::AndIOp>(ir.loc, ir.cmp(arith::CmpIPredicate::sge, ix, ir.c(0)),
                                       ir.cmp(arith::CmpIPredicate::slt, ix, ir.c(w))));
        // Clamp the address so the load is always in bounds, then discard it.
        Value cy = ir.min(ir.max(iy, ir.c(0)), ir.c(h - 1));
        Value cxx = ir.min(ir.max(ix, ir.c(0)), ir.c(w - 1));
        Value v = ir.load(x, ir.add(plane, ir.add(ir.mul(cy, w), cxx)));
        if (isMax) {
          acc = ir.select(inside, ir.fmax(acc, v), acc);
        } else {
          acc = ir.select(inside, ir.fadd(acc, v), acc);
          count = ir.add(count, ir.b.create<arith::ExtUIOp>(ir.loc, ir.i64, inside));
        }
      }
    }
    if (isMax)
      return acc;
    Value divisor;
    if (countIncludePad) {
      // PyTorch: the window clipped to the padded input.
      Value hEnd = ir.min(ir.add(y0, kernelSize[0]), ir.c(h + pads[0]));
      Value wEnd = ir.min(ir.add(x0, kernelSize[1]), ir.c(w + pads[1]));
      divisor = ir.mul(ir.sub(hEnd, y0), ir.sub(wEnd, x0));
    } else {
      divisor = count;
    }
    return ir.fdiv(acc, ir.i64ToF32(divisor));
  }
  if (isa<GlobalAvgPoolOp>(anchor)) {
    auto xDims = shapeOf(anchor->getOperand(0)).dims;
    const int64_t c = xDims[1], hw = xDims[2] * xDims[3];
    Value x = cx.argBuffer(anchor->getOperand(0));
    Value base = ir.mul(ir.add(ir.mul(oc[0], c), oc[1]), hw);
    Value sum = ir.forReduce(ir.c(0), ir.c(hw), ir.f(0.0f), [&](Value i, Value acc) {
      return ir.faddReduce(acc, ir.load(x, ir.add(base, i)));
    });
    return ir.fmul(sum, ir.f(1.0f / float(hw)));
  }
  if (auto tr = dyn_cast<TransposeOp>(anchor)) {
    auto inDims = shapeOf(tr.getInput()).dims;
    auto perm = tr.getPerm();
    SmallVector<Value> inCoords(inDims.size());
    for (size_t i = 0; i < perm.size(); ++i)
      inCoords[perm[i]] = oc[i];
    return ir.load(cx.argBuffer(tr.getInput()), linearIndex(ir, inDims, inCoords));
  }
  if (isa<ReduceSumOp, ReduceMeanOp>(anchor)) {
    bool isMean = isa<ReduceMeanOp>(anchor);
    ArrayRef<int64_t> axesAttr;
    bool keepdim;
    if (auto rs = dyn_cast<ReduceSumOp>(anchor)) {
      axesAttr = rs.getAxes();
      keepdim = rs.getKeepdim();
    } else {
      auto rm = cast<ReduceMeanOp>(anchor);
      axesAttr = rm.getAxes();
      keepdim = rm.getKeepdim();
    }
    auto inDims = shapeOf(anchor->getOperand(0)).dims;
    const int64_t rank = inDims.size();
    SmallVector<bool> reduced(rank, false);
    for (int64_t a : axesAttr)
      reduced[a < 0 ? a + rank : a] = true;
    // Map output coordinates to the kept input dims.
    SmallVector<Value> inCoords(rank);
    size_t o = 0;
    for (int64_t d = 0; d < rank; ++d) {
      if (reduced[d]) {
        if (keepdim)
          ++o;
        continue;
      }
      inCoords[d] = oc[o++];
    }
    Value x = cx.argBuffer(anchor->getOperand(0));
    Value count = ir.c(1);
    std::function<Value(int64_t, Value)> reduceFrom = [&](int64_t d, Value acc) -> Value {
      if (d == rank)
        return ir.faddReduce(acc, ir.load(x, linearIndex(ir, inDims, inCoords)));
      if (!reduced[d])
        return reduceFrom(d + 1, acc);
      return ir.forReduce(ir.c(0), dimValue(ir, inDims[d], cx.batch), acc,
                          [&](Value i, Value inner) {
                            inCoords[d] = i;
                            return reduceFrom(d + 1, inner);
                          });
    };
    for (int64_t d = 0; d < rank; ++d)
      if (reduced[d])
        count = ir.mul(count, dimValue(ir, inDims[d], cx.batch));
    Value sum = reduceFrom(0, ir.f(0.0f));
    return isMean ? ir.fdiv(sum, ir.i64ToF32(count)) : sum;
  }
  anchor->emitError("kiln-lower-to-llvm: no CPU lowering for this anchor");
  return ir.f(0.0f);
}

LogicalResult emitPointwise(KernelContext &cx, Operation *anchor, Epilogue &epi,
                            KernelPlan &plan) {
  KernelIR &ir = cx.ir;
  auto outDims = shapeOf(cx.kernel.getResult()).dims;
  const int64_t rank = outDims.size();
  // A purely elementwise group may merge any dims the accesses agree on, but
  // keeps a dynamic dim 0 apart so that work units stay linear in the batch.
  SmallVector<bool> mergeable(std::max<int64_t>(rank - 1, 0), anchor == nullptr);
  if (!mergeable.empty() && isDynamic(outDims[0]))
    mergeable[0] = false;
  auto groups = epi.collapse(mergeable);
  epi.setIterationSpace(groups);
  const size_t numGroups = groups.size();

  SmallVector<int64_t> groupSize(numGroups, 1);
  for (size_t g = 0; g < numGroups; ++g)
    for (int64_t d : groups[g])
      groupSize[g] *= isDynamic(outDims[d]) ? 1 : outDims[d];
  const bool dynamicRows = isDynamic(outDims[0]) && numGroups > 1;
  const int64_t inner = numGroups == 1 && isDynamic(outDims[0]) ? -1 : groupSize.back();
  if (inner < 0) // rank-1 dynamic tensor: one unit per element chunk is not linear; use rows of 1
    return cx.kernel.emitError("kiln-lower-to-llvm: rank-1 dynamic tensors are not supported");
  const int64_t chunk = std::min(inner, kInnerChunk);
  const int64_t chunksPerRow = (inner + chunk - 1) / chunk;
  int64_t staticRows = 1;
  for (size_t g = 0; g + 1 < numGroups; ++g)
    staticRows *= groupSize[g];
  if (dynamicRows)
    plan.workPerItem = staticRows * chunksPerRow;
  else
    plan.workFixed = staticRows * chunksPerRow;
  int64_t anchorFlops = 1;
  if (auto mp = dyn_cast_or_null<MaxPool2dOp>(anchor))
    anchorFlops = mp.getKernelSize()[0] * mp.getKernelSize()[1];
  else if (auto ap = dyn_cast_or_null<AvgPool2dOp>(anchor))
    anchorFlops = ap.getKernelSize()[0] * ap.getKernelSize()[1];
  else if (anchor && isa<GlobalAvgPoolOp>(anchor)) {
    auto d = shapeOf(anchor->getOperand(0)).dims;
    anchorFlops = d[2] * d[3];
  } else if (!anchor)
    anchorFlops = 0;
  plan.flopsPerItem = dynamicRows ? staticRows * inner * (anchorFlops + epi.flopsPerElement()) : 0;

  // Original-dim sizes and the output's group strides.
  SmallVector<int64_t> groupStride(numGroups);
  {
    int64_t stride = 1;
    for (int64_t g = numGroups - 1; g >= 0; --g) {
      groupStride[g] = stride;
      stride *= groupSize[g];
    }
  }
  ir.forLoop(cx.begin, cx.end, [&](Value unit) {
    Value row = ir.div(unit, chunksPerRow);
    Value part = ir.rem(unit, chunksPerRow);
    // Row coordinates per outer group (group 0 outermost, unbounded).
    SmallVector<Value> outer(numGroups - 1);
    Value rest = row;
    for (int64_t g = (int64_t)numGroups - 2; g >= 0; --g) {
      if (g == 0) {
        outer[g] = rest;
      } else {
        outer[g] = ir.rem(rest, groupSize[g]);
        rest = ir.div(rest, groupSize[g]);
      }
    }
    Value outBase = ir.c(0);
    for (size_t g = 0; g + 1 < numGroups; ++g)
      outBase = ir.add(outBase, ir.mul(outer[g], groupStride[g]));
    epi.emitRowInvariants(ir, cx.batch, cx.buffers, outer);
    Value lo = ir.mul(part, chunk);
    Value hi = ir.min(ir.add(lo, chunk), ir.c(inner));
    ir.forLoop(lo, hi, [&](Value i) {
      Value v;
      if (anchor) {
        // Anchors are never merged: groups are the original dims.
        SmallVector<Value> oc(outer.begin(), outer.end());
        oc.push_back(i);
        v = emitAnchorScalar(cx, anchor, oc);
      }
      v = epi.emitElement(ir, cx.batch, cx.buffers, i, v);
      ir.store(cx.output(), ir.add(outBase, i), v);
    });
  });
  return success();
}

// ---------------------------------------------------------------------------
// The pass
// ---------------------------------------------------------------------------

Operation *findAnchor(KernelOp kernel) {
  Operation &first = kernel.getBody().front().front();
  if (isa<Conv2dOp, MatmulOp, LinearOp, MaxPool2dOp, AvgPool2dOp, GlobalAvgPoolOp, SoftmaxOp,
          LogSoftmaxOp, ReduceSumOp, ReduceMeanOp, TransposeOp>(first))
    return &first;
  return nullptr;
}

LogicalResult lowerKernel(KernelOp kernel, ModuleOp module, OpBuilder &builder,
                          LLVM::LLVMFuncOp sgemm) {
  if (failed(checkBatchLayout(kernel)))
    return failure();
  Location loc = kernel.getLoc();
  MLIRContext *ctx = builder.getContext();
  Type ptr = LLVM::LLVMPointerType::get(ctx), i64 = builder.getI64Type();
  auto fnType = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                            {ptr, i64, i64, i64, ptr});
  builder.setInsertionPointToEnd(module.getBody());
  auto fn = builder.create<LLVM::LLVMFuncOp>(loc, kernel.getName(), fnType);
  Block *entry = fn.addEntryBlock(builder);
  builder.setInsertionPointToStart(entry);
  KernelIR ir(builder, loc);
  KernelContext cx{kernel, ir, entry->getArgument(1), entry->getArgument(2),
                   entry->getArgument(3), entry->getArgument(4), {}};
  for (unsigned i = 0; i <= kernel.getNumOperands(); ++i)
    cx.buffers.push_back(ir.loadPtr(entry->getArgument(0), i));

  Operation *anchor = findAnchor(kernel);
  Epilogue epi(kernel, anchor);
  KernelPlan plan;
  LogicalResult result = success();
  if (auto conv = dyn_cast_or_null<Conv2dOp>(anchor))
    result = emitConv(cx, conv, epi, plan, sgemm);
  else if (anchor && isa<LinearOp, MatmulOp>(anchor))
    result = emitGemm(cx, anchor, epi, plan, sgemm);
  else if (auto sm = dyn_cast_or_null<SoftmaxOp>(anchor))
    result = emitSoftmax(cx, anchor, sm.getAxis(), /*isLog=*/false, epi, plan);
  else if (auto lsm = dyn_cast_or_null<LogSoftmaxOp>(anchor))
    result = emitSoftmax(cx, anchor, lsm.getAxis(), /*isLog=*/true, epi, plan);
  else
    result = emitPointwise(cx, anchor, epi, plan);
  builder.create<LLVM::ReturnOp>(loc, ValueRange{});
  if (failed(result))
    return failure();

  kernel->setAttr("kiln.work_per_item", builder.getI64IntegerAttr(plan.workPerItem));
  kernel->setAttr("kiln.work_fixed", builder.getI64IntegerAttr(plan.workFixed));
  kernel->setAttr("kiln.work_per_task", builder.getI64IntegerAttr(plan.workPerTask));
  kernel->setAttr("kiln.scratch_bytes", builder.getI64IntegerAttr(plan.scratchBytes));
  kernel->setAttr("kiln.flops_per_item", builder.getI64IntegerAttr(plan.flopsPerItem));
  return success();
}

/// scf/arith/math/cf inside the generated llvm.funcs -> LLVM dialect.
LogicalResult convertKernelBodiesToLLVM(ModuleOp module, ArrayRef<LLVM::LLVMFuncOp> fns) {
  MLIRContext *ctx = module.getContext();
  LLVMTypeConverter converter(ctx);
  RewritePatternSet patterns(ctx);
  populateSCFToControlFlowConversionPatterns(patterns);
  arith::populateArithToLLVMConversionPatterns(converter, patterns);
  populateMathToLLVMConversionPatterns(converter, patterns);
  cf::populateControlFlowToLLVMConversionPatterns(converter, patterns);
  LLVMConversionTarget target(*ctx);
  target.addLegalOp<LLVM::LLVMFuncOp>();
  FrozenRewritePatternSet frozen(std::move(patterns));
  for (LLVM::LLVMFuncOp fn : fns)
    if (failed(applyFullConversion(fn.getOperation(), target, frozen)))
      return failure();
  return success();
}

struct KilnLowerToLLVMPass : kiln::impl::KilnLowerToLLVMBase<KilnLowerToLLVMPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder builder(module.getContext());
    LLVM::LLVMFuncOp sgemm;
    SmallVector<KernelOp> kernels;
    module.walk([&](KernelOp k) { kernels.push_back(k); });
    bool needsSgemm = llvm::any_of(kernels, [](KernelOp k) {
      Operation *a = findAnchor(k);
      return a && isa<Conv2dOp, LinearOp, MatmulOp>(a);
    });
    if (needsSgemm)
      sgemm = getOrDeclareSgemm(module, builder);
    SmallVector<LLVM::LLVMFuncOp> generated;
    for (KernelOp kernel : kernels) {
      if (module.lookupSymbol(kernel.getName())) {
        kernel.emitError("kiln-lower-to-llvm: kernel name '")
            << kernel.getName() << "' is already defined";
        return signalPassFailure();
      }
      if (failed(lowerKernel(kernel, module, builder, sgemm)))
        return signalPassFailure();
      generated.push_back(module.lookupSymbol<LLVM::LLVMFuncOp>(kernel.getName()));
    }
    if (failed(convertKernelBodiesToLLVM(module, generated)))
      return signalPassFailure();
  }
};

} // namespace
} // namespace kiln::codegen

//===- GemmKernels.cpp - linear and matmul: sgemm + epilogue ---===//
#include "Kernels.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

using namespace mlir;

namespace kiln::codegen {

// ---------------------------------------------------------------------------
// matmul contracting over the batch: [M, ?] x [?, N] -> [M, N] (weight
// gradients of linear layers). Work units are column blocks of the output, so
// every unit sums over the whole batch in the same order: deterministic.
// ---------------------------------------------------------------------------

static LogicalResult emitGemmOverBatch(KernelContext &cx, Operation *anchor, Epilogue &epi,
                                       KernelPlan &plan) {
  KernelIR &ir = cx.ir;
  Value lhsV = anchor->getOperand(0), rhsV = anchor->getOperand(1);
  auto lhsDims = shapeOf(lhsV).dims, rhsDims = shapeOf(rhsV).dims;
  if (!isa<MatmulOp>(anchor) || isDynamic(lhsDims[0]) || isDynamic(rhsDims[1]))
    return anchor->emitError("kiln-lower-to-llvm: only matmul [M,?] x [?,N] may contract "
                             "over the batch");
  const int64_t m = lhsDims[0], n = rhsDims[1];
  const int64_t colsPerUnit = std::min<int64_t>(n, 64);
  const int64_t units = (n + colsPerUnit - 1) / colsPerUnit;
  plan.workFixed = units;
  plan.scratchBytes = m * colsPerUnit * 4;
  plan.flopsPerItem = 2 * m * n;
  epi.setIterationSpace({{0}, {1}});
  Value lhs = cx.argBuffer(lhsV), rhs = cx.argBuffer(rhsV);
  ir.forLoop(cx.begin, cx.end, [&](Value unit) {
    Value j0 = ir.mul(unit, colsPerUnit);
    Value j1 = ir.min(ir.add(j0, colsPerUnit), ir.c(n));
    Value cols = ir.sub(j1, j0);
    emitSgemm(ir, cx.sgemm, /*transA=*/false, /*transB=*/false, ir.c(m), cols, cx.batch, lhs,
              cx.batch, ir.offsetPtr(rhs, j0), ir.c(n), ir.f(0.0f), cx.scratch, cols);
    ir.forLoop(0, m, [&](Value r) {
      if (!epi.empty())
        epi.emitRowInvariants(ir, cx.batch, cx.buffers, {r});
      ir.forLoop(j0, j1, [&](Value j) {
        Value v = ir.load(cx.scratch, ir.add(ir.mul(r, cols), ir.sub(j, j0)));
        if (!epi.empty())
          v = epi.emitElement(ir, cx.batch, cx.buffers, j, v);
        ir.store(cx.output(), ir.add(ir.mul(r, n), j), v);
      });
    });
  });
  return success();
}

// ---------------------------------------------------------------------------
// linear / matmul: sgemm over a chunk of rows + epilogue
// ---------------------------------------------------------------------------

LogicalResult emitGemm(KernelContext &cx, Operation *anchor, Epilogue &epi, KernelPlan &plan) {
  LLVM::LLVMFuncOp sgemm = cx.sgemm;
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
  if (isDynamic(kDim))
    return emitGemmOverBatch(cx, anchor, epi, plan);
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
    emitSgemm(ir, sgemm, /*transA=*/false, transB, rows, ir.c(nDim), ir.c(kDim),
              ir.offsetPtr(lhs, ir.mul(r0, kDim)), ir.c(kDim), rhs,
              ir.c(transB ? kDim : nDim), ir.f(0.0f), cx.scratch, ir.c(nDim));
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

} // namespace kiln::codegen

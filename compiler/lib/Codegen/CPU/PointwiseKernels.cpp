//===- PointwiseKernels.cpp - softmax, pools, reductions, transpose, elementwise ---===//
#include "Kernels.h"
#include "kiln/Dialect/OpQueries.h"
#include "kiln/Dialect/PoolWindow.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

using namespace mlir;

namespace kiln::codegen {

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
    Value base = linearIndex(ir, dims, coords, cx.batch);
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
static Value emitAnchorScalar(KernelContext &cx, Operation *anchor, ArrayRef<Value> oc) {
  KernelIR &ir = cx.ir;
  if (isa<MaxPool2dOp, AvgPool2dOp>(anchor)) {
    auto xDims = shapeOf(anchor->getOperand(0)).dims;
    const int64_t c = xDims[1], h = xDims[2], w = xDims[3];
    const PoolWindow window = *poolWindowOf(anchor);
    ArrayRef<int64_t> kernelSize = window.kernelSize, strides = window.strides,
                      pads = window.padding;
    const bool isMax = window.isMax, countIncludePad = window.countIncludePad;
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
    return ir.load(cx.argBuffer(tr.getInput()), linearIndex(ir, inDims, inCoords, cx.batch));
  }
  if (std::optional<ReduceAxes> reduction = reduceAxesOf(anchor)) {
    const bool isMean = reduction->isMean, keepdim = reduction->keepdim;
    ArrayRef<int64_t> axesAttr = reduction->axes;
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
    // The input is a kernel operand, or computed per element by the prologue
    // (pointwise producers kiln-fuse moved in front of the reduction).
    Epilogue prologue = Epilogue::prologue(cx.kernel, anchor);
    Value x = prologue.empty() ? cx.argBuffer(anchor->getOperand(0)) : Value();
    auto element = [&]() {
      return prologue.empty() ? ir.load(x, linearIndex(ir, inDims, inCoords, cx.batch))
                              : prologue.emitAt(ir, cx.batch, cx.buffers, inCoords);
    };
    Value count = ir.c(1);
    // A run of adjacent reduced dims is contiguous in memory (row-major), so it
    // is one loop over the run's product with the coordinate on its last dim:
    // reducing H and W of NCHW is one vectorisable loop of H*W, not H loops
    // of W. A prologue's broadcast inputs must step consistently across it too.
    std::function<Value(int64_t, Value)> reduceFrom = [&](int64_t d, Value acc) -> Value {
      if (d == rank)
        return ir.faddReduce(acc, element());
      if (!reduced[d])
        return reduceFrom(d + 1, acc);
      int64_t last = d;
      while (last + 1 < rank && reduced[last + 1] &&
             (prologue.empty() || prologue.mergesAt(last + 1)))
        ++last;
      Value extent = dimValue(ir, inDims[d], cx.batch);
      for (int64_t e = d + 1; e <= last; ++e)
        extent = ir.mul(extent, dimValue(ir, inDims[e], cx.batch));
      for (int64_t e = d; e < last; ++e)
        inCoords[e] = ir.c(0);
      return ir.forReduce(ir.c(0), extent, acc, [&](Value i, Value inner) {
        inCoords[last] = i;
        return reduceFrom(last + 1, inner);
      });
    };
    for (int64_t d = 0; d < rank; ++d)
      if (reduced[d])
        count = ir.mul(count, dimValue(ir, inDims[d], cx.batch));
    Value sum = reduceFrom(0, ir.f(0.0f));
    return isMean ? ir.fdiv(sum, ir.i64ToF32(count)) : sum;
  }
  if (isa<MaxPool2dGradOp, AvgPool2dGradOp>(anchor)) {
    // Gather form: each input element sums the gradients of the windows that
    // contain it (max: only where it is the window's first maximum, PyTorch's
    // tie rule), so threads never write the same element.
    const bool isMax = isa<MaxPool2dGradOp>(anchor);
    Value dyV = anchor->getOperand(isMax ? 1 : 0);
    auto dyDims = shapeOf(dyV).dims, dxDims = shapeOf(anchor->getResult(0)).dims;
    const int64_t c = dxDims[1], h = dxDims[2], w = dxDims[3], oh = dyDims[2], ow = dyDims[3];
    const PoolWindow window = *poolWindowOf(anchor);
    ArrayRef<int64_t> kernelSize = window.kernelSize, strides = window.strides,
                      pads = window.padding;
    const bool countIncludePad = window.countIncludePad;
    Value dy = cx.argBuffer(dyV);
    Value x = isMax ? cx.argBuffer(anchor->getOperand(0)) : Value();
    Value iy = oc[2], ix = oc[3];
    Value dyPlane = ir.mul(ir.add(ir.mul(oc[0], c), oc[1]), oh * ow);
    Value xPlane = ir.mul(ir.add(ir.mul(oc[0], c), oc[1]), h * w);
    Value self = ir.add(ir.mul(iy, w), ix);
    Value oyTop = ir.div(ir.add(iy, pads[0]), strides[0]);
    Value oxTop = ir.div(ir.add(ix, pads[1]), strides[1]);
    auto andOf = [&](Value a, Value b) { return ir.b.create<arith::AndIOp>(ir.loc, a, b); };
    auto inRange = [&](Value v, int64_t lo, int64_t hi) {
      return andOf(ir.cmp(arith::CmpIPredicate::sge, v, ir.c(lo)),
                   ir.cmp(arith::CmpIPredicate::slt, v, ir.c(hi)));
    };
    Value acc = ir.f(0.0f);
    const int64_t candY = (kernelSize[0] + strides[0] - 1) / strides[0];
    const int64_t candX = (kernelSize[1] + strides[1] - 1) / strides[1];
    for (int64_t a = 0; a < candY; ++a) {
      for (int64_t bb = 0; bb < candX; ++bb) {
        Value oy = ir.sub(oyTop, ir.c(a)), ox = ir.sub(oxTop, ir.c(bb));
        Value y0 = ir.sub(ir.mul(oy, strides[0]), ir.c(pads[0]));
        Value x0 = ir.sub(ir.mul(ox, strides[1]), ir.c(pads[1]));
        // The window (oy, ox) exists and reaches (iy, ix).
        Value valid = andOf(andOf(inRange(oy, 0, oh), inRange(ox, 0, ow)),
                            andOf(ir.cmp(arith::CmpIPredicate::slt, iy,
                                         ir.add(y0, kernelSize[0])),
                                  ir.cmp(arith::CmpIPredicate::slt, ix,
                                         ir.add(x0, kernelSize[1]))));
        Value coy = ir.min(ir.max(oy, ir.c(0)), ir.c(oh - 1));
        Value cox = ir.min(ir.max(ox, ir.c(0)), ir.c(ow - 1));
        Value cy0 = ir.sub(ir.mul(coy, strides[0]), ir.c(pads[0]));
        Value cx0 = ir.sub(ir.mul(cox, strides[1]), ir.c(pads[1]));
        Value g = ir.load(dy, ir.add(dyPlane, ir.add(ir.mul(coy, ow), cox)));
        Value contribution;
        if (isMax) {
          Value best = ir.f(-std::numeric_limits<float>::infinity());
          Value bestAt = ir.c(-1);
          for (int64_t ky = 0; ky < kernelSize[0]; ++ky) {
            for (int64_t kx = 0; kx < kernelSize[1]; ++kx) {
              Value yy = ir.add(cy0, ky), xx = ir.add(cx0, kx);
              Value inside = andOf(inRange(yy, 0, h), inRange(xx, 0, w));
              Value cyy = ir.min(ir.max(yy, ir.c(0)), ir.c(h - 1));
              Value cxx = ir.min(ir.max(xx, ir.c(0)), ir.c(w - 1));
              Value v = ir.load(x, ir.add(xPlane, ir.add(ir.mul(cyy, w), cxx)));
              Value better = andOf(inside, ir.fcmp(arith::CmpFPredicate::OGT, v, best));
              best = ir.select(better, v, best);
              bestAt = ir.select(better, ir.add(ir.mul(yy, w), xx), bestAt);
            }
          }
          Value hit = andOf(valid, ir.cmp(arith::CmpIPredicate::eq, bestAt, self));
          contribution = ir.select(hit, g, ir.f(0.0f));
        } else {
          Value divisor;
          if (countIncludePad) {
            Value hEnd = ir.min(ir.add(cy0, kernelSize[0]), ir.c(h + pads[0]));
            Value wEnd = ir.min(ir.add(cx0, kernelSize[1]), ir.c(w + pads[1]));
            divisor = ir.mul(ir.sub(hEnd, cy0), ir.sub(wEnd, cx0));
          } else {
            Value hs = ir.max(cy0, ir.c(0)), ws = ir.max(cx0, ir.c(0));
            Value he = ir.min(ir.add(cy0, kernelSize[0]), ir.c(h));
            Value we = ir.min(ir.add(cx0, kernelSize[1]), ir.c(w));
            divisor = ir.max(ir.mul(ir.sub(he, hs), ir.sub(we, ws)), ir.c(1));
          }
          contribution = ir.select(valid, ir.fdiv(g, ir.i64ToF32(divisor)), ir.f(0.0f));
        }
        acc = ir.fadd(acc, contribution);
      }
    }
    return acc;
  }
  anchor->emitError("kiln-lower-to-llvm: no CPU lowering for this anchor");
  return ir.f(0.0f);
}

LogicalResult emitPointwise(KernelContext &cx, Operation *anchor, Epilogue &epi,
                            KernelPlan &plan) {
  KernelIR &ir = cx.ir;
  auto outDims = shapeOf(cx.kernel.getResult()).dims;
  if (outDims.empty()) // a scalar is iterated as one element of rank 1
    outDims = {1};
  const int64_t rank = outDims.size();
  // A purely elementwise group may merge any static dims the accesses agree
  // on (Epilogue::collapse never merges the dynamic one).
  SmallVector<bool> mergeable(std::max<int64_t>(rank - 1, 0), anchor == nullptr);
  auto groups = epi.collapse(mergeable);
  epi.setIterationSpace(groups);
  const size_t numGroups = groups.size();

  // Group extents: static part, and whether the group holds the batch.
  SmallVector<int64_t> groupStatic(numGroups, 1);
  SmallVector<bool> groupDynamic(numGroups, false);
  for (size_t g = 0; g < numGroups; ++g)
    for (int64_t d : groups[g]) {
      if (isDynamic(outDims[d]))
        groupDynamic[g] = true;
      else
        groupStatic[g] *= outDims[d];
    }
  auto groupSize = [&](size_t g) {
    return groupDynamic[g] ? ir.mul(cx.batch, groupStatic[g]) : ir.c(groupStatic[g]);
  };
  // Work units are (row, chunk of the innermost group). When the batch is in
  // the innermost group (a rank-1 [?] tensor, or a transpose that moved the
  // batch last) a unit is a whole row, so the unit count stays independent of
  // the batch.
  const bool dynamicInner = groupDynamic.back();
  // Elements an output element reads: a reduction's units shrink so that each
  // still covers about kInnerChunk inputs (a reduction over N, H and W gets one
  // unit per channel, so the threads share it).
  int64_t readsPerOutput = 1;
  if (anchor)
    if (std::optional<ReduceAxes> reduction = reduceAxesOf(anchor)) {
      auto inDims = shapeOf(anchor->getOperand(0)).dims;
      for (int64_t a : reduction->axes) {
        int64_t d = inDims[a < 0 ? a + (int64_t)inDims.size() : a];
        readsPerOutput *= isDynamic(d) ? kInnerChunk : d; // the batch: assume large
      }
    }
  const int64_t chunk =
      dynamicInner ? 0
                   : std::min(groupStatic.back(),
                              std::max<int64_t>(1, kInnerChunk / std::min(readsPerOutput,
                                                                          kInnerChunk)));
  const int64_t chunksPerRow =
      dynamicInner ? 1 : (groupStatic.back() + chunk - 1) / std::max<int64_t>(chunk, 1);
  int64_t staticRows = 1;
  bool dynamicRows = false;
  for (size_t g = 0; g + 1 < numGroups; ++g) {
    staticRows *= groupStatic[g];
    dynamicRows |= groupDynamic[g];
  }
  if (dynamicRows)
    plan.workPerItem = staticRows * chunksPerRow;
  else
    plan.workFixed = staticRows * chunksPerRow;
  int64_t anchorFlops = 1;
  if (anchor && isa<MaxPool2dOp, AvgPool2dOp>(anchor)) {
    ArrayRef<int64_t> kernelSize = poolWindowOf(anchor)->kernelSize;
    anchorFlops = kernelSize[0] * kernelSize[1];
  } else if (anchor && isa<GlobalAvgPoolOp>(anchor)) {
    auto d = shapeOf(anchor->getOperand(0)).dims;
    anchorFlops = d[2] * d[3];
  } else if (!anchor)
    anchorFlops = 0;
  const bool perItemOutput = dynamicRows || dynamicInner;
  plan.flopsPerItem = perItemOutput ? staticRows * groupStatic.back() *
                                          (anchorFlops + epi.flopsPerElement())
                                    : 0;

  ir.forLoop(cx.begin, cx.end, [&](Value unit) {
    Value row = ir.div(unit, chunksPerRow);
    Value part = ir.rem(unit, chunksPerRow);
    // Row coordinates per outer group (group 0 outermost, unbounded), and the
    // output offset of the row (the output is row-major over the groups).
    SmallVector<Value> outer(numGroups - 1);
    Value rest = row;
    for (int64_t g = (int64_t)numGroups - 2; g >= 0; --g) {
      if (g == 0) {
        outer[g] = rest;
      } else {
        outer[g] = ir.remv(rest, groupSize(g));
        rest = ir.divv(rest, groupSize(g));
      }
    }
    Value outBase = ir.c(0);
    Value stride = groupSize(numGroups - 1);
    for (int64_t g = (int64_t)numGroups - 2; g >= 0; --g) {
      outBase = ir.add(outBase, ir.mul(outer[g], stride));
      stride = ir.mul(stride, groupSize(g));
    }
    epi.emitRowInvariants(ir, cx.batch, cx.buffers, outer);
    Value lo, hi;
    if (dynamicInner) {
      lo = ir.c(0);
      hi = groupSize(numGroups - 1);
    } else {
      lo = ir.mul(part, chunk);
      hi = ir.min(ir.add(lo, chunk), ir.c(groupStatic.back()));
    }
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

} // namespace kiln::codegen

//===- PointwiseKernels.cpp - elementwise, pools, transpose, reductions, softmax ===//
//
//   elementwise / broadcast   one thread per output element, or per 4
//                             consecutive ones (float4 loads and stores) when
//                             every input steps by 0 or 1 along the innermost
//                             merged dim and its extent is a multiple of 4
//   pools, pool gradients,    one thread per output element; the gradients in
//   global_avg_pool,          gather form (each input element collects the
//   transpose                 windows that contain it: no atomics)
//   reduce_sum / reduce_mean  per output element a thread (<= 32 addends), a
//                             warp (<= 2048) or a block (more, or over the
//                             batch); warp-shuffle and block tree sums
//   softmax / log_softmax     one thread per row (<= 64 long) or one warp per row
//===----------------------------------------------------------------------===//
#include "CudaCode.h"
#include "kiln/Dialect/OpQueries.h"
#include "kiln/Dialect/PoolWindow.h"

#include <algorithm>
#include <limits>

using namespace mlir;

namespace kiln::codegen::cuda {
namespace {

constexpr int kThreads = 256;

std::vector<std::vector<int64_t>> singletons(size_t rank) {
  std::vector<std::vector<int64_t>> g;
  for (size_t d = 0; d < rank; ++d)
    g.push_back({int64_t(d)});
  return g;
}

/// Static part of the element count and whether it scales with the batch.
std::pair<int64_t, bool> countOf(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  bool dynamic = false;
  for (int64_t d : dims) {
    if (d < 0)
      dynamic = true;
    else
      n *= d;
  }
  return {n, dynamic};
}

/// The count as a C operand (parenthesised: it may follow % or /).
std::string countExpr(int64_t n, bool dynamic) {
  if (!dynamic)
    return std::to_string(n);
  return n == 1 ? "B" : fmt::format("({}*B)", n);
}

std::string inRange(const std::string &v, int64_t hi) {
  return fmt::format("({0} >= 0 && {0} < {1})", v, hi);
}

/// The value of a pointwise anchor at output coordinates `oc` (original dims);
/// returns the name of the variable holding it. Mirrors the CPU lowering
/// (Codegen/CPU/PointwiseKernels.cpp, emitAnchorScalar) formula for formula.
std::string emitAnchorScalar(KernelGen &g, ArrayRef<std::string> oc) {
  Code &c = g.code;
  Operation *anchor = g.anchor;
  std::string result = c.fresh("a");
  if (isa<MaxPool2dOp, AvgPool2dOp>(anchor)) {
    Dims x = dimsOf(anchor->getOperand(0));
    const int64_t C = x[1], H = x[2], W = x[3];
    const PoolWindow window = *poolWindowOf(anchor);
    ArrayRef<int64_t> ks = window.kernelSize, st = window.strides, pads = window.padding;
    const bool isMax = window.isMax, countIncludePad = window.countIncludePad;
    c.line(fmt::format("float {} = {};", result, isMax ? "(-KILN_INF)" : "0.0f"));
    c.open("");
    c.line(fmt::format("const int y0 = {} * {} - {}, x0 = {} * {} - {};", oc[2], st[0], pads[0],
                       oc[3], st[1], pads[1]));
    c.line(fmt::format("const float *plane = {} + ({} * {} + {}) * {};", g.arg(anchor->getOperand(0)),
                       oc[0], C, oc[1], H * W));
    if (!isMax)
      c.line("int count = 0;");
    c.line("#pragma unroll");
    c.open(fmt::format("for (int ky = 0; ky < {}; ++ky)", ks[0]));
    c.line("#pragma unroll");
    c.open(fmt::format("for (int kx = 0; kx < {}; ++kx)", ks[1]));
    c.line("const int iy = y0 + ky, ix = x0 + kx;");
    c.open(fmt::format("if ({} && {})", inRange("iy", H), inRange("ix", W)));
    if (isMax) {
      c.line(fmt::format("{0} = fmaxf({0}, plane[iy * {1} + ix]);", result, W));
    } else {
      c.line(fmt::format("{0} = {0} + plane[iy * {1} + ix];", result, W));
      c.line("++count;");
    }
    c.close();
    c.close();
    c.close();
    if (!isMax) {
      if (countIncludePad)
        // PyTorch: the window clipped to the padded input.
        c.line(fmt::format("const int divisor = (min(y0 + {0}, {1}) - y0) * (min(x0 + {2}, {3}) - x0);",
                           ks[0], H + pads[0], ks[1], W + pads[1]));
      else
        c.line("const int divisor = count;");
      c.line(fmt::format("{0} = {0} / (float)divisor;", result));
    }
    c.close();
    return result;
  }
  if (isa<GlobalAvgPoolOp>(anchor)) {
    Dims x = dimsOf(anchor->getOperand(0));
    const int64_t C = x[1], hw = x[2] * x[3];
    c.line(fmt::format("float {} = 0.0f;", result));
    c.open("");
    c.line(fmt::format("const float *plane = {} + ({} * {} + {}) * {};", g.arg(anchor->getOperand(0)),
                       oc[0], C, oc[1], hw));
    c.line(fmt::format("for (int i = 0; i < {}; ++i) {} += plane[i];", hw, result));
    c.line(fmt::format("{0} = {0} * {1};", result, floatLit(1.0f / float(hw))));
    c.close();
    return result;
  }
  if (auto tr = dyn_cast<TransposeOp>(anchor)) {
    Dims in = dimsOf(tr.getInput());
    auto perm = tr.getPerm();
    std::vector<std::string> inCoords(in.size());
    for (size_t i = 0; i < perm.size(); ++i)
      inCoords[perm[i]] = oc[i];
    c.line(fmt::format("const float {} = {}[{}];", result, g.arg(tr.getInput()),
                       linearExpr(inCoords, rowMajorStrides(in))));
    return result;
  }
  if (isa<MaxPool2dGradOp, AvgPool2dGradOp>(anchor)) {
    const bool isMax = isa<MaxPool2dGradOp>(anchor);
    Value dyV = anchor->getOperand(isMax ? 1 : 0);
    Dims dy = dimsOf(dyV), dx = dimsOf(anchor->getResult(0));
    const int64_t C = dx[1], H = dx[2], W = dx[3], OH = dy[2], OW = dy[3];
    const PoolWindow window = *poolWindowOf(anchor);
    ArrayRef<int64_t> ks = window.kernelSize, st = window.strides, pads = window.padding;
    const bool countIncludePad = window.countIncludePad;
    const int64_t candY = (ks[0] + st[0] - 1) / st[0], candX = (ks[1] + st[1] - 1) / st[1];
    c.line(fmt::format("float {} = 0.0f;", result));
    c.open("");
    c.line(fmt::format("const int iy = {}, ix = {};", oc[2], oc[3]));
    c.line(fmt::format("const float *dyPlane = {} + ({} * {} + {}) * {};", g.arg(dyV), oc[0], C,
                       oc[1], OH * OW));
    if (isMax)
      c.line(fmt::format("const float *xPlane = {} + ({} * {} + {}) * {};",
                         g.arg(anchor->getOperand(0)), oc[0], C, oc[1], H * W));
    c.line(fmt::format("const int oyTop = (iy + {}) / {}, oxTop = (ix + {}) / {};", pads[0],
                       st[0], pads[1], st[1]));
    c.line("#pragma unroll");
    c.open(fmt::format("for (int a = 0; a < {}; ++a)", candY));
    c.line("#pragma unroll");
    c.open(fmt::format("for (int b = 0; b < {}; ++b)", candX));
    c.line("const int oy = oyTop - a, ox = oxTop - b;");
    c.line(fmt::format("const int y0 = oy * {} - {}, x0 = ox * {} - {};", st[0], pads[0], st[1],
                       pads[1]));
    // The window (oy, ox) exists and reaches (iy, ix).
    c.open(fmt::format("if ({} && {} && iy < y0 + {} && ix < x0 + {})", inRange("oy", OH),
                       inRange("ox", OW), ks[0], ks[1]));
    c.line(fmt::format("const float g = dyPlane[oy * {} + ox];", OW));
    if (isMax) {
      // The window's first maximum in row-major order (PyTorch's tie rule).
      c.line("float best = -KILN_INF;");
      c.line("int bestAt = -1;");
      c.line("#pragma unroll");
      c.open(fmt::format("for (int ky = 0; ky < {}; ++ky)", ks[0]));
      c.line("#pragma unroll");
      c.open(fmt::format("for (int kx = 0; kx < {}; ++kx)", ks[1]));
      c.line("const int yy = y0 + ky, xx = x0 + kx;");
      c.open(fmt::format("if ({} && {})", inRange("yy", H), inRange("xx", W)));
      c.line(fmt::format("const float v = xPlane[yy * {} + xx];", W));
      c.open("if (v > best)");
      c.line("best = v;");
      c.line(fmt::format("bestAt = yy * {} + xx;", W));
      c.close();
      c.close();
      c.close();
      c.close();
      c.line(fmt::format("if (bestAt == iy * {} + ix) {} = {} + g;", W, result, result));
    } else {
      if (countIncludePad) {
        c.line(fmt::format("const int divisor = (min(y0 + {0}, {1}) - y0) * (min(x0 + {2}, {3}) - x0);",
                           ks[0], H + pads[0], ks[1], W + pads[1]));
      } else {
        c.line(fmt::format("const int divisor = max((min(y0 + {0}, {1}) - max(y0, 0)) * "
                           "(min(x0 + {2}, {3}) - max(x0, 0)), 1);",
                           ks[0], H, ks[1], W));
      }
      c.line(fmt::format("{0} = {0} + g / (float)divisor;", result));
    }
    c.close();
    c.close();
    c.close();
    c.close();
    return result;
  }
  anchor->emitError("kiln CUDA codegen: no CUDA lowering for this anchor");
  return "";
}

} // namespace

// ---------------------------------------------------------------------------
// One thread per output element (or per float4 of them)
// ---------------------------------------------------------------------------

LogicalResult emitPointwise(KernelGen &g, Epilogue &epi) {
  Code &c = g.code;
  const Dims &out = epi.outDims();
  const size_t rank = out.size();
  // Anchors compute from the original coordinates: only a purely elementwise
  // group merges dims.
  llvm::SmallVector<bool> mergeable(rank > 0 ? rank - 1 : 0, g.anchor == nullptr);
  auto groups = epi.collapse(mergeable);
  std::vector<std::string> extents, names;
  int64_t innerStatic = 1;
  bool innerDynamic = false;
  for (size_t i = 0; i < groups.size(); ++i) {
    int64_t n = 1;
    bool dyn = false;
    for (int64_t d : groups[i]) {
      if (out[d] < 0)
        dyn = true;
      else
        n *= out[d];
    }
    extents.push_back(countExpr(n, dyn));
    names.push_back(fmt::format("c{}", i));
    if (i + 1 == groups.size()) {
      innerStatic = n;
      innerDynamic = dyn;
    }
  }
  const bool vec = !g.anchor && !innerDynamic && innerStatic % 4 == 0 &&
                   epi.innerStrideUnitOrZero(groups);
  const int lanes = vec ? 4 : 1;
  auto [count, dynamic] = countOf(out);
  const int64_t units = count / lanes;
  g.launch.strategy = vec ? "elementwise vec4" : g.anchor ? "pointwise" : "elementwise";
  g.launch.gridXFixed = dynamic ? 0 : units;
  g.launch.gridXPerItem = dynamic ? units : 0;
  g.launch.gridXDivisor = kThreads;
  g.blockThreads = kThreads;

  c.line(fmt::format("const int u = blockIdx.x * {} + threadIdx.x;", kThreads));
  c.line(fmt::format("if (u >= {}) return;", countExpr(units, dynamic)));
  c.line(fmt::format("const int i0 = u{};", vec ? " * 4" : ""));
  decompose(c, "i0", extents, names);

  if (!vec) {
    std::string anchorValue;
    if (g.anchor) {
      anchorValue = emitAnchorScalar(g, names);
      if (anchorValue.empty())
        return failure();
    }
    std::string v = epi.empty() ? anchorValue : epi.emit(c, groups, names, anchorValue);
    if (epi.failed())
      return failure();
    c.line(fmt::format("out[i0] = {};", v));
    return success();
  }
  // float4: load every contiguous input once, broadcast ones as scalars.
  std::vector<std::string> vecNames(epi.numUses());
  std::vector<bool> isScalar(epi.numUses());
  for (size_t u = 0; u < epi.numUses(); ++u) {
    std::string offset = epi.useOffset(u, groups, names);
    isScalar[u] = epi.useInnerStride(u, groups).isZero();
    vecNames[u] = c.fresh(isScalar[u] ? "s" : "v");
    if (isScalar[u])
      c.line(fmt::format("const float {} = in{}[{}];", vecNames[u], epi.useArg(u), offset));
    else
      c.line(fmt::format("const float4 {} = *reinterpret_cast<const float4 *>(in{} + {});",
                         vecNames[u], epi.useArg(u), offset));
  }
  static const char *kLane[4] = {"x", "y", "z", "w"};
  auto load = [&](size_t use, int lane, const std::string &) {
    return isScalar[use] ? vecNames[use] : vecNames[use] + "." + kLane[lane];
  };
  std::string r[4];
  for (int lane = 0; lane < 4; ++lane)
    r[lane] = epi.emit(c, groups, names, "", lane, load);
  if (epi.failed())
    return failure();
  c.line(fmt::format("*reinterpret_cast<float4 *>(out + i0) = make_float4({}, {}, {}, {});", r[0],
                     r[1], r[2], r[3]));
  return success();
}

// ---------------------------------------------------------------------------
// reduce_sum / reduce_mean
// ---------------------------------------------------------------------------

LogicalResult emitReduce(KernelGen &g, Epilogue &epi) {
  Code &c = g.code;
  Operation *op = g.anchor;
  const ReduceAxes reduction = *reduceAxesOf(op);
  const bool isMean = reduction.isMean, keepdim = reduction.keepdim;
  ArrayRef<int64_t> axes = reduction.axes;
  Dims in = dimsOf(op->getOperand(0));
  const int64_t rank = in.size();
  llvm::SmallVector<bool> reduced(rank, false);
  for (int64_t a : axes)
    reduced[a < 0 ? a + rank : a] = true;
  const Dims &out = epi.outDims();
  auto inStrides = rowMajorStrides(in);
  // The input is a kernel operand, or computed per element by the prologue
  // (pointwise producers kiln-fuse moved in front of the reduction).
  Epilogue prologue = Epilogue::prologue(g.kernel, op);

  // Reduced dims, consecutive static ones merged (row-major contiguous; a
  // prologue's broadcast inputs must step consistently across them too).
  std::vector<std::string> redExtents;
  llvm::SmallVector<Stride> redStrides;
  std::vector<std::vector<int64_t>> redRuns; // the input dims of each merged run
  int64_t rStatic = 1;
  bool rDynamic = false;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d])
      continue;
    if (in[d] < 0)
      rDynamic = true;
    else
      rStatic *= in[d];
    bool merge = d > 0 && reduced[d - 1] && in[d] >= 0 && in[d - 1] >= 0 &&
                 !redExtents.empty() && (prologue.empty() || prologue.mergesAt(d));
    if (merge)
      redRuns.back().push_back(d);
    else
      redRuns.push_back({d});
    if (merge) {
      int64_t prev = std::stoll(redExtents.back());
      redExtents.back() = std::to_string(prev * in[d]);
      redStrides.back() = inStrides[d];
    } else {
      redExtents.push_back(extent(in[d]));
      redStrides.push_back(inStrides[d]);
    }
  }
  auto [outs, outsDynamic] = countOf(out);
  const std::string R = countExpr(rStatic, rDynamic);
  enum { Thread, Warp, Block } mode =
      !rDynamic && rStatic <= 32 ? Thread : !rDynamic && rStatic <= 2048 ? Warp : Block;
  // Block mode with few outputs splits each output's addends over several
  // blocks (kiln_split_sum) so that the GPU has work for every SM.
  const bool manyAddends = rDynamic || rStatic >= 16384;
  const int64_t splits = mode == Block && !outsDynamic && manyAddends && outs <= kScratchCounters
                             ? std::clamp<int64_t>((kTargetBlocks + outs - 1) / outs, 1, 32)
                             : 1;
  g.blockThreads = kThreads;
  const int64_t perBlock = mode == Thread ? kThreads : mode == Warp ? kThreads / 32 : 1;
  g.launch.gridXFixed = outsDynamic ? 0 : outs;
  g.launch.gridXPerItem = outsDynamic ? outs : 0;
  g.launch.gridXDivisor = perBlock;
  g.launch.strategy = mode == Thread ? "reduce thread"
                     : mode == Warp   ? "reduce warp"
                     : splits > 1     ? fmt::format("reduce block split={}", splits)
                                      : "reduce block";

  // Output coordinates, and the input's kept coordinates from them.
  std::vector<std::string> outExtents, oc;
  for (size_t d = 0; d < out.size(); ++d) {
    outExtents.push_back(extent(out[d]));
    oc.push_back(fmt::format("o{}", d));
  }
  std::vector<std::string> keptCoords;
  llvm::SmallVector<Stride> keptStrides;
  size_t o = 0;
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d]) {
      if (keepdim)
        ++o;
      continue;
    }
    keptCoords.push_back(oc[o++]);
    keptStrides.push_back(inStrides[d]);
  }
  std::vector<std::string> rc;
  for (size_t i = 0; i < redExtents.size(); ++i)
    rc.push_back(fmt::format("q{}", i));
  const std::string x = prologue.empty() ? g.arg(op->getOperand(0)) : "";
  // The prologue iterates over the input's dims: each kept dim at its output
  // coordinate, each merged run of reduced dims at its loop coordinate.
  std::vector<std::vector<int64_t>> inGroups;
  std::vector<std::string> inCoords;
  {
    size_t kept = 0, run = 0;
    for (int64_t d = 0; d < rank; ++d) {
      if (!reduced[d]) {
        inGroups.push_back({d});
        inCoords.push_back(keptCoords[kept++]);
      } else if (run < redRuns.size() && d == redRuns[run].front()) {
        inGroups.push_back(redRuns[run]);
        inCoords.push_back(rc[run++]);
      }
    }
  }
  // One addend: the input element, or the prologue's value at it.
  auto emitAddend = [&]() {
    if (prologue.empty()) {
      c.line(fmt::format("acc += {}[base + {}];", x, linearExpr(rc, redStrides)));
      return;
    }
    std::string v = prologue.emit(c, inGroups, inCoords, "");
    c.line(fmt::format("acc += {};", v));
  };

  auto emitLoop = [&](const std::string &start, const std::string &step) {
    c.line("float acc = 0.0f;");
    if (mode == Thread && !rDynamic)
      c.line("#pragma unroll");
    c.open(fmt::format("for (int r = {0}; r < {1}; r += {2})", start, R, step));
    decompose(c, "r", redExtents, rc);
    emitAddend();
    c.close();
  };
  auto emitFinish = [&](const std::string &sum) {
    std::string v = c.fresh("m");
    if (isMean)
      c.line(fmt::format("const float {} = {} / (float)({});", v, sum, R));
    else
      c.line(fmt::format("const float {} = {};", v, sum));
    std::string result = epi.empty() ? v : epi.emit(c, singletons(out.size()), oc, v);
    c.line(fmt::format("out[o] = {};", result));
  };

  if (mode == Thread) {
    c.line(fmt::format("const int o = blockIdx.x * {} + threadIdx.x;", kThreads));
    c.line(fmt::format("if (o >= {}) return;", countExpr(outs, outsDynamic)));
    decompose(c, "o", outExtents, oc);
    c.line(fmt::format("const int base = {};", linearExpr(keptCoords, keptStrides)));
    emitLoop("0", "1");
    emitFinish("acc");
  } else if (mode == Warp) {
    c.line(fmt::format("const int o = blockIdx.x * {} + (threadIdx.x >> 5);", kThreads / 32));
    c.line("const int lane = threadIdx.x & 31;");
    c.line(fmt::format("if (o >= {}) return; // uniform over the warp", countExpr(outs, outsDynamic)));
    decompose(c, "o", outExtents, oc);
    c.line(fmt::format("const int base = {};", linearExpr(keptCoords, keptStrides)));
    emitLoop("lane", "32");
    c.line("const float sum = kiln_warp_sum(acc);");
    c.open("if (lane == 0)");
    emitFinish("sum");
    c.close();
  } else if (splits == 1) {
    c.line("const int o = blockIdx.x;");
    decompose(c, "o", outExtents, oc);
    c.line(fmt::format("const int base = {};", linearExpr(keptCoords, keptStrides)));
    emitLoop("threadIdx.x", std::to_string(kThreads));
    c.line(fmt::format("const float sum = kiln_block_sum<{}>(acc);", kThreads));
    c.open("if (threadIdx.x == 0)");
    emitFinish("sum");
    c.close();
  } else {
    // Few outputs with many addends each (batch-norm statistics): `splits`
    // blocks per output, each summing a contiguous range of the addends; the
    // last one adds the partial sums in order.
    const int64_t counters = kScratchCounters;
    g.launch.scratchBytes = (counters + outs * splits) * 4;
    g.launch.gridY = splits;
    c.line("const int o = blockIdx.x, split = blockIdx.y;");
    decompose(c, "o", outExtents, oc);
    c.line(fmt::format("const int base = {};", linearExpr(keptCoords, keptStrides)));
    c.line(fmt::format("const int per = ({0} + {1} - 1) / {1};", R, splits));
    c.line(fmt::format("const int rEnd = min({}, (split + 1) * per);", R));
    c.line("float acc = 0.0f;");
    c.open(fmt::format("for (int r = split * per + threadIdx.x; r < rEnd; r += {})", kThreads));
    decompose(c, "r", redExtents, rc);
    emitAddend();
    c.close();
    c.line(fmt::format("const float partial = kiln_block_sum<{}>(acc);", kThreads));
    c.line("float sum;");
    c.line(fmt::format("if (!kiln_split_sum(partial, scratch + {} + o * {}, "
                       "reinterpret_cast<unsigned *>(scratch) + o, {}, split, sum))",
                       counters, splits, splits));
    c.line("  return;");
    c.open("if (threadIdx.x == 0)");
    emitFinish("sum");
    c.close();
  }
  return failure(epi.failed() || prologue.failed());
}

// ---------------------------------------------------------------------------
// softmax / log_softmax
// ---------------------------------------------------------------------------

LogicalResult emitSoftmax(KernelGen &g, Epilogue &epi, int64_t axisAttr, bool isLog) {
  Code &c = g.code;
  Dims dims = dimsOf(g.anchor->getResult(0));
  const int64_t rank = dims.size();
  const int64_t axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  const int64_t len = dims[axis];
  if (len < 0)
    return g.anchor->emitError("kiln CUDA codegen: softmax over the batch dim");
  auto strides = rowMajorStrides(dims);
  if (strides[axis].perBatch)
    return g.anchor->emitError("kiln CUDA codegen: softmax axis stride depends on the batch");
  const int64_t axisStride = strides[axis].coef;
  // Rows: every combination of the non-axis dims.
  std::vector<std::string> rowExtents, rowNames;
  std::vector<std::string> coords(rank);
  int64_t rows = 1;
  bool rowsDynamic = false;
  for (int64_t d = 0; d < rank; ++d) {
    if (d == axis)
      continue;
    rowExtents.push_back(extent(dims[d]));
    rowNames.push_back(fmt::format("c{}", d));
    coords[d] = rowNames.back();
    if (dims[d] < 0)
      rowsDynamic = true;
    else
      rows *= dims[d];
  }
  const bool warp = len > 64;
  g.blockThreads = kThreads;
  g.launch.gridXFixed = rowsDynamic ? 0 : rows;
  g.launch.gridXPerItem = rowsDynamic ? rows : 0;
  g.launch.gridXDivisor = warp ? kThreads / 32 : kThreads;
  g.launch.strategy = warp ? "softmax warp" : "softmax thread";
  const std::string x = g.arg(g.anchor->getOperand(0));

  if (warp) {
    c.line(fmt::format("const int row = blockIdx.x * {} + (threadIdx.x >> 5);", kThreads / 32));
    c.line("const int lane = threadIdx.x & 31;");
  } else {
    c.line(fmt::format("const int row = blockIdx.x * {} + threadIdx.x;", kThreads));
  }
  c.line(fmt::format("if (row >= {}) return;{}", countExpr(rows, rowsDynamic),
                     warp ? " // uniform over the warp" : ""));
  if (rowExtents.empty())
    rowExtents.push_back("1"), rowNames.push_back("c_unused");
  decompose(c, "row", rowExtents, rowNames);
  coords[axis] = "0";
  c.line(fmt::format("const int base = {};", linearExpr(coords, strides)));
  const std::string start = warp ? "lane" : "0", step = warp ? "32" : "1";
  c.line("float mx = -KILN_INF;");
  c.line(fmt::format("for (int j = {}; j < {}; j += {}) mx = fmaxf(mx, {}[base + j * {}]);", start,
                     len, step, x, axisStride));
  if (warp)
    c.line("mx = kiln_warp_max(mx);");
  c.line("float sum = 0.0f;");
  c.line(fmt::format("for (int j = {}; j < {}; j += {}) sum += expf({}[base + j * {}] - mx);",
                     start, len, step, x, axisStride));
  if (warp)
    c.line("sum = kiln_warp_sum(sum);");
  if (isLog)
    c.line("const float logSum = logf(sum);");
  else
    c.line("const float inv = 1.0f / sum;");
  c.open(fmt::format("for (int j = {}; j < {}; j += {})", start, len, step));
  c.line(fmt::format("const float shifted = {}[base + j * {}] - mx;", x, axisStride));
  c.line(isLog ? "const float sm = shifted - logSum;" : "const float sm = expf(shifted) * inv;");
  coords[axis] = "j";
  std::string v = epi.empty() ? "sm" : epi.emit(c, singletons(rank), coords, "sm");
  c.line(fmt::format("out[base + j * {}] = {};", axisStride, v));
  c.close();
  return failure(epi.failed());
}

} // namespace kiln::codegen::cuda

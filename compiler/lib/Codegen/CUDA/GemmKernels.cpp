//===- GemmKernels.cpp - linear, matmul, conv2d and its gradients ---------===//
//
// Every one of them is a tiled GEMM C[M,N] = A[M,K] x B[K,N] through the
// prelude's kiln_gemm_mainloop (shared-memory tiles, BK = 16, a 4x4 register
// tile per thread, 256 threads), with the operands read through generated
// lambdas (implicit GEMM: no im2col buffer) and the fused epilogue applied in
// the store lambda while the value is in a register:
//
//   op                  M        N             K                 A(m,k)   B(k,n)
//   linear              rows     out features  in features       x        W^T
//   matmul              rows     N             K                 lhs      rhs
//   matmul over batch   M        N             batch   (split-K) lhs      rhs
//   conv2d              Cout/g   batch*OH*OW   Cin/g*KH*KW       W        im2col(x)
//   conv2d_grad_input   Cin/g    batch*H*W     Cout/g*KH*KW      W^T      col(dy)
//   conv2d_grad_weight  Cout/g   Cin/g*KH*KW   batch*OH*OW (split-K) dy   im2col(x)^T
//
// Split-K (a contraction over the batch) gives each tile several blocks; the
// last block of a tile adds the partial tiles in a fixed order (see the
// prelude), so the result is deterministic.
//===----------------------------------------------------------------------===//
#include "CudaCode.h"

#include <algorithm>

using namespace mlir;

namespace kiln::codegen::cuda {
namespace {

struct Tile {
  int64_t BM, BN, BK = 16, TM = 4, TN = 4;
  int64_t threads() const { return (BM / TM) * (BN / TN); }
};

/// Tile shape by the static M (-1: dynamic): a narrow M gets a wide N.
Tile tileFor(int64_t m) {
  if (m > 0 && m <= 16)
    return {16, 256};
  if (m > 0 && m <= 32)
    return {32, 128};
  return {64, 64};
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Split count for a contraction over the batch with `tiles` output tiles
/// (one scratch counter per tile).
int64_t splitsFor(int64_t tiles, int64_t maxSplits) {
  if (tiles > kScratchCounters)
    return 1;
  return std::clamp<int64_t>(ceilDiv(kTargetBlocks, tiles), 1, maxSplits);
}

std::string tileArgs(const Tile &t, bool aKFast, bool bKFast) {
  return fmt::format("{}, {}, {}, {}, {}, {}, {}", t.BM, t.BN, t.BK, t.TM, t.TN,
                     aKFast ? "true" : "false", bKFast ? "true" : "false");
}

/// acc + main loop + store (plain or split-K) after loadA/loadB/store exist.
void emitMainloop(Code &c, const Tile &t, bool aKFast, bool bKFast, const std::string &kBegin,
                  const std::string &kEnd, int64_t splits) {
  c.line(fmt::format("float acc[{}][{}] = {{}};", t.TM, t.TN));
  c.line(fmt::format("kiln_gemm_mainloop<{}>(M, N, m0, n0, {}, {}, loadA, loadB, acc);",
                     tileArgs(t, aKFast, bKFast), kBegin, kEnd));
  if (splits <= 1)
    c.line(fmt::format("kiln_gemm_store<{}, {}, {}, {}>(M, N, m0, n0, acc, store);", t.BM, t.BN,
                       t.TM, t.TN));
  else
    c.line(fmt::format("kiln_gemm_splitk_store<{}, {}, {}, {}>(M, N, m0, n0, acc, partials, "
                       "counter, {}, split, store);",
                       t.BM, t.BN, t.TM, t.TN, splits));
}

/// The split-K prologue: this block's K range and its slot in the scratch.
void emitSplitPrologue(Code &c, const Tile &t, int64_t splits, int64_t tiles,
                       KernelGen &g) {
  c.line("const int split = blockIdx.y;");
  c.line(fmt::format("const int kPer = ((K + {0} - 1) / {0} + {1} - 1) / {1} * {1};", splits,
                     t.BK));
  c.line("const int kBegin = min(K, split * kPer), kEnd = min(K, kBegin + kPer);");
  if (splits > 1) {
    c.line("unsigned *counter = reinterpret_cast<unsigned *>(scratch) + tile;");
    c.line(fmt::format("float *partials = scratch + {} + tile * {};", kScratchCounters,
                       splits * t.BM * t.BN));
    g.launch.scratchBytes = (kScratchCounters + tiles * splits * t.BM * t.BN) * 4;
  }
  g.launch.gridY = splits;
}

/// The implicit GEMM's store for an NCHW output [images, channels, plane]:
/// GEMM row m is channel `chanOffset` + m, column n is (image, pixel); adds
/// the bias (when `bias` names one) and applies the epilogue, whose last two
/// dims come from the one pixel index when the epilogue allows.
void emitNchwStore(Code &c, Epilogue &epi, const std::string &chan,
                   const std::string &chanOffset, int64_t channels, int64_t plane,
                   int64_t width, const std::string &bias) {
  c.open("auto store = [&](int m, int n, float v)");
  c.line(fmt::format("const int img = n / {0}, p = n % {0};", plane));
  c.line(fmt::format("const int {} = {}m;", chan, chanOffset));
  if (!bias.empty())
    c.line(fmt::format("v = v + {}[{}];", bias, chan));
  std::string r = "v";
  if (!epi.empty()) {
    llvm::SmallVector<bool> mergeable = {false, false, true};
    std::vector<std::vector<int64_t>> groups = epi.collapse(mergeable);
    std::vector<std::string> coords = {"img", chan, "p"};
    if (groups.size() != 3) {
      c.line(fmt::format("const int py = p / {0}, px = p % {0};", width));
      coords = {"img", chan, "py", "px"};
    }
    r = epi.emit(c, groups, coords, "v");
  }
  c.line(fmt::format("out[(img * {} + {}) * {} + p] = {};", channels, chan, plane, r));
  c.close(";");
}

} // namespace

// ---------------------------------------------------------------------------
// linear / matmul
// ---------------------------------------------------------------------------

LogicalResult emitGemm(KernelGen &g, Epilogue &epi) {
  Code &c = g.code;
  Operation *op = g.anchor;
  Value lhsV = op->getOperand(0), rhsV = op->getOperand(1);
  Dims lhs = dimsOf(lhsV), rhs = dimsOf(rhsV);
  const bool linear = isa<LinearOp>(op);
  Value biasV = linear ? cast<LinearOp>(op).getBias() : Value();
  const int64_t m = lhs[0], k = linear ? rhs[1] : rhs[0], n = linear ? rhs[0] : rhs[1];
  if (n < 0)
    return op->emitError("kiln CUDA codegen: GEMM with a dynamic N");
  const std::string a = g.arg(lhsV), b = g.arg(rhsV);
  const bool overBatch = k < 0;
  if (overBatch && (m < 0 || linear))
    return op->emitError("kiln CUDA codegen: only matmul [M,?] x [?,N] may contract over the batch");
  Tile t = tileFor(m);
  g.blockThreads = t.threads();
  const int64_t tilesN = ceilDiv(n, t.BN);
  c.line(fmt::format("const int M = {}, N = {}, K = {};", extent(m), n, extent(k)));
  auto emitLoadsAndStore = [&] {
    c.line(fmt::format("auto loadA = [&](int m, int k) -> float {{ return {}[m * K + k]; }};", a));
    if (linear) // weight [N, K]: B(k, n) = W[n][k]
      c.line(fmt::format("auto loadB = [&](int k, int n) -> float {{ return {}[n * K + k]; }};", b));
    else
      c.line(fmt::format("auto loadB = [&](int k, int n) -> float {{ return {}[k * N + n]; }};", b));
    c.open("auto store = [&](int m, int n, float v)");
    if (biasV)
      c.line(fmt::format("v = v + {}[n];", g.arg(biasV)));
    std::string r = epi.empty() ? "v" : epi.emit(c, {{0}, {1}}, {"m", "n"}, "v");
    c.line(fmt::format("out[m * N + n] = {};", r));
    c.close(";");
  };
  if (!overBatch) {
    if (m < 0) {
      g.launch.gridXPerItem = 1;
      g.launch.gridXDivisor = t.BM;
    } else {
      g.launch.gridXFixed = ceilDiv(m, t.BM);
    }
    g.launch.gridY = tilesN;
    g.launch.strategy = fmt::format("gemm {}x{}x{}", t.BM, t.BN, t.BK);
    c.line(fmt::format("const int m0 = blockIdx.x * {}, n0 = blockIdx.y * {};", t.BM, t.BN));
    emitLoadsAndStore();
    emitMainloop(c, t, true, linear, "0", "K", 1);
    return failure(epi.failed());
  }
  // [M, batch] x [batch, N]: tiles x splits of the batch.
  const int64_t tiles = ceilDiv(m, t.BM) * tilesN;
  const int64_t splits = splitsFor(tiles, 16);
  g.launch.gridXFixed = tiles;
  g.launch.strategy = fmt::format("gemm {}x{}x{} splitk={}", t.BM, t.BN, t.BK, splits);
  c.line("const int tile = blockIdx.x;");
  c.line(fmt::format("const int m0 = (tile / {0}) * {1}, n0 = (tile % {0}) * {2};", tilesN, t.BM,
                     t.BN));
  emitSplitPrologue(c, t, splits, tiles, g);
  emitLoadsAndStore();
  emitMainloop(c, t, true, false, "kBegin", "kEnd", splits);
  return failure(epi.failed());
}

// ---------------------------------------------------------------------------
// conv2d family
// ---------------------------------------------------------------------------

namespace {
struct Geometry {
  int64_t cin, h, w, cout, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, groups;
  int64_t cinG() const { return cin / groups; }
  int64_t coutG() const { return cout / groups; }
  int64_t taps() const { return kh * kw; }
};

Geometry geometry(ArrayRef<int64_t> x, ArrayRef<int64_t> wt, ArrayRef<int64_t> y,
                  ArrayRef<int64_t> strides, ArrayRef<int64_t> pads, ArrayRef<int64_t> dil,
                  int64_t groups) {
  return {x[1],       x[2],       x[3],    wt[0],   y[2],   y[3],   wt[2], wt[3],
          strides[0], strides[1], pads[0], pads[1], dil[0], dil[1], groups};
}

std::string grpOffset(const Geometry &g, int64_t per) {
  return g.groups == 1 ? "" : fmt::format("grp * {} + ", per);
}

/// Tables over the (channel, tap) index j in [0, count), built by the block in
/// shared memory before the main loop, so that the per-element gather needs
/// two adds and a bounds test instead of four divisions: for every table
/// `name = expr`, name[j] = expr with `c` the channel and `ky`, `kx` the tap.
void emitTapTables(Code &c, const Geometry &g, int64_t count,
                   const std::vector<std::pair<std::string, std::string>> &tables) {
  for (const auto &[name, expr] : tables)
    c.line(fmt::format("__shared__ int {}[{}];", name, count));
  c.open(fmt::format("for (int j = threadIdx.x; j < {}; j += blockDim.x)", count));
  c.line(fmt::format("const int c = j / {0}, tap = j % {0};", g.taps()));
  c.line(fmt::format("const int ky = tap / {0}, kx = tap % {0};", g.kw));
  c.line("(void)c; (void)ky; (void)kx;");
  for (const auto &[name, expr] : tables)
    c.line(fmt::format("{}[j] = {};", name, expr));
  c.close();
  c.line("__syncthreads();");
}
} // namespace

LogicalResult emitConv(KernelGen &gen, Epilogue &epi) {
  Code &c = gen.code;
  auto conv = cast<Conv2dOp>(gen.anchor);
  // The logical OIHW dims whatever the weight's layout (loadA below reads it).
  Dims xd = dimsOf(conv.getInput()), wd = conv.getOihwWeightShape(),
       yd = dimsOf(conv.getResult());
  const Geometry g = geometry(xd, wd, yd, conv.getStrides(), conv.getPadding(),
                              conv.getDilation(), conv.getGroups());
  const int64_t ohw = g.oh * g.ow, k = g.cinG() * g.taps();
  Tile t = tileFor(g.coutG());
  gen.blockThreads = t.threads();
  const int64_t tilesM = ceilDiv(g.coutG(), t.BM);
  gen.launch.gridY = g.groups * tilesM;
  if (xd[0] < 0) {
    gen.launch.gridXPerItem = ohw;
  } else {
    gen.launch.gridXFixed = xd[0] * ohw;
  }
  gen.launch.gridXDivisor = t.BN;
  gen.launch.strategy = fmt::format("conv implicit-gemm {}x{}x{}", t.BM, t.BN, t.BK);
  const std::string x = gen.arg(conv.getInput()), w = gen.arg(conv.getWeight());

  c.line(fmt::format("const int grp = blockIdx.y / {0}, m0 = (blockIdx.y % {0}) * {1};", tilesM,
                     t.BM));
  c.line(fmt::format("const int n0 = blockIdx.x * {};", t.BN));
  c.line(fmt::format("const int M = {}, N = {} * {}, K = {};", g.coutG(), extent(xd[0]), ohw, k));
  c.line(fmt::format("const float *wg = {} + grp * {};", w, g.coutG() * k));
  // k = (ci, ky, kx): offset of the input element relative to the window's
  // corner, and the tap's displacement for the bounds test.
  std::vector<std::pair<std::string, std::string>> tables = {
      {"koff", fmt::format("c * {} + ky * {} + kx * {}", g.h * g.w, g.dh * g.w, g.dw)},
      {"kdy", fmt::format("ky * {}", g.dh)},
      {"kdx", fmt::format("kx * {}", g.dw)}};
  // A(m, k) = W[m][ci][tap]: OIHW rows are contiguous in k. An HWIO weight
  // (kiln-pack-conv-weights, one group) is [tap][ci][co], contiguous in m:
  // its offset for m = 0 comes from a table, and the tile loads run along m
  // (A_KFAST false) to stay coalesced. Either way the main loop sums over k
  // in the same order.
  const bool hwio = conv.hasHwioWeight();
  if (hwio)
    tables.push_back({"woff", fmt::format("(tap * {} + c) * {}", g.cin, g.cout)});
  emitTapTables(c, g, k, tables);
  if (hwio)
    c.line("auto loadA = [&](int m, int k) -> float { return wg[woff[k] + m]; };");
  else
    c.line("auto loadA = [&](int m, int k) -> float { return wg[m * K + k]; };");
  c.open("auto loadB = [&](int k, int n) -> float");
  c.line(fmt::format("const int img = n / {0}, p = n % {0};", ohw));
  c.line(fmt::format("const int y0 = (p / {0}) * {1} - {2}, x0 = (p % {0}) * {3} - {4};", g.ow,
                     g.sh, g.ph, g.sw, g.pw));
  c.line("const int iy = y0 + kdy[k], ix = x0 + kdx[k];");
  c.line(fmt::format("if ((unsigned)iy >= {}u || (unsigned)ix >= {}u) return 0.0f;", g.h, g.w));
  c.line(fmt::format("return {}[(img * {} + {}) * {} + y0 * {} + x0 + koff[k]];", x, g.cin,
                     g.groups == 1 ? "0" : fmt::format("grp * {}", g.cinG()), g.h * g.w, g.w));
  c.close(";");
  emitNchwStore(c, epi, "co", grpOffset(g, g.coutG()), g.cout, ohw, g.ow,
                conv.getBias() ? gen.arg(conv.getBias()) : "");
  emitMainloop(c, t, /*aKFast=*/!hwio, false, "0", "K", 1);
  return failure(epi.failed());
}

LogicalResult emitConvGradInput(KernelGen &gen, Epilogue &epi) {
  Code &c = gen.code;
  auto op = cast<Conv2dGradInputOp>(gen.anchor);
  Value dyV = op->getOperand(0), wV = op->getOperand(1);
  Dims dxd = dimsOf(op->getResult(0)), wd = dimsOf(wV), dyd = dimsOf(dyV);
  const Geometry g = geometry(dxd, wd, dyd, op.getStrides(), op.getPadding(), op.getDilation(),
                              op.getGroups());
  const int64_t hw = g.h * g.w, k = g.coutG() * g.taps();
  Tile t = tileFor(g.cinG());
  gen.blockThreads = t.threads();
  const int64_t tilesM = ceilDiv(g.cinG(), t.BM);
  gen.launch.gridY = g.groups * tilesM;
  if (dxd[0] < 0)
    gen.launch.gridXPerItem = hw;
  else
    gen.launch.gridXFixed = dxd[0] * hw;
  gen.launch.gridXDivisor = t.BN;
  gen.launch.strategy = fmt::format("conv-grad-input implicit-gemm {}x{}x{}", t.BM, t.BN, t.BK);
  const std::string dy = gen.arg(dyV), w = gen.arg(wV);

  c.line(fmt::format("const int grp = blockIdx.y / {0}, m0 = (blockIdx.y % {0}) * {1};", tilesM,
                     t.BM));
  c.line(fmt::format("const int n0 = blockIdx.x * {};", t.BN));
  c.line(fmt::format("const int M = {}, N = {} * {}, K = {};", g.cinG(), extent(dxd[0]), hw, k));
  // k = (co, ky, kx): the weight's offset for ci = 0, dy's channel offset,
  // and the displacement from (iy, ix) to the window position it came from.
  emitTapTables(c, g, k,
                {{"woff", fmt::format("c * {} + tap", g.cinG() * g.taps())},
                 {"doff", fmt::format("c * {}", g.oh * g.ow)},
                 {"kdy", fmt::format("{} - ky * {}", g.ph, g.dh)},
                 {"kdx", fmt::format("{} - kx * {}", g.pw, g.dw)}});
  // A(ci, (co, tap)) = W[grp*coutG + co][ci][tap]
  c.line(fmt::format("const float *wg = {} + grp * {};", w, g.coutG() * g.cinG() * g.taps()));
  c.line(fmt::format("auto loadA = [&](int m, int k) -> float {{ return wg[woff[k] + m * {}]; }};",
                     g.taps()));
  // B((co, ky, kx), (img, iy, ix)) = dy[img, co, oy, ox] where the window
  // (oy, ox) reads (iy, ix) through tap (ky, kx); 0 where none does.
  c.open("auto loadB = [&](int k, int n) -> float");
  c.line(fmt::format("const int img = n / {0}, p = n % {0};", hw));
  c.line(fmt::format("const int iy = p / {0}, ix = p % {0};", g.w));
  c.line("const int ty = iy + kdy[k], tx = ix + kdx[k];");
  c.line("if (ty < 0 || tx < 0) return 0.0f;");
  if (g.sh > 1)
    c.line(fmt::format("if (ty % {} != 0) return 0.0f;", g.sh));
  if (g.sw > 1)
    c.line(fmt::format("if (tx % {} != 0) return 0.0f;", g.sw));
  c.line(fmt::format("const int oy = ty / {}, ox = tx / {};", g.sh, g.sw));
  c.line(fmt::format("if (oy >= {} || ox >= {}) return 0.0f;", g.oh, g.ow));
  c.line(fmt::format("return {}[(img * {} + {}) * {} + doff[k] + oy * {} + ox];", dy, g.cout,
                     g.groups == 1 ? "0" : fmt::format("grp * {}", g.coutG()), g.oh * g.ow,
                     g.ow));
  c.close(";");
  emitNchwStore(c, epi, "ci", grpOffset(g, g.cinG()), g.cin, hw, g.w, "");
  emitMainloop(c, t, true, false, "0", "K", 1);
  return failure(epi.failed());
}

LogicalResult emitConvGradWeight(KernelGen &gen, Epilogue &epi) {
  Code &c = gen.code;
  auto op = cast<Conv2dGradWeightOp>(gen.anchor);
  Value xV = op->getOperand(0), dyV = op->getOperand(1);
  Dims xd = dimsOf(xV), dyd = dimsOf(dyV), dwd = dimsOf(op->getResult(0));
  const Geometry g = geometry(xd, dwd, dyd, op.getStrides(), op.getPadding(), op.getDilation(),
                              op.getGroups());
  const int64_t ohw = g.oh * g.ow, n = g.cinG() * g.taps();
  Tile t = tileFor(g.coutG());
  gen.blockThreads = t.threads();
  const int64_t tilesM = ceilDiv(g.coutG(), t.BM), tilesN = ceilDiv(n, t.BN);
  const int64_t tiles = g.groups * tilesM * tilesN;
  const bool dynamicK = xd[0] < 0;
  const int64_t staticK = dynamicK ? 0 : xd[0] * ohw;
  const int64_t splits = dynamicK || staticK >= 4096 ? splitsFor(tiles, 64) : 1;
  gen.launch.gridXFixed = tiles;
  gen.launch.strategy = fmt::format("conv-grad-weight implicit-gemm {}x{}x{} splitk={}", t.BM,
                                    t.BN, t.BK, splits);
  const std::string x = gen.arg(xV), dy = gen.arg(dyV);

  c.line("const int tile = blockIdx.x;");
  c.line(fmt::format("const int grp = tile / {0}, tm = (tile % {0}) / {1}, tn = tile % {1};",
                     tilesM * tilesN, tilesN));
  c.line(fmt::format("const int m0 = tm * {}, n0 = tn * {};", t.BM, t.BN));
  c.line(fmt::format("const int M = {}, N = {}, K = {} * {};", g.coutG(), n, extent(xd[0]), ohw));
  emitSplitPrologue(c, t, splits, tiles, gen);
  // A(co, (img, p)) = dy[img, grp*coutG + co, p]
  c.open("auto loadA = [&](int m, int k) -> float");
  c.line(fmt::format("const int img = k / {0}, p = k % {0};", ohw));
  c.line(fmt::format("return {}[(img * {} + {}m) * {} + p];", dy, g.cout,
                     grpOffset(g, g.coutG()), ohw));
  c.close(";");
  // B((img, oy, ox), (ci, ky, kx)) = x[img, grp*cinG + ci, iy, ix], with the
  // (ci, ky, kx) part from tables over n.
  emitTapTables(c, g, n,
                {{"noff", fmt::format("c * {} + ky * {} + kx * {}", g.h * g.w, g.dh * g.w, g.dw)},
                 {"ndy", fmt::format("ky * {}", g.dh)},
                 {"ndx", fmt::format("kx * {}", g.dw)}});
  c.open("auto loadB = [&](int k, int n) -> float");
  c.line(fmt::format("const int img = k / {0}, p = k % {0};", ohw));
  c.line(fmt::format("const int y0 = (p / {0}) * {1} - {2}, x0 = (p % {0}) * {3} - {4};", g.ow,
                     g.sh, g.ph, g.sw, g.pw));
  c.line("const int iy = y0 + ndy[n], ix = x0 + ndx[n];");
  c.line(fmt::format("if ((unsigned)iy >= {}u || (unsigned)ix >= {}u) return 0.0f;", g.h, g.w));
  c.line(fmt::format("return {}[(img * {} + {}) * {} + y0 * {} + x0 + noff[n]];", x, g.cin,
                     g.groups == 1 ? "0" : fmt::format("grp * {}", g.cinG()), g.h * g.w, g.w));
  c.close(";");
  c.open("auto store = [&](int m, int n, float v)");
  c.line(fmt::format("const int co = {}m;", grpOffset(g, g.coutG())));
  std::string r = "v";
  if (!epi.empty()) {
    // dW [cout, cinG, kh, kw]: (co, the rest as one index) when the inputs allow.
    llvm::SmallVector<bool> mergeable = {false, true, true};
    auto groups = epi.collapse(mergeable);
    std::vector<std::string> coords;
    if (groups.size() == 2) {
      coords = {"co", "n"};
    } else {
      c.line(fmt::format("const int ci = n / {0}, tap = n % {0};", g.taps()));
      c.line(fmt::format("const int ky = tap / {0}, kx = tap % {0};", g.kw));
      // A merged group's coordinate is its row-major index over its dims.
      const std::string names[4] = {"co", "ci", "ky", "kx"};
      for (const auto &group : groups) {
        std::string expr;
        for (int64_t d : group)
          expr = expr.empty() ? names[d] : fmt::format("({} * {} + {})", expr, dwd[d], names[d]);
        coords.push_back(expr);
      }
    }
    r = epi.emit(c, groups, coords, "v");
  }
  c.line(fmt::format("out[co * {} + n] = {};", n, r));
  c.close(";");
  emitMainloop(c, t, true, true, "kBegin", "kEnd", splits);
  return failure(epi.failed());
}

} // namespace kiln::codegen::cuda

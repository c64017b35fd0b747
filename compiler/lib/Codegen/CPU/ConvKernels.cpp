//===- ConvKernels.cpp - convolution and its gradients ---------------------===//
//
//   conv2d              im2col of R output rows -> sgemm (W x col) -> epilogue,
//                       or, for 3x3 stride-2 convolutions of even planes, the
//                       runtime's phase-split convolution (kiln_conv2d_stride2_f32),
//                       or, for "same" stride-1 convolutions (directConvApplies),
//                       the runtime's direct convolution of those rows, written
//                       straight into the output -> epilogue in place (the
//                       only path for HWIO weights, weight_layout "hwio")
//   conv2d_grad_input   per image: sgemm (W^T x dY) -> col2im (+=) -> epilogue,
//                       or for "same" stride-1 convolutions the direct
//                       convolution of dY with the flipped, transposed weights,
//                       or for 3x3 stride-2 ones of even planes the runtime's
//                       phase-split input gradient
//   conv2d_grad_weight  for "same" stride-1 3x3/5x5 convolutions (and 3x3
//                       stride-2 ones of even planes, phase-split) the runtime's
//                       direct weight gradient per block of input channels;
//                       otherwise per block of input channels: for every image, im2col
//                       of those channels -> sgemm (dY x col^T, accumulated in
//                       image order) -> epilogue. Blocks of input channels are
//                       disjoint slices of dW, so threads never share an
//                       output element and the sum over the batch always runs
//                       in the same order: bitwise identical for any thread count.
//===----------------------------------------------------------------------===//
#include "Kernels.h"
#include "kiln/Dialect/OpQueries.h"

#include "kiln/runtime/KernelABI.h"

#include <algorithm>

using namespace mlir;

namespace kiln::codegen {
namespace {

/// Static geometry of one convolution (forward or backward).
struct ConvGeometry {
  int64_t cin, h, w;       // input channels (all groups), height, width
  int64_t cout, oh, ow;    // output channels (all groups), output height, width
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  int64_t groups;
  int64_t cinG() const { return cin / groups; }
  int64_t coutG() const { return cout / groups; }
  int64_t taps() const { return kh * kw; }
  int64_t k() const { return cinG() * taps(); } // GEMM depth per group
};

ConvGeometry geometry(ArrayRef<int64_t> x, ArrayRef<int64_t> wt, ArrayRef<int64_t> y,
                      ArrayRef<int64_t> strides, ArrayRef<int64_t> pads,
                      ArrayRef<int64_t> dil, int64_t groups) {
  return {x[1],       x[2],       x[3],    wt[0],   y[2],    y[3],    wt[2], wt[3],
          strides[0], strides[1], pads[0], pads[1], dil[0],  dil[1],  groups};
}

/// Geometry of a gradient op (which has conv2d's attributes) from the shapes
/// of x, w and y.
template <typename GradOp>
ConvGeometry gradGeometry(GradOp op, ArrayRef<int64_t> x, ArrayRef<int64_t> wt,
                          ArrayRef<int64_t> y) {
  return geometry(x, wt, y, op.getStrides(), op.getPadding(), op.getDilation(),
                  op.getGroups());
}

/// Stride 1, dilation 1, one group, output as large as the input: the
/// shapes the runtime's direct convolution (kiln_conv2d_same_f32) handles
/// (the rule kiln-pack-conv-weights packs by, hence shared: OpQueries.h).
bool directConvApplies(const ConvGeometry &g) {
  return directSameConvApplies(
      {g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.groups});
}

/// 3x3, padding 1, stride 2, one group, even planes: the shapes of the
/// runtime's stride-2 convolution (kiln_conv2d_stride2_f32 and, for HWIO
/// weights, kiln_conv2d_stride2_hwio_f32), ResNet's downsampling
/// convolutions (the rule kiln-pack-conv-weights packs by: OpQueries.h).
bool stride2ConvApplies(const ConvGeometry &g) {
  return g.ph == 1 && g.pw == 1 &&
         directStride2ConvApplies(
             {g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.groups});
}

/// A convolution the runtime's HWIO entry (kiln_conv2d_hwio_f32) computes:
/// one group, dilation 1, stride 1 or 2 (the rule kiln-pack-conv-weights
/// packs by, with a small output plane: OpQueries.h).
bool convHwioApplies(const ConvGeometry &g) {
  return hwioConvApplies({g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.groups});
}

/// A 1x1 convolution with a stride above 1, no padding, dilation 1 and one
/// group: run as a 1x1 "same" convolution of the pixels it reads (emitConv).
bool subsampledConvApplies(const ConvGeometry &g) {
  return g.ph == 0 && g.pw == 0 &&
         directSubsampledConvApplies(
             {g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.groups});
}

/// A forward convolution's epilogue as the runtime applies it in its stores
/// (kiln_conv2d_epilogue): the struct lives in the kernel's stack frame, its
/// fields set once in the entry block; only the residual pointer changes per
/// call, to the residual at the call's `out`.
class ConvStageArg {
public:
  /// No stage: calls get a null pointer.
  explicit ConvStageArg(KernelIR &ir) : pointer(none(ir)) {}
  /// The null stage pointer.
  static Value none(KernelIR &ir) { return ir.b.create<LLVM::ZeroOp>(ir.loc, ir.ptr); }
  /// Must be called in the entry block (the alloca is static there).
  ConvStageArg(KernelContext &cx, const Epilogue::ConvStage &stage, Value bias) {
    KernelIR &ir = cx.ir;
    MLIRContext *ctx = ir.b.getContext();
    type = LLVM::LLVMStructType::getLiteral(
        ctx, {ir.ptr, ir.ptr, ir.ptr, ir.ptr, ir.ptr, ir.ptr, ir.f32, ir.b.getI32Type()});
    pointer = ir.b.create<LLVM::AllocaOp>(ir.loc, ir.ptr, type, ir.c(1), /*alignment=*/8);
    Value null = none(ir);
    auto buffer = [&](int operand) { return operand < 0 ? null : cx.buffers[operand]; };
    // Field order of kiln_conv2d_epilogue.
    Value fields[] = {bias ? bias : null,       buffer(stage.bnWeight), buffer(stage.bnBias),
                      buffer(stage.bnMean),     buffer(stage.bnVar),    null,
                      ir.f(stage.bnEps),        ir.i32(stage.relu ? 1 : 0)};
    for (int i = 0; i < 8; ++i)
      ir.b.create<LLVM::StoreOp>(ir.loc, fields[i], field(ir, i));
    if (stage.residual >= 0)
      residual = cx.buffers[stage.residual];
  }
  /// The stage for a call whose output starts `outOffset` floats into the
  /// kernel's output.
  Value forCall(KernelIR &ir, Value outOffset) {
    if (residual)
      ir.b.create<LLVM::StoreOp>(ir.loc, ir.offsetPtr(residual, outOffset), field(ir, 5));
    return pointer;
  }

private:
  Value field(KernelIR &ir, int i) {
    return ir.b.create<LLVM::GEPOp>(ir.loc, ir.ptr, type, pointer,
                                    ArrayRef<LLVM::GEPArg>{0, i});
  }
  Type type;
  Value pointer, residual;
};

/// out[co * ld + (oy - oy0) * W + ox] = sum over (ci, ky, kx) of
/// w[co * wsCo + ci * wsCi + ky * wsY + kx * wsX] * x[ci, oy + ky - ph, ox + kx - pw]
/// for one image of h rows (ir.c(g.h), or a run-time count) and g.w columns;
/// the weight strides let the gradient pass flipped weights.
void emitDirectConvCall(KernelIR &ir, const ConvGeometry &g, Value x, Value w, Value out,
                        Value ld, Value h, int64_t wsCo, int64_t wsCi, int64_t wsY, int64_t wsX,
                        Value oy0, Value oy1, Value epilogue) {
  LLVM::LLVMFuncOp fn = getOrDeclareDirectConv(ir);
  SmallVector<Value> args = {x,          w,          out,        ld,         ir.c(g.cin),
                             h,          ir.c(g.w),  ir.c(g.cout), ir.c(g.kh), ir.c(g.kw),
                             ir.c(g.ph), ir.c(g.pw), ir.c(wsCo), ir.c(wsCi), ir.c(wsY),
                             ir.c(wsX),  oy0,        oy1,        epilogue};
  ir.b.create<LLVM::CallOp>(ir.loc, fn, args);
}

/// Whole images per direct-convolution call: planes of at most 512 pixels
/// are packed up to 1024 pixels per call (kiln_conv2d_same_images_f32), so a
/// 7x7 plane's 1-lane tail vector is paid once per 20 images, not per image
/// (one thread, 64 channels: 54% -> 70% of the FMA peak; 14x14: 61% -> 66%;
/// bench/kernels). 1 for larger planes: a one-image call has no tail to save
/// and packing would only copy.
int64_t directImagesPerCall(const ConvGeometry &g) {
  const int64_t plane = g.oh * g.ow;
  return plane <= 512 ? 1024 / plane : 1;
}

/// kiln_conv2d_same_images_f32 over `images` whole images from image n0
/// (x and out in NCHW, whole images apart), scratch as the runtime asks.
void emitDirectConvImagesCall(KernelIR &ir, const ConvGeometry &g, Value x, Value w, Value out,
                              Value scratch, Value n0, Value images, int64_t wsCo, int64_t wsCi,
                              int64_t wsY, int64_t wsX, Value epilogue) {
  LLVM::LLVMFuncOp fn = getOrDeclareDirectConvImages(ir);
  const int64_t xImage = g.cin * g.h * g.w, outImage = g.cout * g.oh * g.ow;
  SmallVector<Value> args = {ir.offsetPtr(x, ir.mul(n0, xImage)),
                             w,
                             ir.offsetPtr(out, ir.mul(n0, outImage)),
                             scratch,
                             images,
                             ir.c(xImage),
                             ir.c(outImage),
                             ir.c(g.cin),
                             ir.c(g.h),
                             ir.c(g.w),
                             ir.c(g.cout),
                             ir.c(g.kh),
                             ir.c(g.kw),
                             ir.c(g.ph),
                             ir.c(g.pw),
                             ir.c(wsCo),
                             ir.c(wsCi),
                             ir.c(wsY),
                             ir.c(wsX),
                             epilogue};
  ir.b.create<LLVM::CallOp>(ir.loc, fn, args);
}

/// Whole images per stride-2 call: packing pays only where an image's output
/// plane wastes many lanes (7x7: 20 images per call); from 128 output pixels
/// (14x14) one image per call stores its rows in place, without the packed
/// call's copy out of scratch (16->32 channels, 28x28 input, one thread:
/// 1.08-1.13x five images per call).
int64_t stride2ImagesPerCall(const ConvGeometry &g) {
  const int64_t plane = g.oh * g.ow;
  return plane < 128 ? 1024 / plane : 1;
}

int64_t ceilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/// Output columns [lo, hi) of tap kx whose input column lies inside the image.
std::pair<int64_t, int64_t> validColumns(const ConvGeometry &g, int64_t kx) {
  int64_t lo = std::clamp<int64_t>(ceilDiv(g.pw - kx * g.dw, g.sw), 0, g.ow);
  int64_t hi = std::clamp<int64_t>(ceilDiv(g.w + g.pw - kx * g.dw, g.sw), lo, g.ow);
  return {lo, hi};
}

/// im2col of one output row (n, oy) for input channels [c0, c1) counted from
/// channel `chanBase`: col[(ci - c0) * taps + ky * kw + kx][colOffset + ox]
/// (row stride ld). Which output columns read inside the image is static per
/// kx; with stride 1 each tap is one contiguous copy.
void emitIm2colRow(KernelIR &ir, const ConvGeometry &g, Value x, Value col, Value n, Value oy,
                   Value chanBase, Value c0, Value c1, Value colOffset, Value ld) {
  ir.forLoop(c0, c1, [&](Value ci) {
    Value channel = ir.add(ir.add(ir.mul(n, g.cin), chanBase), ci);
    Value rowBase = ir.mul(ir.sub(ci, c0), g.taps());
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      Value iy = ir.add(ir.mul(oy, g.sh), ky * g.dh - g.ph);
      Value inside = ir.b.create<arith::AndIOp>(
          ir.loc, ir.cmp(arith::CmpIPredicate::sge, iy, ir.c(0)),
          ir.cmp(arith::CmpIPredicate::slt, iy, ir.c(g.h)));
      auto rowStart = [&](int64_t kx) {
        return ir.add(ir.mul(ir.add(rowBase, ky * g.kw + kx), ld), colOffset);
      };
      ir.ifThenElse(
          inside,
          [&] {
            Value src = ir.mul(ir.add(ir.mul(channel, g.h), iy), g.w);
            for (int64_t kx = 0; kx < g.kw; ++kx) {
              auto [lo, hi] = validColumns(g, kx);
              Value dst = rowStart(kx);
              ir.zeroFloats(ir.offsetPtr(col, dst), lo);
              if (g.sw == 1) {
                Value from = ir.add(src, lo + kx * g.dw - g.pw);
                ir.copyFloats(ir.offsetPtr(col, ir.add(dst, lo)), ir.offsetPtr(x, from),
                              hi - lo);
              } else {
                ir.forLoop(lo, hi, [&](Value ox) {
                  Value ix = ir.add(ir.mul(ox, g.sw), kx * g.dw - g.pw);
                  ir.store(col, ir.add(dst, ox), ir.load(x, ir.add(src, ix)));
                });
              }
              ir.zeroFloats(ir.offsetPtr(col, ir.add(dst, hi)), g.ow - hi);
            }
          },
          [&] {
            for (int64_t kx = 0; kx < g.kw; ++kx)
              ir.zeroFloats(ir.offsetPtr(col, rowStart(kx)), g.ow);
          });
    }
  });
}

/// Applies the epilogue in place to `count` NCHW planes' worth of elements of
/// an output of shape [d0, d1, d2, d3] (row invariants per (d0, d1); pixels
/// merged when the epilogue allows it).
void emitInPlaceEpilogue(KernelContext &cx, Epilogue &epi, ArrayRef<int64_t> dims, Value i0,
                         Value d1Begin, Value d1End) {
  KernelIR &ir = cx.ir;
  SmallVector<bool> mergeable = {false, false, true};
  auto groups = epi.collapse(mergeable);
  bool merged = groups.size() == 3;
  epi.setIterationSpace(groups);
  const int64_t plane = dims[2] * dims[3];
  ir.forLoop(d1Begin, d1End, [&](Value i1) {
    Value base = ir.mul(ir.add(ir.mul(i0, dims[1]), i1), plane);
    if (merged) {
      epi.emitRowInvariants(ir, cx.batch, cx.buffers, {i0, i1});
      ir.forLoop(0, plane, [&](Value p) {
        Value index = ir.add(base, p);
        Value v = epi.emitElement(ir, cx.batch, cx.buffers, p, ir.load(cx.output(), index));
        ir.store(cx.output(), index, v);
      });
    } else {
      ir.forLoop(0, dims[2], [&](Value i2) {
        epi.emitRowInvariants(ir, cx.batch, cx.buffers, {i0, i1, i2});
        ir.forLoop(0, dims[3], [&](Value i3) {
          Value index = ir.add(base, ir.add(ir.mul(i2, dims[3]), i3));
          Value v =
              epi.emitElement(ir, cx.batch, cx.buffers, i3, ir.load(cx.output(), index));
          ir.store(cx.output(), index, v);
        });
      });
    }
  });
}

} // namespace

// ---------------------------------------------------------------------------
// conv2d: im2col + sgemm + epilogue, R output rows at a time
// ---------------------------------------------------------------------------

LogicalResult emitConv(KernelContext &cx, Conv2dOp conv, Epilogue &epi, KernelPlan &plan) {
  KernelIR &ir = cx.ir;
  auto xDims = shapeOf(conv.getInput()).dims;
  auto oDims = shapeOf(conv.getResult()).dims;
  // The geometry is the logical OIHW one whatever the weight's layout; only
  // the weight strides handed to the direct convolution see the layout.
  const ConvGeometry g =
      geometry(xDims, conv.getOihwWeightShape(), oDims, conv.getStrides(),
               conv.getPadding(), conv.getDilation(), conv.getGroups());
  const int64_t cout = g.cout, oh = g.oh, ow = g.ow, k = g.k();
  const int64_t groups = g.groups, cinG = g.cinG(), coutG = g.coutG();

  const bool direct = cx.directConv && directConvApplies(g);
  // Stride 2: the runtime splits the input into its four phases and runs
  // them as a stride-1 convolution (kiln_conv2d_stride2_f32); with im2col +
  // sgemm these layers ran at 40% of the others' rate (resnet20 inference).
  // An HWIO weight (kiln-pack-conv-weights) is read through the direct
  // convolution's weight strides, or by the runtime's HWIO entry
  // (kiln_conv2d_hwio_f32: channels in lanes for any window and padding,
  // stride 1 or 2; no phase split, gather or im2col, so no scratch);
  // im2col + sgemm and the stride-2 kernel read OIHW rows. The driver packs
  // only where the lowering goes to one of those two.
  const bool hwio = conv.hasHwioWeight();
  const bool hwioConv = cx.directConv && !direct && hwio && convHwioApplies(g);
  if (hwio && !direct && !hwioConv)
    return conv.emitError("kiln-lower-to-llvm: weight_layout \"hwio\" needs the direct "
                          "convolution (one group, dilation 1, stride 1 or 2; conv-algorithm "
                          "direct, or auto on an AVX-512 host); im2col + sgemm reads OIHW "
                          "weights");
  const bool stride2 = cx.directConv && !direct && !hwioConv && stride2ConvApplies(g);
  // Weight strides (co, ci, ky, kx) of kiln_conv2d_same_f32: OIHW, or HWIO
  // with the output channels contiguous (the runtime's channels-in-lanes path
  // needs wsCo == 1; KernelABI.h, kiln_conv2d_channels_in_lanes).
  const int64_t wsCo = hwio ? 1 : k, wsCi = hwio ? cout : g.taps(),
                wsY = hwio ? g.kw * g.cin * cout : g.kw, wsX = hwio ? g.cin * cout : 1;
  // A strided 1x1 convolution without padding (ResNet's downsampling
  // shortcuts) reads every s-th pixel of every s-th row: the pixels a
  // chunk's output rows read are gathered, image by image, into a
  // [cin][rows * ow] plane in scratch, which the direct convolution runs as
  // a 1x1 "same" convolution of `rows` rows. With im2col + sgemm (the same
  // gather, then a GEMM with K = cin: 16 or 32) these layers took about
  // twice ONNX Runtime's time (resnet20, batch 128).
  const bool subsampled =
      cx.directConv && !direct && !hwioConv && !stride2 && subsampledConvApplies(g);
  // Any of these writes into the output, and the epilogue then runs there in place.
  const bool inPlace = direct || hwioConv || stride2 || subsampled;
  // Rows per chunk: as many as fit the im2col budget (at least one). The
  // direct convolution needs no im2col tile: a whole image per chunk (up to
  // 1024 pixels; the rows it wrote stay in L2 for the in-place epilogue)
  // keeps chunks aligned to images, so its 16-pixel vectors rarely end
  // part-full.
  // Small planes: several whole images per call (directImagesPerCall).
  const int64_t colsBudget = std::max<int64_t>(ow, kIm2colTileFloats / k);
  const int64_t imagesPerCall = direct              ? directImagesPerCall(g)
                                : stride2 || hwioConv ? stride2ImagesPerCall(g)
                                                      : 1;
  const bool packed = direct && imagesPerCall > 1;
  const int64_t rowsPerChunk = packed || stride2 || hwioConv ? imagesPerCall * oh
                               : direct || subsampled ? std::clamp<int64_t>(1024 / ow, 1, oh)
                                                      : std::max<int64_t>(1, colsBudget / ow);
  const int64_t maxCols = rowsPerChunk * ow;
  // im2col: [k, cols] columns, then the GEMM's [cout, cols] tile. The direct
  // convolution writes straight into the output (a kernel's output never
  // shares bytes with its inputs: MemoryPlan.cpp) and the epilogue, if any,
  // runs over it in place: no tile, and no copy pass from tile to output.
  // Stride 2: the four phases of the images a chunk touches (one more than
  // a chunk holds when it starts inside an image) and the rows computed.
  // Subsampled: the gathered plane of a chunk's rows of one image.
  plan.scratchBytes = hwioConv     ? 0
                      : stride2    ? (4 * g.cin + cout) * (imagesPerCall + 1) * oh * ow * 4
                      : packed     ? (g.cin + cout) * imagesPerCall * oh * ow * 4
                      : direct     ? 0
                      : subsampled ? g.cin * maxCols * 4
                                   : (k * maxCols + cout * maxCols) * 4;
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
  // The direct and stride-2 convolutions apply bias -> batch_norm -> add ->
  // relu in their stores (kiln_conv2d_epilogue): the output is written once
  // instead of written, read and written again, and the residual is read
  // while the FMAs run (resnet20 inference: see docs/architecture.md).
  // Other epilogues run over the output in place after each call.
  std::optional<Epilogue::ConvStage> stage =
      inPlace ? epi.matchConvStage() : std::optional<Epilogue::ConvStage>();
  if (stage && epi.empty() && !bias)
    stage.reset(); // nothing to apply
  ConvStageArg stageArg = stage ? ConvStageArg(cx, *stage, bias) : ConvStageArg(ir);
  const bool epilogueDone = stage || (!bias && epi.empty());
  Value colBuf = cx.scratch; // [k, cols] (im2col only)
  Value gemmOut = ir.offsetPtr(cx.scratch, ir.c(direct ? 0 : k * maxCols)); // [cout, cols]

  ir.forLoopStep(cx.begin, cx.end, rowsPerChunk, [&](Value r0) {
    Value r1 = ir.min(ir.add(r0, rowsPerChunk), cx.end);
    Value ncols = ir.mul(ir.sub(r1, r0), ow);
    for (int64_t grp = 0; grp < (inPlace ? 0 : groups); ++grp) {
      // One output row (n, oy) at a time so that the input rows it reads stay
      // in L1 across the kh*kw taps.
      ir.forLoop(r0, r1, [&](Value r) {
        emitIm2colRow(ir, g, x, colBuf, ir.div(r, oh), ir.rem(r, oh), ir.c(grp * cinG),
                      ir.c(0), ir.c(cinG), ir.mul(ir.sub(r, r0), ow), ncols);
      });
      Value a = ir.offsetPtr(wt, ir.c(grp * coutG * k));
      Value c = ir.offsetPtr(gemmOut, ir.mul(ncols, grp * coutG));
      emitSgemm(ir, cx.sgemm, /*transA=*/false, /*transB=*/false, ir.c(coutG), ncols, ir.c(k),
                a, ir.c(k), colBuf, ncols, ir.f(0.0f), c, ncols);
    }
    if (hwioConv) {
      SmallVector<Value> args = {x,           wt,        cx.output(), r0,         r1,
                                 ir.c(g.cin), ir.c(g.h), ir.c(g.w),  ir.c(cout), ir.c(g.kh),
                                 ir.c(g.kw),  ir.c(g.sh), ir.c(g.ph), ir.c(g.pw),
                                 stageArg.forCall(ir, ir.c(0))};
      ir.b.create<LLVM::CallOp>(ir.loc, getOrDeclareConvHwio(ir), args);
      if (epilogueDone)
        return;
    }
    if (stride2) {
      LLVM::LLVMFuncOp fn = getOrDeclareDirectConvStride2(ir);
      SmallVector<Value> args = {x,           wt,        cx.output(), cx.scratch,
                                 r0,          r1,        ir.c(g.cin), ir.c(g.h),
                                 ir.c(g.w),   ir.c(cout), stageArg.forCall(ir, ir.c(0))};
      ir.b.create<LLVM::CallOp>(ir.loc, fn, args);
      if (epilogueDone)
        return;
    }
    // Packed: one call for the chunk's whole images; a chunk that starts or
    // ends inside an image (the runtime's split is by rows) computes that
    // image's rows below, one call each.
    if (packed) {
      Value nA = ir.div(ir.add(r0, oh - 1), oh), nB = ir.div(r1, oh);
      ir.ifThen(ir.cmp(arith::CmpIPredicate::sgt, nB, nA), [&] {
        emitDirectConvImagesCall(ir, g, x, wt, cx.output(), cx.scratch, nA, ir.sub(nB, nA), wsCo,
                                 wsCi, wsY, wsX,
                                 stageArg.forCall(ir, ir.mul(nA, cout * oh * ow)));
      });
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
      if (direct) {
        auto oneImage = [&] {
          Value outOffset = ir.add(ir.mul(n, cout * oh * ow), ir.mul(y0, ow));
          emitDirectConvCall(ir, g, ir.offsetPtr(x, ir.mul(n, g.cin * g.h * g.w)), wt,
                             ir.offsetPtr(cx.output(), outOffset), ir.c(oh * ow), ir.c(g.h),
                             wsCo, wsCi, wsY, wsX, y0, y1, stageArg.forCall(ir, outOffset));
        };
        if (packed) {
          Value partial = ir.b.create<arith::OrIOp>(
              ir.loc, ir.cmp(arith::CmpIPredicate::ne, y0, ir.c(0)),
              ir.cmp(arith::CmpIPredicate::ne, y1, ir.c(oh)));
          ir.ifThen(partial, oneImage); // whole images: the packed call above
        } else {
          oneImage();
        }
        if (epilogueDone)
          return;
      }
      if (subsampled) {
        // gathered[ci][(oy - y0) * ow + ox] = x[n][ci][oy * sh][ox * sw]
        Value rows = ir.sub(y1, y0);
        Value plane = ir.mul(rows, ow);
        ir.forLoop(ir.c(0), ir.c(g.cin), [&](Value ci) {
          Value channel = ir.mul(ir.add(ir.mul(n, g.cin), ci), g.h * g.w);
          Value gathered = ir.mul(ci, plane);
          ir.forLoop(y0, y1, [&](Value oy) {
            Value src = ir.add(channel, ir.mul(oy, g.sh * g.w));
            Value dst = ir.add(gathered, ir.mul(ir.sub(oy, y0), ow));
            ir.forLoop(0, ow, [&](Value ox) {
              ir.store(cx.scratch, ir.add(dst, ox), ir.load(x, ir.add(src, ir.mul(ox, g.sw))));
            });
          });
        });
        // The gathered plane as a stride-1 image of `rows` rows and ow columns;
        // OIHW 1x1 weights: [cout][cin].
        ConvGeometry gathered = g;
        gathered.w = ow;
        gathered.sh = gathered.sw = 1;
        Value outOffset = ir.add(ir.mul(n, cout * oh * ow), ir.mul(y0, ow));
        emitDirectConvCall(ir, gathered, cx.scratch, wt, ir.offsetPtr(cx.output(), outOffset),
                           ir.c(oh * ow), rows, /*wsCo=*/g.cin, /*wsCi=*/1, /*wsY=*/1,
                           /*wsX=*/1, ir.c(0), rows, stageArg.forCall(ir, outOffset));
        if (epilogueDone)
          return;
      }
      ir.forLoop(ir.c(0), ir.c(cout), [&](Value co) {
        Value biasValue = bias ? ir.load(bias, co) : Value();
        Value tileRow = ir.add(ir.mul(co, ncols), tileCol0);
        Value outBase = ir.mul(ir.add(ir.mul(n, cout), co), oh * ow);
        auto element = [&](Value tileIndex, Value outIndex, Value inner) {
          // Direct, stride 2 or subsampled: the convolution's value is already
          // in the output.
          Value v = inPlace ? ir.load(cx.output(), outIndex) : ir.load(gemmOut, tileIndex);
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
// conv2d_grad_input: dX = col2im(W^T x dY), one image per work unit
// ---------------------------------------------------------------------------

LogicalResult emitConvGradInput(KernelContext &cx, Operation *op, Epilogue &epi,
                                KernelPlan &plan) {
  KernelIR &ir = cx.ir;
  Value dyV = op->getOperand(0), wV = op->getOperand(1);
  auto dxDims = shapeOf(op->getResult(0)).dims;
  const ConvGeometry g =
      gradGeometry(cast<Conv2dGradInputOp>(op), dxDims, shapeOf(wV).dims, shapeOf(dyV).dims);
  const int64_t k = g.k(), ohw = g.oh * g.ow, coutG = g.coutG(), cinG = g.cinG();
  // dX of a "same" stride-1 convolution is the "same" convolution of dY with
  // W^T flipped: Wt[ci][co][ky][kx] = W[co][ci][kh-1-ky][kw-1-kx], whose
  // padding kh-1-ph equals ph ("same" means kh = 2 ph + 1), so it is direct
  // whenever the forward is. The direct kernel reads Wt through strides.
  const ConvGeometry gt{g.cout, g.oh, g.ow, g.cin, g.h,  g.w,  g.kh,    g.kw,
                        1,      1,    g.ph, g.pw, 1, 1, 1};
  const bool direct = cx.directConv && directConvApplies(g);
  // 3x3 stride 2 of an even plane: the runtime's phase split per image
  // (kiln_conv2d_stride2_grad_input_f32; scratch: one phase of dX).
  const bool stride2 = cx.directConv && !direct && stride2ConvApplies(g);
  const int64_t imagesPerCall = direct ? directImagesPerCall(gt) : 1;
  if (isDynamic(dxDims[0]))
    plan.workPerItem = 1;
  else
    plan.workFixed = dxDims[0];
  plan.scratchBytes = stride2             ? g.cin * ohw * 4
                      : imagesPerCall > 1 ? (gt.cin + gt.cout) * imagesPerCall * ohw * 4
                      : direct            ? 0
                                          : k * ohw * 4;
  plan.flopsPerItem = isDynamic(dxDims[0]) ? 2 * g.cout * k * ohw : 0;

  Value dy = cx.argBuffer(dyV), wt = cx.argBuffer(wV), dx = cx.output();
  Value col = cx.scratch; // [k, oh*ow]
  const int64_t imageSize = g.cin * g.h * g.w;
  if (stride2) {
    LLVM::LLVMFuncOp fn = getOrDeclareDirectConvStride2GradInput(ir);
    ir.forLoop(cx.begin, cx.end, [&](Value n) {
      SmallVector<Value> args = {ir.offsetPtr(dy, ir.mul(n, g.cout * ohw)),
                                 wt,
                                 ir.offsetPtr(dx, ir.mul(n, imageSize)),
                                 cx.scratch,
                                 ir.c(g.cin),
                                 ir.c(g.h),
                                 ir.c(g.w),
                                 ir.c(g.cout)};
      ir.b.create<LLVM::CallOp>(ir.loc, fn, args);
      if (!epi.empty())
        emitInPlaceEpilogue(cx, epi, dxDims, n, ir.c(0), ir.c(g.cin));
    });
    return success();
  }
  if (imagesPerCall > 1) {
    // Small planes: whole images packed per call (directImagesPerCall), then
    // the epilogue image by image.
    Value flipped = ir.offsetPtr(wt, ir.c((g.kh - 1) * g.kw + (g.kw - 1)));
    ir.forLoopStep(cx.begin, cx.end, imagesPerCall, [&](Value n0) {
      Value n1 = ir.min(ir.add(n0, imagesPerCall), cx.end);
      emitDirectConvImagesCall(ir, gt, dy, flipped, dx, cx.scratch, n0, ir.sub(n1, n0),
                               /*wsCo=*/g.taps(), /*wsCi=*/g.cin * g.taps(), /*wsY=*/-g.kw,
                               /*wsX=*/-1, ConvStageArg::none(ir));
      if (!epi.empty())
        ir.forLoop(n0, n1, [&](Value n) {
          emitInPlaceEpilogue(cx, epi, dxDims, n, ir.c(0), ir.c(g.cin));
        });
    });
    return success();
  }
  ir.forLoop(cx.begin, cx.end, [&](Value n) {
    Value image = ir.mul(n, imageSize);
    if (direct) {
      Value flipped = ir.offsetPtr(wt, ir.c((g.kh - 1) * g.kw + (g.kw - 1)));
      emitDirectConvCall(ir, gt, ir.offsetPtr(dy, ir.mul(n, g.cout * ohw)), flipped,
                         ir.offsetPtr(dx, image), ir.c(g.h * g.w), ir.c(gt.h), /*wsCo=*/g.taps(),
                         /*wsCi=*/g.cin * g.taps(), /*wsY=*/-g.kw, /*wsX=*/-1, ir.c(0),
                         ir.c(g.h), ConvStageArg::none(ir));
    } else {
      ir.zeroFloats(ir.offsetPtr(dx, image), imageSize);
    }
    for (int64_t grp = 0; grp < (direct ? 0 : g.groups); ++grp) {
      Value a = ir.offsetPtr(wt, ir.c(grp * coutG * k));
      Value bPtr = ir.offsetPtr(dy, ir.mul(ir.add(ir.mul(n, g.cout), grp * coutG), ohw));
      emitSgemm(ir, cx.sgemm, /*transA=*/true, /*transB=*/false, ir.c(k), ir.c(ohw),
                ir.c(coutG), a, ir.c(k), bPtr, ir.c(ohw), ir.f(0.0f), col, ir.c(ohw));
      // col2im: dx[n, grp*cinG + ci, iy, ix] += col[(ci*kh + ky)*kw + kx, oy*ow + ox].
      // The valid oy range of each ky is static, so no bounds test per row.
      ir.forLoop(0, cinG, [&](Value ci) {
        Value plane = ir.mul(ir.add(ir.add(ir.mul(n, g.cin), grp * cinG), ci), g.h * g.w);
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          int64_t oyLo = std::clamp<int64_t>(ceilDiv(g.ph - ky * g.dh, g.sh), 0, g.oh);
          int64_t oyHi = std::clamp<int64_t>(ceilDiv(g.h + g.ph - ky * g.dh, g.sh), oyLo, g.oh);
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            auto [lo, hi] = validColumns(g, kx);
            Value kk = ir.add(ir.mul(ci, g.taps()), ky * g.kw + kx);
            ir.forLoop(oyLo, oyHi, [&](Value oy) {
              Value iy = ir.add(ir.mul(oy, g.sh), ky * g.dh - g.ph);
              Value dst = ir.add(plane, ir.mul(iy, g.w));
              Value src = ir.add(ir.mul(kk, ohw), ir.mul(oy, g.ow));
              ir.forLoop(lo, hi, [&](Value ox) {
                Value ix = ir.add(ir.mul(ox, g.sw), kx * g.dw - g.pw);
                Value at = ir.add(dst, ix);
                ir.store(dx, at, ir.fadd(ir.load(dx, at), ir.load(col, ir.add(src, ox))));
              });
            });
          }
        }
      });
    }
    if (!epi.empty())
      emitInPlaceEpilogue(cx, epi, dxDims, n, ir.c(0), ir.c(g.cin));
  });
  return success();
}

// ---------------------------------------------------------------------------
// conv2d_grad_weight: dW[:, block] = sum_n dY_n x col_n(block)^T
// ---------------------------------------------------------------------------

LogicalResult emitConvGradWeight(KernelContext &cx, Operation *op, Epilogue &epi,
                                 KernelPlan &plan) {
  KernelIR &ir = cx.ir;
  Value xV = op->getOperand(0), dyV = op->getOperand(1);
  auto dwDims = shapeOf(op->getResult(0)).dims;
  const ConvGeometry g =
      gradGeometry(cast<Conv2dGradWeightOp>(op), shapeOf(xV).dims, dwDims, shapeOf(dyV).dims);
  const int64_t k = g.k(), ohw = g.oh * g.ow, coutG = g.coutG(), cinG = g.cinG();
  // The runtime's direct weight gradient has AVX-512 blocks for 3x3 and 5x5.
  // Its vectors run along the pixels; planes under 128 pixels are packed
  // several images to a plane (a 7x7 image alone would end in a 1-lane
  // vector; before packing, im2col + sgemm was faster there).
  const bool direct = cx.directConv && directConvApplies(g) &&
                      (g.taps() == 9 || g.taps() == 25);
  // 3x3 stride 2 of an even plane: the runtime's phase-split weight gradient
  // (kiln_conv2d_stride2_grad_weight_f32), the same register blocks.
  const bool stride2 = cx.directConv && !direct && stride2ConvApplies(g);
  // Channels per work unit: enough GEMM columns (taps * channels) to keep
  // sgemm efficient, few enough to give every thread a share (36 columns: a
  // 3x3 gradient of 64 channels is 16 units, which 2, 4 or 8 threads split
  // evenly; 48 made 11, and resnet20's step was ~5% slower on 2 threads, the
  // same on 1). Direct: about
  // 8 units, so that each image's dY planes are reused by several input
  // channels while they are in cache.
  const int64_t perUnit = direct || stride2 ? std::max<int64_t>(1, cinG / 8)
                                 : std::clamp<int64_t>(ceilDiv(36, g.taps()), 1, cinG);
  const int64_t blocksPerGroup = ceilDiv(cinG, perUnit);
  plan.workFixed = g.groups * blocksPerGroup;
  // Direct and stride 2: what the runtime entry asks for (KernelABI.h).
  plan.scratchBytes =
      direct    ? kiln_conv2d_same_grad_weight_scratch_floats(g.cout, perUnit, g.kh, g.kw, g.h,
                                                              g.w) * 4
      : stride2 ? kiln_conv2d_stride2_grad_weight_scratch_floats(g.cout, perUnit, g.h, g.w) * 4
                : perUnit * g.taps() * ohw * 4;
  plan.flopsPerItem = 2 * g.cout * k * ohw;

  Value x = cx.argBuffer(xV), dy = cx.argBuffer(dyV), dw = cx.output();
  if (direct || stride2) {
    // One runtime call per block of input channels [c0, c1), then the
    // epilogue over that slice of dW.
    LLVM::LLVMFuncOp fn = direct ? getOrDeclareDirectConvGradWeight(ir)
                                 : getOrDeclareDirectConvStride2GradWeight(ir);
    ir.forLoop(cx.begin, cx.end, [&](Value unit) {
      Value c0 = ir.mul(unit, perUnit);
      Value c1 = ir.min(ir.add(c0, perUnit), ir.c(g.cin));
      SmallVector<Value> args = {x, dy, dw, cx.scratch, cx.batch, ir.c(g.cin), ir.c(g.h), ir.c(g.w),
                                 ir.c(g.cout)};
      if (direct) // the "same" entry also takes the kernel size and padding
        args.append({ir.c(g.kh), ir.c(g.kw), ir.c(g.ph), ir.c(g.pw)});
      args.append({c0, c1});
      ir.b.create<LLVM::CallOp>(ir.loc, fn, args);
      if (!epi.empty())
        ir.forLoop(ir.c(0), ir.c(g.cout),
                   [&](Value co) { emitInPlaceEpilogue(cx, epi, dwDims, co, c0, c1); });
    });
    return success();
  }
  Value col = cx.scratch; // [perUnit * taps, oh*ow]
  ir.forLoop(cx.begin, cx.end, [&](Value unit) {
    Value grp = ir.div(unit, blocksPerGroup);
    Value c0 = ir.mul(ir.rem(unit, blocksPerGroup), perUnit);
    Value c1 = ir.min(ir.add(c0, perUnit), ir.c(cinG));
    Value rows = ir.mul(ir.sub(c1, c0), g.taps());
    Value chanBase = ir.mul(grp, cinG);
    Value cTile = ir.offsetPtr(dw, ir.add(ir.mul(ir.mul(grp, coutG), k), ir.mul(c0, g.taps())));
    ir.forLoop(ir.c(0), cx.batch, [&](Value n) {
      ir.forLoop(0, g.oh, [&](Value oy) {
        emitIm2colRow(ir, g, x, col, n, oy, chanBase, c0, c1, ir.mul(oy, g.ow), ir.c(ohw));
      });
      Value a = ir.offsetPtr(dy, ir.mul(ir.add(ir.mul(n, g.cout), ir.mul(grp, coutG)), ohw));
      // The first image overwrites, the rest accumulate: no separate zeroing.
      Value beta = ir.select(ir.cmp(arith::CmpIPredicate::eq, n, ir.c(0)), ir.f(0.0f),
                             ir.f(1.0f));
      emitSgemm(ir, cx.sgemm, /*transA=*/false, /*transB=*/true, ir.c(coutG), rows, ir.c(ohw),
                a, ir.c(ohw), col, ir.c(ohw), beta, cTile, ir.c(k));
    });
    if (!epi.empty()) {
      // dW is [cout, cinG, kh, kw]: rows (co, ci) of this block, pixels = taps.
      ir.forLoop(ir.mul(grp, coutG), ir.mul(ir.add(grp, 1), coutG), [&](Value co) {
        emitInPlaceEpilogue(cx, epi, dwDims, co, c0, c1);
      });
    }
  });
  return success();
}

} // namespace kiln::codegen

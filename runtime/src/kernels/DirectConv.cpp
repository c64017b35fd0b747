//===- DirectConv.cpp - stride-1 "same" convolution without im2col --------===//
//
// Why this exists: Kiln's convolutions were im2col + sgemm. For the small
// channel counts of CIFAR/MNIST-sized ResNets (16-64) the im2col copy (kh*kw
// times the input) costs about as much as the GEMM, and sgemm with K = 144
// runs far below the FMA peak. For the common case - stride 1, dilation 1,
// one group, output as large as the input ("same" padding) - a direct
// convolution reads each input pixel from L1 with no copy at all:
//
//   * NCHW planes are flattened: output pixel p = oy*W + ox reads, for tap
//     (ky, kx), the input pixel p + (ky - ph)*W + (kx - pw) of the same
//     plane. So 16 consecutive output pixels read 16 consecutive input
//     pixels for every tap - one vector load - and the image border (and the
//     row wrap-around of the flattening) is a per-lane mask, computed once
//     per group of pixels and tap. Masked-off lanes of an AVX-512 load do not
//     fault, so reads before or after the plane are safe. Where a tap's
//     loads for a whole group stay inside the plane (most taps of most
//     groups), they are plain loads and the mask goes on the FMAs instead.
//   * Register blocking: CB output channels x PV vectors of 16 pixels live in
//     CB*PV zmm accumulators (8 x 3 = 24 of 32). Per (tap, input channel):
//     PV masked loads, CB weight broadcasts, CB*PV FMAs - FMA-bound. Taps
//     are the outer loop so a tap's PV masks stay in mask registers while
//     the input channels run under them (the inner loop is then loads,
//     broadcasts and FMAs only).
//   * Each output element is summed in one fixed order (tap, then input
//     channel), whatever the thread split, so results are bitwise
//     reproducible.
//
// Weights are read through four strides, so the same code computes the
// gradient with respect to the input of such a convolution (the convolution
// of dY with the transposed, flipped weights) without repacking.
//
// CPUs without AVX-512 get a plain loop with the same summation order (the
// compiler only selects this kernel when the target CPU has AVX-512; the loop
// keeps an artifact correct if it runs elsewhere).
//===----------------------------------------------------------------------===//
#include "DirectConv.h"

#include "kiln/runtime/KernelABI.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace {

/// A call's kiln_conv2d_epilogue with its batch-norm scales computed once
/// (bn_weight / sqrt(bn_var + bn_eps), in float as the compiler's generic
/// epilogue computes them). apply() and the AVX-512 stageVector() run the
/// same operations in the same order, so every path stores the same bits.
class OutputStage {
public:
  OutputStage(const kiln_conv2d_epilogue *e, int64_t cout) {
    if (!e)
      return;
    bias = e->bias;
    residual = e->residual;
    relu = e->relu != 0;
    if (e->bn_weight) {
      mean = e->bn_mean;
      beta = e->bn_bias;
      float *scales = fixedScales.data();
      if (cout > kFixedChannels) {
        heapScales.resize(static_cast<size_t>(cout));
        scales = heapScales.data();
      }
      for (int64_t co = 0; co < cout; ++co)
        scales[co] = e->bn_weight[co] / std::sqrt(e->bn_var[co] + e->bn_eps);
      scale = scales;
    }
  }
  // `scale` may point into this object.
  OutputStage(const OutputStage &) = delete;
  OutputStage &operator=(const OutputStage &) = delete;
  /// Whether no step applies (the output is the convolution).
  bool empty() const { return !bias && !scale && !residual && !relu; }
  /// v's stored value; r: the residual at v's index (ignored without one).
  float apply(float v, int64_t co, float r) const {
    if (bias)
      v = v + bias[co];
    if (scale)
      v = std::fma(v - mean[co], scale[co], beta[co]);
    if (residual)
      v = v + r;
    if (relu)
      v = v > 0.0f ? v : 0.0f;
    return v;
  }
  /// The value stored at index i of the call's output (the residual read
  /// there, where the stage has one).
  float applyAt(float v, int64_t co, int64_t i) const {
    return apply(v, co, residual ? residual[i] : 0.0f);
  }

  const float *bias = nullptr, *mean = nullptr, *scale = nullptr, *beta = nullptr;
  const float *residual = nullptr; // indexed as the call's output
  bool relu = false;

  /// The steps by value, for the AVX-512 stores: a local copy stays in
  /// registers, while the members are reloaded after every store (a store
  /// through __m512, a may_alias type, may write any object).
  struct Steps {
    const float *bias, *mean, *scale, *beta;
    bool relu;
  };
  Steps steps() const { return {bias, mean, scale, beta, relu}; }

private:
  // Scales of up to 256 channels live in the object (on the caller's stack),
  // so a call does not allocate: a batch-1 run makes ~20 of them.
  static constexpr int64_t kFixedChannels = 256;
  std::array<float, kFixedChannels> fixedScales;
  std::vector<float> heapScales;
};

/// The stage of a call, or null where it has none.
const OutputStage *stageOrNull(const OutputStage &s) { return s.empty() ? nullptr : &s; }
/// The stage that does nothing (for paths that take a stage by reference).
const OutputStage kNoStage(nullptr, 0);

struct Geometry {
  const float *x;
  const float *w;
  float *out;
  int64_t ld, cin, h, w_, cout, kh, kw, ph, pw;
  int64_t wsCo, wsCi, wsY, wsX;
  int64_t oy0, oy1;
  // x's channel stride, and the rows of one image: h * w_ and h for one
  // image; for images packed channel by channel (convImagesAvx512), h is
  // the rows of all of them and imageRows those of one, whose borders the
  // taps must not read across.
  int64_t xChan, imageRows;
  // Floats readable from the start of a channel of x (0: h * w_): plain,
  // unmasked loads must stay inside (stride 2 reads four phase planes).
  int64_t xSpan = 0;
  // Applied to each value before it is stored (null: none); a residual is
  // read at the value's offset from `out`, relative to `residual`.
  const OutputStage *stage = nullptr;
  // The convolution's stride (convChannelsInLanes only; the pixel-lane paths
  // take stride 2 through phase planes): h and w_ are then the input's, the
  // rows oy0..oy1 and ld the output's.
  int64_t stride = 1;
};

struct GradWeightGeometry {
  const float *x, *dy;
  float *dw, *scratch;
  int64_t batch, cin, h, w_, cout, kh, kw, ph, pw, ci0, ci1;
};

void convPortable(const Geometry &g) {
  const int64_t plane = g.h * g.w_;
  for (int64_t co = 0; co < g.cout; ++co)
    for (int64_t oy = g.oy0; oy < g.oy1; ++oy)
      for (int64_t ox = 0; ox < g.w_; ++ox) {
        float acc = 0.0f; // taps outside, channels inside, as the AVX-512 block
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          const int64_t iy = oy + ky - g.ph;
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t ix = ox + kx - g.pw;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w_)
              continue;
            for (int64_t ci = 0; ci < g.cin; ++ci)
              acc += g.w[co * g.wsCo + ci * g.wsCi + ky * g.wsY + kx * g.wsX] *
                     g.x[ci * plane + iy * g.w_ + ix];
          }
        }
        const int64_t i = co * g.ld + (oy - g.oy0) * g.w_ + ox;
        g.out[i] = g.stage ? g.stage->applyAt(acc, co, i) : acc;
      }
}

/// dW for input channels [ci0, ci1): the sum over images, in image order,
/// then pixels, then taps - the order the AVX-512 path also keeps per lane.
void gradWeightPortable(const GradWeightGeometry &g) {
  const int64_t plane = g.h * g.w_, taps = g.kh * g.kw;
  for (int64_t co = 0; co < g.cout; ++co)
    for (int64_t ci = g.ci0; ci < g.ci1; ++ci)
      for (int64_t ky = 0; ky < g.kh; ++ky)
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          float acc = 0.0f;
          for (int64_t n = 0; n < g.batch; ++n) {
            const float *dyc = g.dy + (n * g.cout + co) * plane;
            const float *xc = g.x + (n * g.cin + ci) * plane;
            for (int64_t oy = 0; oy < g.h; ++oy) {
              const int64_t iy = oy + ky - g.ph;
              if (iy < 0 || iy >= g.h)
                continue;
              for (int64_t ox = 0; ox < g.w_; ++ox) {
                const int64_t ix = ox + kx - g.pw;
                if (ix >= 0 && ix < g.w_)
                  acc += dyc[oy * g.w_ + ox] * xc[iy * g.w_ + ix];
              }
            }
          }
          g.dw[(co * g.cin + ci) * taps + ky * g.kw + kx] = acc;
        }
}

/// Images packed into one plane by the weight gradient (1: none), the G of
/// KernelABI.h's scratch size: planes under 128 pixels, up to 1024 pixels in
/// all. Each work unit packs every dY channel it reads, so packing pays only
/// where a plane's tail vector wastes much: 7x7 (4 vectors, the last with 1
/// lane) gained ~10% (one thread, bench/kernels), 14x14 (13 vectors) lost
/// ~12% to the copies.
int64_t gwImagesPerPack(int64_t plane) { return kiln_conv2d_grad_weight_pack_images(plane); }

/// Images per group of the weight gradient when planes are read in place
/// (and the stride-2 one's G in KernelABI.h): about 64 pixel vectors (a
/// block keeps its accumulators in registers over a group; on a 7x7 plane,
/// 4 vectors per image, loading and storing them per image cost as much as
/// the FMAs).
int64_t gwImagesPerGroup(int64_t plane) { return kiln_conv2d_grad_weight_group_images(plane); }

/// The nine taps of a 3x3, padding-1, stride-2 convolution over phase
/// planes (splitPhasesAvx512, ow pixels a row, phases phaseStride apart): tap
/// (ky, kx) reads phase ((ky - 1) & 1, (kx - 1) & 1) shifted by dy, dx in
/// {-1, 0} (-1 for the row or column before the output pixel's).
void stride2Taps(int64_t phaseStride, int64_t ow, int64_t *wTap, int64_t *xTap, int64_t *dy,
                 int64_t *dx) {
  for (int ky = 0; ky < 3; ++ky)
    for (int kx = 0; kx < 3; ++kx) {
      const int t = ky * 3 + kx, r = ky - 1, c = kx - 1;
      const int pa = r & 1, pb = c & 1; // r = -1 -> phase 1, row above
      dy[t] = (r - pa) / 2;
      dx[t] = (c - pb) / 2;
      wTap[t] = t;
      xTap[t] = (pa * 2 + pb) * phaseStride + dy[t] * ow + dx[t];
    }
}

/// dw[(co * cin + ci) * taps + t] for ci in [ci0, ci1) from the per-lane
/// sums part[(((ci - ci0) * cout + co) * taps + t) * 16 + lane], lanes in
/// order: the same sum on every run.
void reduceLaneSums(const float *part, float *dw, int64_t cout, int64_t cin, int64_t ci0,
                    int64_t ci1, int64_t taps) {
  for (int64_t co = 0; co < cout; ++co)
    for (int64_t ci = ci0; ci < ci1; ++ci)
      for (int64_t t = 0; t < taps; ++t) {
        const float *lanes = part + (((ci - ci0) * cout + co) * taps + t) * 16;
        float sum = 0.0f;
        for (int l = 0; l < 16; ++l)
          sum += lanes[l];
        dw[(co * cin + ci) * taps + t] = sum;
      }
}

#if defined(__x86_64__)

constexpr int kMaxTaps = 49; // 7x7; larger kernels take the portable path
// 8 output channels x 3 vectors of 16 pixels: 24 accumulators + 3 pixel
// vectors + 1 broadcast of the 32 zmm registers. 8 divides the channel counts
// of typical networks (16, 32, 64, ...), so full blocks are the rule.
constexpr int kMaxCB = 8; // output channels per register block
constexpr int kMaxPV = 3; // 16-pixel vectors per register block

/// A mask register loaded straight from memory (kmovw k, m16: a load uop).
/// GCC otherwise loads masks through a general register (movzwl, then
/// kmovw k, r32), whose second uop takes port 5 from the FMAs: nine per 27
/// FMAs in a border vector of the weight gradient. Using this there made the
/// weight gradient 7-11% faster (one thread, bench_conv_ab).
__attribute__((target("avx512f"), always_inline)) inline __mmask16 loadMask(const __mmask16 *m) {
  __mmask16 k;
  __asm__("kmovw %1, %0" : "=k"(k) : "m"(*m));
  return k;
}
/// Keeps v in a register: GCC would otherwise fold an unmasked load into
/// each of the CB FMAs that use it, CB line-splitting loads instead of one
/// (measured 30% slower).
__attribute__((target("avx512f"), always_inline)) inline __m512 inRegister(__m512 v) {
  __asm__("" : "+v"(v));
  return v;
}

// The block is written with index-sequence fold expressions rather than
// loops over j and v: every accumulator index is then a constant from the
// start, so GCC keeps the accumulators in registers. With loops, GCC's early
// scalar replacement sees variable indices and leaves the array on the stack,
// storing all 24 accumulators after every FMA step (measured: 28% slower than
// im2col + sgemm).
template <int PV, int... V>
__attribute__((target("avx512f"), always_inline)) inline void
loadPixels(__m512 (&xv)[PV], const __mmask16 *masks, const float *xs,
           std::integer_sequence<int, V...>) {
  ((xv[V] = _mm512_maskz_loadu_ps(masks[V], xs + 16 * V)), ...);
}

template <int PV, int... V>
__attribute__((target("avx512f"), always_inline)) inline void
loadPixelsPlain(__m512 (&xv)[PV], const float *xs, std::integer_sequence<int, V...>) {
  ((xv[V] = inRegister(_mm512_loadu_ps(xs + 16 * V))), ...);
}

/// acc += b * x in the lanes of k, the others kept. In inline assembly
/// because GCC 12, given the intrinsic, shuffles the masks between mask
/// registers inside the loop (about twelve kmovw k, k per 24 FMAs).
__attribute__((target("avx512f"), always_inline)) inline void maskedFma(__m512 &acc, __m512 b,
                                                                         __m512 x, __mmask16 k) {
  __asm__("vfmadd231ps %2, %1, %0%{%3%}" : "+v"(acc) : "v"(b), "v"(x), "Yk"(k));
}

template <int CB, int PV, int J, int... V>
__attribute__((target("avx512f"), always_inline)) inline void
fmaRowMasked(__m512 (&acc)[CB * PV], __m512 b, const __m512 (&xv)[PV], const __mmask16 (&m)[PV],
             std::integer_sequence<int, V...>) {
  (maskedFma(acc[J * PV + V], b, xv[V], m[V]), ...);
}

/// As fmaBlock, lanes outside m[v] keeping their sums: one broadcast per
/// output channel j, used by its PV FMAs.
template <int CB, int PV, int... J>
__attribute__((target("avx512f"), always_inline)) inline void
fmaBlockMasked(__m512 (&acc)[CB * PV], const __m512 (&xv)[PV], const __mmask16 (&m)[PV],
               const float *wt, int64_t wsCo, std::integer_sequence<int, J...>) {
  (fmaRowMasked<CB, PV, J>(acc, _mm512_set1_ps(wt[J * wsCo]), xv, m,
                           std::make_integer_sequence<int, PV>()),
   ...);
}

template <int CB, int PV, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
fmaBlock(__m512 (&acc)[CB * PV], const __m512 (&xv)[PV], const float *wt, int64_t wsCo,
         std::integer_sequence<int, I...>) {
  ((acc[I] = _mm512_fmadd_ps(_mm512_set1_ps(wt[(I / PV) * wsCo]), xv[I % PV], acc[I])), ...);
}

template <int N, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
zeroBlock(__m512 (&acc)[N], std::integer_sequence<int, I...>) {
  ((acc[I] = _mm512_setzero_ps()), ...);
}

template <int CB, int PV, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
storeBlock(const __m512 (&acc)[CB * PV], float *out, int64_t ld, const __mmask16 *storeMask,
           std::integer_sequence<int, I...>) {
  (_mm512_mask_storeu_ps(out + (I / PV) * ld + 16 * (I % PV), storeMask[I % PV], acc[I]), ...);
}

/// v through `stage` for output channel co (res: the residual at v's
/// lanes, read where the stage has one), as OutputStage::apply per lane.
__attribute__((target("avx512f"), always_inline)) inline __m512
stageVector(__m512 v, OutputStage::Steps stage, int64_t co, const float *res, __mmask16 m) {
  if (stage.bias)
    v = _mm512_add_ps(v, _mm512_set1_ps(stage.bias[co]));
  if (stage.scale)
    v = _mm512_fmadd_ps(_mm512_sub_ps(v, _mm512_set1_ps(stage.mean[co])),
                        _mm512_set1_ps(stage.scale[co]), _mm512_set1_ps(stage.beta[co]));
  if (res)
    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res));
  if (stage.relu) // (the maskz form: see rowOfLanes)
    v = _mm512_maskz_max_ps(0xFFFF, v, _mm512_setzero_ps());
  return v;
}

/// storeBlock through the stage: accumulator (j, v) is output channel co + j.
template <int CB, int PV, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
storeBlockStaged(const __m512 (&acc)[CB * PV], float *out, int64_t ld, const __mmask16 *storeMask,
                 OutputStage::Steps stage, int64_t co, const float *res,
                 std::integer_sequence<int, I...>) {
  (_mm512_mask_storeu_ps(out + (I / PV) * ld + 16 * (I % PV), storeMask[I % PV],
                         stageVector(acc[I], stage, co + I / PV,
                                     res ? res + (I / PV) * ld + 16 * (I % PV) : nullptr,
                                     storeMask[I % PV])),
   ...);
}

/// The block's store: through the stage where the call has one.
template <int CB, int PV, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
storeBlockThrough(const __m512 (&acc)[CB * PV], float *out, int64_t ld,
                  const __mmask16 *storeMask, const OutputStage *stage, int64_t co,
                  const float *res, std::integer_sequence<int, I...> all) {
  if (stage)
    storeBlockStaged<CB, PV>(acc, out, ld, storeMask, stage->steps(), co, res, all);
  else
    storeBlock<CB, PV>(acc, out, ld, storeMask, all);
}

/// dst[i] = the stage applied to src[i] for i < n, all of output channel co
/// (res: the residual at dst's indices, or null).
__attribute__((target("avx512f"))) void stageRow(const float *src, float *dst, int64_t n,
                                                 const OutputStage &stage, int64_t co,
                                                 const float *res) {
  const OutputStage::Steps steps = stage.steps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(
        dst + i, m,
        stageVector(_mm512_maskz_loadu_ps(m, src + i), steps, co, res ? res + i : nullptr, m));
  }
}

/// Copies n values of output channel co from scratch to out + o, through
/// the stage where there is one (its residual read at out's index o on).
__attribute__((target("avx512f"))) void copyOut(const float *src, float *out, int64_t o,
                                                int64_t n, const OutputStage &stage,
                                                int64_t co) {
  if (stage.empty())
    std::copy_n(src, n, out + o);
  else
    stageRow(src, out + o, n, stage, co, stage.residual ? stage.residual + o : nullptr);
}

/// acc[j][v] = sum_{ci, t} w[j, ci, t] * x[ci, p0 + 16 v + xTap[t]] (masked),
/// stored to out[j * ld + 16 v] under storeMask[v] (through `stage` for
/// output channel co + j where it is set; res: the residual at out).
/// plain[t]: tap t's loads
/// for the whole group stay inside x's planes, so they go unmasked and the
/// masks move to the FMAs (maskedFma), where they cost no uop; a zero-masking
/// load costs one beside the FMAs'. One thread, bench_conv_ab: the forward
/// 15-19% faster on 28x28 and 14x14 planes, 4-21% on packed 7x7 ones.
template <int CB, int PV>
__attribute__((target("avx512f"))) void block(const float *x, int64_t plane, const float *w,
                                              int64_t wsCo, int64_t wsCi,
                                              const int64_t *wTap, const int64_t *xTap, int taps,
                                              int64_t cin, const __mmask16 *masks,
                                              const uint8_t *plain, const __mmask16 *storeMask,
                                              float *out, int64_t ld, const OutputStage *stage,
                                              int64_t co, const float *res) {
  constexpr auto all = std::make_integer_sequence<int, CB * PV>();
  constexpr auto pixels = std::make_integer_sequence<int, PV>();
  __m512 acc[CB * PV];
  zeroBlock<CB * PV>(acc, all);
  if (cin == 1) {
    // One input channel (a network's first layer): nothing to keep masks
    // over, so the per-tap setup below would cost more than it saves
    // (lenet5's first layer 13% slower with it). Same summation order.
    for (int t = 0; t < taps; ++t) {
      __m512 xv[PV];
      loadPixels<PV>(xv, masks + t * kMaxPV, x + xTap[t], pixels);
      fmaBlock<CB, PV>(acc, xv, w + wTap[t], wsCo, all);
    }
    storeBlockThrough<CB, PV>(acc, out, ld, storeMask, stage, co, res, all);
    return;
  }
  for (int t = 0; t < taps; ++t) {
    __mmask16 m[PV];
    for (int v = 0; v < PV; ++v)
      m[v] = loadMask(masks + t * kMaxPV + v);
    const float *xc = x + xTap[t];
    const float *wc = w + wTap[t];
    if (plain[t]) {
      for (int64_t ci = 0; ci < cin; ++ci, xc += plane, wc += wsCi) {
        __m512 xv[PV];
        loadPixelsPlain<PV>(xv, xc, pixels);
        fmaBlockMasked<CB, PV>(acc, xv, m, wc, wsCo, std::make_integer_sequence<int, CB>());
      }
    } else {
      for (int64_t ci = 0; ci < cin; ++ci, xc += plane, wc += wsCi) {
        __m512 xv[PV];
        loadPixels<PV>(xv, m, xc, pixels);
        fmaBlock<CB, PV>(acc, xv, wc, wsCo, all);
      }
    }
  }
  storeBlockThrough<CB, PV>(acc, out, ld, storeMask, stage, co, res, all);
}

using BlockFn = void (*)(const float *, int64_t, const float *, int64_t, int64_t,
                         const int64_t *, const int64_t *, int, int64_t, const __mmask16 *,
                         const uint8_t *, const __mmask16 *, float *, int64_t,
                         const OutputStage *, int64_t, const float *);

template <int CB, int PV> constexpr BlockFn blockFn() { return &block<CB, PV>; }

template <int CB> constexpr std::array<BlockFn, kMaxPV> blockRow() {
  return {blockFn<CB, 1>(), blockFn<CB, 2>(), blockFn<CB, 3>()};
}

// kBlocks[CB - 1][PV - 1]
constexpr std::array<BlockFn, kMaxPV> kBlocks[kMaxCB] = {
    blockRow<1>(), blockRow<2>(), blockRow<3>(), blockRow<4>(),
    blockRow<5>(), blockRow<6>(), blockRow<7>(), blockRow<8>(),
};
static_assert(kMaxPV == 3, "blockRow lists one function per vector count");

/// pix / w per lane, for 0 <= pix < 2^23 (kMaxFloatRowPixel). Why float is
/// exact here: pix and w are exact floats, and for pix = q*w + r (r < w) the
/// quotient q + r/w is at least 1/w below q + 1, while the division's rounding
/// error is at most half an ulp of pix/w, below (pix/w) * 2^-24 < 1/(2w); and
/// r = 0 gives q exactly. (Also checked by brute force at pix = q*w - 1, q*w,
/// q*w + 1 for every w up to 4096.) One vdivps per 16 lanes replaces 16 scalar
/// 64-bit divisions, a visible share of a 16-channel group's time:
/// resnet20 inference, batch 1, 1 thread 590 -> 575 us, 2 threads 455-600 ->
/// 440-570 us; batch 128, 2 threads 3-15% faster (alternating runs).
constexpr int64_t kMaxFloatRowPixel = int64_t(1) << 23;
__attribute__((target("avx512f"), always_inline)) inline __m512i rowOfLanes(__m512i pix,
                                                                            __m512 w) {
  // The maskz forms: GCC 12's unmasked ones merge into _mm512_undefined_*(),
  // which -Wmaybe-uninitialized reports.
  return _mm512_maskz_cvttps_epi32(0xFFFF,
                                   _mm512_div_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, pix), w));
}

/// Splits rows [iy0, iy1) of an even-width plane of w columns into its four
/// phases P[a][b][i][j] = src[2i + a][2j + b], phase (a, b) at phase0 +
/// (2a + b) * phaseStride with rows of w/2 (rows of P are i = iy / 2); 16
/// columns of both phases of a row per step (two loads, two permutes).
__attribute__((target("avx512f"))) void splitPhasesAvx512(const float *src, int64_t iy0,
                                                           int64_t iy1, int64_t w, float *phase0,
                                                           int64_t phaseStride) {
  const int64_t ow = w / 2;
  const __m512i evens =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds =
      _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int64_t iy = iy0; iy < iy1; ++iy) {
    const float *row = src + iy * w;
    float *even = phase0 + (iy & 1) * 2 * phaseStride + (iy >> 1) * ow;
    float *odd = even + phaseStride;
    for (int64_t j = 0; j < ow; j += 16) {
      const int64_t n = std::min<int64_t>(16, ow - j); // output columns this step
      const auto out = static_cast<__mmask16>((1u << n) - 1);
      const auto lo = static_cast<__mmask16>(n >= 8 ? 0xFFFFu : (1u << (2 * n)) - 1);
      const auto hi = static_cast<__mmask16>(n > 8 ? (1u << (2 * n - 16)) - 1 : 0u);
      const __m512 a = _mm512_maskz_loadu_ps(lo, row + 2 * j);
      const __m512 b = _mm512_maskz_loadu_ps(hi, row + 2 * j + 16);
      _mm512_mask_storeu_ps(even + j, out, _mm512_permutex2var_ps(a, evens, b));
      _mm512_mask_storeu_ps(odd + j, out, _mm512_permutex2var_ps(a, odds, b));
    }
  }
}

/// The convolution over explicit taps: tap t reads x at offset xTap[t] from
/// the output pixel (inside the image when row + dy[t], column + dx[t] are)
/// and weight wTap[t] of a (co, ci) pair. convAvx512 makes the taps of a
/// "same" convolution; convStride2Avx512 those of a stride-2 one over the
/// input's four phase planes.
__attribute__((target("avx512f"))) void convTaps(const Geometry &g, int taps,
                                                 const int64_t *wTap, const int64_t *xTap,
                                                 const int64_t *dy, const int64_t *dx) {
  const int64_t p0 = g.oy0 * g.w_, p1 = g.oy1 * g.w_;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i hV = _mm512_set1_epi32(static_cast<int>(g.imageRows));
  const __m512 imageRowsF = _mm512_set1_ps(static_cast<float>(g.imageRows));
  const bool packed = g.imageRows != g.h;
  const __m512i wV = _mm512_set1_epi32(static_cast<int>(g.w_));
  const __m512i zero = _mm512_setzero_si512();
  const __m512 wF = _mm512_set1_ps(static_cast<float>(g.w_));
  __mmask16 masks[kMaxTaps * kMaxPV];
  __mmask16 storeMask[kMaxPV];
  const int64_t span = g.xSpan > 0 ? g.xSpan : g.h * g.w_;
  const float *residual = g.stage ? g.stage->residual : nullptr;
  // Pixel groups outside, output-channel blocks inside: the group's input
  // (cin planes x ~(64 + 2W) pixels) stays in L1 across the channel blocks.
  for (int64_t p = p0; p < p1; p += 16 * kMaxPV) {
    const int pv = static_cast<int>(std::min<int64_t>(kMaxPV, (p1 - p + 15) / 16));
    for (int v = 0; v < pv; ++v) {
      const int64_t start = p + 16 * v;
      const __m512i pix = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(start)), lane);
      const __mmask16 inRange =
          _mm512_cmplt_epi32_mask(pix, _mm512_set1_epi32(static_cast<int>(p1)));
      storeMask[v] = inRange;
      // Row and column of each lane, once per group and vector.
      __m512i oy;
      if (p1 + 16 * kMaxPV <= kMaxFloatRowPixel) {
        oy = rowOfLanes(pix, wF);
      } else {
        alignas(64) int32_t oyLane[16];
        for (int l = 0; l < 16; ++l)
          oyLane[l] = static_cast<int32_t>((start + l) / g.w_);
        oy = _mm512_load_si512(oyLane);
      }
      const __m512i ox = _mm512_sub_epi32(pix, _mm512_mullo_epi32(oy, wV));
      if (packed) // the row inside its own image (oy < 2^23 / w: exact)
        oy = _mm512_sub_epi32(oy, _mm512_mullo_epi32(rowOfLanes(oy, imageRowsF), hV));
      for (int t = 0; t < taps; ++t) {
        const __m512i iy = _mm512_add_epi32(oy, _mm512_set1_epi32(static_cast<int>(dy[t])));
        const __m512i ix = _mm512_add_epi32(ox, _mm512_set1_epi32(static_cast<int>(dx[t])));
        __mmask16 m = inRange;
        m &= _mm512_cmpge_epi32_mask(iy, zero) & _mm512_cmplt_epi32_mask(iy, hV);
        m &= _mm512_cmpge_epi32_mask(ix, zero) & _mm512_cmplt_epi32_mask(ix, wV);
        masks[t * kMaxPV + v] = m;
      }
    }
    // Taps whose loads for the whole group stay inside a channel's span.
    // (Not for one input channel, whose block does not use them.)
    uint8_t plain[kMaxTaps];
    for (int t = 0; t < taps && g.cin > 1; ++t)
      plain[t] = p + xTap[t] >= 0 && p + 16 * pv - 1 + xTap[t] < span;
    const float *xs = g.x + p;
    float *outGroup = g.out + (p - p0);
    const float *resGroup = residual ? residual + (p - p0) : nullptr;
    // The residual lines of the group after next, from L3 or memory: the
    // stores then find them in L1 (28x28, 16 channels, batch 128: the fused
    // stage costs 11-12% over the bare convolution with this, 18-23%
    // without; one and four groups ahead were no better than two).
    if (residual)
      for (int64_t q = p + 2 * 16 * kMaxPV, q1 = std::min(q + 16 * kMaxPV, p1); q < q1; q += 16)
        for (int64_t co = 0; co < g.cout; ++co)
          _mm_prefetch(reinterpret_cast<const char *>(residual + co * g.ld + (q - p0)),
                       _MM_HINT_T0);
    for (int64_t co = 0; co < g.cout; co += kMaxCB) {
      const int cb = static_cast<int>(std::min<int64_t>(kMaxCB, g.cout - co));
      kBlocks[cb - 1][pv - 1](xs, g.xChan, g.w + co * g.wsCo, g.wsCo, g.wsCi, wTap, xTap, taps,
                              g.cin, masks, plain, storeMask, outGroup + co * g.ld, g.ld,
                              g.stage, co, resGroup ? resGroup + co * g.ld : nullptr);
    }
  }
}

__attribute__((target("avx512f"))) void convAvx512(const Geometry &g) {
  const int taps = static_cast<int>(g.kh * g.kw);
  int64_t wTap[kMaxTaps], xTap[kMaxTaps], dy[kMaxTaps], dx[kMaxTaps];
  for (int64_t ky = 0; ky < g.kh; ++ky)
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t t = ky * g.kw + kx;
      wTap[t] = ky * g.wsY + kx * g.wsX;
      dy[t] = ky - g.ph;
      dx[t] = kx - g.pw;
      xTap[t] = dy[t] * g.w_ + dx[t];
    }
  convTaps(g, taps, wTap, xTap, dy, dx);
}

// ---- channels in lanes: small planes, one image at a time ----
//
// A 7x7 plane is 49 pixels: 3 full 16-pixel vectors and one with a single
// lane, so the pixel-lane blocks above waste a quarter of their FMAs on one
// image (batch-1 inference, or a thread's rows of it; a thread's 7 rows of a
// 14x14 plane, 98 pixels, waste an eighth), and packing several images to
// fill the lanes costs copies in and out. Here the lanes hold 16 output
// channels instead: a block is one output row (w <= 14 pixels, each a scalar
// broadcast; a row of 15-28 pixels is two blocks) times CV vectors of 16
// channels (CV <= 4, pixels * CV <= 28), and per (tap, input channel) it
// loads CV weight vectors - which needs the output channels of a weight
// contiguous (wsCo == 1: the compiler stores such convolutions' weights
// [kh][kw][cin][cout] in inference artifacts) - and runs pixels * CV FMAs,
// every lane useful. Taps stay the outer loop and input
// channels the inner one, so each output element is the same sum in the
// same order as in the pixel-lane kernel: results are bitwise equal. A tap
// that reads outside the image for some pixels of the row skips their FMAs
// (the pixel-lane kernel's masked lanes), so nothing outside x is read
// and, unlike masked lanes, it costs no time (a 28x28 plane's 3x3 taps
// read outside it for 5% of their pixels, a 7x7 plane's for 18%). Rows go
// through a pixel-major tile of up to 64 pixels (64 / w rows), then a 16x16
// register transpose and the output stage per 16 pixels of a channel vector
// (storeTransposed).

constexpr int kCilMaxW = 14;     // row pixels per block (rows up to 2 kCilMaxW: two blocks)
constexpr int kCilMaxCV = 4;     // 16-channel vectors per block (rows of up to 7 pixels)
constexpr int kCilMaxAcc = 28;   // accumulators per block, of the 32 registers (7 x 4, 14 x 2)
constexpr int kCilTileStride = 64; // floats per tile row: 64 channels, or 64 pixels

/// Which pixels of the row a tap's FMAs cover: all, all but the first or
/// the last (a 3x3 kernel's side columns), or those whose mask is set (any
/// other kernel width).
enum class CilPixels { All, SkipFirst, SkipLast, Masked };

/// FMA I (pixel j = I / CV, channels 16c.. with c = I % CV) of a tap's step.
template <int P, int CV, int S, CilPixels Kind, int I>
__attribute__((target("avx512f"), always_inline)) inline void
cilFma(__m512 (&acc)[P * CV], const __m512 (&wv)[CV], const float *x, const int64_t *offset,
       const __mmask16 *mask) {
  constexpr int j = I / CV, c = I % CV;
  if constexpr (Kind == CilPixels::Masked)
    acc[I] = _mm512_mask3_fmadd_ps(wv[c], _mm512_set1_ps(x[offset[j]]), acc[I], mask[j]);
  else if constexpr (!(Kind == CilPixels::SkipFirst && j == 0) &&
                     !(Kind == CilPixels::SkipLast && j == P - 1))
    acc[I] = _mm512_fmadd_ps(wv[c], _mm512_set1_ps(x[S * j]), acc[I]);
}

/// One (tap, input channel) step: CV weight vectors, then P * CV FMAs
/// (pixel j reads x[S * j]: S is the convolution's stride).
template <int P, int CV, int S, CilPixels Kind, int... C, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
cilStep(__m512 (&acc)[P * CV], const float *x, const float *w, const int64_t *offset,
        const __mmask16 *mask, std::integer_sequence<int, C...>,
        std::integer_sequence<int, I...>) {
  __m512 wv[CV];
  ((wv[C] = inRegister(_mm512_loadu_ps(w + 16 * C))), ...);
  (cilFma<P, CV, S, Kind, I>(acc, wv, x, offset, mask), ...);
}

/// acc += sum over input channels of w[ci] x x[ci] for one tap: x at the
/// tap's input for pixel 0 (Masked: at the row's start, pixel j reading
/// offset[j]), w at the tap's weights of the block's first channel.
template <int P, int CV, int S, CilPixels Kind>
__attribute__((target("avx512f"), always_inline)) inline void
cilTap(__m512 (&acc)[P * CV], const float *x, int64_t xChan, const float *w, int64_t wsCi,
       int64_t cin, const int64_t *offset, const __mmask16 *mask) {
  for (int64_t ci = 0; ci < cin; ++ci, x += xChan, w += wsCi)
    cilStep<P, CV, S, Kind>(acc, x, w, offset, mask, std::make_integer_sequence<int, CV>(),
                            std::make_integer_sequence<int, P * CV>());
}

/// Accumulator (j, c) to tile[j][16c + l] for lanes l (pixel-major: rows of
/// kCilTileStride channels).
template <int P, int CV, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
cilStore(const __m512 (&acc)[P * CV], float *tile, std::integer_sequence<int, I...>) {
  (_mm512_storeu_ps(tile + (I / CV) * kCilTileStride + 16 * (I % CV), acc[I]), ...);
}

/// The low (or high) 64-bit halves of each 128-bit lane of a and b, interleaved.
__attribute__((target("avx512f"), always_inline)) inline __m512 unpack64(__m512 a, __m512 b,
                                                                         bool high) {
  const __m512d x = _mm512_castps_pd(a), y = _mm512_castps_pd(b);
  return _mm512_castpd_ps(high ? _mm512_maskz_unpackhi_pd(0xFF, x, y)
                               : _mm512_maskz_unpacklo_pd(0xFF, x, y));
}

/// Stores channels [co, co + 16) of n <= 16 pixels from src (pixel-major:
/// src[p * kCilTileStride + c], pixel p, channel co + c) to out[c * ld + p],
/// through the stage (res: the residual at out, or null): a 16x16 register
/// transpose (four rounds of in-lane and cross-lane shuffles instead of 16
/// scatters, which cost 4 of a 7x7 image's ~30 us), each channel's vector
/// staged and stored straight from its register (a pass through a
/// channel-major tile and copyOut cost a store, a load and a call per
/// channel row).
__attribute__((target("avx512f"))) void storeTransposed(const float *src, int64_t n, float *out,
                                                        int64_t ld, const OutputStage &stage,
                                                        int64_t co, const float *res) {
  // (The maskz forms: see rowOfLanes.)
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i)
    r[i] = i < n ? _mm512_loadu_ps(src + i * kCilTileStride) : _mm512_setzero_ps();
  for (int i = 0; i < 16; i += 2) { // 2x2 blocks of floats
    t[i] = _mm512_maskz_unpacklo_ps(0xFFFF, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(0xFFFF, r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) { // 4x4 blocks
    r[i] = unpack64(t[i], t[i + 2], false);
    r[i + 1] = unpack64(t[i], t[i + 2], true);
    r[i + 2] = unpack64(t[i + 1], t[i + 3], false);
    r[i + 3] = unpack64(t[i + 1], t[i + 3], true);
  }
  for (int i = 0; i < 4; ++i) { // 128-bit lanes of rows i, i + 4, i + 8, i + 12
    t[i] = _mm512_maskz_shuffle_f32x4(0xFFFF, r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_maskz_shuffle_f32x4(0xFFFF, r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_maskz_shuffle_f32x4(0xFFFF, r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_maskz_shuffle_f32x4(0xFFFF, r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_maskz_shuffle_f32x4(0xFFFF, t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_maskz_shuffle_f32x4(0xFFFF, t[i], t[i + 8], 0xDD);
    r[i + 4] = _mm512_maskz_shuffle_f32x4(0xFFFF, t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_maskz_shuffle_f32x4(0xFFFF, t[i + 4], t[i + 12], 0xDD);
  }
  const auto m = static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1);
  if (stage.empty()) {
    for (int i = 0; i < 16; ++i)
      _mm512_mask_storeu_ps(out + i * ld, m, r[i]);
    return;
  }
  const OutputStage::Steps steps = stage.steps();
  for (int i = 0; i < 16; ++i)
    _mm512_mask_storeu_ps(out + i * ld, m,
                          stageVector(r[i], steps, co + i, res ? res + i * ld : nullptr, m));
}

/// floor(a / b) and ceil(a / b) for b > 0.
constexpr int64_t floorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
constexpr int64_t ceilDiv(int64_t a, int64_t b) { return -floorDiv(-a, b); }

/// Pixels [x0, x0 + P) of output row oy, channels [co, co + 16 CV),
/// written unstaged to tile[p + j][c] (pixel j of the block, channel c).
/// A row of up to kCilMaxW pixels is one block (x0 = 0, P = its width);
/// wider rows (up to 2 kCilMaxW) are two. S: the stride (g.stride), output
/// pixel (oy, ox) reading input (S oy + ky - ph, S ox + kx - pw).
template <int P, int CV, int S>
__attribute__((target("avx512f"))) void cilRow(const Geometry &g, int64_t oy, int64_t x0,
                                               int64_t co, float *tile, int64_t p) {
  constexpr auto all = std::make_integer_sequence<int, P * CV>();
  __m512 acc[P * CV];
  zeroBlock<P * CV>(acc, all);
  for (int64_t ky = 0; ky < g.kh; ++ky) {
    const int64_t iy = S * oy + ky - g.ph;
    if (iy < 0 || iy >= g.h)
      continue; // every pixel's tap reads outside the image
    for (int64_t kx = 0; kx < g.kw; ++kx) {
      const int64_t dx = kx - g.pw;
      // Pixel j reads column S (x0 + j) + dx: inside the row for j in [j0, j1).
      const int64_t j0 = std::max<int64_t>(0, ceilDiv(-dx, S) - x0),
                    j1 = std::min<int64_t>(P, floorDiv(g.w_ - 1 - dx, S) - x0 + 1);
      if (j0 >= j1)
        continue;
      const float *w = g.w + co + ky * g.wsY + kx * g.wsX;
      const float *row = g.x + iy * g.w_ + S * x0;
      if (j0 == 0 && j1 == P) {
        cilTap<P, CV, S, CilPixels::All>(acc, row + dx, g.xChan, w, g.wsCi, g.cin, nullptr,
                                         nullptr);
      } else if (j0 == 1 && j1 == P) {
        cilTap<P, CV, S, CilPixels::SkipFirst>(acc, row + dx, g.xChan, w, g.wsCi, g.cin, nullptr,
                                               nullptr);
      } else if (j0 == 0 && j1 == P - 1) {
        cilTap<P, CV, S, CilPixels::SkipLast>(acc, row + dx, g.xChan, w, g.wsCi, g.cin, nullptr,
                                              nullptr);
      } else {
        // Pixels outside [j0, j1) read a pixel of the row (never used).
        int64_t offset[P];
        __mmask16 mask[P];
        for (int j = 0; j < P; ++j) {
          offset[j] = std::clamp<int64_t>(S * j + dx, -S * x0, g.w_ - 1 - S * x0);
          mask[j] = j >= j0 && j < j1 ? 0xFFFF : 0;
        }
        cilTap<P, CV, S, CilPixels::Masked>(acc, row, g.xChan, w, g.wsCi, g.cin, offset, mask);
      }
    }
  }
  cilStore<P, CV>(acc, tile + p * kCilTileStride, all);
}

/// Whether a one-image call runs channels in lanes: the plane and channels
/// allow it (KernelABI.h) and the weights' output channels are contiguous.
bool channelsInLanesApplies(int64_t h, int64_t w, int64_t cout, int64_t wsCo) {
  return wsCo == 1 && kiln_conv2d_channels_in_lanes(h, w, cout);
}

using CilRowFn = void (*)(const Geometry &, int64_t, int64_t, int64_t, float *, int64_t);
template <int P, int CV, int S> constexpr CilRowFn cilRowFn() {
  if constexpr (P * CV <= kCilMaxAcc)
    return &cilRow<P, CV, S>;
  else
    return nullptr;
}
template <int P, int S> constexpr std::array<CilRowFn, kCilMaxCV> cilRowsOfWidth() {
  return {cilRowFn<P, 1, S>(), cilRowFn<P, 2, S>(), cilRowFn<P, 3, S>(), cilRowFn<P, 4, S>()};
}
template <int S, int... P>
constexpr std::array<std::array<CilRowFn, kCilMaxCV>, kCilMaxW>
cilRowsOfStride(std::integer_sequence<int, P...>) {
  return {cilRowsOfWidth<P + 1, S>()...};
}
// kCilRows[S - 1][P - 1][CV - 1]: stride 1 and 2.
constexpr std::array<std::array<CilRowFn, kCilMaxCV>, kCilMaxW> kCilRows[2] = {
    cilRowsOfStride<1>(std::make_integer_sequence<int, kCilMaxW>()),
    cilRowsOfStride<2>(std::make_integer_sequence<int, kCilMaxW>()),
};

/// Rows [oy0, oy1) of one image, channels in lanes (kiln_conv2d_channels_in_lanes
/// holds and g.wsCo == 1): per block of up to 64 channels, groups of rows go
/// into a pixel-major tile, then 16 pixels x 16 channels at a time to the
/// output through the stage (storeTransposed: the stage's operations of the
/// other paths, so the same bits).
__attribute__((target("avx512f"))) void convChannelsInLanes(const Geometry &g) {
  alignas(64) float byPixel[kCilTileStride * 16 * kCilMaxCV];
  const int64_t ow = (g.w_ + 2 * g.pw - g.kw) / g.stride + 1; // output columns
  // Rows over kCilMaxW pixels go as two blocks, of pa and pb pixels.
  const int64_t pa = ow <= kCilMaxW ? ow : (ow + 1) / 2, pb = ow - pa;
  const int64_t maxCv = std::min<int64_t>(kCilMaxCV, kCilMaxAcc / pa);
  const int64_t groupRows = std::max<int64_t>(1, kCilTileStride / ow); // rows filling a tile row
  const auto &rows = kCilRows[g.stride - 1];
  for (int64_t co = 0; co < g.cout; co += 16 * maxCv) {
    const int64_t cv = std::min<int64_t>(maxCv, (g.cout - co) / 16);
    const CilRowFn rowA = rows[pa - 1][cv - 1];
    const CilRowFn rowB = pb > 0 ? rows[pb - 1][cv - 1] : nullptr;
    for (int64_t y0 = g.oy0; y0 < g.oy1; y0 += groupRows) {
      const int64_t y1 = std::min(y0 + groupRows, g.oy1), pixels = (y1 - y0) * ow;
      for (int64_t oy = y0; oy < y1; ++oy) {
        rowA(g, oy, 0, co, byPixel, (oy - y0) * ow);
        if (rowB)
          rowB(g, oy, pa, co, byPixel, (oy - y0) * ow + pa);
      }
      const OutputStage &stage = g.stage ? *g.stage : kNoStage;
      const int64_t o = (y0 - g.oy0) * ow;
      for (int64_t c = 0; c < cv; ++c)
        for (int64_t p = 0; p < pixels; p += 16) {
          const int64_t at = (co + 16 * c) * g.ld + o + p;
          storeTransposed(byPixel + p * kCilTileStride + 16 * c, std::min<int64_t>(16, pixels - p),
                          g.out + at, g.ld, stage, co + 16 * c,
                          stage.residual ? stage.residual + at : nullptr);
        }
    }
  }
}

/// Rows (n, oy) in [row0, row1) of a convolution with HWIO weights
/// (kiln_conv2d_hwio_f32), channels in lanes (kiln_conv2d_channels_in_lanes
/// holds for the output plane, stride 1 or 2): any padding (the taps that
/// read outside the image skip their FMAs), no phase split or gather - with
/// stride 2 a block's pixels broadcast every other input column - and each
/// image's rows written in place. Taps, then input channels, as in every
/// other path: the same sums, bitwise.
__attribute__((target("avx512f"))) void
convHwioChannelsInLanes(const kiln::rt::DirectConvHwioArgs &a) {
  const int64_t oh = a.outRows(), ow = a.outCols(), plane = oh * ow;
  OutputStage stage(a.epilogue, a.cout);
  const float *residual = stage.residual;
  for (int64_t n = a.row0 / oh; n * oh < a.row1; ++n) {
    const int64_t v0 = std::max<int64_t>(a.row0 - n * oh, 0);
    const int64_t v1 = std::min<int64_t>(a.row1 - n * oh, oh);
    const int64_t offset = n * a.cout * plane + v0 * ow;
    if (residual)
      stage.residual = residual + offset;
    convChannelsInLanes({a.x + n * a.cin * a.h * a.w, a.wt, a.out + offset, plane, a.cin, a.h,
                         a.w, a.cout, a.kh, a.kw, a.ph, a.pw, 1, a.cout, a.kw * a.cin * a.cout,
                         a.cin * a.cout, v0, v1, a.h * a.w, a.h, 0, stageOrNull(stage),
                         a.stride});
  }
}

/// Rows (n, oy) in [row0, row1) of a 3x3, padding 1, stride 2 convolution
/// of an even h x w plane. Why a phase split: output pixel (oy, ox) reads
/// input (2oy + ky - 1, 2ox + kx - 1), every other pixel, which vector loads
/// cannot do; but split into its four phases P[a][b][i][j] = x[2i + a][2j + b]
/// (each (h/2) x (w/2), the output's size) the input of tap (ky, kx) is phase
/// ((ky - 1) & 1, (kx - 1) & 1) shifted by (-1 or 0, -1 or 0): nine taps of
/// a stride-1 convolution over 4 * cin planes, which convTaps runs as it
/// runs a "same" one, FLOPs unchanged. The images the rows touch are split
/// and packed into scratch ([cin][4 phases][images * (h/2) * (w/2)]), the
/// rows computed into scratch and copied out.
__attribute__((target("avx512f"))) void convStride2Avx512(const kiln::rt::DirectConvStride2Args &a) {
  const int64_t oh = a.h / 2, ow = a.w / 2, plane = oh * ow;
  const int64_t n0 = a.row0 / oh, n1 = (a.row1 + oh - 1) / oh, images = n1 - n0;
  const int64_t all = images * plane; // one phase of one channel
  float *phases = a.scratch;
  float *rows = phases + a.cin * 4 * all;
  // Only the phase rows the output rows read (i - 1 and i for output row i):
  // a thread given half an image's rows splits half of it. Lanes that load
  // other rows of the phase planes belong to pixels outside the range or the
  // image, and are masked off.
  for (int64_t n = 0; n < images; ++n) {
    const int64_t first = std::max<int64_t>(a.row0 - (n0 + n) * oh, 0);
    const int64_t last = std::min<int64_t>(a.row1 - (n0 + n) * oh, oh);
    const int64_t iy0 = 2 * std::max<int64_t>(first - 1, 0), iy1 = 2 * last;
    for (int64_t ci = 0; ci < a.cin; ++ci)
      splitPhasesAvx512(a.x + ((n0 + n) * a.cin + ci) * a.h * a.w, iy0, iy1, a.w,
                        phases + ci * 4 * all + n * plane, all);
  }
  int64_t wTap[9], xTap[9], dy[9], dx[9];
  stride2Taps(all, ow, wTap, xTap, dy, dx);
  const int64_t v0 = a.row0 - n0 * oh, v1 = a.row1 - n0 * oh;
  OutputStage stage(a.epilogue, a.cout);
  if (images == 1) {
    // One image's rows are contiguous in each output channel: store them in
    // place (channel stride: the plane) instead of through scratch.
    const int64_t offset = n0 * a.cout * plane + v0 * ow;
    if (stage.residual)
      stage.residual += offset;
    convTaps({phases, a.wt, a.out + offset, plane, a.cin, oh, ow, a.cout, 3, 3, 1, 1, a.cin * 9,
              9, 3, 1, v0, v1, 4 * all, oh, 4 * all, stageOrNull(stage)},
             9, wTap, xTap, dy, dx);
    return;
  }
  const int64_t ld = (v1 - v0) * ow;
  convTaps({phases, a.wt, rows, ld, a.cin, images * oh, ow, a.cout, 3, 3, 1, 1, a.cin * 9, 9, 3,
            1, v0, v1, 4 * all, oh, 4 * all},
           9, wTap, xTap, dy, dx);
  for (int64_t vr = v0; vr < v1; ++vr) {
    const int64_t n = n0 + vr / oh, oy = vr % oh;
    for (int64_t co = 0; co < a.cout; ++co)
      copyOut(rows + co * ld + (vr - v0) * ow, a.out, (n * a.cout + co) * plane + oy * ow, ow,
              stage, co);
  }
}

/// dX of the stride-2 convolution for one image. Phase (a, b) of dX (rows
/// 2i + a, columns 2j + b) receives, from tap (ky, kx) with ky - 1 = a - 2
/// dy' and kx - 1 = b - 2 dx', the products W[co, ci, ky, kx] * dY[co, i +
/// dy', j + dx'] (dy', dx' in {0, 1}): per phase a stride-1 convolution of
/// dY with 1, 2, 2 or 4 of the nine taps (9 in all: FLOPs unchanged), run by
/// convTaps into scratch ([cin][(h/2) * (w/2)]) and scattered into dX.
__attribute__((target("avx512f"))) void
convStride2GradInputAvx512(const kiln::rt::DirectConvStride2GradInputArgs &a) {
  const int64_t oh = a.h / 2, ow = a.w / 2, plane = oh * ow;
  float *rows = a.scratch;
  for (int pa = 0; pa < 2; ++pa)
    for (int pb = 0; pb < 2; ++pb) {
      int64_t wTap[4], xTap[4], dy[4], dx[4];
      int taps = 0;
      for (int ky = 0; ky < 3; ++ky)
        for (int kx = 0; kx < 3; ++kx) {
          const int r = ky - 1, c = kx - 1;
          if ((r & 1) != pa || (c & 1) != pb)
            continue;
          dy[taps] = (pa - r) / 2; // 0, or +1 for the tap above (r = -1)
          dx[taps] = (pb - c) / 2;
          wTap[taps] = ky * 3 + kx;
          xTap[taps] = dy[taps] * ow + dx[taps];
          ++taps;
        }
      // Output channels are the forward's input channels (weight stride 9),
      // input channels the forward's outputs (stride cin * 9).
      convTaps({a.dy, a.wt, rows, plane, a.cout, oh, ow, a.cin, 3, 3, 1, 1, 9, a.cin * 9, 3, 1, 0,
                oh, plane, oh},
               taps, wTap, xTap, dy, dx);
      for (int64_t ci = 0; ci < a.cin; ++ci)
        for (int64_t i = 0; i < oh; ++i) {
          const float *src = rows + ci * plane + i * ow;
          float *dst = a.dx + (ci * a.h + 2 * i + pa) * a.w + pb;
          for (int64_t j = 0; j < ow; ++j)
            dst[2 * j] = src[j];
        }
    }
}

/// Several whole images in one call: their input planes are packed channel
/// by channel into scratch ([cin][images * plane]), convolved as one tall
/// image whose taps stop at each image's top and bottom rows (imageRows),
/// and the [cout][images * plane] result is copied out image by image. Why:
/// a 7x7 plane is 3 full 16-pixel vectors and one with a single lane, and
/// that lone vector costs half a 3-vector group (its weight broadcasts do
/// not shrink with it); 16 packed 7x7 images are 49 full vectors. Every
/// output element is the same sum in the same order as in a one-image call,
/// so results are bitwise those of one call per image.
__attribute__((target("avx512f"))) void convImagesAvx512(const kiln::rt::DirectConvImagesArgs &a) {
  const int64_t plane = a.h * a.w, all = a.images * plane;
  float *packedX = a.scratch;
  float *packedOut = a.scratch + a.cin * all;
  for (int64_t ci = 0; ci < a.cin; ++ci)
    for (int64_t n = 0; n < a.images; ++n)
      std::copy_n(a.x + n * a.xImage + ci * plane, plane, packedX + ci * all + n * plane);
  convAvx512({packedX, a.wt, packedOut, all, a.cin, a.images * a.h, a.w, a.cout, a.kh, a.kw,
              a.ph, a.pw, a.wsCo, a.wsCi, a.wsY, a.wsX, 0, a.images * a.h, all, a.h});
  const OutputStage stage(a.epilogue, a.cout);
  for (int64_t n = 0; n < a.images; ++n)
    for (int64_t co = 0; co < a.cout; ++co)
      copyOut(packedOut + co * all + n * plane, a.out, n * a.outImage + co * plane, plane, stage,
              co);
}

// ---- gradient with respect to the weights ----
//
// dW[co][ci][t] = sum over images n and output pixels p of
//   dY[n][co][p] * X[n][ci][p + xTap[t]]   (masked at the borders, as above).
// Register block: CB output channels x all taps of a 3x3 (27 accumulators)
// or 1 x 25 for 5x5, over the 16 lanes of a pixel vector. The per-lane sums
// live in scratch between groups of images (one zmm per (co, ci, tap)):
// groups are the outer loop so their planes stay in L2 while every (ci, co)
// block reads them, and a group holds about 64 pixel vectors so the block's
// 27 accumulator loads and stores are spread over enough FMAs (one 7x7 image
// is only 4 vectors). Lanes are reduced once at the end. Every lane sums its
// terms in image order, then pixel order, whatever the grouping, and the
// order is fixed by the shapes alone, so results do not depend on the
// thread split.

template <int CB, int TAPS, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
gwLoad(__m512 (&acc)[CB * TAPS], const float *part, std::integer_sequence<int, I...>) {
  ((acc[I] = _mm512_loadu_ps(part + 16 * I)), ...);
}
template <int CB, int TAPS, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
gwStore(const __m512 (&acc)[CB * TAPS], float *part, std::integer_sequence<int, I...>) {
  (_mm512_storeu_ps(part + 16 * I, acc[I]), ...);
}
template <int CB, int... J>
__attribute__((target("avx512f"), always_inline)) inline void
gwLoadDy(__m512 (&dyv)[CB], const float *dyc, int64_t plane, __mmask16 m,
         std::integer_sequence<int, J...>) {
  ((dyv[J] = _mm512_maskz_loadu_ps(m, dyc + J * plane)), ...);
}
template <int CB, int TAPS, int T, int... J>
__attribute__((target("avx512f"), always_inline)) inline void
gwFmaTap(__m512 (&acc)[CB * TAPS], const __m512 (&dyv)[CB], __m512 xv,
         std::integer_sequence<int, J...>) {
  ((acc[J * TAPS + T] = _mm512_fmadd_ps(dyv[J], xv, acc[J * TAPS + T])), ...);
}
/// As gwFmaTap, lanes outside m keeping their sums (maskedFma: a mask on an
/// FMA costs no extra uop).
template <int CB, int TAPS, int T, int... J>
__attribute__((target("avx512f"), always_inline)) inline void
gwFmaTapMasked(__m512 (&acc)[CB * TAPS], const __m512 (&dyv)[CB], __m512 xv, __mmask16 m,
               std::integer_sequence<int, J...>) {
  (maskedFma(acc[J * TAPS + T], dyv[J], xv, m), ...);
}
/// Where tap T of a weight-gradient block reads x: row pointer base(T) of
/// the block's `rows` (set per image from gwRowOffsets) plus col(T) floats,
/// both compile-time constants, so each x load is one base + index +
/// displacement address. With the tap offsets in a runtime array every load
/// needed its own address arithmetic, and for want of registers a reload
/// from the stack: ALU work that competed with the FMAs for their ports.
/// "Same" KW x KW (padding KW / 2): one row pointer per kernel row, col =
/// kx - KW / 2. Stride 2 over phase planes (stride2Taps): tap (ky, kx)
/// reads phase ((ky - 1) & 1, (kx - 1) & 1) shifted by dx = -1 for kx = 0,
/// so one pointer per (ky, column phase): six.
template <int TAPS, bool STRIDE2> struct GwTaps {
  static constexpr int kw = TAPS == 9 ? 3 : 5;
  static constexpr int rows = STRIDE2 ? 6 : kw;
  static constexpr int base(int t) { return STRIDE2 ? (t / 3) * 2 + (((t % 3) - 1) & 1) : t / kw; }
  static constexpr int col(int t) { return STRIDE2 ? (t % 3 == 0 ? -1 : 0) : t % kw - kw / 2; }
};

/// The row offsets of GwTaps<TAPS, STRIDE2> from the taps' offsets xTap:
/// rowOff[base(t)] = xTap[t] - col(t), the same for every t of a row
/// (false if not: taps of another shape, which take the portable path).
template <int TAPS, bool STRIDE2> bool gwRowOffsets(const int64_t *xTap, int64_t *rowOff) {
  using Taps = GwTaps<TAPS, STRIDE2>;
  bool set[Taps::rows] = {};
  for (int t = 0; t < TAPS; ++t) {
    const int r = Taps::base(t);
    const int64_t off = xTap[t] - Taps::col(t);
    if (set[r] && rowOff[r] != off)
      return false;
    rowOff[r] = off;
    set[r] = true;
  }
  return true;
}

template <int CB, int TAPS, typename Taps, int... T>
__attribute__((target("avx512f"), always_inline)) inline void
gwFmaAll(__m512 (&acc)[CB * TAPS], const __m512 (&dyv)[CB],
         const float *const (&rows)[Taps::rows], int64_t at, const __mmask16 *masks,
         std::integer_sequence<int, T...>) {
  (gwFmaTap<CB, TAPS, T>(
       acc, dyv,
       _mm512_maskz_loadu_ps(loadMask(masks + T), rows[Taps::base(T)] + at + Taps::col(T)),
       std::make_integer_sequence<int, CB>()),
   ...);
}

/// How gwBlock serves a pixel vector (gwVectorPaths decides).
enum GwPath : uint8_t { kGwMasked, kGwRows, kGwPlain };

/// As gwFmaAll with plain loads and each tap's mask on its FMAs instead of on
/// the load, for vectors whose loads stay inside the planes.
template <int CB, int TAPS, typename Taps, int... T>
__attribute__((target("avx512f"), always_inline)) inline void
gwFmaAllPlain(__m512 (&acc)[CB * TAPS], const __m512 (&dyv)[CB],
              const float *const (&rows)[Taps::rows], int64_t at, const __mmask16 *masks,
              std::integer_sequence<int, T...>) {
  (gwFmaTapMasked<CB, TAPS, T>(
       acc, dyv, inRegister(_mm512_loadu_ps(rows[Taps::base(T)] + at + Taps::col(T))),
       loadMask(masks + T), std::make_integer_sequence<int, CB>()),
   ...);
}

/// As gwFmaAll for a full vector whose lanes, for every tap row, read inside
/// the image rows, and whose loads all stay inside the planes' memory
/// (gwVectorPaths): tap t's mask is then the middle row's mask of its
/// column (rowMasks[t % KW]), so KW masks serve all TAPS taps, and they mask
/// the FMAs, not the loads: the loads are plain (the lanes they read across
/// a row's end are never summed), dY's too. One thread, in-process A/B:
/// 0.5-3% faster than masked loads (most of the gain of this rewrite came
/// from loadMask).
template <int CB, int TAPS, typename Taps, int... T>
__attribute__((target("avx512f"), always_inline)) inline void
gwFmaRows(__m512 (&acc)[CB * TAPS], const __m512 (&dyv)[CB],
          const float *const (&rows)[Taps::rows], int64_t at, const __mmask16 *rowMasks,
          std::integer_sequence<int, T...>) {
  constexpr int KW = Taps::kw;
  __mmask16 m[KW];
  for (int i = 0; i < KW; ++i)
    m[i] = loadMask(rowMasks + i);
  (gwFmaTapMasked<CB, TAPS, T>(
       acc, dyv, inRegister(_mm512_loadu_ps(rows[Taps::base(T)] + at + Taps::col(T))),
       m[T % KW], std::make_integer_sequence<int, CB>()),
   ...);
}

template <int R, int... I>
__attribute__((target("avx512f"), always_inline)) inline void
gwSetRows(const float *(&rows)[R], const float *xc, const int64_t *rowOff,
          std::integer_sequence<int, I...>) {
  ((rows[I] = xc + rowOff[I]), ...);
}

/// part[(j * TAPS + t) * 16 + lane] += the lane sums of output channels
/// co..co+CB-1, input channel ci of `images` consecutive images (their planes
/// xImage and dyImage floats apart). paths[v]: how vector v is served
/// (gwVectorPaths).
template <int CB, int TAPS, bool STRIDE2>
__attribute__((target("avx512f"))) void gwBlock(const float *xc, const float *dyc, int64_t plane,
                                                int64_t nvec, int64_t images, int64_t xImage,
                                                int64_t dyImage, const int64_t *rowOff,
                                                const __mmask16 *masks,
                                                const __mmask16 *inRange,
                                                const uint8_t *paths, float *part,
                                                bool first) {
  using Taps = GwTaps<TAPS, STRIDE2>;
  constexpr int KW = Taps::kw;
  constexpr auto all = std::make_integer_sequence<int, CB * TAPS>();
  constexpr auto taps = std::make_integer_sequence<int, TAPS>();
  __m512 acc[CB * TAPS];
  // The first group starts from zero: no zeroed scratch to read (for 64
  // channels that was 295 KB written and read again per call).
  if (first)
    zeroBlock<CB * TAPS>(acc, all);
  else
    gwLoad<CB, TAPS>(acc, part, all);
  for (int64_t n = 0; n < images; ++n, xc += xImage, dyc += dyImage) {
    const float *rows[Taps::rows];
    gwSetRows<Taps::rows>(rows, xc, rowOff, std::make_integer_sequence<int, Taps::rows>());
    for (int64_t v = 0; v < nvec; ++v) {
      __m512 dyv[CB];
      // Full vectors in the rows case: dY's loads need no mask either.
      gwLoadDy<CB>(dyv, dyc + 16 * v, plane,
                   paths[v] == kGwRows ? __mmask16(0xFFFF) : loadMask(inRange + v),
                   std::make_integer_sequence<int, CB>());
      if (paths[v] == kGwRows)
        gwFmaRows<CB, TAPS, Taps>(acc, dyv, rows, 16 * v, masks + v * TAPS + (KW / 2) * KW, taps);
      else if (paths[v] == kGwPlain)
        gwFmaAllPlain<CB, TAPS, Taps>(acc, dyv, rows, 16 * v, masks + v * TAPS, taps);
      else
        gwFmaAll<CB, TAPS, Taps>(acc, dyv, rows, 16 * v, masks + v * TAPS, taps);
    }
  }
  gwStore<CB, TAPS>(acc, part, all);
}

using GwBlockFn = void (*)(const float *, const float *, int64_t, int64_t, int64_t, int64_t,
                           int64_t, const int64_t *, const __mmask16 *, const __mmask16 *,
                           const uint8_t *, float *, bool);

/// Output channels of the weight-gradient block starting at co: cbMax, but a
/// remainder of one channel (16 = 5 * 3 + 1, 64 = 21 * 3 + 1) is spread as
/// 2 + 2 over the last two blocks: a 1-channel block loads 10 vectors per 9
/// FMAs and is bound by loads, a 2-channel block 11 per 18. Lane sums do not
/// depend on the blocking, so results are unchanged.
int64_t gwBlockChannels(int64_t cout, int64_t cbMax, int64_t co) {
  const int64_t left = cout - co;
  if (cbMax == 3 && cout % 3 == 1 && cout >= 4 && (left == 4 || left == 2))
    return 2;
  return std::min<int64_t>(cbMax, left);
}

/// Output channels per block for a tap count (0: no AVX-512 block).
constexpr int gwChannelsPerBlock(int64_t taps) { return taps == 9 ? 3 : taps == 25 ? 1 : 0; }

/// The block for a tap count, channel count and tap layout (GwTaps).
GwBlockFn gwBlockFor(int64_t taps, int cb, bool stride2) {
  if (stride2)
    return cb == 3   ? &gwBlock<3, 9, true>
           : cb == 2 ? &gwBlock<2, 9, true>
                     : &gwBlock<1, 9, true>;
  if (taps == 9)
    return cb == 3   ? &gwBlock<3, 9, false>
           : cb == 2 ? &gwBlock<2, 9, false>
                     : &gwBlock<1, 9, false>;
  return &gwBlock<1, 25, false>;
}

/// The pixel vectors of `images` planes packed one after another (1: one
/// plane): which lanes are inside (inRange) and, per tap, which read inside
/// their own image (masks[v * taps + t]).
__attribute__((target("avx512f"))) void planeMasks(int64_t images, int64_t h, int64_t w,
                                                   const int64_t *dy, const int64_t *dx,
                                                   int taps, __mmask16 *inRange,
                                                   __mmask16 *masks) {
  const int64_t plane = h * w, all = images * plane, nvec = (all + 15) / 16;
  if (16 * nvec <= kMaxFloatRowPixel) {
    // Vector compares, rows and columns by rowOfLanes' exact float division:
    // the scalar loop below took ~20 us per call on a 28x28 plane (16 64-bit
    // divisions and 9 * 16 compares per vector), and the compiler makes 8
    // calls per weight gradient.
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i hV = _mm512_set1_epi32(static_cast<int>(h));
    const __m512i wV = _mm512_set1_epi32(static_cast<int>(w));
    const __m512i planeV = _mm512_set1_epi32(static_cast<int>(plane));
    const __m512 wF = _mm512_set1_ps(static_cast<float>(w));
    const __m512 planeF = _mm512_set1_ps(static_cast<float>(plane));
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t v = 0; v < nvec; ++v) {
      const __m512i pix = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(16 * v)), lane);
      const __mmask16 in = _mm512_cmplt_epi32_mask(pix, _mm512_set1_epi32(static_cast<int>(all)));
      const __m512i local =
          _mm512_sub_epi32(pix, _mm512_mullo_epi32(rowOfLanes(pix, planeF), planeV));
      const __m512i oy = rowOfLanes(local, wF);
      const __m512i ox = _mm512_sub_epi32(local, _mm512_mullo_epi32(oy, wV));
      inRange[v] = in;
      for (int t = 0; t < taps; ++t) {
        const __m512i iy = _mm512_add_epi32(oy, _mm512_set1_epi32(static_cast<int>(dy[t])));
        const __m512i ix = _mm512_add_epi32(ox, _mm512_set1_epi32(static_cast<int>(dx[t])));
        __mmask16 m = in;
        m &= _mm512_cmpge_epi32_mask(iy, zero) & _mm512_cmplt_epi32_mask(iy, hV);
        m &= _mm512_cmpge_epi32_mask(ix, zero) & _mm512_cmplt_epi32_mask(ix, wV);
        masks[v * taps + t] = m;
      }
    }
    return;
  }
  for (int64_t v = 0; v < nvec; ++v) {
    int64_t oy[16], ox[16];
    __mmask16 in = 0;
    for (int l = 0; l < 16; ++l) {
      const int64_t p = 16 * v + l, local = p % plane;
      oy[l] = local / w;
      ox[l] = local % w;
      in |= static_cast<__mmask16>((p < all) << l);
    }
    inRange[v] = in;
    for (int t = 0; t < taps; ++t) {
      __mmask16 m = 0;
      for (int l = 0; l < 16; ++l) {
        const int64_t iy = oy[l] + dy[t], ix = ox[l] + dx[t];
        const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
        m |= static_cast<__mmask16>(inside << l);
      }
      masks[v * taps + t] = m & in;
    }
  }
}

/// How gwBlock serves each pixel vector. kGwRows (gwFmaRows): a full vector
/// whose tap masks each equal the middle row's mask of their column and
/// whose plain loads all stay inside the `span` floats of the planes being
/// read (offsets xTap, 16 lanes), so none can fault; never where the taps are
/// not a square around the pixel (`square` false). kGwPlain (gwFmaAll, plain
/// loads, masks on the FMAs): other vectors whose loads stay inside. kGwMasked
/// (gwFmaAll, masked loads): the rest.
std::vector<uint8_t> gwVectorPaths(const std::vector<__mmask16> &masks,
                                   const std::vector<__mmask16> &inRange, const int64_t *xTap,
                                   int64_t span, int64_t nvec, int taps, int64_t kw,
                                   int64_t middle, bool square) {
  const int64_t lowest = *std::min_element(xTap, xTap + taps);
  const int64_t highest = *std::max_element(xTap, xTap + taps);
  std::vector<uint8_t> paths(nvec);
  for (int64_t v = 0; v < nvec; ++v) {
    const bool inside = 16 * v + lowest >= 0 && 16 * v + 15 + highest < span;
    bool rows = square && inside && inRange[v] == 0xFFFF;
    for (int t = 0; t < taps && rows; ++t)
      rows = masks[v * taps + t] == masks[v * taps + middle + t % kw];
    paths[v] = rows ? kGwRows : inside ? kGwPlain : kGwMasked;
  }
  return paths;
}

/// False, writing nothing, where the taps' offsets do not fit GwTaps' rows
/// (e.g. a 9x1 kernel); the caller then takes the portable path.
__attribute__((target("avx512f"))) bool gradWeightAvx512(const GradWeightGeometry &g) {
  const int taps = static_cast<int>(g.kh * g.kw);
  const int cbMax = gwChannelsPerBlock(taps);
  const int64_t plane = g.h * g.w_;
  int64_t xTap[kMaxTaps], dy[kMaxTaps], dx[kMaxTaps];
  for (int64_t t = 0; t < taps; ++t) {
    dy[t] = t / g.kw - g.ph;
    dx[t] = t % g.kw - g.pw;
    xTap[t] = dy[t] * g.w_ + dx[t];
  }
  int64_t rowOff[GwTaps<25, false>::rows];
  if (!(taps == 9 ? gwRowOffsets<9, false>(xTap, rowOff) : gwRowOffsets<25, false>(xTap, rowOff)))
    return false;
  const int64_t nci = g.ci1 - g.ci0;
  // part[(((ci - ci0) * cout + co) * taps + t) * 16 + lane]: lane sums; a
  // block's channels co..co+cb-1 are consecutive runs of taps.
  float *part = g.scratch;
  // Small planes are packed, like the forward's (convImagesAvx512): the
  // planes of `packed` consecutive images, channel by channel, make one
  // plane of up to 1024 pixels whose taps stop at each image's borders, so a
  // 7x7 image's 1-lane tail vector is paid once per 20 images. Larger planes
  // are read in place, one image after another.
  const int64_t packed = gwImagesPerPack(plane);
  // Images per group (gwImagesPerGroup), while the group's planes stay in L2
  // for every (ci, co) block.
  const int64_t group = packed > 1 ? packed : gwImagesPerGroup(plane);
  float *packedX = part + g.cout * nci * taps * 16;
  float *packedDy = packedX + kiln_roundup16(nci * packed * plane); // KernelABI.h's layout
  // Masks for a full group, and for a shorter last one.
  struct Masks {
    int64_t images = 0, nvec = 0;
    std::vector<__mmask16> inRange, masks;
    std::vector<uint8_t> paths;
  };
  auto makeMasks = [&](int64_t images) {
    Masks m;
    m.images = images;
    m.nvec = (images * plane + 15) / 16;
    m.inRange.resize(m.nvec);
    m.masks.resize(m.nvec * taps);
    planeMasks(images, g.h, g.w_, dy, dx, taps, m.inRange.data(), m.masks.data());
    m.paths = gwVectorPaths(m.masks, m.inRange, xTap, images * plane, m.nvec, taps, g.kw,
                            (g.kh / 2) * g.kw, g.kh == g.kw && g.ph == g.kh / 2);
    return m;
  };
  const Masks full = makeMasks(packed > 1 ? std::min(packed, g.batch) : 1);
  auto blockChannels = [&](int64_t co) { return gwBlockChannels(g.cout, cbMax, co); };
  Masks last;
  for (int64_t n0 = 0; n0 < g.batch; n0 += group) {
    const int64_t images = std::min(group, g.batch - n0);
    const float *x = g.x + n0 * g.cin * plane, *dyImages = g.dy + n0 * g.cout * plane;
    int64_t xChan = plane, dyChan = plane, xImage = g.cin * plane, dyImage = g.cout * plane;
    int64_t passes = images; // images the block loops over
    const Masks *m = &full;
    if (packed > 1) {
      const int64_t all = images * plane;
      for (int64_t ci = g.ci0; ci < g.ci1; ++ci)
        for (int64_t n = 0; n < images; ++n)
          std::copy_n(x + n * g.cin * plane + ci * plane, plane,
                      packedX + (ci - g.ci0) * all + n * plane);
      for (int64_t co = 0; co < g.cout; ++co)
        for (int64_t n = 0; n < images; ++n)
          std::copy_n(dyImages + n * g.cout * plane + co * plane, plane,
                      packedDy + co * all + n * plane);
      x = packedX;
      dyImages = packedDy;
      xChan = dyChan = all;
      xImage = dyImage = 0;
      passes = 1;
      if (images != full.images) {
        if (last.images != images)
          last = makeMasks(images);
        m = &last;
      }
    }
    for (int64_t ci = g.ci0; ci < g.ci1; ++ci) {
      // Packed planes hold channels ci0..ci1-1 only.
      const float *xc = x + (packed > 1 ? ci - g.ci0 : ci) * xChan;
      for (int64_t co = 0; co < g.cout; co += blockChannels(co)) {
        const int cb = static_cast<int>(blockChannels(co));
        gwBlockFor(taps, cb, false)(xc, dyImages + co * dyChan, dyChan, m->nvec, passes, xImage,
                                    dyImage, rowOff, m->masks.data(), m->inRange.data(),
                                    m->paths.data(),
                                    part + ((ci - g.ci0) * g.cout + co) * taps * 16, n0 == 0);
      }
    }
  }
  reduceLaneSums(part, g.dw, g.cout, g.cin, g.ci0, g.ci1, taps);
  return true;
}

/// dW of the stride-2 convolution (convStride2Avx512) for input channels
/// [ci0, ci1): the same phase split, so every tap reads one phase plane of
/// the output's size at a shift of -1 or 0, and the weight gradient's
/// register blocks (gwBlock) run over dY's own pixels. Per group of images
/// (about 64 pixel vectors) the block's input channels are split into
/// scratch; dY is read in place. One fixed summation order per lane, as in
/// gradWeightAvx512.
__attribute__((target("avx512f"))) void
gradWeightStride2Avx512(const kiln::rt::DirectConvStride2GradWeightArgs &g) {
  const int64_t oh = g.h / 2, ow = g.w / 2, plane = oh * ow, nvec = (plane + 15) / 16;
  const int64_t nci = g.ci1 - g.ci0;
  int64_t wTap[9], xTap[9], dy[9], dx[9];
  stride2Taps(plane, ow, wTap, xTap, dy, dx);
  int64_t rowOff[GwTaps<9, true>::rows];
  gwRowOffsets<9, true>(xTap, rowOff); // the layout stride2Taps makes
  std::vector<__mmask16> inRange(nvec), masks(nvec * 9);
  planeMasks(1, oh, ow, dy, dx, 9, inRange.data(), masks.data());
  // Taps read the four phase planes of one channel: 4 * plane floats.
  const std::vector<uint8_t> paths =
      gwVectorPaths(masks, inRange, xTap, 4 * plane, nvec, 9, 3, 3, true);
  float *part = g.scratch;
  float *phases = part + g.cout * nci * 9 * 16; // [image][ci - ci0][4][plane]
  const int64_t group = gwImagesPerGroup(plane), xImage = nci * 4 * plane;
  for (int64_t n0 = 0; n0 < g.batch; n0 += group) {
    const int64_t images = std::min(group, g.batch - n0);
    for (int64_t n = 0; n < images; ++n)
      for (int64_t ci = g.ci0; ci < g.ci1; ++ci)
        splitPhasesAvx512(g.x + ((n0 + n) * g.cin + ci) * g.h * g.w, 0, g.h, g.w,
                          phases + (n * nci + ci - g.ci0) * 4 * plane, plane);
    for (int64_t ci = g.ci0; ci < g.ci1; ++ci)
      for (int64_t co = 0; co < g.cout; co += gwBlockChannels(g.cout, 3, co)) {
        const int cb = static_cast<int>(gwBlockChannels(g.cout, 3, co));
        gwBlockFor(9, cb, true)(phases + (ci - g.ci0) * 4 * plane,
                                g.dy + (n0 * g.cout + co) * plane, plane, nvec, images, xImage,
                                g.cout * plane, rowOff, masks.data(), inRange.data(),
                                paths.data(), part + ((ci - g.ci0) * g.cout + co) * 9 * 16,
                                n0 == 0);
      }
  }
  reduceLaneSums(part, g.dw, g.cout, g.cin, g.ci0, g.ci1, 9);
}

bool hasAvx512() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
  }();
  return yes;
}

#endif // __x86_64__

} // namespace

namespace kiln::rt {

void directConvPortable(const DirectConvArgs &a) {
  const OutputStage stage(a.epilogue, a.cout);
  convPortable({a.x, a.wt, a.out, a.ld, a.cin, a.h, a.w, a.cout, a.kh, a.kw, a.ph, a.pw, a.wsCo,
                a.wsCi, a.wsY, a.wsX, a.oy0, a.oy1, a.h * a.w, a.h, 0, stageOrNull(stage)});
}

bool directConvAvx512(const DirectConvArgs &a) {
#if defined(__x86_64__)
  if (!hasAvx512() || a.kh * a.kw > kMaxTaps || a.h * a.w + 16 * kMaxPV >= (int64_t(1) << 30))
    return false;
  if (a.oy1 > a.oy0 && a.cout > 0) {
    const OutputStage stage(a.epilogue, a.cout);
    const Geometry g{a.x,    a.wt,   a.out,  a.ld,   a.cin,  a.h,   a.w,   a.cout,
                     a.kh,   a.kw,   a.ph,   a.pw,   a.wsCo, a.wsCi, a.wsY, a.wsX,
                     a.oy0,  a.oy1,  a.h * a.w, a.h, 0,     stageOrNull(stage)};
    if (channelsInLanesApplies(a.h, a.w, a.cout, a.wsCo))
      convChannelsInLanes(g);
    else
      convAvx512(g);
  }
  return true;
#else
  (void)a;
  return false;
#endif
}

void directConvImagesPortable(const DirectConvImagesArgs &a) {
  for (int64_t n = 0; n < a.images; ++n) {
    kiln_conv2d_epilogue image{}; // the residual of image n
    if (a.epilogue) {
      image = *a.epilogue;
      if (image.residual)
        image.residual += n * a.outImage;
    }
    directConvPortable({a.x + n * a.xImage, a.wt, a.out + n * a.outImage, a.h * a.w, a.cin, a.h,
                        a.w, a.cout, a.kh, a.kw, a.ph, a.pw, a.wsCo, a.wsCi, a.wsY, a.wsX, 0,
                        a.h, a.epilogue ? &image : nullptr});
  }
}

bool directConvImagesAvx512(const DirectConvImagesArgs &a) {
#if defined(__x86_64__)
  // The packed plane must stay where rowOfLanes is exact.
  if (!hasAvx512() || a.kh * a.kw > kMaxTaps ||
      a.images * a.h * a.w + 16 * kMaxPV > kMaxFloatRowPixel)
    return false;
  if (a.images <= 0 || a.cout <= 0)
    return true;
  if (channelsInLanesApplies(a.h, a.w, a.cout, a.wsCo)) {
    // Channels in lanes waste no lanes on any number of images: one image at
    // a time, read and written in place (64ch 7x7, one thread: 1.16-1.18x
    // the packed call's time per image at 20 images, 1.74x at one).
    OutputStage stage(a.epilogue, a.cout);
    const float *residual = stage.residual;
    for (int64_t n = 0; n < a.images; ++n) {
      if (residual)
        stage.residual = residual + n * a.outImage;
      convChannelsInLanes({a.x + n * a.xImage, a.wt, a.out + n * a.outImage, a.h * a.w, a.cin,
                           a.h, a.w, a.cout, a.kh, a.kw, a.ph, a.pw, a.wsCo, a.wsCi, a.wsY,
                           a.wsX, 0, a.h, a.h * a.w, a.h, 0, stageOrNull(stage)});
    }
    return true;
  }
  convImagesAvx512(a);
  return true;
#else
  (void)a;
  return false;
#endif
}

void directConvStride2Portable(const DirectConvStride2Args &a) {
  const int64_t oh = a.h / 2, ow = a.w / 2;
  const OutputStage stage(a.epilogue, a.cout);
  for (int64_t row = a.row0; row < a.row1; ++row) {
    const int64_t n = row / oh, oy = row % oh;
    for (int64_t co = 0; co < a.cout; ++co)
      for (int64_t ox = 0; ox < ow; ++ox) {
        float acc = 0.0f;
        for (int64_t ci = 0; ci < a.cin; ++ci)
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              const int64_t iy = 2 * oy + ky - 1, ix = 2 * ox + kx - 1;
              if (iy < 0 || iy >= a.h || ix < 0 || ix >= a.w)
                continue;
              acc += a.wt[(co * a.cin + ci) * 9 + ky * 3 + kx] *
                     a.x[((n * a.cin + ci) * a.h + iy) * a.w + ix];
            }
        const int64_t i = ((n * a.cout + co) * oh + oy) * ow + ox;
        a.out[i] = stage.empty() ? acc : stage.applyAt(acc, co, i);
      }
  }
}

bool directConvStride2Avx512(const DirectConvStride2Args &a) {
#if defined(__x86_64__)
  const int64_t plane = (a.h / 2) * (a.w / 2), oh = a.h / 2;
  const int64_t images = oh > 0 ? (a.row1 + oh - 1) / oh - a.row0 / oh : 0;
  if (!hasAvx512() || a.h % 2 != 0 || a.w % 2 != 0 ||
      images * plane + 16 * kMaxPV > kMaxFloatRowPixel)
    return false;
  if (a.row1 > a.row0 && a.cout > 0)
    convStride2Avx512(a);
  return true;
#else
  (void)a;
  return false;
#endif
}

void directConvHwioPortable(const DirectConvHwioArgs &a) {
  const int64_t oh = a.outRows(), ow = a.outCols();
  const OutputStage stage(a.epilogue, a.cout);
  for (int64_t row = a.row0; row < a.row1; ++row) {
    const int64_t n = row / oh, oy = row % oh;
    for (int64_t co = 0; co < a.cout; ++co)
      for (int64_t ox = 0; ox < ow; ++ox) {
        float acc = 0.0f; // taps, then input channels, as the vector paths sum
        for (int64_t ky = 0; ky < a.kh; ++ky)
          for (int64_t kx = 0; kx < a.kw; ++kx)
            for (int64_t ci = 0; ci < a.cin; ++ci) {
              const int64_t iy = a.stride * oy + ky - a.ph, ix = a.stride * ox + kx - a.pw;
              if (iy < 0 || iy >= a.h || ix < 0 || ix >= a.w)
                continue;
              acc += a.wt[((ky * a.kw + kx) * a.cin + ci) * a.cout + co] *
                     a.x[((n * a.cin + ci) * a.h + iy) * a.w + ix];
            }
        const int64_t i = ((n * a.cout + co) * oh + oy) * ow + ox;
        a.out[i] = stage.empty() ? acc : stage.applyAt(acc, co, i);
      }
  }
}

bool directConvHwioAvx512(const DirectConvHwioArgs &a) {
#if defined(__x86_64__)
  if (!hasAvx512() || (a.stride != 1 && a.stride != 2) ||
      !kiln_conv2d_channels_in_lanes(a.outRows(), a.outCols(), a.cout))
    return false;
  if (a.row1 > a.row0 && a.cout > 0)
    convHwioChannelsInLanes(a);
  return true;
#else
  (void)a;
  return false;
#endif
}

void directConvStride2GradWeightPortable(const DirectConvStride2GradWeightArgs &a) {
  const int64_t oh = a.h / 2, ow = a.w / 2;
  for (int64_t co = 0; co < a.cout; ++co)
    for (int64_t ci = a.ci0; ci < a.ci1; ++ci)
      for (int64_t ky = 0; ky < 3; ++ky)
        for (int64_t kx = 0; kx < 3; ++kx) {
          float acc = 0.0f;
          for (int64_t n = 0; n < a.batch; ++n)
            for (int64_t oy = 0; oy < oh; ++oy)
              for (int64_t ox = 0; ox < ow; ++ox) {
                const int64_t iy = 2 * oy + ky - 1, ix = 2 * ox + kx - 1;
                if (iy >= 0 && iy < a.h && ix >= 0 && ix < a.w)
                  acc += a.dy[((n * a.cout + co) * oh + oy) * ow + ox] *
                         a.x[((n * a.cin + ci) * a.h + iy) * a.w + ix];
              }
          a.dw[(co * a.cin + ci) * 9 + ky * 3 + kx] = acc;
        }
}

bool directConvStride2GradWeightAvx512(const DirectConvStride2GradWeightArgs &a) {
#if defined(__x86_64__)
  if (!hasAvx512() || a.h % 2 != 0 || a.w % 2 != 0 || a.h * a.w + 64 >= (int64_t(1) << 30) ||
      a.batch <= 0 || a.ci1 <= a.ci0)
    return false;
  gradWeightStride2Avx512(a);
  return true;
#else
  (void)a;
  return false;
#endif
}

void directConvStride2GradInputPortable(const DirectConvStride2GradInputArgs &a) {
  const int64_t oh = a.h / 2, ow = a.w / 2;
  for (int64_t ci = 0; ci < a.cin; ++ci)
    for (int64_t iy = 0; iy < a.h; ++iy)
      for (int64_t ix = 0; ix < a.w; ++ix) {
        float acc = 0.0f;
        for (int64_t co = 0; co < a.cout; ++co)
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              const int64_t ry = iy + 1 - ky, rx = ix + 1 - kx; // = 2 oy, 2 ox
              if (ry < 0 || rx < 0 || ry % 2 != 0 || rx % 2 != 0 || ry / 2 >= oh || rx / 2 >= ow)
                continue;
              acc += a.wt[(co * a.cin + ci) * 9 + ky * 3 + kx] *
                     a.dy[(co * oh + ry / 2) * ow + rx / 2];
            }
        a.dx[(ci * a.h + iy) * a.w + ix] = acc;
      }
}

bool directConvStride2GradInputAvx512(const DirectConvStride2GradInputArgs &a) {
#if defined(__x86_64__)
  if (!hasAvx512() || a.h % 2 != 0 || a.w % 2 != 0 ||
      (a.h / 2) * (a.w / 2) + 16 * kMaxPV > kMaxFloatRowPixel)
    return false;
  if (a.cin > 0)
    convStride2GradInputAvx512(a);
  return true;
#else
  (void)a;
  return false;
#endif
}

void directConvGradWeightPortable(const DirectConvGradWeightArgs &a) {
  gradWeightPortable({a.x, a.dy, a.dw, a.scratch, a.batch, a.cin, a.h, a.w, a.cout, a.kh, a.kw,
                      a.ph, a.pw, a.ci0, a.ci1});
}

bool directConvGradWeightAvx512(const DirectConvGradWeightArgs &a) {
#if defined(__x86_64__)
  if (!hasAvx512() || gwChannelsPerBlock(a.kh * a.kw) == 0 ||
      a.h * a.w + 16 >= (int64_t(1) << 30) || a.batch <= 0 || a.ci1 <= a.ci0)
    return false;
  return gradWeightAvx512({a.x, a.dy, a.dw, a.scratch, a.batch, a.cin, a.h, a.w, a.cout, a.kh,
                           a.kw, a.ph, a.pw, a.ci0, a.ci1});
#else
  (void)a;
  return false;
#endif
}

} // namespace kiln::rt

extern "C" void kiln_conv2d_same_grad_weight_f32(const float *x, const float *dy, float *dw,
                                                 float *scratch, int64_t batch, int64_t cin,
                                                 int64_t h, int64_t w, int64_t cout, int64_t kh,
                                                 int64_t kw, int64_t ph, int64_t pw,
                                                 int64_t ci0, int64_t ci1) {
  const kiln::rt::DirectConvGradWeightArgs a{x,  dy, dw, scratch, batch, cin, h,  w,
                                             cout, kh, kw, ph,      pw,    ci0, ci1};
  if (ci1 <= ci0 || cout <= 0)
    return;
  if (!kiln::rt::directConvGradWeightAvx512(a))
    kiln::rt::directConvGradWeightPortable(a);
}

extern "C" void kiln_conv2d_same_images_f32(const float *x, const float *wt, float *out,
                                            float *scratch, int64_t images, int64_t xImage,
                                            int64_t outImage, int64_t cin, int64_t h, int64_t w,
                                            int64_t cout, int64_t kh, int64_t kw, int64_t ph,
                                            int64_t pw, int64_t wsCo, int64_t wsCi, int64_t wsY,
                                            int64_t wsX, const kiln_conv2d_epilogue *epilogue) {
  const kiln::rt::DirectConvImagesArgs a{x,  wt, out, scratch, images, xImage, outImage,
                                         cin, h, w,   cout,    kh,     kw,     ph,
                                         pw,  wsCo, wsCi, wsY, wsX, epilogue};
  if (images <= 0 || cout <= 0)
    return;
  if (!kiln::rt::directConvImagesAvx512(a))
    kiln::rt::directConvImagesPortable(a);
}

extern "C" void kiln_conv2d_stride2_f32(const float *x, const float *wt, float *out,
                                        float *scratch, int64_t row0, int64_t row1, int64_t cin,
                                        int64_t h, int64_t w, int64_t cout,
                                        const kiln_conv2d_epilogue *epilogue) {
  const kiln::rt::DirectConvStride2Args a{x,   wt,  out, scratch, row0, row1,
                                          cin, h,   w,   cout,    epilogue};
  if (row1 <= row0 || cout <= 0 || h < 2 || w < 2) // no output rows without a 2x2 input
    return;
  if (!kiln::rt::directConvStride2Avx512(a))
    kiln::rt::directConvStride2Portable(a);
}

extern "C" void kiln_conv2d_hwio_f32(const float *x, const float *wt, float *out, int64_t row0,
                                     int64_t row1, int64_t cin, int64_t h, int64_t w,
                                     int64_t cout, int64_t kh, int64_t kw, int64_t stride,
                                     int64_t ph, int64_t pw,
                                     const kiln_conv2d_epilogue *epilogue) {
  const kiln::rt::DirectConvHwioArgs a{x,  wt, out,    row0, row1, cin, h,       w,
                                       cout, kh, kw, stride, ph,   pw,  epilogue};
  if (row1 <= row0 || cout <= 0 || stride < 1 || a.outRows() < 1 || a.outCols() < 1)
    return;
  if (!kiln::rt::directConvHwioAvx512(a))
    kiln::rt::directConvHwioPortable(a);
}

extern "C" void kiln_conv2d_stride2_grad_weight_f32(const float *x, const float *dy, float *dw,
                                                    float *scratch, int64_t batch, int64_t cin,
                                                    int64_t h, int64_t w, int64_t cout,
                                                    int64_t ci0, int64_t ci1) {
  const kiln::rt::DirectConvStride2GradWeightArgs a{x,   dy, dw,   scratch, batch, cin,
                                                    h,   w,  cout, ci0,     ci1};
  if (ci1 <= ci0 || cout <= 0)
    return;
  if (h < 2 || w < 2) { // no output pixels: a zero gradient
    for (int64_t co = 0; co < cout; ++co)
      std::fill(dw + (co * cin + ci0) * 9, dw + (co * cin + ci1) * 9, 0.0f);
    return;
  }
  if (!kiln::rt::directConvStride2GradWeightAvx512(a))
    kiln::rt::directConvStride2GradWeightPortable(a);
}

extern "C" void kiln_conv2d_stride2_grad_input_f32(const float *dy, const float *wt, float *dx,
                                                   float *scratch, int64_t cin, int64_t h,
                                                   int64_t w, int64_t cout) {
  const kiln::rt::DirectConvStride2GradInputArgs a{dy, wt, dx, scratch, cin, h, w, cout};
  if (cin <= 0 || h < 2 || w < 2)
    return;
  if (!kiln::rt::directConvStride2GradInputAvx512(a))
    kiln::rt::directConvStride2GradInputPortable(a);
}

extern "C" void kiln_conv2d_same_f32(const float *x, const float *wt, float *out, int64_t ld,
                                     int64_t cin, int64_t h, int64_t w, int64_t cout,
                                     int64_t kh, int64_t kw, int64_t ph, int64_t pw,
                                     int64_t wsCo, int64_t wsCi, int64_t wsY, int64_t wsX,
                                     int64_t oy0, int64_t oy1,
                                     const kiln_conv2d_epilogue *epilogue) {
  const kiln::rt::DirectConvArgs a{x,  wt, out,  ld,   cin,  h,   w,   cout, kh,
                                   kw, ph, pw,   wsCo, wsCi, wsY, wsX, oy0,  oy1, epilogue};
  if (oy1 <= oy0 || cout <= 0)
    return;
  if (!kiln::rt::directConvAvx512(a))
    kiln::rt::directConvPortable(a);
}

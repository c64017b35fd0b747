//===- Gradients.cpp - reference training ops and vector-Jacobian products ===//
//
// Same style as Reference.cpp: naive loop nests in double precision written
// from the definitions. The gradient ops are written in "scatter" form (the
// forward's loop nest, adding into the input positions it reads) so that they
// share no index algebra with a gather formulation; the VJPs are checked
// against central finite differences in test/unit/autodiff.
//
//===----------------------------------------------------------------------===//
#include "kiln/reference/Reference.h"

#include "RefDetail.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace kiln::ref {

namespace {

using namespace detail;

void requireShape(const RefTensor& t, const std::vector<int64_t>& shape, const char* what) {
  if (t.shape != shape)
    fail(std::string(what) + ": expected shape " + shapeToString(shape) + ", got " +
         shapeToString(t.shape));
}

size_t at(int64_t i) { return static_cast<size_t>(i); }

int64_t convExtent(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

/// The reduced dims of `axes` as a mask.
std::vector<bool> reducedMask(const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<bool> red(at(rank), false);
  for (int64_t a : axes) red[at(normAxis(a, rank))] = true;
  return red;
}

/// dy of a reduction (keepdim or not) spread back over x's shape: each element
/// of x gets the dy entry it was reduced into.
RefTensor spreadReduced(const RefTensor& x, const std::vector<int64_t>& axes, bool keepdim,
                        const RefTensor& dy) {
  std::vector<bool> red = reducedMask(axes, x.rank());
  std::vector<int64_t> kept(x.shape);
  std::vector<int64_t> squeezed;
  for (size_t i = 0; i < red.size(); ++i) {
    if (red[i])
      kept[i] = 1;
    else
      squeezed.push_back(x.shape[i]);
  }
  requireShape(dy, keepdim ? kept : squeezed, "reduce vjp dy");
  std::vector<int64_t> kst = stridesOf(kept);
  RefTensor dx(x.shape);
  std::vector<int64_t> idx(x.shape.size(), 0);
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    int64_t o = 0;
    for (size_t i = 0; i < idx.size(); ++i)
      if (!red[i]) o += idx[i] * kst[i];
    dx.data[at(flat)] = dy.data[at(o)];
    for (size_t i = idx.size(); i-- > 0;) {
      if (++idx[i] < x.shape[i]) break;
      idx[i] = 0;
    }
  }
  return dx;
}

double hardswishSlope(double v) {
  // PyTorch's hardswish_backward (aten/src/ATen/native/cpu/Activation.cpp and
  // cuda/ActivationHardswishKernel.cu, PyTorch 1.x through 2.6, incl. the 1.13
  // reference of the training issue):
  //   if (self_val < neg_three) return zero;
  //   else if (self_val <= three) return grad_val * ((self_val / three) + one_half);
  //   else return grad_val;
  // i.e. the closed interval [-3, 3] takes (2x + 3) / 6: -0.5 at x = -3, 1.5 at
  // x = 3. (pytorch/pytorch#148049, in 2.7, moved both boundaries to the outer
  // pieces: 0 at -3 and 1 at 3. Only exact +-3 inputs see the difference.)
  if (v < -3.0) return 0.0;
  if (v <= 3.0) return v / 3.0 + 0.5;
  return 1.0;
}

}  // namespace

// ---------------------------------------------------------------------------
// Training ops
// ---------------------------------------------------------------------------

RefTensor reluGrad(const RefTensor& x, const RefTensor& dy) {
  return broadcastBinary(x, dy, [](double v, double g) { return v > 0.0 ? g : 0.0; }, "relu_grad");
}
RefTensor relu6Grad(const RefTensor& x, const RefTensor& dy) {
  return broadcastBinary(
      x, dy, [](double v, double g) { return v > 0.0 && v < 6.0 ? g : 0.0; }, "relu6_grad");
}
RefTensor hardswishGrad(const RefTensor& x, const RefTensor& dy) {
  return broadcastBinary(
      x, dy, [](double v, double g) { return g * hardswishSlope(v); }, "hardswish_grad");
}
RefTensor sigmoidGrad(const RefTensor& y, const RefTensor& dy) {
  return broadcastBinary(
      y, dy, [](double v, double g) { return g * v * (1.0 - v); }, "sigmoid_grad");
}
RefTensor sqrt(const RefTensor& x) {
  return elementwise(x, [](double v) { return std::sqrt(v); });
}
RefTensor rsqrt(const RefTensor& x) {
  return elementwise(x, [](double v) { return 1.0 / std::sqrt(v); });
}
RefTensor neg(const RefTensor& x) {
  return elementwise(x, [](double v) { return -v; });
}

RefTensor broadcastTo(const RefTensor& x, const std::vector<int64_t>& shape) {
  if (x.shape.size() > shape.size())
    fail("broadcast_to: " + shapeToString(x.shape) + " has a higher rank than " +
         shapeToString(shape));
  size_t off = shape.size() - x.shape.size();
  std::vector<int64_t> xs(shape.size(), 1);
  std::copy(x.shape.begin(), x.shape.end(), xs.begin() + static_cast<long>(off));
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] < 1 || (xs[i] != 1 && xs[i] != shape[i]))
      fail("broadcast_to: cannot broadcast " + shapeToString(x.shape) + " to " +
           shapeToString(shape));
  std::vector<int64_t> xst = stridesOf(xs);
  for (size_t i = 0; i < shape.size(); ++i)
    if (xs[i] == 1) xst[i] = 0;
  RefTensor y(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t flat = 0; flat < y.numel(); ++flat) {
    int64_t o = 0;
    for (size_t i = 0; i < idx.size(); ++i) o += idx[i] * xst[i];
    y.data[at(flat)] = x.data[at(o)];
    for (size_t i = idx.size(); i-- > 0;) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return y;
}

RefTensor sumTo(const RefTensor& t, const std::vector<int64_t>& shape) {
  if (shape.size() > t.shape.size())
    fail("sumTo: " + shapeToString(shape) + " has a higher rank than " + shapeToString(t.shape));
  size_t off = t.shape.size() - shape.size();
  std::vector<int64_t> ss(t.shape.size(), 1);
  std::copy(shape.begin(), shape.end(), ss.begin() + static_cast<long>(off));
  for (size_t i = 0; i < ss.size(); ++i)
    if (ss[i] != 1 && ss[i] != t.shape[i])
      fail("sumTo: " + shapeToString(shape) + " does not broadcast to " + shapeToString(t.shape));
  std::vector<int64_t> sst = stridesOf(ss);
  for (size_t i = 0; i < ss.size(); ++i)
    if (ss[i] == 1) sst[i] = 0;
  RefTensor y(shape);
  std::vector<int64_t> idx(t.shape.size(), 0);
  for (int64_t flat = 0; flat < t.numel(); ++flat) {
    int64_t o = 0;
    for (size_t i = 0; i < idx.size(); ++i) o += idx[i] * sst[i];
    y.data[at(o)] += t.data[at(flat)];
    for (size_t i = idx.size(); i-- > 0;) {
      if (++idx[i] < t.shape[i]) break;
      idx[i] = 0;
    }
  }
  return y;
}

RefTensor conv2dGradInput(const RefTensor& dy, const RefTensor& w, std::array<int64_t, 2> stride,
                          std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                          int64_t groups, const std::vector<int64_t>& inputShape) {
  requireRank(dy, 4, "conv2d_grad_input grad");
  requireRank(w, 4, "conv2d_grad_input weight");
  if (inputShape.size() != 4) fail("conv2d_grad_input: input_shape must have 4 dims");
  const int64_t N = inputShape[0], C = inputShape[1], H = inputShape[2], W = inputShape[3];
  const int64_t F = w.shape[0], Cg = w.shape[1], KH = w.shape[2], KW = w.shape[3];
  if (groups < 1 || Cg * groups != C || F % groups != 0)
    fail("conv2d_grad_input: weight " + shapeToString(w.shape) + " and groups " +
         std::to_string(groups) + " do not fit input " + shapeToString(inputShape));
  const int64_t OH = convExtent(H, KH, stride[0], padding[0], dilation[0]);
  const int64_t OW = convExtent(W, KW, stride[1], padding[1], dilation[1]);
  requireShape(dy, {N, F, OH, OW}, "conv2d_grad_input grad");
  const int64_t Fg = F / groups;
  RefTensor dx(inputShape);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f) {
      const int64_t g = f / Fg;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const double d = dy.data[at(((n * F + f) * OH + oh) * OW + ow)];
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t ih = oh * stride[0] - padding[0] + kh * dilation[0];
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t iw = ow * stride[1] - padding[1] + kw * dilation[1];
                if (iw < 0 || iw >= W) continue;
                dx.data[at(((n * C + g * Cg + c) * H + ih) * W + iw)] +=
                    d * w.data[at(((f * Cg + c) * KH + kh) * KW + kw)];
              }
            }
        }
    }
  return dx;
}

RefTensor conv2dGradWeight(const RefTensor& x, const RefTensor& dy, std::array<int64_t, 2> stride,
                           std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                           int64_t groups, const std::vector<int64_t>& weightShape) {
  requireRank(x, 4, "conv2d_grad_weight input");
  requireRank(dy, 4, "conv2d_grad_weight grad");
  if (weightShape.size() != 4) fail("conv2d_grad_weight: weight_shape must have 4 dims");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t F = weightShape[0], Cg = weightShape[1], KH = weightShape[2], KW = weightShape[3];
  if (groups < 1 || Cg * groups != C || F % groups != 0)
    fail("conv2d_grad_weight: weight_shape " + shapeToString(weightShape) + " and groups " +
         std::to_string(groups) + " do not fit input " + shapeToString(x.shape));
  const int64_t OH = convExtent(H, KH, stride[0], padding[0], dilation[0]);
  const int64_t OW = convExtent(W, KW, stride[1], padding[1], dilation[1]);
  requireShape(dy, {N, F, OH, OW}, "conv2d_grad_weight grad");
  const int64_t Fg = F / groups;
  RefTensor dw(weightShape);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f) {
      const int64_t g = f / Fg;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const double d = dy.data[at(((n * F + f) * OH + oh) * OW + ow)];
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t ih = oh * stride[0] - padding[0] + kh * dilation[0];
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t iw = ow * stride[1] - padding[1] + kw * dilation[1];
                if (iw < 0 || iw >= W) continue;
                dw.data[at(((f * Cg + c) * KH + kh) * KW + kw)] +=
                    d * x.data[at(((n * C + g * Cg + c) * H + ih) * W + iw)];
              }
            }
        }
    }
  return dw;
}

RefTensor maxPool2dGrad(const RefTensor& x, const RefTensor& dy, std::array<int64_t, 2> k,
                        std::array<int64_t, 2> s, std::array<int64_t, 2> p, bool ceilMode) {
  requireRank(x, 4, "max_pool2d_grad input");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = poolExtent(H, k[0], s[0], p[0], ceilMode);
  const int64_t OW = poolExtent(W, k[1], s[1], p[1], ceilMode);
  requireShape(dy, {N, C, OH, OW}, "max_pool2d_grad grad");
  RefTensor dx(x.shape);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          // Strict '>' in row-major window order keeps the first maximum.
          double best = -std::numeric_limits<double>::infinity();
          int64_t arg = -1;
          for (int64_t i = 0; i < k[0]; ++i)
            for (int64_t j = 0; j < k[1]; ++j) {
              const int64_t ih = oh * s[0] - p[0] + i, iw = ow * s[1] - p[1] + j;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const int64_t o = ((n * C + c) * H + ih) * W + iw;
              if (arg < 0 || x.data[at(o)] > best) {
                best = x.data[at(o)];
                arg = o;
              }
            }
          if (arg < 0) fail("max_pool2d_grad: a window covers no input element");
          dx.data[at(arg)] += dy.data[at(((n * C + c) * OH + oh) * OW + ow)];
        }
  return dx;
}

RefTensor avgPool2dGrad(const RefTensor& dy, std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                        std::array<int64_t, 2> p, bool ceilMode, bool countIncludePad,
                        const std::vector<int64_t>& inputShape) {
  if (inputShape.size() != 4) fail("avg_pool2d_grad: input_shape must have 4 dims");
  const int64_t N = inputShape[0], C = inputShape[1], H = inputShape[2], W = inputShape[3];
  const int64_t OH = poolExtent(H, k[0], s[0], p[0], ceilMode);
  const int64_t OW = poolExtent(W, k[1], s[1], p[1], ceilMode);
  requireShape(dy, {N, C, OH, OW}, "avg_pool2d_grad grad");
  RefTensor dx(inputShape);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t h0 = oh * s[0] - p[0], w0 = ow * s[1] - p[1];
          const int64_t h1 = std::min(h0 + k[0], H + p[0]), w1 = std::min(w0 + k[1], W + p[1]);
          int64_t inside = 0;
          for (int64_t ih = std::max<int64_t>(h0, 0); ih < std::min(h1, H); ++ih)
            for (int64_t iw = std::max<int64_t>(w0, 0); iw < std::min(w1, W); ++iw) ++inside;
          const double divisor =
              static_cast<double>(countIncludePad ? (h1 - h0) * (w1 - w0) : inside);
          const double share = dy.data[at(((n * C + c) * OH + oh) * OW + ow)] / divisor;
          for (int64_t ih = std::max<int64_t>(h0, 0); ih < std::min(h1, H); ++ih)
            for (int64_t iw = std::max<int64_t>(w0, 0); iw < std::min(w1, W); ++iw)
              dx.data[at(((n * C + c) * H + ih) * W + iw)] += share;
        }
  return dx;
}

// ---------------------------------------------------------------------------
// VJPs of the forward ops
// ---------------------------------------------------------------------------

std::vector<RefTensor> conv2dVjp(const RefTensor& x, const RefTensor& w, const RefTensor* b,
                                 const RefTensor& dy, std::array<int64_t, 2> stride,
                                 std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                                 int64_t groups) {
  std::vector<RefTensor> grads = {
      conv2dGradInput(dy, w, stride, padding, dilation, groups, x.shape),
      conv2dGradWeight(x, dy, stride, padding, dilation, groups, w.shape)};
  if (b) grads.push_back(reduceSum(dy, {0, 2, 3}));
  return grads;
}

std::vector<RefTensor> matmulVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy) {
  requireRank(a, 2, "matmul vjp lhs");
  requireRank(b, 2, "matmul vjp rhs");
  const int64_t M = a.shape[0], K = a.shape[1], N = b.shape[1];
  requireShape(dy, {M, N}, "matmul vjp dy");
  RefTensor da(a.shape), db(b.shape);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const double d = dy.data[at(i * N + j)];
      for (int64_t k = 0; k < K; ++k) {
        da.data[at(i * K + k)] += d * b.data[at(k * N + j)];
        db.data[at(k * N + j)] += d * a.data[at(i * K + k)];
      }
    }
  return {da, db};
}

std::vector<RefTensor> linearVjp(const RefTensor& x, const RefTensor& w, const RefTensor* b,
                                 const RefTensor& dy) {
  requireRank(x, 2, "linear vjp input");
  requireRank(w, 2, "linear vjp weight");
  const int64_t N = x.shape[0], IN = x.shape[1], OUT = w.shape[0];
  requireShape(dy, {N, OUT}, "linear vjp dy");
  RefTensor dx(x.shape), dw(w.shape), db({OUT});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) {
      const double d = dy.data[at(n * OUT + o)];
      db.data[at(o)] += d;
      for (int64_t i = 0; i < IN; ++i) {
        dx.data[at(n * IN + i)] += d * w.data[at(o * IN + i)];
        dw.data[at(o * IN + i)] += d * x.data[at(n * IN + i)];
      }
    }
  std::vector<RefTensor> grads = {dx, dw};
  if (b) grads.push_back(db);
  return grads;
}

std::vector<RefTensor> addVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy) {
  return {sumTo(dy, a.shape), sumTo(dy, b.shape)};
}
std::vector<RefTensor> subVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy) {
  return {sumTo(dy, a.shape), sumTo(neg(dy), b.shape)};
}
std::vector<RefTensor> mulVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy) {
  return {sumTo(mul(dy, b), a.shape), sumTo(mul(dy, a), b.shape)};
}
std::vector<RefTensor> divVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy) {
  // d(a/b)/db = -a / b^2.
  RefTensor db = broadcastBinary(
      broadcastBinary(dy, a, [](double g, double p) { return -g * p; }, "div vjp"), b,
      [](double t, double q) { return t / (q * q); }, "div vjp");
  return {sumTo(div(dy, b), a.shape), sumTo(db, b.shape)};
}

std::vector<RefTensor> reluVjp(const RefTensor& x, const RefTensor& dy) {
  requireShape(dy, x.shape, "relu vjp dy");
  return {reluGrad(x, dy)};
}
std::vector<RefTensor> relu6Vjp(const RefTensor& x, const RefTensor& dy) {
  requireShape(dy, x.shape, "relu6 vjp dy");
  return {relu6Grad(x, dy)};
}
std::vector<RefTensor> sigmoidVjp(const RefTensor& x, const RefTensor& dy) {
  requireShape(dy, x.shape, "sigmoid vjp dy");
  return {sigmoidGrad(sigmoid(x), dy)};
}
std::vector<RefTensor> hardswishVjp(const RefTensor& x, const RefTensor& dy) {
  requireShape(dy, x.shape, "hardswish vjp dy");
  return {hardswishGrad(x, dy)};
}

std::vector<RefTensor> maxPool2dVjp(const RefTensor& x, const RefTensor& dy,
                                    std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                                    std::array<int64_t, 2> padding, bool ceilMode) {
  return {maxPool2dGrad(x, dy, kernel, stride, padding, ceilMode)};
}
std::vector<RefTensor> avgPool2dVjp(const RefTensor& x, const RefTensor& dy,
                                    std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                                    std::array<int64_t, 2> padding, bool ceilMode,
                                    bool countIncludePad) {
  return {avgPool2dGrad(dy, kernel, stride, padding, ceilMode, countIncludePad, x.shape)};
}

std::vector<RefTensor> globalAvgPoolVjp(const RefTensor& x, const RefTensor& dy) {
  requireRank(x, 4, "global_avg_pool vjp input");
  const int64_t N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3];
  requireShape(dy, {N, C, 1, 1}, "global_avg_pool vjp dy");
  RefTensor dx(x.shape);
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t i = 0; i < HW; ++i)
      dx.data[at(nc * HW + i)] = dy.data[at(nc)] / static_cast<double>(HW);
  return {dx};
}

std::vector<RefTensor> batchNormVjp(const RefTensor& x, const RefTensor& weight,
                                    const RefTensor& bias, const RefTensor& mean,
                                    const RefTensor& var, double epsilon, const RefTensor& dy) {
  if (x.rank() < 2) fail("batch_norm vjp: input rank < 2");
  requireShape(dy, x.shape, "batch_norm vjp dy");
  const int64_t N = x.shape[0], C = x.shape[1], inner = product(x.shape, 2);
  RefTensor dx(x.shape), dw({C}), db({C}), dmean({C}), dvar({C});
  for (int64_t c = 0; c < C; ++c) {
    const double inv = 1.0 / std::sqrt(var.data[at(c)] + epsilon);
    const double w = weight.data[at(c)], m = mean.data[at(c)];
    double sumG = 0.0, sumGC = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) {
        const size_t k = at((n * C + c) * inner + i);
        dx.data[k] = dy.data[k] * w * inv;
        sumG += dy.data[k];
        sumGC += dy.data[k] * (x.data[k] - m);
      }
    dw.data[at(c)] = sumGC * inv;
    db.data[at(c)] = sumG;
    dmean.data[at(c)] = -sumG * w * inv;
    // d/dvar (var + eps)^(-1/2) = -1/2 (var + eps)^(-3/2).
    dvar.data[at(c)] = sumGC * w * -0.5 * inv * inv * inv;
  }
  (void)bias;
  return {dx, dw, db, dmean, dvar};
}

std::vector<RefTensor> reshapeVjp(const RefTensor& x, const RefTensor& dy) {
  if (dy.numel() != x.numel()) fail("reshape vjp: element counts differ");
  return {RefTensor(x.shape, dy.data)};
}

std::vector<RefTensor> transposeVjp(const RefTensor& x, const std::vector<int64_t>& perm,
                                    const RefTensor& dy) {
  // dx at the source index of every element of dy.
  const size_t r = x.shape.size();
  if (perm.size() != r) fail("transpose vjp: perm size");
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) out[i] = x.shape[at(perm[i])];
  requireShape(dy, out, "transpose vjp dy");
  const std::vector<int64_t> xst = stridesOf(x.shape);
  RefTensor dx(x.shape);
  std::vector<int64_t> idx(r, 0);
  for (int64_t flat = 0; flat < dy.numel(); ++flat) {
    int64_t xo = 0;
    for (size_t i = 0; i < r; ++i) xo += idx[i] * xst[at(perm[i])];
    dx.data[at(xo)] = dy.data[at(flat)];
    for (size_t i = r; i-- > 0;) {
      if (++idx[i] < out[i]) break;
      idx[i] = 0;
    }
  }
  return {dx};
}

namespace {
/// Applies f(row of x, row of dy, row of dx, n, stride) to every 1-D slice along `axis`.
template <typename F>
RefTensor alongAxis(const RefTensor& x, int64_t axis, const RefTensor& dy, F f) {
  requireShape(dy, x.shape, "softmax vjp dy");
  const int64_t a = normAxis(axis, x.rank());
  const int64_t outer = product(std::vector<int64_t>(x.shape.begin(), x.shape.begin() + a));
  const int64_t n = x.shape[at(a)];
  const int64_t inner = product(x.shape, at(a) + 1);
  RefTensor dx(x.shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) f(o * n * inner + i, n, inner, dx);
  return dx;
}
}  // namespace

std::vector<RefTensor> softmaxVjp(const RefTensor& x, int64_t axis, const RefTensor& dy) {
  const RefTensor y = softmax(x, axis);
  return {alongAxis(x, axis, dy, [&](int64_t base, int64_t n, int64_t step, RefTensor& dx) {
    // dx_k = y_k (dy_k - sum_j dy_j y_j)
    double dot = 0.0;
    for (int64_t k = 0; k < n; ++k) dot += dy.data[at(base + k * step)] * y.data[at(base + k * step)];
    for (int64_t k = 0; k < n; ++k) {
      const size_t o = at(base + k * step);
      dx.data[o] = y.data[o] * (dy.data[o] - dot);
    }
  })};
}

std::vector<RefTensor> logSoftmaxVjp(const RefTensor& x, int64_t axis, const RefTensor& dy) {
  const RefTensor p = softmax(x, axis);
  return {alongAxis(x, axis, dy, [&](int64_t base, int64_t n, int64_t step, RefTensor& dx) {
    // dx_k = dy_k - softmax_k sum_j dy_j
    double total = 0.0;
    for (int64_t k = 0; k < n; ++k) total += dy.data[at(base + k * step)];
    for (int64_t k = 0; k < n; ++k) {
      const size_t o = at(base + k * step);
      dx.data[o] = dy.data[o] - p.data[o] * total;
    }
  })};
}

std::vector<RefTensor> reduceSumVjp(const RefTensor& x, const std::vector<int64_t>& axes,
                                    bool keepdim, const RefTensor& dy) {
  return {spreadReduced(x, axes, keepdim, dy)};
}

std::vector<RefTensor> reduceMeanVjp(const RefTensor& x, const std::vector<int64_t>& axes,
                                     bool keepdim, const RefTensor& dy) {
  std::vector<bool> red = reducedMask(axes, x.rank());
  double count = 1.0;
  for (size_t i = 0; i < red.size(); ++i)
    if (red[i]) count *= static_cast<double>(x.shape[i]);
  RefTensor dx = spreadReduced(x, axes, keepdim, dy);
  for (double& v : dx.data) v /= count;
  return {dx};
}

// ---------------------------------------------------------------------------
// VJPs of the training ops
// ---------------------------------------------------------------------------

std::vector<RefTensor> sqrtVjp(const RefTensor& x, const RefTensor& dy) {
  requireShape(dy, x.shape, "sqrt vjp dy");
  RefTensor dx(x.shape);
  for (size_t i = 0; i < dx.data.size(); ++i) dx.data[i] = dy.data[i] * 0.5 / std::sqrt(x.data[i]);
  return {dx};
}
std::vector<RefTensor> rsqrtVjp(const RefTensor& x, const RefTensor& dy) {
  requireShape(dy, x.shape, "rsqrt vjp dy");
  RefTensor dx(x.shape);
  for (size_t i = 0; i < dx.data.size(); ++i)
    dx.data[i] = dy.data[i] * -0.5 * std::pow(x.data[i], -1.5);
  return {dx};
}
std::vector<RefTensor> negVjp(const RefTensor& x, const RefTensor& dy) {
  requireShape(dy, x.shape, "neg vjp dy");
  return {neg(dy)};
}
std::vector<RefTensor> broadcastToVjp(const RefTensor& x, const RefTensor& dy) {
  return {sumTo(dy, x.shape)};
}

std::vector<RefTensor> reluGradVjp(const RefTensor& x, const RefTensor& g, const RefTensor& dy) {
  // relu_grad is piecewise constant in x.
  return {RefTensor(x.shape), sumTo(reluGrad(x, dy), g.shape)};
}
std::vector<RefTensor> relu6GradVjp(const RefTensor& x, const RefTensor& g, const RefTensor& dy) {
  return {RefTensor(x.shape), sumTo(relu6Grad(x, dy), g.shape)};
}
std::vector<RefTensor> hardswishGradVjp(const RefTensor& x, const RefTensor& g,
                                        const RefTensor& dy) {
  // d/dx (g * hardswish'(x)) = g / 3 on (-3, 3), 0 elsewhere (a.e.).
  RefTensor gdy = broadcastBinary(g, dy, [](double p, double q) { return p * q; }, "vjp");
  RefTensor dx = broadcastBinary(
      x, gdy, [](double v, double t) { return v > -3.0 && v < 3.0 ? t / 3.0 : 0.0; }, "vjp");
  return {sumTo(dx, x.shape), sumTo(hardswishGrad(x, dy), g.shape)};
}
std::vector<RefTensor> sigmoidGradVjp(const RefTensor& y, const RefTensor& g,
                                      const RefTensor& dy) {
  // d/dy (g y (1 - y)) = g (1 - 2y).
  RefTensor gdy = broadcastBinary(g, dy, [](double p, double q) { return p * q; }, "vjp");
  RefTensor dyy = broadcastBinary(
      y, gdy, [](double v, double t) { return t * (1.0 - 2.0 * v); }, "vjp");
  return {sumTo(dyy, y.shape), sumTo(sigmoidGrad(y, dy), g.shape)};
}

std::vector<RefTensor> conv2dGradInputVjp(const RefTensor& g, const RefTensor& w,
                                          std::array<int64_t, 2> stride,
                                          std::array<int64_t, 2> padding,
                                          std::array<int64_t, 2> dilation, int64_t groups,
                                          const RefTensor& dy) {
  // <dy, convT(g, w)> = <conv(dy, w), g>: linear in g and in w.
  return {conv2d(dy, w, nullptr, stride, padding, dilation, groups),
          conv2dGradWeight(dy, g, stride, padding, dilation, groups, w.shape)};
}

std::vector<RefTensor> conv2dGradWeightVjp(const RefTensor& x, const RefTensor& g,
                                           std::array<int64_t, 2> stride,
                                           std::array<int64_t, 2> padding,
                                           std::array<int64_t, 2> dilation, int64_t groups,
                                           const RefTensor& dy) {
  // <dy, dW(x, g)> = <conv(x, dy), g>.
  return {conv2dGradInput(g, dy, stride, padding, dilation, groups, x.shape),
          conv2d(x, dy, nullptr, stride, padding, dilation, groups)};
}

std::vector<RefTensor> maxPool2dGradVjp(const RefTensor& x, const RefTensor& g,
                                        std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                                        std::array<int64_t, 2> p, bool ceilMode,
                                        const RefTensor& dy) {
  // Piecewise constant in x; in g, a gather of dy at each window's first maximum.
  requireShape(dy, x.shape, "max_pool2d_grad vjp dy");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = poolExtent(H, k[0], s[0], p[0], ceilMode);
  const int64_t OW = poolExtent(W, k[1], s[1], p[1], ceilMode);
  requireShape(g, {N, C, OH, OW}, "max_pool2d_grad vjp grad");
  RefTensor dg(g.shape);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double best = 0.0;
          int64_t arg = -1;
          for (int64_t i = 0; i < k[0]; ++i)
            for (int64_t j = 0; j < k[1]; ++j) {
              const int64_t ih = oh * s[0] - p[0] + i, iw = ow * s[1] - p[1] + j;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const int64_t o = ((n * C + c) * H + ih) * W + iw;
              if (arg < 0 || x.data[at(o)] > best) {
                best = x.data[at(o)];
                arg = o;
              }
            }
          dg.data[at(((n * C + c) * OH + oh) * OW + ow)] = dy.data[at(arg)];
        }
  return {RefTensor(x.shape), dg};
}

std::vector<RefTensor> avgPool2dGradVjp(const RefTensor& g, std::array<int64_t, 2> kernel,
                                        std::array<int64_t, 2> stride,
                                        std::array<int64_t, 2> padding, bool ceilMode,
                                        bool countIncludePad, const RefTensor& dy) {
  // avg_pool2d_grad is the transpose of avg_pool2d (same windows and divisors).
  RefTensor dg = avgPool2d(dy, kernel, stride, padding, ceilMode, countIncludePad);
  requireShape(dg, g.shape, "avg_pool2d_grad vjp");
  return {dg};
}

}  // namespace kiln::ref

//===- Reference.cpp - plain-loop double-precision op implementations ------===//
//
// Deliberately naive: direct loop nests, explicit index arithmetic, no im2col,
// no shared helpers with the frontend's shape inference (output sizes are
// recomputed here from the definitions) so that a rule implemented wrongly in
// one place is caught by the other.
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

void checkPoolArgs(const RefTensor& x, std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                   std::array<int64_t, 2> p, const char* op) {
  requireRank(x, 4, op);
  for (int i = 0; i < 2; ++i)
    if (k[i] < 1 || s[i] < 1 || p[i] < 0 || p[i] > k[i] / 2 || x.shape[2 + i] + 2 * p[i] < k[i])
      fail(std::string(op) + ": bad window for input " + shapeToString(x.shape));
}

RefTensor reduce(const RefTensor& x, const std::vector<int64_t>& axes, bool keepdim, bool mean) {
  std::vector<bool> red(x.shape.size(), false);
  if (axes.empty()) fail("reduce: no axes");
  for (int64_t a : axes) {
    int64_t n = normAxis(a, x.rank());
    if (red[static_cast<size_t>(n)]) fail("reduce: repeated axis");
    red[static_cast<size_t>(n)] = true;
  }
  // Output shape with kept (size-1) reduced dims; squeezed at the end if needed.
  std::vector<int64_t> kept(x.shape);
  int64_t count = 1;
  for (size_t i = 0; i < red.size(); ++i)
    if (red[i]) {
      count *= x.shape[i];
      kept[i] = 1;
    }
  RefTensor y(kept);
  std::vector<int64_t> yst = stridesOf(kept);
  std::vector<int64_t> idx(x.shape.size(), 0);
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    int64_t yo = 0;
    for (size_t i = 0; i < idx.size(); ++i)
      if (!red[i]) yo += idx[i] * yst[i];
    y.data[static_cast<size_t>(yo)] += x.data[static_cast<size_t>(flat)];
    for (size_t i = idx.size(); i-- > 0;) {
      if (++idx[i] < x.shape[i]) break;
      idx[i] = 0;
    }
  }
  if (mean)
    for (double& v : y.data) v /= static_cast<double>(count);
  if (!keepdim) {
    std::vector<int64_t> squeezed;
    for (size_t i = 0; i < red.size(); ++i)
      if (!red[i]) squeezed.push_back(x.shape[i]);
    y.shape = squeezed;
  }
  return y;
}

RefTensor softmaxImpl(const RefTensor& x, int64_t axis, bool log) {
  int64_t a = normAxis(axis, x.rank());
  int64_t outer = product(std::vector<int64_t>(x.shape.begin(), x.shape.begin() + a));
  int64_t n = x.shape[static_cast<size_t>(a)];
  int64_t inner = product(x.shape, static_cast<size_t>(a) + 1);
  RefTensor y(x.shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return static_cast<size_t>((o * n + k) * inner + i); };
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, x.data[at(k)]);
      double sum = 0.0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(x.data[at(k)] - mx);
      for (int64_t k = 0; k < n; ++k)
        y.data[at(k)] = log ? x.data[at(k)] - mx - std::log(sum) : std::exp(x.data[at(k)] - mx) / sum;
    }
  return y;
}

}  // namespace

// ---------------------------------------------------------------------------
// RefTensor
// ---------------------------------------------------------------------------

RefTensor::RefTensor(std::vector<int64_t> s, std::vector<double> d)
    : shape(std::move(s)), data(std::move(d)) {
  for (int64_t v : shape)
    if (v < 0) fail("tensor shape " + shapeToString(shape) + " must be static");
  if (static_cast<int64_t>(data.size()) != product(shape))
    fail("tensor of shape " + shapeToString(shape) + " given " + std::to_string(data.size()) +
         " values");
}

RefTensor::RefTensor(std::vector<int64_t> s)
    : RefTensor(s, std::vector<double>(static_cast<size_t>(std::max<int64_t>(0, product(s))), 0.0)) {}

RefTensor RefTensor::fromFloats(std::vector<int64_t> s, const std::vector<float>& d) {
  return RefTensor(std::move(s), std::vector<double>(d.begin(), d.end()));
}

std::vector<float> RefTensor::toFloats() const {
  return std::vector<float>(data.begin(), data.end());
}

double RefTensor::at(const std::vector<int64_t>& idx) const {
  if (idx.size() != shape.size()) fail("at: index rank mismatch");
  int64_t off = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    if (idx[i] < 0 || idx[i] >= shape[i]) fail("at: index out of range");
    off = off * shape[i] + idx[i];
  }
  return data[static_cast<size_t>(off)];
}

// ---------------------------------------------------------------------------
// Convolution and GEMM
// ---------------------------------------------------------------------------

RefTensor conv2d(const RefTensor& x, const RefTensor& w, const RefTensor* b,
                 std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                 std::array<int64_t, 2> dilation, int64_t groups) {
  requireRank(x, 4, "conv2d input");
  requireRank(w, 4, "conv2d weight");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t F = w.shape[0], Cg = w.shape[1], KH = w.shape[2], KW = w.shape[3];
  if (groups < 1 || Cg * groups != C || F % groups != 0)
    fail("conv2d: weight " + shapeToString(w.shape) + " and groups " + std::to_string(groups) +
         " do not fit input " + shapeToString(x.shape));
  if (b && b->shape != std::vector<int64_t>{F}) fail("conv2d: bias shape");
  const int64_t OH = (H + 2 * padding[0] - dilation[0] * (KH - 1) - 1) / stride[0] + 1;
  const int64_t OW = (W + 2 * padding[1] - dilation[1] * (KW - 1) - 1) / stride[1] + 1;
  if (OH < 1 || OW < 1) fail("conv2d: empty output");
  const int64_t Fg = F / groups;
  RefTensor y({N, F, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f) {
      const int64_t g = f / Fg;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b ? b->data[static_cast<size_t>(f)] : 0.0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t ih = oh * stride[0] - padding[0] + kh * dilation[0];
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t iw = ow * stride[1] - padding[1] + kw * dilation[1];
                if (iw < 0 || iw >= W) continue;
                const int64_t ic = g * Cg + c;
                acc += x.data[static_cast<size_t>(((n * C + ic) * H + ih) * W + iw)] *
                       w.data[static_cast<size_t>(((f * Cg + c) * KH + kh) * KW + kw)];
              }
            }
          y.data[static_cast<size_t>(((n * F + f) * OH + oh) * OW + ow)] = acc;
        }
    }
  return y;
}

RefTensor matmul(const RefTensor& a, const RefTensor& b) {
  requireRank(a, 2, "matmul lhs");
  requireRank(b, 2, "matmul rhs");
  const int64_t M = a.shape[0], K = a.shape[1], N = b.shape[1];
  if (b.shape[0] != K) fail("matmul: inner dims differ");
  RefTensor y({M, N});
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k)
        acc += a.data[static_cast<size_t>(i * K + k)] * b.data[static_cast<size_t>(k * N + j)];
      y.data[static_cast<size_t>(i * N + j)] = acc;
    }
  return y;
}

RefTensor linear(const RefTensor& x, const RefTensor& w, const RefTensor* b) {
  requireRank(x, 2, "linear input");
  requireRank(w, 2, "linear weight");
  const int64_t N = x.shape[0], IN = x.shape[1], OUT = w.shape[0];
  if (w.shape[1] != IN) fail("linear: weight " + shapeToString(w.shape) + " vs input " + shapeToString(x.shape));
  if (b && b->shape != std::vector<int64_t>{OUT}) fail("linear: bias shape");
  RefTensor y({N, OUT});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OUT; ++o) {
      double acc = b ? b->data[static_cast<size_t>(o)] : 0.0;
      for (int64_t i = 0; i < IN; ++i)
        acc += x.data[static_cast<size_t>(n * IN + i)] * w.data[static_cast<size_t>(o * IN + i)];
      y.data[static_cast<size_t>(n * OUT + o)] = acc;
    }
  return y;
}

// ---------------------------------------------------------------------------
// Elementwise
// ---------------------------------------------------------------------------

RefTensor add(const RefTensor& a, const RefTensor& b) {
  return broadcastBinary(a, b, [](double p, double q) { return p + q; }, "add");
}
RefTensor sub(const RefTensor& a, const RefTensor& b) {
  return broadcastBinary(a, b, [](double p, double q) { return p - q; }, "sub");
}
RefTensor mul(const RefTensor& a, const RefTensor& b) {
  return broadcastBinary(a, b, [](double p, double q) { return p * q; }, "mul");
}
RefTensor div(const RefTensor& a, const RefTensor& b) {
  return broadcastBinary(a, b, [](double p, double q) { return p / q; }, "div");
}

RefTensor relu(const RefTensor& x) {
  return elementwise(x, [](double v) { return v > 0.0 ? v : 0.0; });
}
RefTensor relu6(const RefTensor& x) {
  return elementwise(x, [](double v) { return v < 0.0 ? 0.0 : (v > 6.0 ? 6.0 : v); });
}
RefTensor sigmoid(const RefTensor& x) {
  return elementwise(x, [](double v) { return 1.0 / (1.0 + std::exp(-v)); });
}
RefTensor hardswish(const RefTensor& x) {
  return elementwise(x, [](double v) {
    double r = v + 3.0;
    r = r < 0.0 ? 0.0 : (r > 6.0 ? 6.0 : r);
    return v * r / 6.0;
  });
}

RefTensor batchNorm(const RefTensor& x, const RefTensor& weight, const RefTensor& bias,
                    const RefTensor& mean, const RefTensor& var, double epsilon) {
  if (x.rank() < 2) fail("batch_norm: input rank < 2");
  const int64_t N = x.shape[0], C = x.shape[1], inner = product(x.shape, 2);
  for (const RefTensor* t : {&weight, &bias, &mean, &var})
    if (t->shape != std::vector<int64_t>{C}) fail("batch_norm: statistics must be [C]");
  RefTensor y(x.shape);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const size_t ci = static_cast<size_t>(c);
      const double inv = 1.0 / std::sqrt(var.data[ci] + epsilon);
      for (int64_t i = 0; i < inner; ++i) {
        const size_t k = static_cast<size_t>((n * C + c) * inner + i);
        y.data[k] = (x.data[k] - mean.data[ci]) * inv * weight.data[ci] + bias.data[ci];
      }
    }
  return y;
}

// ---------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------

RefTensor maxPool2d(const RefTensor& x, std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                    std::array<int64_t, 2> p, bool ceilMode) {
  checkPoolArgs(x, k, s, p, "max_pool2d");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = poolExtent(H, k[0], s[0], p[0], ceilMode);
  const int64_t OW = poolExtent(W, k[1], s[1], p[1], ceilMode);
  RefTensor y({N, C, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double m = -std::numeric_limits<double>::infinity();
          for (int64_t i = 0; i < k[0]; ++i)
            for (int64_t j = 0; j < k[1]; ++j) {
              const int64_t ih = oh * s[0] - p[0] + i, iw = ow * s[1] - p[1] + j;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              m = std::max(m, x.data[static_cast<size_t>(((n * C + c) * H + ih) * W + iw)]);
            }
          y.data[static_cast<size_t>(((n * C + c) * OH + oh) * OW + ow)] = m;
        }
  return y;
}

RefTensor avgPool2d(const RefTensor& x, std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                    std::array<int64_t, 2> p, bool ceilMode, bool countIncludePad) {
  checkPoolArgs(x, k, s, p, "avg_pool2d");
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = poolExtent(H, k[0], s[0], p[0], ceilMode);
  const int64_t OW = poolExtent(W, k[1], s[1], p[1], ceilMode);
  RefTensor y({N, C, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          // The window clipped to the padded input (it can run past it in ceil mode)...
          const int64_t h0 = oh * s[0] - p[0], w0 = ow * s[1] - p[1];
          const int64_t h1 = std::min(h0 + k[0], H + p[0]), w1 = std::min(w0 + k[1], W + p[1]);
          const int64_t paddedCount = (h1 - h0) * (w1 - w0);
          double sum = 0.0;
          int64_t inside = 0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) {
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              sum += x.data[static_cast<size_t>(((n * C + c) * H + ih) * W + iw)];
              ++inside;
            }
          // ...divided by its padded size, or by the input elements it covers.
          y.data[static_cast<size_t>(((n * C + c) * OH + oh) * OW + ow)] =
              sum / static_cast<double>(countIncludePad ? paddedCount : inside);
        }
  return y;
}

RefTensor globalAvgPool(const RefTensor& x) {
  requireRank(x, 4, "global_avg_pool");
  const int64_t N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3];
  RefTensor y({N, C, 1, 1});
  for (int64_t nc = 0; nc < N * C; ++nc) {
    double sum = 0.0;
    for (int64_t i = 0; i < HW; ++i) sum += x.data[static_cast<size_t>(nc * HW + i)];
    y.data[static_cast<size_t>(nc)] = sum / static_cast<double>(HW);
  }
  return y;
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

RefTensor reshape(const RefTensor& x, const std::vector<int64_t>& shape) {
  if (shape.empty() || x.shape.empty()) fail("reshape: rank 0");
  std::vector<int64_t> s = shape;
  if (s[0] == -1) s[0] = x.shape[0];
  for (int64_t d : s)
    if (d < 1) fail("reshape: bad target shape " + shapeToString(shape));
  if (product(s) != x.numel())
    fail("reshape: " + shapeToString(x.shape) + " to " + shapeToString(shape));
  return RefTensor(s, x.data);
}

RefTensor flatten(const RefTensor& x, int64_t startDim) {
  int64_t sd = normAxis(startDim, x.rank());
  std::vector<int64_t> s(x.shape.begin(), x.shape.begin() + sd);
  s.push_back(product(x.shape, static_cast<size_t>(sd)));
  return RefTensor(s, x.data);
}

RefTensor transpose(const RefTensor& x, const std::vector<int64_t>& perm) {
  const size_t r = x.shape.size();
  if (perm.size() != r) fail("transpose: perm size");
  std::vector<bool> seen(r, false);
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(r) || seen[static_cast<size_t>(perm[i])])
      fail("transpose: not a permutation");
    seen[static_cast<size_t>(perm[i])] = true;
    out[i] = x.shape[static_cast<size_t>(perm[i])];
  }
  const std::vector<int64_t> xst = stridesOf(x.shape);
  RefTensor y(out);
  std::vector<int64_t> idx(r, 0);  // index into y
  for (int64_t flat = 0; flat < y.numel(); ++flat) {
    int64_t xo = 0;
    for (size_t i = 0; i < r; ++i) xo += idx[i] * xst[static_cast<size_t>(perm[i])];
    y.data[static_cast<size_t>(flat)] = x.data[static_cast<size_t>(xo)];
    for (size_t i = r; i-- > 0;) {
      if (++idx[i] < out[i]) break;
      idx[i] = 0;
    }
  }
  return y;
}

// ---------------------------------------------------------------------------
// Softmax and reductions
// ---------------------------------------------------------------------------

RefTensor softmax(const RefTensor& x, int64_t axis) { return softmaxImpl(x, axis, false); }
RefTensor logSoftmax(const RefTensor& x, int64_t axis) { return softmaxImpl(x, axis, true); }
RefTensor reduceSum(const RefTensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return reduce(x, axes, keepdim, false);
}
RefTensor reduceMean(const RefTensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return reduce(x, axes, keepdim, true);
}

double maxAbsDiff(const RefTensor& a, const RefTensor& b) {
  if (a.shape != b.shape)
    fail("maxAbsDiff: shapes " + shapeToString(a.shape) + " and " + shapeToString(b.shape));
  double m = 0.0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    double d = std::fabs(a.data[i] - b.data[i]);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

// ---------------------------------------------------------------------------
// Graph evaluation
// ---------------------------------------------------------------------------

std::vector<RefTensor> evaluateAll(const fe::Graph& graph, const std::vector<RefTensor>& inputs,
                                   const std::map<std::string, RefTensor>& params) {
  using fe::OpKind;
  const auto& nodes = graph.nodes();
  if (inputs.size() != graph.inputs().size())
    fail("evaluate: graph has " + std::to_string(graph.inputs().size()) + " inputs, given " +
         std::to_string(inputs.size()));
  for (const auto& kv : params)
    if (!graph.hasParameter(kv.first)) fail("evaluate: no parameter named '" + kv.first + "'");

  std::vector<RefTensor> v(nodes.size());
  for (size_t i = 0; i < graph.inputs().size(); ++i) {
    const fe::Node& n = graph.node(graph.inputs()[i]);
    const RefTensor& t = inputs[i];
    bool ok = t.shape.size() == n.shape.size();
    for (size_t d = 0; ok && d < t.shape.size(); ++d)
      ok = n.shape[d] < 0 || n.shape[d] == t.shape[d];
    if (!ok)
      fail("evaluate: input '" + n.name + "' expects " + shapeToString(n.shape) + ", given " +
           shapeToString(t.shape));
    v[static_cast<size_t>(n.id)] = t;
  }

  for (const fe::Node& n : nodes) {
    auto in = [&](size_t i) -> const RefTensor& { return v[static_cast<size_t>(n.operands[i])]; };
    RefTensor& out = v[static_cast<size_t>(n.id)];
    switch (n.kind) {
      case OpKind::Input:
        break;
      case OpKind::Parameter: {
        const fe::Parameter& p = graph.parameters()[static_cast<size_t>(n.as<fe::ParameterAttrs>().index)];
        auto it = params.find(p.name);
        if (it != params.end()) {
          if (it->second.shape != p.shape)
            fail("evaluate: parameter '" + p.name + "' expects " + shapeToString(p.shape) +
                 ", given " + shapeToString(it->second.shape));
          out = it->second;
        } else {
          out = RefTensor::fromFloats(p.shape, p.value);
        }
        break;
      }
      case OpKind::Constant:
        out = RefTensor::fromFloats(n.shape, n.as<fe::ConstantAttrs>().value);
        break;
      case OpKind::Conv2d: {
        const auto& a = n.as<fe::Conv2dAttrs>();
        out = conv2d(in(0), in(1), n.hasBias() ? &in(2) : nullptr, a.strides, a.padding,
                     a.dilation, a.groups);
        break;
      }
      case OpKind::Matmul: out = matmul(in(0), in(1)); break;
      case OpKind::Linear: out = linear(in(0), in(1), n.hasBias() ? &in(2) : nullptr); break;
      case OpKind::Add: out = add(in(0), in(1)); break;
      case OpKind::Sub: out = sub(in(0), in(1)); break;
      case OpKind::Mul: out = mul(in(0), in(1)); break;
      case OpKind::Div: out = div(in(0), in(1)); break;
      case OpKind::Relu: out = relu(in(0)); break;
      case OpKind::Relu6: out = relu6(in(0)); break;
      case OpKind::Sigmoid: out = sigmoid(in(0)); break;
      case OpKind::Hardswish: out = hardswish(in(0)); break;
      case OpKind::MaxPool2d: {
        const auto& a = n.as<fe::Pool2dAttrs>();
        out = maxPool2d(in(0), a.kernelSize, a.strides, a.padding, a.ceilMode);
        break;
      }
      case OpKind::AvgPool2d: {
        const auto& a = n.as<fe::Pool2dAttrs>();
        out = avgPool2d(in(0), a.kernelSize, a.strides, a.padding, a.ceilMode, a.countIncludePad);
        break;
      }
      case OpKind::GlobalAvgPool: out = globalAvgPool(in(0)); break;
      case OpKind::BatchNorm:
        // The attribute is f32 in the dialect: use the float value exactly.
        out = batchNorm(in(0), in(1), in(2), in(3), in(4),
                        static_cast<double>(n.as<fe::BatchNormAttrs>().epsilon));
        break;
      case OpKind::Reshape: out = reshape(in(0), n.as<fe::ReshapeAttrs>().shape); break;
      case OpKind::Flatten: out = flatten(in(0), n.as<fe::FlattenAttrs>().startDim); break;
      case OpKind::Transpose: out = transpose(in(0), n.as<fe::TransposeAttrs>().perm); break;
      case OpKind::Softmax: out = softmax(in(0), n.as<fe::AxisAttrs>().axis); break;
      case OpKind::LogSoftmax: out = logSoftmax(in(0), n.as<fe::AxisAttrs>().axis); break;
      case OpKind::ReduceSum: {
        const auto& a = n.as<fe::ReduceAttrs>();
        out = reduceSum(in(0), a.axes, a.keepdim);
        break;
      }
      case OpKind::ReduceMean: {
        const auto& a = n.as<fe::ReduceAttrs>();
        out = reduceMean(in(0), a.axes, a.keepdim);
        break;
      }
    }
    // Cross-check the frontend's shape inference against the shapes computed
    // here from the definitions.
    bool same = out.shape.size() == n.shape.size();
    for (size_t d = 0; same && d < out.shape.size(); ++d)
      same = n.shape[d] < 0 || n.shape[d] == out.shape[d];
    if (!same)
      fail("evaluate: node '" + n.name + "' (" + fe::opName(n.kind) + ") was inferred as " +
           shapeToString(n.shape) + " but evaluates to " + shapeToString(out.shape));
  }
  return v;
}

std::vector<RefTensor> evaluate(const fe::Graph& graph, const std::vector<RefTensor>& inputs,
                                const std::map<std::string, RefTensor>& params) {
  std::vector<RefTensor> all = evaluateAll(graph, inputs, params);
  std::vector<RefTensor> outs;
  for (int id : graph.outputs()) outs.push_back(all[static_cast<size_t>(id)]);
  return outs;
}

std::vector<RefTensor> evaluate(const fe::Graph& graph, const std::vector<RefTensor>& inputs) {
  return evaluate(graph, inputs, {});
}

}  // namespace kiln::ref

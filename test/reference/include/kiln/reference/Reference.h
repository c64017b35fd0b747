//===- Reference.h - a double-precision reference evaluator ----------------===//
//
// The oracle the compiler and runtime are checked against: every op is a plain
// loop nest in double precision over row-major tensors, written from the op
// definitions in docs/dialect.md (and PyTorch's semantics where the table is
// silent, e.g. pooling windows in ceil mode), sharing no code with the
// optimized paths. Slow by design; meant for small batches.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_REFERENCE_REFERENCE_H
#define KILN_REFERENCE_REFERENCE_H

#include "kiln/frontend/Graph.h"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::ref {

struct RefTensor {
  std::vector<int64_t> shape;  // fully static
  std::vector<double> data;    // row-major

  RefTensor() = default;
  RefTensor(std::vector<int64_t> s, std::vector<double> d);
  /// Zero-filled tensor of the given shape.
  explicit RefTensor(std::vector<int64_t> s);
  static RefTensor fromFloats(std::vector<int64_t> s, const std::vector<float>& d);

  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  std::vector<float> toFloats() const;
  /// Element at a multi-index (checked).
  double at(const std::vector<int64_t>& idx) const;
};

// ---- graph evaluation ----

/// Evaluates `graph` on `inputs` (one per graph input, in order) with the
/// graph's parameter values; returns the outputs in order. Inputs must match the
/// declared shapes, dynamic dims taking any extent.
std::vector<RefTensor> evaluate(const fe::Graph& graph, const std::vector<RefTensor>& inputs);
/// As above, with `params` overriding parameters by name (others keep the
/// graph's values).
std::vector<RefTensor> evaluate(const fe::Graph& graph, const std::vector<RefTensor>& inputs,
                                const std::map<std::string, RefTensor>& params);
/// The value of every node, indexed by node id (for layer-by-layer comparison).
std::vector<RefTensor> evaluateAll(const fe::Graph& graph, const std::vector<RefTensor>& inputs,
                                   const std::map<std::string, RefTensor>& params = {});

// ---- single ops (all throw std::invalid_argument on inconsistent shapes) ----

/// x [N,Cin,H,W], w [Cout,Cin/groups,KH,KW], b [Cout] or null.
RefTensor conv2d(const RefTensor& x, const RefTensor& w, const RefTensor* b,
                 std::array<int64_t, 2> stride = {1, 1}, std::array<int64_t, 2> padding = {0, 0},
                 std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1);
RefTensor matmul(const RefTensor& a, const RefTensor& b);
/// x [N,IN] * w[OUT,IN]^T + b.
RefTensor linear(const RefTensor& x, const RefTensor& w, const RefTensor* b);

RefTensor add(const RefTensor& a, const RefTensor& b);
RefTensor sub(const RefTensor& a, const RefTensor& b);
RefTensor mul(const RefTensor& a, const RefTensor& b);
RefTensor div(const RefTensor& a, const RefTensor& b);

RefTensor relu(const RefTensor& x);
RefTensor relu6(const RefTensor& x);
RefTensor sigmoid(const RefTensor& x);
/// x * relu6(x + 3) / 6.
RefTensor hardswish(const RefTensor& x);

/// Padding is -infinity; windows as PyTorch's max_pool2d.
RefTensor maxPool2d(const RefTensor& x, std::array<int64_t, 2> kernel,
                    std::array<int64_t, 2> stride, std::array<int64_t, 2> padding = {0, 0},
                    bool ceilMode = false);
/// PyTorch's avg_pool2d: a window is clipped to the padded input; the divisor is
/// its padded size with countIncludePad, else the number of input elements in it.
RefTensor avgPool2d(const RefTensor& x, std::array<int64_t, 2> kernel,
                    std::array<int64_t, 2> stride, std::array<int64_t, 2> padding = {0, 0},
                    bool ceilMode = false, bool countIncludePad = true);
RefTensor globalAvgPool(const RefTensor& x);
/// (x - mean) / sqrt(var + eps) * weight + bias over dim 1.
RefTensor batchNorm(const RefTensor& x, const RefTensor& weight, const RefTensor& bias,
                    const RefTensor& mean, const RefTensor& var, double epsilon);

/// `shape` may hold -1 at position 0 for the input's dim 0.
RefTensor reshape(const RefTensor& x, const std::vector<int64_t>& shape);
RefTensor flatten(const RefTensor& x, int64_t startDim = 1);
RefTensor transpose(const RefTensor& x, const std::vector<int64_t>& perm);

/// Max-subtracted, so large inputs do not overflow.
RefTensor softmax(const RefTensor& x, int64_t axis = -1);
RefTensor logSoftmax(const RefTensor& x, int64_t axis = -1);
RefTensor reduceSum(const RefTensor& x, const std::vector<int64_t>& axes, bool keepdim = false);
RefTensor reduceMean(const RefTensor& x, const std::vector<int64_t>& axes, bool keepdim = false);

// ---- training ops (docs/dialect.md, "Training ops") ----

/// The activation gradients broadcast their operands like add.
/// dy where x > 0, else 0.
RefTensor reluGrad(const RefTensor& x, const RefTensor& dy);
/// dy where 0 < x < 6, else 0.
RefTensor relu6Grad(const RefTensor& x, const RefTensor& dy);
/// PyTorch's hardswish_backward: 0 for x < -3, dy * (2x + 3) / 6 for -3 <= x <= 3,
/// dy for x > 3.
RefTensor hardswishGrad(const RefTensor& x, const RefTensor& dy);
/// dy * y * (1 - y), y being sigmoid's output.
RefTensor sigmoidGrad(const RefTensor& y, const RefTensor& dy);
RefTensor sqrt(const RefTensor& x);
RefTensor rsqrt(const RefTensor& x);
RefTensor neg(const RefTensor& x);
/// Numpy broadcast of x to `shape` (fully static: the caller resolves -1).
RefTensor broadcastTo(const RefTensor& x, const std::vector<int64_t>& shape);
/// Sums t over the dims that broadcasting `shape` to t's shape added or
/// stretched: the adjoint of that broadcast. Result has `shape`.
RefTensor sumTo(const RefTensor& t, const std::vector<int64_t>& shape);
/// The adjoint of conv2d w.r.t. its input, of shape `inputShape` (static).
RefTensor conv2dGradInput(const RefTensor& dy, const RefTensor& w, std::array<int64_t, 2> stride,
                          std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                          int64_t groups, const std::vector<int64_t>& inputShape);
/// The adjoint of conv2d w.r.t. its weight, of shape `weightShape`.
RefTensor conv2dGradWeight(const RefTensor& x, const RefTensor& dy, std::array<int64_t, 2> stride,
                           std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                           int64_t groups, const std::vector<int64_t>& weightShape);
/// Each window's dy goes to the first maximum of the window in row-major
/// window order (PyTorch's rule for ties); the result has x's shape.
RefTensor maxPool2dGrad(const RefTensor& x, const RefTensor& dy, std::array<int64_t, 2> kernel,
                        std::array<int64_t, 2> stride, std::array<int64_t, 2> padding = {0, 0},
                        bool ceilMode = false);
/// Each window's dy / divisor (the forward's divisor) added to every input
/// element of the window; the result has `inputShape`.
RefTensor avgPool2dGrad(const RefTensor& dy, std::array<int64_t, 2> kernel,
                        std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                        bool ceilMode, bool countIncludePad,
                        const std::vector<int64_t>& inputShape);

// ---- vector-Jacobian products ----
//
// For an op y = f(operands...) and the adjoint dy of y, the adjoint of every
// operand, in operand order, each of that operand's shape (an optional bias
// that is null gets no entry). Derivatives at kinks take PyTorch's one-sided
// choice (relu'(0) = 0, the first maximum of a pool window), and an operand
// on which the result is piecewise constant gets zeros. These are written from
// the math, independently of kiln-autodiff's rules, and are themselves
// checked against finite differences (test/unit/autodiff).

std::vector<RefTensor> conv2dVjp(const RefTensor& x, const RefTensor& w, const RefTensor* b,
                                 const RefTensor& dy, std::array<int64_t, 2> stride = {1, 1},
                                 std::array<int64_t, 2> padding = {0, 0},
                                 std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1);
std::vector<RefTensor> matmulVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy);
std::vector<RefTensor> linearVjp(const RefTensor& x, const RefTensor& w, const RefTensor* b,
                                 const RefTensor& dy);
std::vector<RefTensor> addVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy);
std::vector<RefTensor> subVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy);
std::vector<RefTensor> mulVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy);
std::vector<RefTensor> divVjp(const RefTensor& a, const RefTensor& b, const RefTensor& dy);
std::vector<RefTensor> reluVjp(const RefTensor& x, const RefTensor& dy);
std::vector<RefTensor> relu6Vjp(const RefTensor& x, const RefTensor& dy);
std::vector<RefTensor> sigmoidVjp(const RefTensor& x, const RefTensor& dy);
std::vector<RefTensor> hardswishVjp(const RefTensor& x, const RefTensor& dy);
std::vector<RefTensor> maxPool2dVjp(const RefTensor& x, const RefTensor& dy,
                                    std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                                    std::array<int64_t, 2> padding = {0, 0},
                                    bool ceilMode = false);
std::vector<RefTensor> avgPool2dVjp(const RefTensor& x, const RefTensor& dy,
                                    std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                                    std::array<int64_t, 2> padding = {0, 0},
                                    bool ceilMode = false, bool countIncludePad = true);
std::vector<RefTensor> globalAvgPoolVjp(const RefTensor& x, const RefTensor& dy);
/// The inference form: adjoints of x, weight, bias, mean and var.
std::vector<RefTensor> batchNormVjp(const RefTensor& x, const RefTensor& weight,
                                    const RefTensor& bias, const RefTensor& mean,
                                    const RefTensor& var, double epsilon, const RefTensor& dy);
std::vector<RefTensor> reshapeVjp(const RefTensor& x, const RefTensor& dy);  // and flatten
std::vector<RefTensor> transposeVjp(const RefTensor& x, const std::vector<int64_t>& perm,
                                    const RefTensor& dy);
std::vector<RefTensor> softmaxVjp(const RefTensor& x, int64_t axis, const RefTensor& dy);
std::vector<RefTensor> logSoftmaxVjp(const RefTensor& x, int64_t axis, const RefTensor& dy);
std::vector<RefTensor> reduceSumVjp(const RefTensor& x, const std::vector<int64_t>& axes,
                                    bool keepdim, const RefTensor& dy);
std::vector<RefTensor> reduceMeanVjp(const RefTensor& x, const std::vector<int64_t>& axes,
                                     bool keepdim, const RefTensor& dy);
// Training ops.
std::vector<RefTensor> sqrtVjp(const RefTensor& x, const RefTensor& dy);
std::vector<RefTensor> rsqrtVjp(const RefTensor& x, const RefTensor& dy);
std::vector<RefTensor> negVjp(const RefTensor& x, const RefTensor& dy);
std::vector<RefTensor> broadcastToVjp(const RefTensor& x, const RefTensor& dy);
std::vector<RefTensor> reluGradVjp(const RefTensor& x, const RefTensor& g, const RefTensor& dy);
std::vector<RefTensor> relu6GradVjp(const RefTensor& x, const RefTensor& g, const RefTensor& dy);
std::vector<RefTensor> hardswishGradVjp(const RefTensor& x, const RefTensor& g,
                                        const RefTensor& dy);
std::vector<RefTensor> sigmoidGradVjp(const RefTensor& y, const RefTensor& g,
                                      const RefTensor& dy);
std::vector<RefTensor> conv2dGradInputVjp(const RefTensor& g, const RefTensor& w,
                                          std::array<int64_t, 2> stride,
                                          std::array<int64_t, 2> padding,
                                          std::array<int64_t, 2> dilation, int64_t groups,
                                          const RefTensor& dy);
std::vector<RefTensor> conv2dGradWeightVjp(const RefTensor& x, const RefTensor& g,
                                           std::array<int64_t, 2> stride,
                                           std::array<int64_t, 2> padding,
                                           std::array<int64_t, 2> dilation, int64_t groups,
                                           const RefTensor& dy);
std::vector<RefTensor> maxPool2dGradVjp(const RefTensor& x, const RefTensor& g,
                                        std::array<int64_t, 2> kernel,
                                        std::array<int64_t, 2> stride,
                                        std::array<int64_t, 2> padding, bool ceilMode,
                                        const RefTensor& dy);
std::vector<RefTensor> avgPool2dGradVjp(const RefTensor& g, std::array<int64_t, 2> kernel,
                                        std::array<int64_t, 2> stride,
                                        std::array<int64_t, 2> padding, bool ceilMode,
                                        bool countIncludePad, const RefTensor& dy);

/// Largest |a - b| over all elements; throws if the shapes differ.
double maxAbsDiff(const RefTensor& a, const RefTensor& b);

}  // namespace kiln::ref

#endif  // KILN_REFERENCE_REFERENCE_H

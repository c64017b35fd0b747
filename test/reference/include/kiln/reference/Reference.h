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

/// Largest |a - b| over all elements; throws if the shapes differ.
double maxAbsDiff(const RefTensor& a, const RefTensor& b);

}  // namespace kiln::ref

#endif  // KILN_REFERENCE_REFERENCE_H

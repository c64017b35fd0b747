//===- Graph.cpp - graph building, shape inference and validation ---------===//
#include "kiln/frontend/Graph.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>

namespace kiln::fe {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& msg) {
  throw std::invalid_argument(what + ": " + msg);
}

std::string str(int64_t v) { return std::to_string(v); }

std::string arr2(const std::array<int64_t, 2>& a) {
  return "[" + str(a[0]) + ", " + str(a[1]) + "]";
}

bool isIdentifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_'))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Normalises a possibly negative axis; `what` names the op for the message.
int64_t normaliseAxis(int64_t axis, int64_t rank, const std::string& what,
                      const char* attr) {
  if (axis < -rank || axis >= rank)
    fail(what, std::string("expected ") + attr + " " + str(axis) + " to be in [" +
                   str(-rank) + ", " + str(rank) + ") for a rank-" + str(rank) + " input");
  return axis < 0 ? axis + rank : axis;
}

}  // namespace

std::string shapeToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i] < 0 ? std::string("?") : str(shape[i]);
  }
  return s + "]";
}

int64_t numElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      throw std::invalid_argument("numElements: shape " + shapeToString(shape) +
                                  " is not static");
    n *= d;
  }
  return n;
}

const char* opName(OpKind kind) {
  switch (kind) {
    case OpKind::Input: return "input";
    case OpKind::Parameter: return "kiln.parameter";
    case OpKind::Constant: return "kiln.constant";
    case OpKind::Conv2d: return "kiln.conv2d";
    case OpKind::Matmul: return "kiln.matmul";
    case OpKind::Linear: return "kiln.linear";
    case OpKind::Add: return "kiln.add";
    case OpKind::Sub: return "kiln.sub";
    case OpKind::Mul: return "kiln.mul";
    case OpKind::Div: return "kiln.div";
    case OpKind::Relu: return "kiln.relu";
    case OpKind::Relu6: return "kiln.relu6";
    case OpKind::Sigmoid: return "kiln.sigmoid";
    case OpKind::Hardswish: return "kiln.hardswish";
    case OpKind::MaxPool2d: return "kiln.max_pool2d";
    case OpKind::AvgPool2d: return "kiln.avg_pool2d";
    case OpKind::GlobalAvgPool: return "kiln.global_avg_pool";
    case OpKind::BatchNorm: return "kiln.batch_norm";
    case OpKind::Reshape: return "kiln.reshape";
    case OpKind::Flatten: return "kiln.flatten";
    case OpKind::Transpose: return "kiln.transpose";
    case OpKind::Softmax: return "kiln.softmax";
    case OpKind::LogSoftmax: return "kiln.log_softmax";
    case OpKind::ReduceSum: return "kiln.reduce_sum";
    case OpKind::ReduceMean: return "kiln.reduce_mean";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Shape rules
// ---------------------------------------------------------------------------

namespace shapes {

Shape broadcast(const Shape& a, const Shape& b, const std::string& what) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Right-aligned: missing leading dims behave as 1.
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else
      fail(what, "cannot broadcast shapes " + shapeToString(a) + " and " +
                     shapeToString(b) + " (dim " + str(static_cast<int64_t>(i)) +
                     " of the result: " + (da < 0 ? "?" : str(da)) + " vs " +
                     (db < 0 ? "?" : str(db)) + "; each dim must be 1 or equal)");
  }
  return out;
}

int64_t convOut(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

int64_t poolOut(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceilMode) {
  int64_t span = in + 2 * pad - kernel;
  int64_t out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1;
  // A window that would start entirely in the right padding is dropped.
  if (ceilMode && (out - 1) * stride >= in + pad) --out;
  return out;
}

}  // namespace shapes

// ---------------------------------------------------------------------------
// Node bookkeeping
// ---------------------------------------------------------------------------

const Node& Graph::node(int id) const {
  if (id < 0 || id >= static_cast<int>(nodes_.size()))
    throw std::invalid_argument("graph has no node " + str(id));
  return nodes_[static_cast<size_t>(id)];
}

Value Graph::valueOf(int nodeId) const {
  const Node& n = node(nodeId);
  return Value{n.id, n.shape};
}

const Node& Graph::checked(const Value& v, const char* what, const std::string& opDesc) const {
  if (!v.valid()) fail(opDesc, std::string("operand '") + what + "' is not a valid value");
  if (v.id >= static_cast<int>(nodes_.size()) || nodes_[static_cast<size_t>(v.id)].shape != v.shape)
    fail(opDesc, std::string("operand '") + what + "' does not belong to this graph");
  return nodes_[static_cast<size_t>(v.id)];
}

std::string Graph::defaultName(OpKind kind, const std::string& name) const {
  if (!name.empty()) return name;
  std::string op = opName(kind);
  if (op.rfind("kiln.", 0) == 0) op = op.substr(5);
  return op + "_" + str(static_cast<int64_t>(nodes_.size()));
}

Value Graph::addNode(OpKind kind, std::vector<int> operands, Shape shape, std::string name,
                     NodeAttrs attrs) {
  Node n;
  n.id = static_cast<int>(nodes_.size());
  n.kind = kind;
  n.operands = std::move(operands);
  n.shape = std::move(shape);
  n.name = std::move(name);
  n.attrs = std::move(attrs);
  nodes_.push_back(std::move(n));
  return Value{nodes_.back().id, nodes_.back().shape};
}

// ---------------------------------------------------------------------------
// Leaves
// ---------------------------------------------------------------------------

Value Graph::input(const std::string& name, const Shape& shape) {
  std::string what = "input '" + name + "'";
  if (!isIdentifier(name))
    fail(what, "name must match [A-Za-z_][A-Za-z0-9_]* (it becomes an MLIR argument name)");
  for (int id : inputs_)
    if (nodes_[static_cast<size_t>(id)].as<InputAttrs>().name == name)
      fail(what, "an input with this name already exists");
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == kDynamic && i == 0) continue;
    if (shape[i] < 1)
      fail(what, "dimension " + str(static_cast<int64_t>(i)) + " of " + shapeToString(shape) +
                     (shape[i] == kDynamic ? " is dynamic; only dimension 0 (the batch) may be"
                                           : " must be >= 1"));
  }
  Value v = addNode(OpKind::Input, {}, shape, name, InputAttrs{name});
  inputs_.push_back(v.id);
  return v;
}

Value Graph::parameter(const std::string& name, const Shape& shape, std::vector<float> init,
                       bool trainable) {
  std::string what = "parameter '" + name + "'";
  if (name.empty()) fail("parameter", "name must not be empty");
  if (paramIndex_.count(name)) fail(what, "a parameter with this name already exists");
  for (int64_t d : shape)
    if (d < 1) fail(what, "shape " + shapeToString(shape) + " must be static with dims >= 1");
  int64_t n = numElements(shape);
  if (static_cast<int64_t>(init.size()) != n)
    fail(what, "initial value has " + str(static_cast<int64_t>(init.size())) +
                   " elements, shape " + shapeToString(shape) + " needs " + str(n));
  int index = static_cast<int>(params_.size());
  Value v = addNode(OpKind::Parameter, {}, shape, name, ParameterAttrs{index});
  params_.push_back(Parameter{name, shape, std::move(init), trainable, v.id});
  paramIndex_[name] = index;
  return v;
}

Value Graph::constant(const Shape& shape, std::vector<float> value, const std::string& name) {
  std::string nm = defaultName(OpKind::Constant, name);
  std::string what = "constant '" + nm + "'";
  for (int64_t d : shape)
    if (d < 1) fail(what, "shape " + shapeToString(shape) + " must be static with dims >= 1");
  int64_t n = numElements(shape);
  if (static_cast<int64_t>(value.size()) != n)
    fail(what, "value has " + str(static_cast<int64_t>(value.size())) + " elements, shape " +
                   shapeToString(shape) + " needs " + str(n));
  return addNode(OpKind::Constant, {}, shape, nm, ConstantAttrs{std::move(value)});
}

// ---------------------------------------------------------------------------
// Convolution and GEMM
// ---------------------------------------------------------------------------

Value Graph::conv2d(Value input, Value weight, Value bias, std::array<int64_t, 2> strides,
                    std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                    int64_t groups, const std::string& name) {
  std::string nm = defaultName(OpKind::Conv2d, name);
  std::string what = "conv2d '" + nm + "'";
  const Node& x = checked(input, "input", what);
  const Node& w = checked(weight, "weight", what);
  const Shape& xs = x.shape;
  const Shape& ws = w.shape;
  if (xs.size() != 4) fail(what, "expected a rank-4 NCHW input, got " + shapeToString(xs));
  if (ws.size() != 4) fail(what, "expected a rank-4 OIHW weight, got " + shapeToString(ws));
  for (int i = 1; i < 4; ++i)
    if (xs[static_cast<size_t>(i)] < 0)
      fail(what, "input " + shapeToString(xs) + " must be static in C, H and W");
  for (int64_t d : ws)
    if (d < 0) fail(what, "weight " + shapeToString(ws) + " must be static");
  if (groups < 1) fail(what, "expected groups >= 1, got " + str(groups));
  for (int i = 0; i < 2; ++i) {
    if (strides[static_cast<size_t>(i)] < 1)
      fail(what, "expected strides >= 1, got " + arr2(strides));
    if (dilation[static_cast<size_t>(i)] < 1)
      fail(what, "expected dilation >= 1, got " + arr2(dilation));
    if (padding[static_cast<size_t>(i)] < 0)
      fail(what, "expected padding >= 0, got " + arr2(padding));
  }
  int64_t cin = xs[1], cout = ws[0];
  if (ws[1] * groups != cin)
    fail(what, "expected weight dim 1 (" + str(ws[1]) + ") * groups (" + str(groups) +
                   ") to equal input channels (" + str(cin) + ")");
  if (cout % groups != 0)
    fail(what, "expected output channels (" + str(cout) + ") to be divisible by groups (" +
                   str(groups) + ")");
  std::vector<int> ops{input.id, weight.id};
  if (bias.valid()) {
    const Node& b = checked(bias, "bias", what);
    if (b.shape != Shape{cout})
      fail(what, "expected bias shape [" + str(cout) + "], got " + shapeToString(b.shape));
    ops.push_back(bias.id);
  }
  int64_t oh = shapes::convOut(xs[2], ws[2], strides[0], padding[0], dilation[0]);
  int64_t ow = shapes::convOut(xs[3], ws[3], strides[1], padding[1], dilation[1]);
  if (oh < 1 || ow < 1)
    fail(what, "output size " + str(oh) + "x" + str(ow) + " is empty: input " +
                   shapeToString(xs) + ", kernel " + str(ws[2]) + "x" + str(ws[3]) +
                   ", padding " + arr2(padding) + ", dilation " + arr2(dilation) +
                   ", strides " + arr2(strides));
  return addNode(OpKind::Conv2d, std::move(ops), Shape{xs[0], cout, oh, ow}, nm,
                 Conv2dAttrs{strides, padding, dilation, groups});
}

Value Graph::matmul(Value lhs, Value rhs, const std::string& name) {
  std::string nm = defaultName(OpKind::Matmul, name);
  std::string what = "matmul '" + nm + "'";
  const Shape& a = checked(lhs, "lhs", what).shape;
  const Shape& b = checked(rhs, "rhs", what).shape;
  if (a.size() != 2 || b.size() != 2)
    fail(what, "expected rank-2 operands, got " + shapeToString(a) + " and " + shapeToString(b));
  // Equal extents, static or both dynamic (e.g. a batch-contracting product).
  if (a[1] != b[0])
    fail(what, "expected lhs dim 1 to equal rhs dim 0, got " + shapeToString(a) + " x " +
                   shapeToString(b));
  return addNode(OpKind::Matmul, {lhs.id, rhs.id}, Shape{a[0], b[1]}, nm, std::monostate{});
}

Value Graph::linear(Value input, Value weight, Value bias, const std::string& name) {
  std::string nm = defaultName(OpKind::Linear, name);
  std::string what = "linear '" + nm + "'";
  const Shape& x = checked(input, "input", what).shape;
  const Shape& w = checked(weight, "weight", what).shape;
  if (x.size() != 2) fail(what, "expected a rank-2 [N, IN] input, got " + shapeToString(x));
  if (w.size() != 2 || w[0] < 0 || w[1] < 0)
    fail(what, "expected a static rank-2 [OUT, IN] weight, got " + shapeToString(w));
  if (x[1] != w[1])
    fail(what, "expected input features (" + (x[1] < 0 ? std::string("?") : str(x[1])) +
                   ") to equal weight dim 1 (" + str(w[1]) + ")");
  std::vector<int> ops{input.id, weight.id};
  if (bias.valid()) {
    const Shape& b = checked(bias, "bias", what).shape;
    if (b != Shape{w[0]})
      fail(what, "expected bias shape [" + str(w[0]) + "], got " + shapeToString(b));
    ops.push_back(bias.id);
  }
  return addNode(OpKind::Linear, std::move(ops), Shape{x[0], w[0]}, nm, std::monostate{});
}

// ---------------------------------------------------------------------------
// Elementwise
// ---------------------------------------------------------------------------

Value Graph::binary(OpKind kind, Value lhs, Value rhs, const std::string& name) {
  std::string nm = defaultName(kind, name);
  std::string what = std::string(opName(kind) + 5) + " '" + nm + "'";
  const Shape& a = checked(lhs, "lhs", what).shape;
  const Shape& b = checked(rhs, "rhs", what).shape;
  return addNode(kind, {lhs.id, rhs.id}, shapes::broadcast(a, b, what), nm, std::monostate{});
}

Value Graph::add(Value l, Value r, const std::string& n) { return binary(OpKind::Add, l, r, n); }
Value Graph::sub(Value l, Value r, const std::string& n) { return binary(OpKind::Sub, l, r, n); }
Value Graph::mul(Value l, Value r, const std::string& n) { return binary(OpKind::Mul, l, r, n); }
Value Graph::div(Value l, Value r, const std::string& n) { return binary(OpKind::Div, l, r, n); }

Value Graph::unary(OpKind kind, Value input, const std::string& name) {
  std::string nm = defaultName(kind, name);
  std::string what = std::string(opName(kind) + 5) + " '" + nm + "'";
  const Shape& s = checked(input, "input", what).shape;
  return addNode(kind, {input.id}, s, nm, std::monostate{});
}

Value Graph::relu(Value x, const std::string& n) { return unary(OpKind::Relu, x, n); }
Value Graph::relu6(Value x, const std::string& n) { return unary(OpKind::Relu6, x, n); }
Value Graph::sigmoid(Value x, const std::string& n) { return unary(OpKind::Sigmoid, x, n); }
Value Graph::hardswish(Value x, const std::string& n) { return unary(OpKind::Hardswish, x, n); }

Value Graph::batchNorm(Value input, Value weight, Value bias, Value mean, Value var,
                       float epsilon, const std::string& name, float momentum) {
  std::string nm = defaultName(OpKind::BatchNorm, name);
  std::string what = "batch_norm '" + nm + "'";
  const Shape& x = checked(input, "input", what).shape;
  if (x.size() < 2) fail(what, "expected an input of rank >= 2 [N, C, ...], got " + shapeToString(x));
  if (x[1] < 0) fail(what, "input " + shapeToString(x) + " must have static channels");
  const Value* stats[] = {&weight, &bias, &mean, &var};
  const char* labels[] = {"weight", "bias", "mean", "var"};
  for (int i = 0; i < 4; ++i) {
    const Shape& s = checked(*stats[i], labels[i], what).shape;
    if (s != Shape{x[1]})
      fail(what, std::string("expected ") + labels[i] + " shape [" + str(x[1]) + "], got " +
                     shapeToString(s));
  }
  if (!(epsilon >= 0.0f) || !std::isfinite(epsilon))
    fail(what, "expected a finite epsilon >= 0, got " + std::to_string(epsilon));
  if (!(momentum >= 0.0f && momentum <= 1.0f))
    fail(what, "expected momentum in [0, 1], got " + std::to_string(momentum));
  return addNode(OpKind::BatchNorm, {input.id, weight.id, bias.id, mean.id, var.id}, x, nm,
                 BatchNormAttrs{epsilon, momentum});
}

// ---------------------------------------------------------------------------
// Pooling, softmax, reductions
// ---------------------------------------------------------------------------

Value Graph::pool(OpKind kind, Value input, std::array<int64_t, 2> kernelSize,
                  std::vector<int64_t> strides, std::array<int64_t, 2> padding, bool ceilMode,
                  bool countIncludePad, const std::string& name) {
  std::string nm = defaultName(kind, name);
  std::string what = std::string(opName(kind) + 5) + " '" + nm + "'";
  const Shape& x = checked(input, "input", what).shape;
  if (x.size() != 4) fail(what, "expected a rank-4 NCHW input, got " + shapeToString(x));
  if (x[2] < 0 || x[3] < 0) fail(what, "input " + shapeToString(x) + " must have static H and W");
  if (strides.empty()) strides = {kernelSize[0], kernelSize[1]};
  if (strides.size() != 2)
    fail(what, "expected 2 strides, got " + str(static_cast<int64_t>(strides.size())));
  std::array<int64_t, 2> s{strides[0], strides[1]};
  Shape out{x[0], x[1], 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    if (kernelSize[i] < 1) fail(what, "expected kernel_size >= 1, got " + arr2(kernelSize));
    if (s[i] < 1) fail(what, "expected strides >= 1, got " + arr2(s));
    if (padding[i] < 0) fail(what, "expected padding >= 0, got " + arr2(padding));
    if (padding[i] > kernelSize[i] / 2)
      fail(what, "expected padding " + arr2(padding) + " <= kernel_size / 2 (kernel_size " +
                     arr2(kernelSize) + ")");
    int64_t in = x[2 + i];
    if (in + 2 * padding[i] < kernelSize[i])
      fail(what, "window " + arr2(kernelSize) + " does not fit the padded input " +
                     shapeToString(x) + " with padding " + arr2(padding));
    out[2 + i] = shapes::poolOut(in, kernelSize[i], s[i], padding[i], ceilMode);
  }
  return addNode(kind, {input.id}, out, nm,
                 Pool2dAttrs{kernelSize, s, padding, ceilMode, countIncludePad});
}

Value Graph::maxPool2d(Value input, std::array<int64_t, 2> kernelSize,
                       std::vector<int64_t> strides, std::array<int64_t, 2> padding,
                       bool ceilMode, const std::string& name) {
  return pool(OpKind::MaxPool2d, input, kernelSize, std::move(strides), padding, ceilMode, true,
              name);
}

Value Graph::avgPool2d(Value input, std::array<int64_t, 2> kernelSize,
                       std::vector<int64_t> strides, std::array<int64_t, 2> padding,
                       bool ceilMode, bool countIncludePad, const std::string& name) {
  return pool(OpKind::AvgPool2d, input, kernelSize, std::move(strides), padding, ceilMode,
              countIncludePad, name);
}

Value Graph::globalAvgPool(Value input, const std::string& name) {
  std::string nm = defaultName(OpKind::GlobalAvgPool, name);
  std::string what = "global_avg_pool '" + nm + "'";
  const Shape& x = checked(input, "input", what).shape;
  if (x.size() != 4) fail(what, "expected a rank-4 NCHW input, got " + shapeToString(x));
  if (x[2] < 0 || x[3] < 0) fail(what, "input " + shapeToString(x) + " must have static H and W");
  return addNode(OpKind::GlobalAvgPool, {input.id}, Shape{x[0], x[1], 1, 1}, nm,
                 std::monostate{});
}

Value Graph::softmaxLike(OpKind kind, Value input, int64_t axis, const std::string& name) {
  std::string nm = defaultName(kind, name);
  std::string what = std::string(opName(kind) + 5) + " '" + nm + "'";
  const Shape& x = checked(input, "input", what).shape;
  if (x.empty()) fail(what, "expected an input of rank >= 1");
  int64_t a = normaliseAxis(axis, static_cast<int64_t>(x.size()), what, "axis");
  if (x[static_cast<size_t>(a)] < 0)
    fail(what, "axis " + str(axis) + " of " + shapeToString(x) + " is dynamic; it must be static");
  return addNode(kind, {input.id}, x, nm, AxisAttrs{a});
}

Value Graph::softmax(Value x, int64_t axis, const std::string& n) {
  return softmaxLike(OpKind::Softmax, x, axis, n);
}
Value Graph::logSoftmax(Value x, int64_t axis, const std::string& n) {
  return softmaxLike(OpKind::LogSoftmax, x, axis, n);
}

Value Graph::reduce(OpKind kind, Value input, std::vector<int64_t> axes, bool keepdim,
                    const std::string& name) {
  std::string nm = defaultName(kind, name);
  std::string what = std::string(opName(kind) + 5) + " '" + nm + "'";
  const Shape& x = checked(input, "input", what).shape;
  int64_t rank = static_cast<int64_t>(x.size());
  if (axes.empty()) fail(what, "expected at least one axis");
  std::vector<bool> reduced(x.size(), false);
  for (int64_t& a : axes) {
    a = normaliseAxis(a, rank, what, "axis");
    if (reduced[static_cast<size_t>(a)])
      fail(what, "axis " + str(a) + " is given more than once");
    reduced[static_cast<size_t>(a)] = true;
  }
  Shape out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!reduced[i])
      out.push_back(x[i]);
    else if (keepdim)
      out.push_back(1);
  }
  return addNode(kind, {input.id}, out, nm, ReduceAttrs{std::move(axes), keepdim});
}

Value Graph::reduceSum(Value x, std::vector<int64_t> axes, bool keepdim, const std::string& n) {
  return reduce(OpKind::ReduceSum, x, std::move(axes), keepdim, n);
}
Value Graph::reduceMean(Value x, std::vector<int64_t> axes, bool keepdim, const std::string& n) {
  return reduce(OpKind::ReduceMean, x, std::move(axes), keepdim, n);
}

// ---------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------

Value Graph::reshape(Value input, const Shape& shape, const std::string& name) {
  std::string nm = defaultName(OpKind::Reshape, name);
  std::string what = "reshape '" + nm + "'";
  const Shape& x = checked(input, "input", what).shape;
  if (x.empty()) fail(what, "expected an input of rank >= 1");
  if (shape.empty()) fail(what, "expected a target shape of rank >= 1");
  int64_t perItem = 1;
  for (size_t i = 1; i < x.size(); ++i) {
    if (x[i] < 0)
      fail(what, "input " + shapeToString(x) + " may only be dynamic in dimension 0");
    perItem *= x[i];
  }
  int64_t target = 1;
  for (size_t i = 1; i < shape.size(); ++i) {
    if (shape[i] < 1)
      fail(what, "target shape " + shapeToString(shape) +
                     ": -1 is only allowed at position 0 and other dims must be >= 1");
    target *= shape[i];
  }
  if (target != perItem)
    fail(what, "target shape " + shapeToString(shape) + " has " + str(target) +
                   " elements per item, input " + shapeToString(x) + " has " + str(perItem));
  Shape out = shape;
  if (shape[0] == kDynamic)
    out[0] = x[0];
  else if (shape[0] != x[0])
    fail(what, "target dim 0 (" + str(shape[0]) + ") must be -1 or equal the input's dim 0 (" +
                   (x[0] < 0 ? std::string("?") : str(x[0])) + ")");
  return addNode(OpKind::Reshape, {input.id}, out, nm, ReshapeAttrs{shape});
}

Value Graph::flatten(Value input, int64_t startDim, const std::string& name) {
  std::string nm = defaultName(OpKind::Flatten, name);
  std::string what = "flatten '" + nm + "'";
  const Shape& x = checked(input, "input", what).shape;
  if (x.empty()) fail(what, "expected an input of rank >= 1");
  int64_t sd = normaliseAxis(startDim, static_cast<int64_t>(x.size()), what, "start_dim");
  Shape out(x.begin(), x.begin() + sd);
  int64_t prod = 1;
  for (size_t i = static_cast<size_t>(sd); i < x.size(); ++i)
    prod = (prod < 0 || x[i] < 0) ? kDynamic : prod * x[i];
  out.push_back(prod);
  return addNode(OpKind::Flatten, {input.id}, out, nm, FlattenAttrs{sd});
}

Value Graph::transpose(Value input, std::vector<int64_t> perm, const std::string& name) {
  std::string nm = defaultName(OpKind::Transpose, name);
  std::string what = "transpose '" + nm + "'";
  const Shape& x = checked(input, "input", what).shape;
  if (perm.size() != x.size())
    fail(what, "expected a permutation of " + str(static_cast<int64_t>(x.size())) +
                   " dims, got " + str(static_cast<int64_t>(perm.size())));
  std::vector<bool> seen(x.size(), false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(x.size()) || seen[static_cast<size_t>(p)])
      fail(what, "perm " + shapeToString(perm) + " is not a permutation of [0, " +
                     str(static_cast<int64_t>(x.size())) + ")");
    seen[static_cast<size_t>(p)] = true;
    out.push_back(x[static_cast<size_t>(p)]);
  }
  return addNode(OpKind::Transpose, {input.id}, out, nm, TransposeAttrs{std::move(perm)});
}

// ---------------------------------------------------------------------------
// Outputs and parameters
// ---------------------------------------------------------------------------

void Graph::output(Value value, const std::string& name) {
  std::string what = "output '" + name + "'";
  checked(value, "value", what);
  if (name.empty()) fail("output", "name must not be empty");
  if (std::find(outputNames_.begin(), outputNames_.end(), name) != outputNames_.end())
    fail(what, "an output with this name already exists");
  outputs_.push_back(value.id);
  outputNames_.push_back(name);
}

bool Graph::hasParameter(const std::string& name) const { return paramIndex_.count(name) != 0; }

const Parameter& Graph::parameter(const std::string& name) const {
  auto it = paramIndex_.find(name);
  if (it == paramIndex_.end()) throw std::invalid_argument("no parameter named '" + name + "'");
  return params_[static_cast<size_t>(it->second)];
}

Value Graph::parameterValue(const std::string& name) const {
  return valueOf(parameter(name).node);
}

void Graph::setParameterValue(const std::string& name, std::vector<float> value) {
  auto it = paramIndex_.find(name);
  if (it == paramIndex_.end()) throw std::invalid_argument("no parameter named '" + name + "'");
  Parameter& p = params_[static_cast<size_t>(it->second)];
  if (value.size() != p.value.size())
    throw std::invalid_argument("parameter '" + name + "': new value has " +
                                str(static_cast<int64_t>(value.size())) + " elements, shape " +
                                shapeToString(p.shape) + " needs " +
                                str(static_cast<int64_t>(p.value.size())));
  p.value = std::move(value);
}

int64_t Graph::parameterCount(bool trainableOnly) const {
  int64_t n = 0;
  for (const Parameter& p : params_)
    if (p.trainable || !trainableOnly) n += static_cast<int64_t>(p.value.size());
  return n;
}

std::vector<BatchNormInfo> Graph::batchNorms() const {
  std::vector<BatchNormInfo> out;
  for (const Node& n : nodes_) {
    if (n.kind != OpKind::BatchNorm) continue;
    auto paramName = [&](size_t i) -> std::string {
      const Node& op = nodes_[static_cast<size_t>(n.operands[i])];
      if (op.kind != OpKind::Parameter) return "";
      return params_[static_cast<size_t>(op.as<ParameterAttrs>().index)].name;
    };
    const auto& a = n.as<BatchNormAttrs>();
    out.push_back(BatchNormInfo{n.id, n.name, paramName(1), paramName(2), paramName(3),
                                paramName(4), a.epsilon, a.momentum});
  }
  return out;
}

// ---------------------------------------------------------------------------
// FLOPs
// ---------------------------------------------------------------------------

FlopCount Graph::flops(int64_t batch) const {
  if (batch < 1) throw std::invalid_argument("flops: batch must be >= 1");
  auto elems = [batch](const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d < 0 ? batch : d;
    return n;
  };
  FlopCount fc;
  for (const Node& n : nodes_) {
    int64_t out = elems(n.shape);
    auto operandShape = [&](size_t i) -> const Shape& {
      return nodes_[static_cast<size_t>(n.operands[i])].shape;
    };
    switch (n.kind) {
      case OpKind::Input:
      case OpKind::Parameter:
      case OpKind::Constant:
      case OpKind::Reshape:
      case OpKind::Flatten:
      case OpKind::Transpose:
        break;
      case OpKind::Conv2d: {
        const Shape& w = operandShape(1);
        int64_t macs = out * w[1] * w[2] * w[3];  // per output: Cin/groups * KH * KW
        fc.macFlops += 2 * macs;
        fc.total += 2 * macs + (n.hasBias() ? out : 0);
        break;
      }
      case OpKind::Linear: {
        int64_t macs = out * operandShape(1)[1];
        fc.macFlops += 2 * macs;
        fc.total += 2 * macs + (n.hasBias() ? out : 0);
        break;
      }
      case OpKind::Matmul: {
        int64_t k = operandShape(0)[1];
        int64_t macs = out * (k < 0 ? batch : k);
        fc.macFlops += 2 * macs;
        fc.total += 2 * macs;
        break;
      }
      case OpKind::Add:
      case OpKind::Sub:
      case OpKind::Mul:
      case OpKind::Div:
      case OpKind::Relu:
      case OpKind::Relu6:
      case OpKind::Sigmoid:
      case OpKind::Hardswish:
      case OpKind::BatchNorm:
        fc.total += out;
        break;
      case OpKind::MaxPool2d:
      case OpKind::AvgPool2d: {
        const auto& a = n.as<Pool2dAttrs>();
        fc.total += out * a.kernelSize[0] * a.kernelSize[1];
        break;
      }
      case OpKind::GlobalAvgPool:
      case OpKind::ReduceSum:
      case OpKind::ReduceMean:
        fc.total += elems(operandShape(0));
        break;
      case OpKind::Softmax:
      case OpKind::LogSoftmax:
        fc.total += 4 * out;
        break;
    }
  }
  return fc;
}

}  // namespace kiln::fe

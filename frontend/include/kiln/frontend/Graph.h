//===- Graph.h - the frontend's dataflow graph ----------------------------===//
//
// A Graph is a list of nodes in creation order; every node produces exactly one
// tensor, so a node id doubles as the id of its result value. Operands must
// exist before they are used, which makes creation order a topological order
// and lets emission, evaluation and (later) autodiff walk the node list once.
//
// The builder methods mirror the kiln dialect (docs/dialect.md) one to one:
// same ops, same operand order, same attributes. Shapes are inferred here with
// the dialect's rules so that a model that builds in C++ also verifies in the
// compiler, and mistakes are reported at the line that made them
// (std::invalid_argument naming the layer) instead of as an MLIR diagnostic.
//
// Shapes use -1 for a dynamic dimension. Graph inputs may only be dynamic in
// dimension 0 (the batch); ops propagate -1 where it flows (e.g. a transpose
// can move the batch), and ops that need a static extent check for it.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_FRONTEND_GRAPH_H
#define KILN_FRONTEND_GRAPH_H

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace kiln::fe {

using Shape = std::vector<int64_t>;
constexpr int64_t kDynamic = -1;

/// Renders a shape as "[?, 1, 28, 28]" for messages.
std::string shapeToString(const Shape& shape);
/// Number of elements of a fully static shape (1 for rank 0); throws on -1.
int64_t numElements(const Shape& shape);

enum class OpKind {
  Input,
  Parameter,
  Constant,
  Conv2d,
  Matmul,
  Linear,
  Add,
  Sub,
  Mul,
  Div,
  Relu,
  Relu6,
  Sigmoid,
  Hardswish,
  MaxPool2d,
  AvgPool2d,
  GlobalAvgPool,
  BatchNorm,
  Reshape,
  Flatten,
  Transpose,
  Softmax,
  LogSoftmax,
  ReduceSum,
  ReduceMean,
};

/// The dialect op name ("kiln.conv2d"); "input" for graph inputs, which become
/// function arguments rather than ops.
const char* opName(OpKind kind);

/// A handle to the result of a node. It carries a copy of the result shape so
/// that model code can inspect shapes without going back to the graph.
struct Value {
  int id = -1;
  Shape shape;

  bool valid() const { return id >= 0; }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t dim(int64_t i) const { return shape.at(static_cast<size_t>(i)); }
};

// ---- per-op attributes (only the ops that have any) ----

struct InputAttrs {
  std::string name;  // also the MLIR function argument name
};

struct ParameterAttrs {
  int index = -1;  // into Graph::parameters()
};

struct ConstantAttrs {
  std::vector<float> value;  // row-major, numElements(shape) entries
};

struct Conv2dAttrs {
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> padding{0, 0};  // symmetric, per side: h, w
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};

struct Pool2dAttrs {
  std::array<int64_t, 2> kernelSize{1, 1};
  std::array<int64_t, 2> strides{1, 1};  // always resolved (default = kernel)
  std::array<int64_t, 2> padding{0, 0};
  bool ceilMode = false;
  bool countIncludePad = true;  // avg_pool2d only
};

struct BatchNormAttrs {
  float epsilon = 1e-5f;
  // Not a dialect attribute (the dialect op is the inference form); kept so that
  // training can update the running statistics the way PyTorch does.
  float momentum = 0.1f;
};

struct ReshapeAttrs {
  Shape shape;  // -1 only at position 0: "dim 0 of the input"
};

struct FlattenAttrs {
  int64_t startDim = 1;  // normalised to [0, rank)
};

struct TransposeAttrs {
  std::vector<int64_t> perm;
};

struct AxisAttrs {
  int64_t axis = -1;  // normalised to [0, rank)
};

struct ReduceAttrs {
  std::vector<int64_t> axes;  // normalised to [0, rank), in the order given
  bool keepdim = false;
};

using NodeAttrs =
    std::variant<std::monostate, InputAttrs, ParameterAttrs, ConstantAttrs, Conv2dAttrs,
                 Pool2dAttrs, BatchNormAttrs, ReshapeAttrs, FlattenAttrs, TransposeAttrs,
                 AxisAttrs, ReduceAttrs>;

struct Node {
  int id = -1;
  OpKind kind = OpKind::Input;
  std::vector<int> operands;  // node ids; optional operands are simply absent
  Shape shape;                // inferred result shape
  std::string name;           // layer name, emitted as the op's loc("...")
  NodeAttrs attrs;

  template <typename T>
  const T& as() const { return std::get<T>(attrs); }
  /// conv2d / linear: whether the optional bias operand is present.
  bool hasBias() const { return operands.size() == 3; }
};

struct Parameter {
  std::string name;  // unique, e.g. "layer1.0.bn1.running_mean"
  Shape shape;       // fully static
  std::vector<float> value;
  bool trainable = true;  // false for buffers such as BN running statistics
  int node = -1;          // the kiln.parameter node that reads it
};

/// A batch_norm node and the parameters it reads, for training (which updates
/// the running statistics, non-trainable parameters, with `momentum`).
struct BatchNormInfo {
  int node = -1;
  std::string layer;  // the node's name, e.g. "layer1.0.bn1"
  std::string weight, bias, runningMean, runningVar;  // "" if not a parameter
  float epsilon = 1e-5f;
  float momentum = 0.1f;
};

/// Work per forward pass. Counting rules (per output element unless noted):
/// conv2d/linear/matmul 2 FLOPs per multiply-accumulate (`macFlops`), plus 1 per
/// output element for a bias; add/sub/mul/div, activations, batch_norm 1;
/// max/avg pool one per window element (global pool: H*W); softmax and
/// log_softmax 4 (max, subtract+exp, sum, divide/log); reductions 1 per input
/// element; views (reshape, flatten, transpose), parameters and constants 0.
struct FlopCount {
  int64_t total = 0;
  int64_t macFlops = 0;  // conv2d + linear + matmul only
};

/// Options of Graph::toTrainingMlir.
struct TrainingEmitOptions {
  /// nn.CrossEntropyLoss(label_smoothing=...): target' = target*(1-eps) + eps/classes.
  float labelSmoothing = 0.0f;
};

class Graph {
 public:
  // ---- leaves ----
  /// A function argument. `name` must be an identifier ([A-Za-z_][A-Za-z0-9_]*)
  /// and unique among inputs; only dimension 0 may be dynamic.
  Value input(const std::string& name, const Shape& shape);
  /// Registers a parameter and returns the kiln.parameter value reading it.
  Value parameter(const std::string& name, const Shape& shape, std::vector<float> init,
                  bool trainable = true);
  Value constant(const Shape& shape, std::vector<float> value, const std::string& name = "");

  // ---- convolution and GEMM ----
  /// `bias` may be an invalid Value (default-constructed) for no bias.
  Value conv2d(Value input, Value weight, Value bias, std::array<int64_t, 2> strides = {1, 1},
               std::array<int64_t, 2> padding = {0, 0},
               std::array<int64_t, 2> dilation = {1, 1}, int64_t groups = 1,
               const std::string& name = "");
  Value matmul(Value lhs, Value rhs, const std::string& name = "");
  Value linear(Value input, Value weight, Value bias, const std::string& name = "");

  // ---- elementwise ----
  Value add(Value lhs, Value rhs, const std::string& name = "");
  Value sub(Value lhs, Value rhs, const std::string& name = "");
  Value mul(Value lhs, Value rhs, const std::string& name = "");
  Value div(Value lhs, Value rhs, const std::string& name = "");
  Value relu(Value input, const std::string& name = "");
  Value relu6(Value input, const std::string& name = "");
  Value sigmoid(Value input, const std::string& name = "");
  Value hardswish(Value input, const std::string& name = "");
  /// Inference-form batch norm; `momentum` is recorded for training only.
  Value batchNorm(Value input, Value weight, Value bias, Value mean, Value var,
                  float epsilon = 1e-5f, const std::string& name = "",
                  float momentum = 0.1f);

  // ---- pooling and reductions ----
  /// `strides` empty = kernel size.
  Value maxPool2d(Value input, std::array<int64_t, 2> kernelSize,
                  std::vector<int64_t> strides = {}, std::array<int64_t, 2> padding = {0, 0},
                  bool ceilMode = false, const std::string& name = "");
  Value avgPool2d(Value input, std::array<int64_t, 2> kernelSize,
                  std::vector<int64_t> strides = {}, std::array<int64_t, 2> padding = {0, 0},
                  bool ceilMode = false, bool countIncludePad = true,
                  const std::string& name = "");
  Value globalAvgPool(Value input, const std::string& name = "");
  Value softmax(Value input, int64_t axis = -1, const std::string& name = "");
  Value logSoftmax(Value input, int64_t axis = -1, const std::string& name = "");
  Value reduceSum(Value input, std::vector<int64_t> axes, bool keepdim = false,
                  const std::string& name = "");
  Value reduceMean(Value input, std::vector<int64_t> axes, bool keepdim = false,
                   const std::string& name = "");

  // ---- views ----
  Value reshape(Value input, const Shape& shape, const std::string& name = "");
  Value flatten(Value input, int64_t startDim = 1, const std::string& name = "");
  Value transpose(Value input, std::vector<int64_t> perm, const std::string& name = "");

  // ---- outputs ----
  /// Marks `value` as a function result named `name` (unique among outputs).
  void output(Value value, const std::string& name);

  // ---- inspection ----
  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(int id) const;
  const Node& node(const Value& v) const { return node(v.id); }
  /// Node ids of the inputs, in argument order.
  const std::vector<int>& inputs() const { return inputs_; }
  /// Node ids of the outputs and their names, in result order.
  const std::vector<int>& outputs() const { return outputs_; }
  const std::vector<std::string>& outputNames() const { return outputNames_; }
  Value valueOf(int nodeId) const;

  const std::vector<Parameter>& parameters() const { return params_; }
  bool hasParameter(const std::string& name) const;
  const Parameter& parameter(const std::string& name) const;
  /// The kiln.parameter value of an existing parameter (for weight sharing).
  Value parameterValue(const std::string& name) const;
  /// Replaces a parameter's value (e.g. loaded weights); the size must match.
  void setParameterValue(const std::string& name, std::vector<float> value);
  /// Elements in parameters; with trainableOnly, buffers are not counted
  /// (PyTorch's sum(p.numel() for p in model.parameters())).
  int64_t parameterCount(bool trainableOnly = true) const;

  /// Every batch_norm node in graph order.
  std::vector<BatchNormInfo> batchNorms() const;

  /// Forward work for `batch` images (dynamic dims are taken as `batch`).
  FlopCount flops(int64_t batch = 1) const;

  /// The module as MLIR text in the generic op form (see docs/dialect.md).
  std::string toMlir(const std::string& funcName = "infer") const;
  /// The training module (frontend/src/TrainingEmitter.cpp): three functions over
  /// the same parameters, for a graph with one output, the logits [?, classes]:
  ///  @forward(inputs..., %target) -> (loss tensor<1xf32>, logits)  training mode
  ///    (batch_norm from batch statistics, running statistics moved with
  ///    kiln.update; they are trainable = false there);
  ///  @eval_step(inputs..., %target) -> (loss, logits)  inference mode;
  ///  @infer(inputs...) -> logits  inference mode, as toMlir("infer").
  /// %target is a [?, classes] probability (one-hot) matrix; the loss is PyTorch's
  /// CrossEntropyLoss(label_smoothing) mean over the batch. Throws
  /// std::invalid_argument for a graph it cannot train.
  std::string toTrainingMlir(const TrainingEmitOptions& options = {}) const;

 private:
  const Node& checked(const Value& v, const char* what, const std::string& opDesc) const;
  Value addNode(OpKind kind, std::vector<int> operands, Shape shape, std::string name,
                NodeAttrs attrs);
  std::string defaultName(OpKind kind, const std::string& name) const;
  Value binary(OpKind kind, Value lhs, Value rhs, const std::string& name);
  Value unary(OpKind kind, Value input, const std::string& name);
  Value pool(OpKind kind, Value input, std::array<int64_t, 2> kernelSize,
             std::vector<int64_t> strides, std::array<int64_t, 2> padding, bool ceilMode,
             bool countIncludePad, const std::string& name);
  Value softmaxLike(OpKind kind, Value input, int64_t axis, const std::string& name);
  Value reduce(OpKind kind, Value input, std::vector<int64_t> axes, bool keepdim,
               const std::string& name);

  std::vector<Node> nodes_;
  std::vector<int> inputs_;
  std::vector<int> outputs_;
  std::vector<std::string> outputNames_;
  std::vector<Parameter> params_;
  std::map<std::string, int> paramIndex_;
};

/// Shape rules shared by the builder and the reference interpreter. Each throws
/// std::invalid_argument with `what` (e.g. "conv2d 'conv1'") in the message.
namespace shapes {
Shape broadcast(const Shape& a, const Shape& b, const std::string& what);
/// Output extent of a convolution window along one axis.
int64_t convOut(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation);
/// Output extent of a pooling window along one axis (PyTorch's rule in ceil mode:
/// the last window must start inside the input or its left padding).
int64_t poolOut(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceilMode);
}  // namespace shapes

}  // namespace kiln::fe

#endif  // KILN_FRONTEND_GRAPH_H

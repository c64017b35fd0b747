//===- KilnOps.cpp - kiln op shape inference, verifiers and folders --------===//
//
// The shape rules of docs/dialect.md live here, once per op, as functions that
// take plain types and attribute values. Three callers share them:
//  - inferReturnTypes (builders and the InferTypeOpInterface check), which may
//    see IR that was never verified and must fail without crashing;
//  - verify(), which runs before the interface's own check and therefore owns
//    the user-facing diagnostics (one precise error instead of the interface's
//    generic "failed to infer returned types");
//  - the folders, which use them to prove that an in-place rewrite keeps the
//    result type.
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/KilnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <algorithm>
#include <optional>

using namespace mlir;
using namespace kiln;

namespace {

constexpr int64_t kDynamic = ShapedType::kDynamic;

bool isDynamic(int64_t dim) { return ShapedType::isDynamic(dim); }

/// Two dims that may describe the same runtime extent ('?' matches anything).
bool dimsCompatible(int64_t a, int64_t b) {
  return a == b || isDynamic(a) || isDynamic(b);
}

/// A dimension printed the way MLIR prints types ('?' when dynamic), so that
/// diagnostics never show the kDynamic sentinel.
struct Dim {
  int64_t value;
};
/// A list of dims printed as [a, b, ?].
struct Dims {
  ArrayRef<int64_t> values;
};

Diagnostic &operator<<(Diagnostic &diag, Dim dim) {
  if (isDynamic(dim.value))
    return diag << "?";
  return diag << dim.value;
}

Diagnostic &operator<<(Diagnostic &diag, Dims dims) {
  diag << "[";
  llvm::interleave(
      dims.values, [&](int64_t dim) { diag << Dim{dim}; }, [&] { diag << ", "; });
  return diag << "]";
}

/// Reports shape errors as "'kiln.<op>' op <message>" at the location when
/// there is one (verification, most builders) and silently otherwise (folders
/// probing whether a rewrite is legal).
class Checker {
public:
  Checker(std::optional<Location> loc, StringRef opName) : loc(loc), opName(opName) {}

  template <typename... Args>
  LogicalResult fail(Args &&...args) const {
    return emitOptionalError(loc, "'", opName, "' op ", std::forward<Args>(args)...);
  }

private:
  std::optional<Location> loc;
  StringRef opName;
};

/// The operand as a ranked f32 tensor type, or a diagnostic. inferReturnTypes
/// can be called from C++ builders before any verification, so nothing about
/// the operand may be assumed.
FailureOr<RankedTensorType> tensorType(const Checker &check, Value value, StringRef what) {
  if (!value) {
    (void)check.fail("expected a ", what, " operand");
    return failure();
  }
  auto type = llvm::dyn_cast<RankedTensorType>(value.getType());
  if (!type || !type.getElementType().isF32()) {
    (void)check.fail("expected ", what, " to be a ranked f32 tensor, found ", value.getType());
    return failure();
  }
  return type;
}

/// As tensorType, and of exactly `rank` dims; `layout` names them for the message.
FailureOr<RankedTensorType> tensorOfRank(const Checker &check, Value value, StringRef what,
                                         int64_t rank, StringRef layout) {
  FailureOr<RankedTensorType> type = tensorType(check, value, what);
  if (failed(type))
    return failure();
  if (type->getRank() != rank) {
    (void)check.fail("expected ", what, " of rank ", rank, " ", layout, ", found rank ",
                     type->getRank(), " (", value.getType(), ")");
    return failure();
  }
  return type;
}

LogicalResult checkOperandCount(const Checker &check, ValueRange operands, size_t min,
                                size_t max) {
  if (operands.size() >= min && operands.size() <= max)
    return success();
  if (min == max)
    return check.fail("expected ", static_cast<int64_t>(min), " operands, found ",
                      static_cast<int64_t>(operands.size()));
  return check.fail("expected ", static_cast<int64_t>(min), " to ",
                    static_cast<int64_t>(max), " operands, found ",
                    static_cast<int64_t>(operands.size()));
}

// Attribute readers. Adaptors return null for attributes that were not set
// (defaults are not filled in for unverified IR), so each reader applies the
// default from KilnOps.td itself and rejects an attribute of the wrong kind
// instead of asserting on it.
FailureOr<int64_t> readI64(const Checker &check, Attribute attr, StringRef name,
                           int64_t fallback) {
  if (!attr)
    return fallback;
  auto integer = llvm::dyn_cast<IntegerAttr>(attr);
  if (!integer || !integer.getType().isSignlessInteger(64)) {
    (void)check.fail("expected '", name, "' to be an i64 attribute, found ", attr);
    return failure();
  }
  return integer.getInt();
}

FailureOr<bool> readBool(const Checker &check, Attribute attr, StringRef name,
                         bool fallback) {
  if (!attr)
    return fallback;
  auto boolean = llvm::dyn_cast<BoolAttr>(attr);
  if (!boolean) {
    (void)check.fail("expected '", name, "' to be a bool attribute, found ", attr);
    return failure();
  }
  return boolean.getValue();
}

FailureOr<ArrayRef<int64_t>> readArray(const Checker &check, Attribute attr, StringRef name,
                                       std::optional<ArrayRef<int64_t>> fallback) {
  if (!attr) {
    if (fallback)
      return *fallback;
    (void)check.fail("expected attribute '", name, "'");
    return failure();
  }
  auto array = llvm::dyn_cast<DenseI64ArrayAttr>(attr);
  if (!array) {
    (void)check.fail("expected '", name, "' to be array<i64: ...>, found ", attr);
    return failure();
  }
  return array.asArrayRef();
}

/// An (h, w) attribute: exactly two entries, each at least `minimum`.
LogicalResult checkPair(const Checker &check, ArrayRef<int64_t> values, StringRef name,
                        int64_t minimum) {
  if (values.size() != 2)
    return check.fail("expected 2 values (h, w) for '", name, "', found ",
                      static_cast<int64_t>(values.size()));
  for (int64_t value : values)
    if (value < minimum)
      return check.fail("expected '", name, "' values >= ", minimum, ", found ",
                        Dims{values});
  return success();
}

/// Product of dims, '?' if any is dynamic.
int64_t product(ArrayRef<int64_t> dims) {
  int64_t result = 1;
  for (int64_t dim : dims) {
    if (isDynamic(dim))
      return kDynamic;
    result *= dim;
  }
  return result;
}

const int64_t kOnePair[] = {1, 1};
const int64_t kZeroPair[] = {0, 0};

constexpr StringLiteral kLayoutOihw = "oihw", kLayoutHwio = "hwio";

FailureOr<StringRef> readString(const Checker &check, Attribute attr, StringRef name,
                                StringRef fallback) {
  if (!attr)
    return fallback;
  auto string = llvm::dyn_cast<StringAttr>(attr);
  if (!string) {
    (void)check.fail("expected '", name, "' to be a string attribute, found ", attr);
    return failure();
  }
  return string.getValue();
}

/// A conv2d weight shape as stored -> [Cout, Cin/groups, KH, KW].
SmallVector<int64_t, 4> oihwShape(ArrayRef<int64_t> stored, bool hwio) {
  if (!hwio)
    return SmallVector<int64_t, 4>(stored.begin(), stored.end());
  return {stored[3], stored[2], stored[0], stored[1]}; // [KH, KW, Cin, Cout]
}

//===----------------------------------------------------------------------===//
// Shape rules
//===----------------------------------------------------------------------===//

LogicalResult inferConv2d(const Checker &check, Value inputValue, Value weightValue,
                          Value biasValue, ArrayRef<int64_t> strides,
                          ArrayRef<int64_t> padding, ArrayRef<int64_t> dilation,
                          int64_t groups, StringRef weightLayout,
                          SmallVectorImpl<Type> &results) {
  if (weightLayout != kLayoutOihw && weightLayout != kLayoutHwio)
    return check.fail("expected 'weight_layout' to be \"", kLayoutOihw, "\" or \"",
                      kLayoutHwio, "\", found \"", weightLayout, "\"");
  const bool hwio = weightLayout == kLayoutHwio;
  FailureOr<RankedTensorType> input =
      tensorOfRank(check, inputValue, "input", 4, "[N, Cin, H, W]");
  FailureOr<RankedTensorType> weight =
      tensorOfRank(check, weightValue, "weight", 4,
                   hwio ? "[KH, KW, Cin, Cout] (weight_layout \"hwio\")"
                        : "[Cout, Cin/groups, KH, KW]");
  if (failed(input) || failed(weight))
    return failure();
  if (failed(checkPair(check, strides, "strides", 1)) ||
      failed(checkPair(check, padding, "padding", 0)) ||
      failed(checkPair(check, dilation, "dilation", 1)))
    return failure();
  if (groups < 1)
    return check.fail("expected groups >= 1, found ", groups);
  // The packed layout has no group axis: kiln-pack-conv-weights only packs
  // single-group convolutions, and nothing reads a grouped HWIO weight.
  if (hwio && groups != 1)
    return check.fail("expected groups = 1 with weight_layout \"hwio\", found ", groups);

  // The rules below read the logical OIHW dims; diagnostics name the stored
  // axis, which is where a user looks.
  ArrayRef<int64_t> in = input->getShape();
  SmallVector<int64_t, 4> w = oihwShape(weight->getShape(), hwio);
  const int64_t cinAxis = hwio ? 2 : 1;
  int64_t inChannels = in[1], outChannels = w[0];
  if (!isDynamic(inChannels) && inChannels % groups != 0)
    return check.fail("expected groups (", groups, ") to divide input channels (",
                      inChannels, ")");
  if (!isDynamic(outChannels) && outChannels % groups != 0)
    return check.fail("expected groups (", groups, ") to divide output channels (",
                      outChannels, ")");
  if (!isDynamic(inChannels) && !isDynamic(w[1]) && w[1] * groups != inChannels)
    return check.fail("expected weight dim ", cinAxis, " (", w[1], ") * groups (", groups,
                      ") to equal input channels (", inChannels, ")");
  if (biasValue) {
    FailureOr<RankedTensorType> bias = tensorOfRank(check, biasValue, "bias", 1, "[Cout]");
    if (failed(bias))
      return failure();
    if (!dimsCompatible(bias->getDimSize(0), outChannels))
      return check.fail("expected bias of shape [Cout] = [", Dim{outChannels}, "], found [",
                        Dim{bias->getDimSize(0)}, "]");
  }

  SmallVector<int64_t, 4> shape = {in[0], outChannels, kDynamic, kDynamic};
  static const char *const kSide[] = {"height", "width"};
  for (int i = 0; i < 2; ++i) {
    int64_t size = in[2 + i], kernel = w[2 + i];
    if (!isDynamic(kernel) && kernel < 1)
      return check.fail("expected a kernel ", kSide[i], " >= 1, found ", kernel);
    if (isDynamic(size) || isDynamic(kernel))
      continue;
    int64_t padded = size + 2 * padding[i];
    int64_t window = dilation[i] * (kernel - 1) + 1;
    if (padded < window)
      return check.fail("expected the padded input ", kSide[i], " (", size, " + 2*",
                        padding[i], " = ", padded, ") to be at least the dilated kernel ",
                        kSide[i], " (", window, ") so that the output is non-empty");
    shape[2 + i] = (padded - window) / strides[i] + 1;
  }
  results.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

LogicalResult inferMatmul(const Checker &check, Value lhsValue, Value rhsValue,
                          SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> lhs = tensorOfRank(check, lhsValue, "lhs", 2, "[M, K]");
  FailureOr<RankedTensorType> rhs = tensorOfRank(check, rhsValue, "rhs", 2, "[K, N]");
  if (failed(lhs) || failed(rhs))
    return failure();
  if (!dimsCompatible(lhs->getDimSize(1), rhs->getDimSize(0)))
    return check.fail("expected lhs dim 1 (K = ", Dim{lhs->getDimSize(1)},
                      ") to equal rhs dim 0 (", Dim{rhs->getDimSize(0)}, ")");
  results.push_back(RankedTensorType::get({lhs->getDimSize(0), rhs->getDimSize(1)},
                                          lhs->getElementType()));
  return success();
}

LogicalResult inferLinear(const Checker &check, Value inputValue, Value weightValue,
                          Value biasValue, SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input = tensorOfRank(check, inputValue, "input", 2, "[N, IN]");
  FailureOr<RankedTensorType> weight =
      tensorOfRank(check, weightValue, "weight", 2, "[OUT, IN]");
  if (failed(input) || failed(weight))
    return failure();
  int64_t inFeatures = input->getDimSize(1), outFeatures = weight->getDimSize(0);
  if (!dimsCompatible(weight->getDimSize(1), inFeatures))
    return check.fail("expected weight dim 1 (", Dim{weight->getDimSize(1)},
                      ") to equal input features (", Dim{inFeatures}, ")");
  if (biasValue) {
    FailureOr<RankedTensorType> bias = tensorOfRank(check, biasValue, "bias", 1, "[OUT]");
    if (failed(bias))
      return failure();
    if (!dimsCompatible(bias->getDimSize(0), outFeatures))
      return check.fail("expected bias of shape [OUT] = [", Dim{outFeatures}, "], found [",
                        Dim{bias->getDimSize(0)}, "]");
  }
  results.push_back(
      RankedTensorType::get({input->getDimSize(0), outFeatures}, input->getElementType()));
  return success();
}

/// Numpy broadcasting, right-aligned. A static 1 stretches to the other dim
/// ('?' with 1 stays '?'); a '?' against a static k > 1 must be k at run time,
/// so the result is k.
LogicalResult inferBroadcast(const Checker &check, Value lhsValue, Value rhsValue,
                             SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> lhs = tensorType(check, lhsValue, "lhs");
  FailureOr<RankedTensorType> rhs = tensorType(check, rhsValue, "rhs");
  if (failed(lhs) || failed(rhs))
    return failure();
  ArrayRef<int64_t> a = lhs->getShape(), b = rhs->getShape();
  int64_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t, 4> shape(rank);
  for (int64_t i = 0; i < rank; ++i) {
    // Position i counted from the right; missing leading dims act as 1.
    int64_t ai = static_cast<int64_t>(a.size()) - 1 - i;
    int64_t bi = static_cast<int64_t>(b.size()) - 1 - i;
    int64_t x = ai >= 0 ? a[ai] : 1, y = bi >= 0 ? b[bi] : 1;
    int64_t dim;
    if (x == y || y == 1)
      dim = x;
    else if (x == 1)
      dim = y;
    else if (isDynamic(x))
      dim = y;
    else if (isDynamic(y))
      dim = x;
    else
      return check.fail("expected broadcast-compatible operand shapes, found ", Dims{a},
                        " and ", Dims{b}, " (dim ", rank - 1 - i, " of the result: ", x,
                        " vs ", y, ", neither is 1)");
    shape[rank - 1 - i] = dim;
  }
  results.push_back(RankedTensorType::get(shape, lhs->getElementType()));
  return success();
}

LogicalResult inferSameAsInput(const Checker &check, Value inputValue,
                               SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input = tensorType(check, inputValue, "input");
  if (failed(input))
    return failure();
  results.push_back(*input);
  return success();
}

LogicalResult inferBatchNorm(const Checker &check, ValueRange operands, double epsilon,
                             SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input = tensorType(check, operands[0], "input");
  if (failed(input))
    return failure();
  if (input->getRank() < 2)
    return check.fail("expected input of rank >= 2 [N, C, ...], found rank ",
                      input->getRank());
  int64_t channels = input->getDimSize(1);
  static const char *const kNames[] = {"weight", "bias", "mean", "var"};
  for (int i = 0; i < 4; ++i) {
    FailureOr<RankedTensorType> param =
        tensorOfRank(check, operands[1 + i], kNames[i], 1, "[C]");
    if (failed(param))
      return failure();
    if (!dimsCompatible(param->getDimSize(0), channels))
      return check.fail("expected ", kNames[i], " of shape [C] = [", Dim{channels},
                        "] (C = input dim 1), found [", Dim{param->getDimSize(0)}, "]");
  }
  // var + epsilon is the divisor's square: a non-positive epsilon divides by
  // zero for a constant channel.
  if (!(epsilon > 0.0))
    return check.fail("expected epsilon > 0, found ", epsilon);
  results.push_back(*input);
  return success();
}

/// Output extent of one pooled dim, as PyTorch computes it: with ceil_mode the
/// last window may hang over the end but must start inside the input or its
/// left padding.
int64_t pooledSize(int64_t size, int64_t kernel, int64_t stride, int64_t pad, bool ceilMode) {
  int64_t span = size + 2 * pad - kernel;
  if (!ceilMode)
    return span / stride + 1;
  int64_t out = (span + stride - 1) / stride + 1;
  if ((out - 1) * stride >= size + pad)
    --out;
  return out;
}

/// The pooled shape of an [N, C, H, W] input `in` (dims may be '?'), after
/// checking the window attributes against it.
FailureOr<SmallVector<int64_t, 4>> pooledShape(const Checker &check, ArrayRef<int64_t> in,
                                               ArrayRef<int64_t> kernel,
                                               ArrayRef<int64_t> strides,
                                               ArrayRef<int64_t> padding, bool ceilMode) {
  if (failed(checkPair(check, kernel, "kernel_size", 1)) ||
      failed(checkPair(check, strides, "strides", 1)) ||
      failed(checkPair(check, padding, "padding", 0)))
    return failure();
  static const char *const kSide[] = {"height", "width"};
  SmallVector<int64_t, 4> shape = {in[0], in[1], kDynamic, kDynamic};
  for (int i = 0; i < 2; ++i) {
    // A window made only of padding would have no input element to reduce.
    if (padding[i] > kernel[i] / 2) {
      (void)check.fail("expected padding ", kSide[i], " (", padding[i],
                       ") to be at most half the kernel ", kSide[i], " (", kernel[i], ")");
      return failure();
    }
    int64_t size = in[2 + i];
    if (isDynamic(size))
      continue;
    int64_t padded = size + 2 * padding[i];
    if (padded < kernel[i]) {
      (void)check.fail("expected the padded input ", kSide[i], " (", size, " + 2*",
                       padding[i], " = ", padded, ") to be at least the kernel ", kSide[i],
                       " (", kernel[i], ")");
      return failure();
    }
    shape[2 + i] = pooledSize(size, kernel[i], strides[i], padding[i], ceilMode);
  }
  return shape;
}

LogicalResult inferPool2d(const Checker &check, Value inputValue, ArrayRef<int64_t> kernel,
                          ArrayRef<int64_t> strides, ArrayRef<int64_t> padding,
                          bool ceilMode, SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input =
      tensorOfRank(check, inputValue, "input", 4, "[N, C, H, W]");
  if (failed(input))
    return failure();
  FailureOr<SmallVector<int64_t, 4>> shape =
      pooledShape(check, input->getShape(), kernel, strides, padding, ceilMode);
  if (failed(shape))
    return failure();
  results.push_back(RankedTensorType::get(*shape, input->getElementType()));
  return success();
}

LogicalResult inferGlobalAvgPool(const Checker &check, Value inputValue,
                                 SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input =
      tensorOfRank(check, inputValue, "input", 4, "[N, C, H, W]");
  if (failed(input))
    return failure();
  results.push_back(RankedTensorType::get({input->getDimSize(0), input->getDimSize(1), 1, 1},
                                          input->getElementType()));
  return success();
}

LogicalResult inferSoftmax(const Checker &check, Value inputValue, int64_t axis,
                           SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input = tensorType(check, inputValue, "input");
  if (failed(input))
    return failure();
  int64_t rank = input->getRank();
  if (rank == 0)
    return check.fail("expected input of rank >= 1, found rank 0");
  if (axis < -rank || axis >= rank)
    return check.fail("expected axis in [", -rank, ", ", rank, "), found ", axis);
  int64_t normalized = axis < 0 ? axis + rank : axis;
  // The lowering sizes its per-row loop from this extent at compile time.
  if (input->isDynamicDim(normalized))
    return check.fail("expected axis ", axis, " to be a static dim, found '?' in ",
                      inputValue.getType());
  results.push_back(*input);
  return success();
}

LogicalResult inferReduce(const Checker &check, Value inputValue, ArrayRef<int64_t> axes,
                          bool keepdim, SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input = tensorType(check, inputValue, "input");
  if (failed(input))
    return failure();
  int64_t rank = input->getRank();
  if (axes.empty())
    return check.fail("expected at least one axis");
  SmallVector<bool, 4> reduced(rank, false);
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank)
      return check.fail("expected axes in [", -rank, ", ", rank, "), found ", axis, " in ",
                        Dims{axes});
    int64_t normalized = axis < 0 ? axis + rank : axis;
    if (reduced[normalized])
      return check.fail("expected distinct axes, found dim ", normalized, " twice in ",
                        Dims{axes});
    reduced[normalized] = true;
  }
  SmallVector<int64_t, 4> shape;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      shape.push_back(input->getDimSize(i));
    else if (keepdim)
      shape.push_back(1);
  }
  results.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

/// Reshape keeps dim 0 (the batch) and rearranges the rest of each item.
LogicalResult inferReshape(const Checker &check, Value inputValue, ArrayRef<int64_t> shape,
                           SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input = tensorType(check, inputValue, "input");
  if (failed(input))
    return failure();
  if (input->getRank() == 0)
    return check.fail("expected input of rank >= 1 (dim 0 is the batch), found rank 0");
  if (shape.empty())
    return check.fail("expected a non-empty 'shape'");
  int64_t batch = input->getDimSize(0);
  if (shape[0] != -1 && (isDynamic(batch) || shape[0] != batch))
    return check.fail("expected shape[0] to be -1 (the input's dim 0) or equal to the "
                      "input's dim 0 (",
                      Dim{batch}, "), found ", shape[0]);
  for (size_t i = 1; i < shape.size(); ++i)
    if (shape[i] < 1)
      return check.fail("expected shape dims after position 0 to be >= 1 (-1 is only "
                        "allowed at position 0), found ",
                        shape[i], " at position ", static_cast<int64_t>(i));
  ArrayRef<int64_t> itemDims = input->getShape().drop_front();
  int64_t inputItem = product(itemDims);
  if (isDynamic(inputItem))
    return check.fail("expected the input's dims after dim 0 to be static, found ",
                      Dims{input->getShape()});
  int64_t resultItem = product(shape.drop_front());
  if (resultItem != inputItem)
    return check.fail("expected the per-item element count of 'shape' ", Dims{shape}, " (",
                      resultItem, ") to equal the input's ", Dims{input->getShape()}, " (",
                      inputItem, ")");
  SmallVector<int64_t, 4> resultShape(shape.begin(), shape.end());
  resultShape[0] = batch;
  results.push_back(RankedTensorType::get(resultShape, input->getElementType()));
  return success();
}

LogicalResult inferFlatten(const Checker &check, Value inputValue, int64_t startDim,
                           SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input = tensorType(check, inputValue, "input");
  if (failed(input))
    return failure();
  int64_t rank = input->getRank();
  if (rank < 2)
    return check.fail("expected input of rank >= 2 (dim 0 is the batch), found rank ", rank);
  int64_t start = startDim < 0 ? startDim + rank : startDim;
  // start 0 would merge the batch into the items.
  if (start < 1 || start >= rank)
    return check.fail("expected start_dim to name a dim in [1, ", rank,
                      ") of the input (dim 0 is the batch), found ", startDim,
                      " for rank ", rank);
  ArrayRef<int64_t> dims = input->getShape();
  SmallVector<int64_t, 4> shape(dims.begin(), dims.begin() + start);
  shape.push_back(product(dims.drop_front(start)));
  results.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

LogicalResult inferTranspose(const Checker &check, Value inputValue, ArrayRef<int64_t> perm,
                             SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input = tensorType(check, inputValue, "input");
  if (failed(input))
    return failure();
  int64_t rank = input->getRank();
  if (static_cast<int64_t>(perm.size()) != rank)
    return check.fail("expected 'perm' of length ", rank, " (the input rank), found ",
                      static_cast<int64_t>(perm.size()));
  SmallVector<bool, 4> seen(rank, false);
  for (int64_t index : perm) {
    if (index < 0 || index >= rank || seen[index])
      return check.fail("expected 'perm' to be a permutation of [0, ", rank, "), found ",
                        Dims{perm});
    seen[index] = true;
  }
  SmallVector<int64_t, 4> shape;
  for (int64_t index : perm)
    shape.push_back(input->getDimSize(index));
  results.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Shape rules of the training ops
//===----------------------------------------------------------------------===//

/// Which entries of a shape attribute may be -1 ('?' in the result type).
enum class DynamicDims { None, First, Any };

/// A shape written as an attribute: `rank` entries (any rank if `rank` < 0),
/// each >= 1 or -1 where `dynamic` allows it. Returns it with -1 as kDynamic.
FailureOr<SmallVector<int64_t, 4>> readShapeAttr(const Checker &check,
                                                 ArrayRef<int64_t> values, StringRef name,
                                                 int64_t rank, DynamicDims dynamic) {
  if (rank >= 0 && static_cast<int64_t>(values.size()) != rank) {
    (void)check.fail("expected '", name, "' of ", rank, " dims, found ",
                     static_cast<int64_t>(values.size()), " in ", Dims{values});
    return failure();
  }
  SmallVector<int64_t, 4> shape;
  for (size_t i = 0; i < values.size(); ++i) {
    int64_t value = values[i];
    bool mayBeDynamic = dynamic == DynamicDims::Any || (dynamic == DynamicDims::First && i == 0);
    if (value == -1 && mayBeDynamic) {
      shape.push_back(kDynamic);
      continue;
    }
    if (value < 1) {
      StringRef allowed = dynamic == DynamicDims::Any     ? " or -1 (the batch)"
                          : dynamic == DynamicDims::First ? " (-1, the batch, only at position 0)"
                                                          : "";
      (void)check.fail("expected '", name, "' dims to be >= 1", allowed, ", found ", value,
                       " at position ", static_cast<int64_t>(i), " of ", Dims{values});
      return failure();
    }
    shape.push_back(value);
  }
  return shape;
}

/// conv2d's channel and window rules for an input of shape `in` and a weight of
/// shape `w` (rank 4 each, '?' allowed); returns the output shape. `inName` and
/// `wName` say where the two shapes come from, for the diagnostics.
FailureOr<SmallVector<int64_t, 4>> convOutputShape(const Checker &check, ArrayRef<int64_t> in,
                                                   ArrayRef<int64_t> w,
                                                   ArrayRef<int64_t> strides,
                                                   ArrayRef<int64_t> padding,
                                                   ArrayRef<int64_t> dilation, int64_t groups,
                                                   StringRef inName, StringRef wName) {
  if (failed(checkPair(check, strides, "strides", 1)) ||
      failed(checkPair(check, padding, "padding", 0)) ||
      failed(checkPair(check, dilation, "dilation", 1)))
    return failure();
  if (groups < 1) {
    (void)check.fail("expected groups >= 1, found ", groups);
    return failure();
  }
  int64_t inChannels = in[1], outChannels = w[0];
  if (!isDynamic(inChannels) && inChannels % groups != 0) {
    (void)check.fail("expected groups (", groups, ") to divide the input channels (",
                     inChannels, ") of ", inName);
    return failure();
  }
  if (!isDynamic(outChannels) && outChannels % groups != 0) {
    (void)check.fail("expected groups (", groups, ") to divide the output channels (",
                     outChannels, ") of ", wName);
    return failure();
  }
  if (!isDynamic(inChannels) && !isDynamic(w[1]) && w[1] * groups != inChannels) {
    (void)check.fail("expected ", wName, " dim 1 (", w[1], ") * groups (", groups,
                     ") to equal the input channels (", inChannels, ") of ", inName);
    return failure();
  }
  SmallVector<int64_t, 4> shape = {in[0], outChannels, kDynamic, kDynamic};
  static const char *const kSide[] = {"height", "width"};
  for (int i = 0; i < 2; ++i) {
    int64_t size = in[2 + i], kernel = w[2 + i];
    if (isDynamic(size) || isDynamic(kernel))
      continue;
    int64_t padded = size + 2 * padding[i];
    int64_t window = dilation[i] * (kernel - 1) + 1;
    if (padded < window) {
      (void)check.fail("expected the padded input ", kSide[i], " (", size, " + 2*",
                       padding[i], " = ", padded, ") to be at least the dilated kernel ",
                       kSide[i], " (", window, ")");
      return failure();
    }
    shape[2 + i] = (padded - window) / strides[i] + 1;
  }
  return shape;
}

/// `grad` must have the shape of the forward op's result, `expected`.
LogicalResult checkGradShape(const Checker &check, RankedTensorType grad,
                             ArrayRef<int64_t> expected, StringRef origin) {
  bool ok = grad.getRank() == static_cast<int64_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i)
    ok = dimsCompatible(grad.getDimSize(i), expected[i]);
  if (ok)
    return success();
  return check.fail("expected grad of shape ", Dims{expected}, " (", origin, "), found ",
                    Dims{grad.getShape()});
}

LogicalResult inferBroadcastTo(const Checker &check, Value inputValue,
                               ArrayRef<int64_t> target, SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input = tensorType(check, inputValue, "input");
  if (failed(input))
    return failure();
  FailureOr<SmallVector<int64_t, 4>> shape =
      readShapeAttr(check, target, "shape", -1, DynamicDims::Any);
  if (failed(shape))
    return failure();
  ArrayRef<int64_t> in = input->getShape();
  if (in.size() > shape->size())
    return check.fail("expected 'shape' ", Dims{target}, " to have at least the input's rank (",
                      input->getRank(), ")");
  size_t offset = shape->size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    int64_t from = in[i], to = (*shape)[offset + i];
    if (from != 1 && !dimsCompatible(from, to))
      return check.fail("expected the input shape ", Dims{in}, " to broadcast to ",
                        Dims{*shape}, " (dim ", static_cast<int64_t>(offset + i),
                        " of the result: ", from, " is neither 1 nor ", to, ")");
  }
  results.push_back(RankedTensorType::get(*shape, input->getElementType()));
  return success();
}

LogicalResult inferConv2dGradInput(const Checker &check, Value gradValue, Value weightValue,
                                   ArrayRef<int64_t> strides, ArrayRef<int64_t> padding,
                                   ArrayRef<int64_t> dilation, int64_t groups,
                                   ArrayRef<int64_t> inputShape,
                                   SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> grad =
      tensorOfRank(check, gradValue, "grad", 4, "[N, Cout, OH, OW]");
  FailureOr<RankedTensorType> weight =
      tensorOfRank(check, weightValue, "weight", 4, "[Cout, Cin/groups, KH, KW]");
  if (failed(grad) || failed(weight))
    return failure();
  FailureOr<SmallVector<int64_t, 4>> in =
      readShapeAttr(check, inputShape, "input_shape", 4, DynamicDims::First);
  if (failed(in))
    return failure();
  FailureOr<SmallVector<int64_t, 4>> out =
      convOutputShape(check, *in, weight->getShape(), strides, padding, dilation, groups,
                      "'input_shape'", "the weight");
  if (failed(out) || failed(checkGradShape(check, *grad, *out,
                                           "the conv2d result for 'input_shape' and the weight")))
    return failure();
  results.push_back(RankedTensorType::get(*in, grad->getElementType()));
  return success();
}

LogicalResult inferConv2dGradWeight(const Checker &check, Value inputValue, Value gradValue,
                                    ArrayRef<int64_t> strides, ArrayRef<int64_t> padding,
                                    ArrayRef<int64_t> dilation, int64_t groups,
                                    ArrayRef<int64_t> weightShape,
                                    SmallVectorImpl<Type> &results) {
  FailureOr<RankedTensorType> input =
      tensorOfRank(check, inputValue, "input", 4, "[N, Cin, H, W]");
  FailureOr<RankedTensorType> grad =
      tensorOfRank(check, gradValue, "grad", 4, "[N, Cout, OH, OW]");
  if (failed(input) || failed(grad))
    return failure();
  FailureOr<SmallVector<int64_t, 4>> w =
      readShapeAttr(check, weightShape, "weight_shape", 4, DynamicDims::None);
  if (failed(w))
    return failure();
  FailureOr<SmallVector<int64_t, 4>> out =
      convOutputShape(check, input->getShape(), *w, strides, padding, dilation, groups,
                      "the input", "'weight_shape'");
  if (failed(out) || failed(checkGradShape(check, *grad, *out,
                                           "the conv2d result for the input and 'weight_shape'")))
    return failure();
  results.push_back(RankedTensorType::get(*w, input->getElementType()));
  return success();
}

/// verify() for every InferTypeOpInterface op: the shape rules (with their
/// diagnostics) and then the written result type against the inferred one.
template <typename OpT>
LogicalResult verifyAgainstInferred(OpT op) {
  SmallVector<Type, 1> inferred;
  if (failed(OpT::inferReturnTypes(op->getContext(), op->getLoc(), op->getOperands(),
                                   op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
                                   op->getRegions(), inferred)))
    return failure();
  Type written = op->getResult(0).getType();
  if (inferred.front() != written)
    return op.emitOpError("expected result type ")
           << inferred.front() << " (inferred from the operands and attributes), found "
           << written;
  return success();
}

//===----------------------------------------------------------------------===//
// Folding helpers
//===----------------------------------------------------------------------===//

/// The splat value of an f32 dense constant, if `attr` is one.
std::optional<float> splatValue(Attribute attr) {
  auto dense = llvm::dyn_cast_or_null<DenseFPElementsAttr>(attr);
  if (!dense || !dense.isSplat() || !dense.getElementType().isF32())
    return std::nullopt;
  return dense.getSplatValue<float>();
}

/// True for a splat equal to `value`. For 0 this includes -0.0: x + (-0) is x,
/// and x + (+0) differs from x only in the sign of a zero x, which no Kiln
/// consumer observes (the same trade every DL graph compiler makes).
bool isSplatOf(Attribute attr, float value) {
  std::optional<float> splat = splatValue(attr);
  return splat && *splat == value;
}

/// Both operands splat constants of the result's own type: one splat result.
/// Operands of different types would broadcast and are left alone, since the
/// constant materializer needs the result type to match the value exactly.
Attribute foldSplats(Type resultType, Attribute lhs, Attribute rhs,
                     llvm::function_ref<float(float, float)> compute) {
  std::optional<float> a = splatValue(lhs), b = splatValue(rhs);
  if (!a || !b)
    return {};
  auto shaped = llvm::dyn_cast<ShapedType>(resultType);
  if (!shaped || !shaped.hasStaticShape() ||
      llvm::cast<TypedAttr>(lhs).getType() != resultType ||
      llvm::cast<TypedAttr>(rhs).getType() != resultType)
    return {};
  return DenseElementsAttr::get(shaped, compute(*a, *b));
}

} // namespace

//===----------------------------------------------------------------------===//
// Custom assembly for kiln.constant: `dense<...> : tensor<...>`, with the
// result type taken from the value so it is written once.
//===----------------------------------------------------------------------===//

static ParseResult parseConstantValue(OpAsmParser &parser, ElementsAttr &value,
                                      Type &resultType) {
  if (parser.parseAttribute(value))
    return failure();
  resultType = value.getType();
  return success();
}

static void printConstantValue(OpAsmPrinter &printer, Operation *, ElementsAttr value,
                               Type) {
  printer.printAttribute(value);
}

#define GET_OP_CLASSES
#include "kiln/Dialect/KilnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Leaves
//===----------------------------------------------------------------------===//

LogicalResult ParameterOp::verify() {
  if (getName().empty())
    return emitOpError("expected a non-empty name");
  auto type = llvm::cast<ShapedType>(getResult().getType());
  // Parameters live in the artifact's parameter table with a fixed size.
  if (!type.hasStaticShape())
    return emitOpError("expected a fully static type, found ") << type;
  return success();
}

LogicalResult ConstantOp::verify() {
  if (!llvm::isa<DenseElementsAttr>(getValue()))
    return emitOpError("expected a dense elements value, found ") << getValue();
  if (getValue().getType() != getResult().getType())
    return emitOpError("expected the value's type (")
           << getValue().getType() << ") to equal the result type ("
           << getResult().getType() << ")";
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValueAttr(); }

//===----------------------------------------------------------------------===//
// Convolution and GEMM
//===----------------------------------------------------------------------===//

LogicalResult Conv2dOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         ValueRange operands, DictionaryAttr attributes,
                                         OpaqueProperties properties, RegionRange regions,
                                         SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 2, 3)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<ArrayRef<int64_t>> strides =
      readArray(check, adaptor.getStridesAttr(), "strides", ArrayRef<int64_t>(kOnePair));
  FailureOr<ArrayRef<int64_t>> padding =
      readArray(check, adaptor.getPaddingAttr(), "padding", ArrayRef<int64_t>(kZeroPair));
  FailureOr<ArrayRef<int64_t>> dilation =
      readArray(check, adaptor.getDilationAttr(), "dilation", ArrayRef<int64_t>(kOnePair));
  FailureOr<int64_t> groups = readI64(check, adaptor.getGroupsAttr(), "groups", 1);
  FailureOr<StringRef> layout =
      readString(check, adaptor.getWeightLayoutAttr(), "weight_layout", kLayoutOihw);
  if (failed(strides) || failed(padding) || failed(dilation) || failed(groups) ||
      failed(layout))
    return failure();
  Value bias = operands.size() == 3 ? operands[2] : Value();
  return inferConv2d(check, operands[0], operands[1], bias, *strides, *padding, *dilation,
                     *groups, *layout, results);
}

LogicalResult Conv2dOp::verify() { return verifyAgainstInferred(*this); }

SmallVector<int64_t, 4> Conv2dOp::getOihwWeightShape() {
  return oihwShape(llvm::cast<RankedTensorType>(getWeight().getType()).getShape(),
                   hasHwioWeight());
}

LogicalResult MatmulOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         ValueRange operands, DictionaryAttr, OpaqueProperties,
                                         RegionRange, SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 2, 2)))
    return failure();
  return inferMatmul(check, operands[0], operands[1], results);
}

LogicalResult MatmulOp::verify() { return verifyAgainstInferred(*this); }

LogicalResult LinearOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         ValueRange operands, DictionaryAttr, OpaqueProperties,
                                         RegionRange, SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 2, 3)))
    return failure();
  Value bias = operands.size() == 3 ? operands[2] : Value();
  return inferLinear(check, operands[0], operands[1], bias, results);
}

LogicalResult LinearOp::verify() { return verifyAgainstInferred(*this); }

//===----------------------------------------------------------------------===//
// Elementwise and broadcast
//===----------------------------------------------------------------------===//

// The binary and unary ops share one rule each; the macros only stamp out the
// per-class definitions that ODS declares.
#define KILN_BINARY_SHAPE(OpT)                                                         \
  LogicalResult OpT::inferReturnTypes(MLIRContext *, std::optional<Location> loc,      \
                                      ValueRange operands, DictionaryAttr,             \
                                      OpaqueProperties, RegionRange,                   \
                                      SmallVectorImpl<Type> &results) {                \
    Checker check(loc, getOperationName());                                            \
    if (failed(checkOperandCount(check, operands, 2, 2)))                              \
      return failure();                                                                \
    return inferBroadcast(check, operands[0], operands[1], results);                   \
  }                                                                                    \
  LogicalResult OpT::verify() { return verifyAgainstInferred(*this); }

KILN_BINARY_SHAPE(AddOp)
KILN_BINARY_SHAPE(SubOp)
KILN_BINARY_SHAPE(MulOp)
KILN_BINARY_SHAPE(DivOp)
#undef KILN_BINARY_SHAPE

#define KILN_UNARY_SHAPE(OpT)                                                          \
  LogicalResult OpT::inferReturnTypes(MLIRContext *, std::optional<Location> loc,      \
                                      ValueRange operands, DictionaryAttr,             \
                                      OpaqueProperties, RegionRange,                   \
                                      SmallVectorImpl<Type> &results) {                \
    Checker check(loc, getOperationName());                                            \
    if (failed(checkOperandCount(check, operands, 1, 1)))                              \
      return failure();                                                                \
    return inferSameAsInput(check, operands[0], results);                              \
  }                                                                                    \
  LogicalResult OpT::verify() { return verifyAgainstInferred(*this); }

KILN_UNARY_SHAPE(ReluOp)
KILN_UNARY_SHAPE(StopGradientOp)
KILN_UNARY_SHAPE(Relu6Op)
KILN_UNARY_SHAPE(SigmoidOp)
KILN_UNARY_SHAPE(HardswishOp)
#undef KILN_UNARY_SHAPE

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  if (Attribute folded = foldSplats(getType(), adaptor.getLhs(), adaptor.getRhs(),
                                    [](float a, float b) { return a + b; }))
    return folded;
  // x + 0 -> x only when the zero does not widen x by broadcasting.
  if (isSplatOf(adaptor.getRhs(), 0.0f) && getLhs().getType() == getType())
    return getLhs();
  if (isSplatOf(adaptor.getLhs(), 0.0f) && getRhs().getType() == getType())
    return getRhs();
  return {};
}

OpFoldResult SubOp::fold(FoldAdaptor adaptor) {
  if (Attribute folded = foldSplats(getType(), adaptor.getLhs(), adaptor.getRhs(),
                                    [](float a, float b) { return a - b; }))
    return folded;
  // Only x - 0: 0 - x is a negation.
  if (isSplatOf(adaptor.getRhs(), 0.0f) && getLhs().getType() == getType())
    return getLhs();
  return {};
}

OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  if (Attribute folded = foldSplats(getType(), adaptor.getLhs(), adaptor.getRhs(),
                                    [](float a, float b) { return a * b; }))
    return folded;
  if (isSplatOf(adaptor.getRhs(), 1.0f) && getLhs().getType() == getType())
    return getLhs();
  if (isSplatOf(adaptor.getLhs(), 1.0f) && getRhs().getType() == getType())
    return getRhs();
  return {};
}

OpFoldResult DivOp::fold(FoldAdaptor adaptor) {
  if (Attribute folded = foldSplats(getType(), adaptor.getLhs(), adaptor.getRhs(),
                                    [](float a, float b) { return a / b; }))
    return folded;
  // Only x / 1: 1 / x is a reciprocal.
  if (isSplatOf(adaptor.getRhs(), 1.0f) && getLhs().getType() == getType())
    return getLhs();
  return {};
}

OpFoldResult StopGradientOp::fold(FoldAdaptor) {
  // Only kiln-autodiff tells it from its input; it runs before any folding.
  return getInput();
}

OpFoldResult ReluOp::fold(FoldAdaptor adaptor) {
  // relu is idempotent and keeps its input's type.
  if (getInput().getDefiningOp<ReluOp>())
    return getInput();
  if (std::optional<float> splat = splatValue(adaptor.getInput())) {
    auto type = llvm::cast<ShapedType>(getType());
    if (type.hasStaticShape() && llvm::cast<TypedAttr>(adaptor.getInput()).getType() == type)
      return DenseElementsAttr::get(type, *splat > 0.0f ? *splat : 0.0f);
  }
  return {};
}

LogicalResult BatchNormOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            ValueRange operands, DictionaryAttr attributes,
                                            OpaqueProperties properties, RegionRange regions,
                                            SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 5, 5)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  double epsilon = 1e-5;
  if (Attribute attr = adaptor.getEpsilonAttr()) {
    auto floatAttr = llvm::dyn_cast<FloatAttr>(attr);
    if (!floatAttr)
      return check.fail("expected 'epsilon' to be an f32 attribute, found ", attr);
    epsilon = floatAttr.getValueAsDouble();
  }
  return inferBatchNorm(check, operands, epsilon, results);
}

LogicalResult BatchNormOp::verify() { return verifyAgainstInferred(*this); }

//===----------------------------------------------------------------------===//
// Pooling, softmax and reductions
//===----------------------------------------------------------------------===//

namespace {
/// Pool attributes with their defaults: strides default to the kernel size.
template <typename AdaptorT>
LogicalResult inferPoolFromAdaptor(const Checker &check, ValueRange operands,
                                   AdaptorT &adaptor, SmallVectorImpl<Type> &results) {
  if (failed(checkOperandCount(check, operands, 1, 1)))
    return failure();
  FailureOr<ArrayRef<int64_t>> kernel =
      readArray(check, adaptor.getKernelSizeAttr(), "kernel_size", std::nullopt);
  if (failed(kernel))
    return failure();
  FailureOr<ArrayRef<int64_t>> strides =
      readArray(check, adaptor.getStridesAttr(), "strides", *kernel);
  FailureOr<ArrayRef<int64_t>> padding =
      readArray(check, adaptor.getPaddingAttr(), "padding", ArrayRef<int64_t>(kZeroPair));
  FailureOr<bool> ceilMode = readBool(check, adaptor.getCeilModeAttr(), "ceil_mode", false);
  if (failed(strides) || failed(padding) || failed(ceilMode))
    return failure();
  return inferPool2d(check, operands[0], *kernel, *strides, *padding, *ceilMode, results);
}
} // namespace

LogicalResult MaxPool2dOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            ValueRange operands, DictionaryAttr attributes,
                                            OpaqueProperties properties, RegionRange regions,
                                            SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  Adaptor adaptor(operands, attributes, properties, regions);
  return inferPoolFromAdaptor(check, operands, adaptor, results);
}

LogicalResult MaxPool2dOp::verify() { return verifyAgainstInferred(*this); }

LogicalResult AvgPool2dOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            ValueRange operands, DictionaryAttr attributes,
                                            OpaqueProperties properties, RegionRange regions,
                                            SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  Adaptor adaptor(operands, attributes, properties, regions);
  if (failed(readBool(check, adaptor.getCountIncludePadAttr(), "count_include_pad", true)))
    return failure();
  return inferPoolFromAdaptor(check, operands, adaptor, results);
}

LogicalResult AvgPool2dOp::verify() { return verifyAgainstInferred(*this); }

LogicalResult GlobalAvgPoolOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                ValueRange operands, DictionaryAttr,
                                                OpaqueProperties, RegionRange,
                                                SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 1, 1)))
    return failure();
  return inferGlobalAvgPool(check, operands[0], results);
}

LogicalResult GlobalAvgPoolOp::verify() { return verifyAgainstInferred(*this); }

#define KILN_SOFTMAX_SHAPE(OpT)                                                        \
  LogicalResult OpT::inferReturnTypes(MLIRContext *, std::optional<Location> loc,      \
                                      ValueRange operands, DictionaryAttr attributes,  \
                                      OpaqueProperties properties, RegionRange regions, \
                                      SmallVectorImpl<Type> &results) {                \
    Checker check(loc, getOperationName());                                            \
    if (failed(checkOperandCount(check, operands, 1, 1)))                              \
      return failure();                                                                \
    Adaptor adaptor(operands, attributes, properties, regions);                        \
    FailureOr<int64_t> axis = readI64(check, adaptor.getAxisAttr(), "axis", -1);       \
    if (failed(axis))                                                                  \
      return failure();                                                                \
    return inferSoftmax(check, operands[0], *axis, results);                           \
  }                                                                                    \
  LogicalResult OpT::verify() { return verifyAgainstInferred(*this); }

KILN_SOFTMAX_SHAPE(SoftmaxOp)
KILN_SOFTMAX_SHAPE(LogSoftmaxOp)
#undef KILN_SOFTMAX_SHAPE

#define KILN_REDUCE_SHAPE(OpT)                                                         \
  LogicalResult OpT::inferReturnTypes(MLIRContext *, std::optional<Location> loc,      \
                                      ValueRange operands, DictionaryAttr attributes,  \
                                      OpaqueProperties properties, RegionRange regions, \
                                      SmallVectorImpl<Type> &results) {                \
    Checker check(loc, getOperationName());                                            \
    if (failed(checkOperandCount(check, operands, 1, 1)))                              \
      return failure();                                                                \
    Adaptor adaptor(operands, attributes, properties, regions);                        \
    FailureOr<ArrayRef<int64_t>> axes =                                                \
        readArray(check, adaptor.getAxesAttr(), "axes", std::nullopt);                \
    FailureOr<bool> keepdim = readBool(check, adaptor.getKeepdimAttr(), "keepdim", false); \
    if (failed(axes) || failed(keepdim))                                               \
      return failure();                                                                \
    return inferReduce(check, operands[0], *axes, *keepdim, results);                  \
  }                                                                                    \
  LogicalResult OpT::verify() { return verifyAgainstInferred(*this); }

KILN_REDUCE_SHAPE(ReduceSumOp)
KILN_REDUCE_SHAPE(ReduceMeanOp)
#undef KILN_REDUCE_SHAPE

namespace {

/// reduce_sum(a * b) -> reduce_sum(a) * b' where b is constant along every
/// reduced axis (size 1 there, or broadcast in from fewer dimensions) and a
/// has the product's full shape; b' is b reshaped to the reduction's result.
/// Why: autodiff writes batch norm's mean gradient as reduce_sum(dy * scale)
/// with a per-channel scale, one more pass over a full activation tensor;
/// factored, it is reduce_sum(dy), which CSE then merges with the bias
/// gradient's (resnet20's step: 21 passes over dY fewer). Sums of a * b and
/// b * sum(a) differ only in rounding.
struct FactorBroadcastOutOfReduceSum : OpRewritePattern<ReduceSumOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ReduceSumOp op, PatternRewriter &rewriter) const override {
    auto mul = op.getInput().getDefiningOp<MulOp>();
    if (!mul)
      return failure();
    auto productType = cast<RankedTensorType>(mul.getType());
    const int64_t rank = productType.getRank();
    llvm::SmallVector<bool> reduced(rank, false);
    for (int64_t axis : op.getAxes())
      reduced[axis < 0 ? axis + rank : axis] = true;
    for (auto [a, b] : {std::pair{mul.getLhs(), mul.getRhs()}, {mul.getRhs(), mul.getLhs()}}) {
      auto bType = cast<RankedTensorType>(b.getType());
      if (a.getType() != productType || !bType.hasStaticShape() || bType.getRank() > rank)
        continue;
      // b's dimensions aligned to the product's (numpy broadcasting).
      llvm::SmallVector<int64_t> full(rank, 1);
      const int64_t lead = rank - bType.getRank();
      for (int64_t i = 0; i < bType.getRank(); ++i)
        full[lead + i] = bType.getDimSize(i);
      bool constantAlongReduced = true;
      for (int64_t i = 0; i < rank; ++i)
        constantAlongReduced &= !reduced[i] || full[i] == 1;
      if (!constantAlongReduced)
        continue;
      llvm::SmallVector<int64_t> factorShape;
      for (int64_t i = 0; i < rank; ++i)
        if (op.getKeepdim() || !reduced[i])
          factorShape.push_back(full[i]);
      if (factorShape.empty() && bType.getRank() != 0)
        continue; // a full reduction: b would have to become a rank-0 tensor
      Value factor = b;
      if (llvm::ArrayRef<int64_t>(factorShape) != bType.getShape())
        factor = rewriter.create<ReshapeOp>(
            op.getLoc(), RankedTensorType::get(factorShape, bType.getElementType()), b,
            rewriter.getDenseI64ArrayAttr(factorShape));
      Value sum = rewriter.create<ReduceSumOp>(op.getLoc(), op.getType(), a, op.getAxesAttr(),
                                               op.getKeepdimAttr());
      rewriter.replaceOpWithNewOp<MulOp>(op, op.getType(), sum, factor);
      return success();
    }
    return failure();
  }
};

} // namespace

void ReduceSumOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *context) {
  results.add<FactorBroadcastOutOfReduceSum>(context);
}

//===----------------------------------------------------------------------===//
// Views and injective ops
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          ValueRange operands, DictionaryAttr attributes,
                                          OpaqueProperties properties, RegionRange regions,
                                          SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 1, 1)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<ArrayRef<int64_t>> shape =
      readArray(check, adaptor.getShapeAttr(), "shape", std::nullopt);
  if (failed(shape))
    return failure();
  return inferReshape(check, operands[0], *shape, results);
}

LogicalResult ReshapeOp::verify() { return verifyAgainstInferred(*this); }

OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  Value input = getInput();
  if (input.getType() == getType())
    return input;
  // reshape(reshape-or-flatten(x)) == reshape(x): both keep dim 0 and only
  // rearrange each item, so the outer shape alone decides the result. Rewire
  // in place after re-deriving the type from x, so a producer we do not
  // understand (e.g. an x with dynamic item dims) is never skipped over.
  Operation *producer = input.getDefiningOp();
  if (!producer || !llvm::isa<ReshapeOp, FlattenOp>(producer))
    return {};
  Value source = producer->getOperand(0);
  SmallVector<Type, 1> inferred;
  if (failed(inferReshape(Checker(std::nullopt, getOperationName()), source, getShape(),
                          inferred)) ||
      inferred.front() != getType())
    return {};
  getInputMutable().set(source);
  return getResult();
}

LogicalResult FlattenOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          ValueRange operands, DictionaryAttr attributes,
                                          OpaqueProperties properties, RegionRange regions,
                                          SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 1, 1)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<int64_t> startDim = readI64(check, adaptor.getStartDimAttr(), "start_dim", 1);
  if (failed(startDim))
    return failure();
  return inferFlatten(check, operands[0], *startDim, results);
}

LogicalResult FlattenOp::verify() { return verifyAgainstInferred(*this); }

OpFoldResult FlattenOp::fold(FoldAdaptor) {
  // Flattening the last dim alone (or a [N, K] input) changes nothing.
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            ValueRange operands, DictionaryAttr attributes,
                                            OpaqueProperties properties, RegionRange regions,
                                            SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 1, 1)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<ArrayRef<int64_t>> perm =
      readArray(check, adaptor.getPermAttr(), "perm", std::nullopt);
  if (failed(perm))
    return failure();
  return inferTranspose(check, operands[0], *perm, results);
}

LogicalResult TransposeOp::verify() { return verifyAgainstInferred(*this); }

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  ArrayRef<int64_t> perm = getPerm();
  auto isIdentity = [](ArrayRef<int64_t> p) {
    for (size_t i = 0; i < p.size(); ++i)
      if (p[i] != static_cast<int64_t>(i))
        return false;
    return true;
  };
  if (isIdentity(perm))
    return getInput();
  auto inner = getInput().getDefiningOp<TransposeOp>();
  if (!inner)
    return {};
  // result dim i = inner dim perm[i] = source dim innerPerm[perm[i]].
  ArrayRef<int64_t> innerPerm = inner.getPerm();
  SmallVector<int64_t, 4> composed;
  for (int64_t index : perm)
    composed.push_back(innerPerm[index]);
  Value source = inner.getInput();
  if (isIdentity(composed))
    return source.getType() == getType() ? OpFoldResult(source) : OpFoldResult();
  SmallVector<Type, 1> inferred;
  if (failed(inferTranspose(Checker(std::nullopt, getOperationName()), source, composed,
                            inferred)) ||
      inferred.front() != getType())
    return {};
  getInputMutable().set(source);
  setPerm(composed);
  return getResult();
}

//===----------------------------------------------------------------------===//
// Fused groups
//===----------------------------------------------------------------------===//

LogicalResult KernelOp::verify() {
  // The fusion kinds of compiler/lib/Transforms/FusionKinds.cpp; codegen picks
  // its loop structure from this string.
  static const StringLiteral kKinds[] = {"elementwise", "broadcast", "injective",
                                         "reduction", "out_fusible"};
  if (!llvm::is_contained(kKinds, getKind()))
    return emitOpError("expected kind to be one of elementwise, broadcast, injective, "
                       "reduction, out_fusible, found '")
           << getKind() << "'";
  if (getName().empty())
    return emitOpError("expected a non-empty name");
  if (getBody().empty())
    return emitOpError("expected a body block");
  Block &body = getBody().front();
  if (body.getNumArguments() != getNumOperands())
    return emitOpError("expected ")
           << getNumOperands() << " body arguments (one per operand), found "
           << body.getNumArguments();
  for (unsigned i = 0; i < getNumOperands(); ++i)
    if (body.getArgument(i).getType() != getOperand(i).getType())
      return emitOpError("expected body argument #")
             << i << " to have the type of operand #" << i << " ("
             << getOperand(i).getType() << "), found " << body.getArgument(i).getType();
  auto yield = body.empty() ? YieldOp() : llvm::dyn_cast<YieldOp>(body.back());
  if (!yield)
    return emitOpError("expected the body to end with 'kiln.yield'");
  if (yield.getValue().getType() != getResult().getType())
    return emitOpError("expected the yielded type (")
           << yield.getValue().getType() << ") to equal the result type ("
           << getResult().getType() << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// Training ops
//===----------------------------------------------------------------------===//

#define KILN_UNARY_SHAPE(OpT)                                                          \
  LogicalResult OpT::inferReturnTypes(MLIRContext *, std::optional<Location> loc,      \
                                      ValueRange operands, DictionaryAttr,             \
                                      OpaqueProperties, RegionRange,                   \
                                      SmallVectorImpl<Type> &results) {                \
    Checker check(loc, getOperationName());                                            \
    if (failed(checkOperandCount(check, operands, 1, 1)))                              \
      return failure();                                                                \
    return inferSameAsInput(check, operands[0], results);                              \
  }                                                                                    \
  LogicalResult OpT::verify() { return verifyAgainstInferred(*this); }

KILN_UNARY_SHAPE(SqrtOp)
KILN_UNARY_SHAPE(RsqrtOp)
KILN_UNARY_SHAPE(NegOp)
#undef KILN_UNARY_SHAPE

// The activation gradients broadcast their two operands like kiln.add.
#define KILN_BINARY_SHAPE(OpT)                                                         \
  LogicalResult OpT::inferReturnTypes(MLIRContext *, std::optional<Location> loc,      \
                                      ValueRange operands, DictionaryAttr,             \
                                      OpaqueProperties, RegionRange,                   \
                                      SmallVectorImpl<Type> &results) {                \
    Checker check(loc, getOperationName());                                            \
    if (failed(checkOperandCount(check, operands, 2, 2)))                              \
      return failure();                                                                \
    return inferBroadcast(check, operands[0], operands[1], results);                   \
  }                                                                                    \
  LogicalResult OpT::verify() { return verifyAgainstInferred(*this); }

KILN_BINARY_SHAPE(ReluGradOp)
KILN_BINARY_SHAPE(Relu6GradOp)
KILN_BINARY_SHAPE(HardswishGradOp)
KILN_BINARY_SHAPE(SigmoidGradOp)
#undef KILN_BINARY_SHAPE

LogicalResult BroadcastToOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                              ValueRange operands, DictionaryAttr attributes,
                                              OpaqueProperties properties, RegionRange regions,
                                              SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 1, 1)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<ArrayRef<int64_t>> shape =
      readArray(check, adaptor.getShapeAttr(), "shape", std::nullopt);
  if (failed(shape))
    return failure();
  return inferBroadcastTo(check, operands[0], *shape, results);
}

LogicalResult BroadcastToOp::verify() { return verifyAgainstInferred(*this); }

OpFoldResult BroadcastToOp::fold(FoldAdaptor) {
  // Broadcasting to the input's own type copies it.
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

namespace {
/// conv2d's attributes with their defaults, for the two conv2d gradients.
struct ConvAttrs {
  ArrayRef<int64_t> strides, padding, dilation;
  int64_t groups = 1;
};

template <typename AdaptorT>
FailureOr<ConvAttrs> readConvAttrs(const Checker &check, AdaptorT &adaptor) {
  FailureOr<ArrayRef<int64_t>> strides =
      readArray(check, adaptor.getStridesAttr(), "strides", ArrayRef<int64_t>(kOnePair));
  FailureOr<ArrayRef<int64_t>> padding =
      readArray(check, adaptor.getPaddingAttr(), "padding", ArrayRef<int64_t>(kZeroPair));
  FailureOr<ArrayRef<int64_t>> dilation =
      readArray(check, adaptor.getDilationAttr(), "dilation", ArrayRef<int64_t>(kOnePair));
  FailureOr<int64_t> groups = readI64(check, adaptor.getGroupsAttr(), "groups", 1);
  if (failed(strides) || failed(padding) || failed(dilation) || failed(groups))
    return failure();
  return ConvAttrs{*strides, *padding, *dilation, *groups};
}

/// Pool attributes with their defaults (strides default to the kernel size).
struct PoolAttrs {
  ArrayRef<int64_t> kernel, strides, padding;
  bool ceilMode = false;
};

template <typename AdaptorT>
FailureOr<PoolAttrs> readPoolAttrs(const Checker &check, AdaptorT &adaptor) {
  FailureOr<ArrayRef<int64_t>> kernel =
      readArray(check, adaptor.getKernelSizeAttr(), "kernel_size", std::nullopt);
  if (failed(kernel))
    return failure();
  FailureOr<ArrayRef<int64_t>> strides =
      readArray(check, adaptor.getStridesAttr(), "strides", *kernel);
  FailureOr<ArrayRef<int64_t>> padding =
      readArray(check, adaptor.getPaddingAttr(), "padding", ArrayRef<int64_t>(kZeroPair));
  FailureOr<bool> ceilMode = readBool(check, adaptor.getCeilModeAttr(), "ceil_mode", false);
  if (failed(strides) || failed(padding) || failed(ceilMode))
    return failure();
  return PoolAttrs{*kernel, *strides, *padding, *ceilMode};
}
} // namespace

LogicalResult Conv2dGradInputOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                  ValueRange operands, DictionaryAttr attributes,
                                                  OpaqueProperties properties,
                                                  RegionRange regions,
                                                  SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 2, 2)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<ConvAttrs> attrs = readConvAttrs(check, adaptor);
  FailureOr<ArrayRef<int64_t>> inputShape =
      readArray(check, adaptor.getInputShapeAttr(), "input_shape", std::nullopt);
  if (failed(attrs) || failed(inputShape))
    return failure();
  return inferConv2dGradInput(check, operands[0], operands[1], attrs->strides, attrs->padding,
                              attrs->dilation, attrs->groups, *inputShape, results);
}

LogicalResult Conv2dGradInputOp::verify() { return verifyAgainstInferred(*this); }

LogicalResult Conv2dGradWeightOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                   ValueRange operands,
                                                   DictionaryAttr attributes,
                                                   OpaqueProperties properties,
                                                   RegionRange regions,
                                                   SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 2, 2)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<ConvAttrs> attrs = readConvAttrs(check, adaptor);
  FailureOr<ArrayRef<int64_t>> weightShape =
      readArray(check, adaptor.getWeightShapeAttr(), "weight_shape", std::nullopt);
  if (failed(attrs) || failed(weightShape))
    return failure();
  return inferConv2dGradWeight(check, operands[0], operands[1], attrs->strides,
                               attrs->padding, attrs->dilation, attrs->groups, *weightShape,
                               results);
}

LogicalResult Conv2dGradWeightOp::verify() { return verifyAgainstInferred(*this); }

LogicalResult MaxPool2dGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                ValueRange operands, DictionaryAttr attributes,
                                                OpaqueProperties properties,
                                                RegionRange regions,
                                                SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 2, 2)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<PoolAttrs> attrs = readPoolAttrs(check, adaptor);
  if (failed(attrs))
    return failure();
  FailureOr<RankedTensorType> input =
      tensorOfRank(check, operands[0], "input", 4, "[N, C, H, W]");
  FailureOr<RankedTensorType> grad =
      tensorOfRank(check, operands[1], "grad", 4, "[N, C, OH, OW]");
  if (failed(input) || failed(grad))
    return failure();
  FailureOr<SmallVector<int64_t, 4>> pooled = pooledShape(
      check, input->getShape(), attrs->kernel, attrs->strides, attrs->padding, attrs->ceilMode);
  if (failed(pooled) ||
      failed(checkGradShape(check, *grad, *pooled, "the max_pool2d result for the input")))
    return failure();
  results.push_back(*input);
  return success();
}

LogicalResult MaxPool2dGradOp::verify() { return verifyAgainstInferred(*this); }

LogicalResult AvgPool2dGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                ValueRange operands, DictionaryAttr attributes,
                                                OpaqueProperties properties,
                                                RegionRange regions,
                                                SmallVectorImpl<Type> &results) {
  Checker check(loc, getOperationName());
  if (failed(checkOperandCount(check, operands, 1, 1)))
    return failure();
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<PoolAttrs> attrs = readPoolAttrs(check, adaptor);
  FailureOr<ArrayRef<int64_t>> inputShape =
      readArray(check, adaptor.getInputShapeAttr(), "input_shape", std::nullopt);
  if (failed(attrs) || failed(inputShape) ||
      failed(readBool(check, adaptor.getCountIncludePadAttr(), "count_include_pad", true)))
    return failure();
  FailureOr<RankedTensorType> grad =
      tensorOfRank(check, operands[0], "grad", 4, "[N, C, OH, OW]");
  if (failed(grad))
    return failure();
  FailureOr<SmallVector<int64_t, 4>> in =
      readShapeAttr(check, *inputShape, "input_shape", 4, DynamicDims::First);
  if (failed(in))
    return failure();
  FailureOr<SmallVector<int64_t, 4>> pooled =
      pooledShape(check, *in, attrs->kernel, attrs->strides, attrs->padding, attrs->ceilMode);
  if (failed(pooled) ||
      failed(checkGradShape(check, *grad, *pooled, "the avg_pool2d result for 'input_shape'")))
    return failure();
  results.push_back(RankedTensorType::get(*in, grad->getElementType()));
  return success();
}

LogicalResult AvgPool2dGradOp::verify() { return verifyAgainstInferred(*this); }

LogicalResult UpdateOp::verify() {
  Value parameter = getParameter();
  auto source = parameter.getDefiningOp<ParameterOp>();
  if (!source) {
    Operation *def = parameter.getDefiningOp();
    if (def)
      return emitOpError("expected the updated value to be the result of 'kiln.parameter', "
                         "found the result of '")
             << def->getName() << "'";
    return emitOpError("expected the updated value to be the result of 'kiln.parameter', "
                       "found a block argument");
  }
  if (getValue().getType() != parameter.getType())
    return emitOpError("expected the new value's type (")
           << getValue().getType() << ") to equal the type of parameter '"
           << source.getName() << "' (" << parameter.getType() << ")";
  for (Operation *user : parameter.getUsers()) {
    auto other = llvm::dyn_cast<UpdateOp>(user);
    if (other && other != *this && other.getParameter() == parameter)
      return emitOpError("expected at most one 'kiln.update' of parameter '")
             << source.getName() << "'";
  }
  return success();
}

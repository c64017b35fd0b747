//===- KilnOps.td - kiln op definitions -----------------------*- tablegen -*-===//
//
// See docs/dialect.md for the semantics table. Shape rules live in
// KilnOps.cpp (inferReturnTypes) and are checked by the verifiers.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_OPS_TD
#define KILN_OPS_TD

include "kiln/Dialect/KilnDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/IR/SymbolInterfaces.td"

// An op whose result type follows from its operands and attributes.
class Kiln_InferOp<string mnemonic, list<Trait> traits = []>
    : Kiln_Op<mnemonic, !listconcat(traits,
          [Pure, DeclareOpInterfaceMethods<InferTypeOpInterface>])> {
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Leaves
//===----------------------------------------------------------------------===//

def Kiln_ParameterOp : Kiln_Op<"parameter", [Pure]> {
  let summary = "a named model parameter whose value lives in the parameter table";
  let arguments = (ins StrAttr:$name, DefaultValuedAttr<BoolAttr, "true">:$trainable);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Kiln_ConstantOp : Kiln_Op<"constant", [ConstantLike, Pure]> {
  let summary = "a constant tensor";
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Kiln_Tensor:$result);
  // `kiln.constant dense<1.0> : tensor<4xf32>`: the result type is the value's.
  let assemblyFormat = "custom<ConstantValue>($value, type($result)) attr-dict";
  let hasFolder = 1;
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Out-fusible: convolution and GEMM
//===----------------------------------------------------------------------===//

// The optional bias is the last operand, so no operandSegmentSizes is needed
// (ODS rejects AttrSizedOperandSegments with fewer than two variadic operands).
// `weight_layout` comes last so that builders written before it keep working.
// "hwio" stores the weight [KH, KW, Cin, Cout] (output channels contiguous,
// what the runtime's channels-in-lanes direct convolution reads); only
// kiln-pack-conv-weights makes it, for inference artifacts, and only with one
// group. Code generators read the logical dims through getOihwWeightShape().
def Kiln_Conv2dOp : Kiln_InferOp<"conv2d"> {
  let summary = "2-D convolution, NCHW input, OIHW (or HWIO) weight, optional bias";
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$weight,
                   Optional<Kiln_Tensor>:$bias,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilation,
                   DefaultValuedAttr<I64Attr, "1">:$groups,
                   DefaultValuedAttr<StrAttr, "\"oihw\"">:$weight_layout);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// Whether the weight is stored [KH, KW, Cin, Cout] (weight_layout "hwio").
    bool hasHwioWeight() { return getWeightLayout() == "hwio"; }
    /// The weight's shape in OIHW order [Cout, Cin/groups, KH, KW] whatever
    /// its layout: what a convolution's geometry is built from.
    ::llvm::SmallVector<int64_t, 4> getOihwWeightShape();
  }];
}

def Kiln_MatmulOp : Kiln_InferOp<"matmul"> {
  let summary = "matrix product [M,K] x [K,N]";
  let arguments = (ins Kiln_Tensor:$lhs, Kiln_Tensor:$rhs);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Kiln_LinearOp : Kiln_InferOp<"linear"> {
  let summary = "x * W^T + b with W in PyTorch's [out, in] layout";
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$weight,
                   Optional<Kiln_Tensor>:$bias);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Elementwise and broadcast
//===----------------------------------------------------------------------===//

class Kiln_BinaryOp<string mnemonic> : Kiln_InferOp<mnemonic> {
  let summary = "elementwise " # mnemonic # " with numpy broadcasting";
  let arguments = (ins Kiln_Tensor:$lhs, Kiln_Tensor:$rhs);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}
def Kiln_AddOp : Kiln_BinaryOp<"add"> { let hasFolder = 1; }
def Kiln_SubOp : Kiln_BinaryOp<"sub"> { let hasFolder = 1; }
def Kiln_MulOp : Kiln_BinaryOp<"mul"> { let hasFolder = 1; }
def Kiln_DivOp : Kiln_BinaryOp<"div"> { let hasFolder = 1; }

class Kiln_UnaryOp<string mnemonic> : Kiln_InferOp<mnemonic> {
  let summary = "elementwise " # mnemonic;
  let arguments = (ins Kiln_Tensor:$input);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}
def Kiln_ReluOp : Kiln_UnaryOp<"relu"> { let hasFolder = 1; }
def Kiln_Relu6Op : Kiln_UnaryOp<"relu6">;
def Kiln_SigmoidOp : Kiln_UnaryOp<"sigmoid">;
def Kiln_HardswishOp : Kiln_UnaryOp<"hardswish">;

def Kiln_BatchNormOp : Kiln_InferOp<"batch_norm"> {
  let summary = "batch normalisation, inference form (running statistics)";
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$weight, Kiln_Tensor:$bias,
                   Kiln_Tensor:$mean, Kiln_Tensor:$var,
                   DefaultValuedAttr<F32Attr, "1e-5f">:$epsilon);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `,` $mean `,` $var attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Reductions (windows, axes, softmax)
//===----------------------------------------------------------------------===//

def Kiln_MaxPool2dOp : Kiln_InferOp<"max_pool2d"> {
  let summary = "2-D max pooling over NCHW";
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$kernel_size,
                   OptionalAttr<DenseI64ArrayAttr>:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_AvgPool2dOp : Kiln_InferOp<"avg_pool2d"> {
  let summary = "2-D average pooling over NCHW";
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$kernel_size,
                   OptionalAttr<DenseI64ArrayAttr>:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode,
                   DefaultValuedAttr<BoolAttr, "true">:$count_include_pad);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_GlobalAvgPoolOp : Kiln_InferOp<"global_avg_pool"> {
  let summary = "mean over H and W of NCHW, keeping [N,C,1,1]";
  let arguments = (ins Kiln_Tensor:$input);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_SoftmaxOp : Kiln_InferOp<"softmax"> {
  let summary = "softmax along one static axis";
  let arguments = (ins Kiln_Tensor:$input, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Kiln_LogSoftmaxOp : Kiln_InferOp<"log_softmax"> {
  let summary = "log-softmax along one static axis";
  let arguments = (ins Kiln_Tensor:$input, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

class Kiln_ReduceOp<string mnemonic> : Kiln_InferOp<mnemonic> {
  let summary = mnemonic # " over the given axes";
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$axes,
                   DefaultValuedAttr<BoolAttr, "false">:$keepdim);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}
def Kiln_ReduceSumOp : Kiln_ReduceOp<"reduce_sum"> { let hasCanonicalizer = 1; }
def Kiln_ReduceMeanOp : Kiln_ReduceOp<"reduce_mean">;

//===----------------------------------------------------------------------===//
// Views and injective ops
//===----------------------------------------------------------------------===//

def Kiln_ReshapeOp : Kiln_InferOp<"reshape"> {
  let summary = "reshape keeping the batch (shape[0] == -1 means the input's dim 0)";
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Kiln_FlattenOp : Kiln_InferOp<"flatten"> {
  let summary = "flatten dims from start_dim to the end into one";
  let arguments = (ins Kiln_Tensor:$input, DefaultValuedAttr<I64Attr, "1">:$start_dim);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Kiln_TransposeOp : Kiln_InferOp<"transpose"> {
  let summary = "permute dimensions";
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Training: primitives and gradient ops (emitted by kiln-autodiff and by the
// training-mode frontend; see docs/dialect.md, section "Training ops")
//===----------------------------------------------------------------------===//

def Kiln_SqrtOp : Kiln_UnaryOp<"sqrt">;
def Kiln_RsqrtOp : Kiln_UnaryOp<"rsqrt">;
def Kiln_NegOp : Kiln_UnaryOp<"neg">;
// The identity, except that kiln-autodiff sends no gradient through it: for
// terms whose gradient is zero in exact arithmetic (the batch mean inside the
// variance, whose sum of deviations is 0). Canonicalization folds it away
// after autodiff, so code generation never sees it.
def Kiln_StopGradientOp : Kiln_UnaryOp<"stop_gradient"> {
  let summary = "identity; kiln-autodiff treats the result as a constant";
  let hasFolder = 1;
}

def Kiln_BroadcastToOp : Kiln_InferOp<"broadcast_to"> {
  let summary = "numpy broadcast of the input to `shape` (-1 = the batch)";
  let arguments = (ins Kiln_Tensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

// Backward of an activation: the first operand is the forward op's input (for
// sigmoid_grad, its output), `grad` the adjoint of the forward result. The two
// broadcast like kiln.add; the result has the broadcast shape.
class Kiln_ActivationGradOp<string mnemonic> : Kiln_InferOp<mnemonic> {
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$grad);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}
def Kiln_ReluGradOp : Kiln_ActivationGradOp<"relu_grad"> {
  let summary = "grad where input > 0, else 0";
}
def Kiln_Relu6GradOp : Kiln_ActivationGradOp<"relu6_grad"> {
  let summary = "grad where 0 < input < 6, else 0";
}
// 0 for x < -3, grad * (2x + 3) / 6 on the closed [-3, 3], grad for x > 3: the
// rule of PyTorch's hardswish_backward up to 2.6 (2.7 moved the boundaries).
def Kiln_HardswishGradOp : Kiln_ActivationGradOp<"hardswish_grad"> {
  let summary = "grad * hardswish'(input) with PyTorch's boundary rule";
}
def Kiln_SigmoidGradOp : Kiln_InferOp<"sigmoid_grad"> {
  let summary = "grad * output * (1 - output) where output is sigmoid's result";
  let arguments = (ins Kiln_Tensor:$output, Kiln_Tensor:$grad);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$output `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Kiln_Conv2dGradInputOp : Kiln_InferOp<"conv2d_grad_input"> {
  let summary = "adjoint of conv2d w.r.t. its input (transposed convolution)";
  let arguments = (ins Kiln_Tensor:$grad, Kiln_Tensor:$weight,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilation,
                   DefaultValuedAttr<I64Attr, "1">:$groups,
                   DenseI64ArrayAttr:$input_shape);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$grad `,` $weight attr-dict `:` functional-type(operands, results)";
}

def Kiln_Conv2dGradWeightOp : Kiln_InferOp<"conv2d_grad_weight"> {
  let summary = "adjoint of conv2d w.r.t. its weight (a contraction over the batch)";
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$grad,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilation,
                   DefaultValuedAttr<I64Attr, "1">:$groups,
                   DenseI64ArrayAttr:$weight_shape);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Kiln_MaxPool2dGradOp : Kiln_InferOp<"max_pool2d_grad"> {
  let summary = "adjoint of max_pool2d: each window's grad goes to its first maximum";
  let arguments = (ins Kiln_Tensor:$input, Kiln_Tensor:$grad,
                   DenseI64ArrayAttr:$kernel_size,
                   OptionalAttr<DenseI64ArrayAttr>:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Kiln_AvgPool2dGradOp : Kiln_InferOp<"avg_pool2d_grad"> {
  let summary = "adjoint of avg_pool2d: each window's grad spread over it / divisor";
  let arguments = (ins Kiln_Tensor:$grad, DenseI64ArrayAttr:$kernel_size,
                   OptionalAttr<DenseI64ArrayAttr>:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode,
                   DefaultValuedAttr<BoolAttr, "true">:$count_include_pad,
                   DenseI64ArrayAttr:$input_shape);
  let results = (outs Kiln_Tensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
}

// Not Pure: it has no result and must survive canonicalization and DCE.
def Kiln_UpdateOp : Kiln_Op<"update", [MemoryEffects<[MemWrite]>]> {
  let summary = "after this step, the parameter read by `parameter` holds `value`";
  let description = [{
    `parameter` must be the result of a `kiln.parameter`; `value` has its type.
    Every read of the parameter in the function sees the value from before the
    step; the new value becomes visible to the next call. Used for optimizer
    updates and batch-norm running statistics.
  }];
  let arguments = (ins Kiln_Tensor:$parameter, Kiln_Tensor:$value);
  let assemblyFormat = "$parameter `,` $value attr-dict `:` type($parameter) `,` type($value)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fused groups
//===----------------------------------------------------------------------===//

def Kiln_KernelOp : Kiln_Op<"kernel", [IsolatedFromAbove, SingleBlock, Pure]> {
  let summary = "a fused group of kiln ops that becomes one kernel";
  let description = [{
    Created by the fusion pass. The body computes one result from the group's
    external inputs (one block argument per operand). `kind` is the fusion kind of
    the group's anchor (out_fusible, reduction, injective, broadcast, elementwise).
  }];
  let arguments = (ins Variadic<Kiln_Tensor>:$inputs, StrAttr:$name, StrAttr:$kind);
  let results = (outs Kiln_Tensor:$result);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $name `kind` `(` $kind `)` (`(` $inputs^ `:` type($inputs) `)`)? attr-dict-with-keyword
      `->` type($result) $body
  }];
  let hasVerifier = 1;
}

def Kiln_YieldOp : Kiln_Op<"yield", [Pure, Terminator, HasParent<"KernelOp">]> {
  let summary = "the result of a kiln.kernel body";
  let arguments = (ins Kiln_Tensor:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

#endif // KILN_OPS_TD

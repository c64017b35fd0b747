//===- Passes.td - kiln pass definitions ----------------------*- tablegen -*-===//
//
// Every pass lives in its own file under compiler/lib/Transforms or
// compiler/lib/Codegen, is registered in kiln-opt, and has a lit test under
// test/lit showing the IR before and after.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_TRANSFORMS_PASSES_TD
#define KILN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnAutodiff : Pass<"kiln-autodiff", "mlir::ModuleOp"> {
  let summary = "Generate a training-step function: forward plus reverse-mode gradients";
  let description = [{
    For the function `forward` whose result #`loss` is the scalar loss (type
    `tensor<1xf32>`), adds a function `step` with the same arguments that
    recomputes the forward and then the reverse-mode gradient of the loss with
    respect to every trainable `kiln.parameter` (`trainable = true`). It returns
    the loss followed by one gradient per trainable parameter, in order of the
    parameter's first appearance in `forward` (parameters read by several
    `kiln.parameter` ops are one parameter, found by name), and carries
    `kiln.gradients = [<parameter names>]` naming them. A parameter with no
    path to the loss gets a zero gradient. Adjoints of values with several uses
    are summed with `kiln.add`; ops with no path from a trainable parameter to
    the loss get no backward ops; forward ops the new function no longer needs
    are erased. Gradients are built from the forward ops plus the training ops
    of docs/dialect.md (relu_grad, conv2d_grad_input, broadcast_to, ...); the
    rule of every op is listed in compiler/lib/Transforms/Autodiff.cpp. An op
    on a gradient path without a rule (kiln.kernel, kiln.max_pool2d_grad, ops
    of other dialects) fails the pass with an error naming it at its location.
    `forward` itself is left unchanged. Run it before kiln-fuse.
  }];
  let options = [
    Option<"forwardName", "forward", "std::string", /*default=*/"\"forward\"",
           "the function to differentiate">,
    Option<"lossIndex", "loss", "unsigned", /*default=*/"0",
           "index of the result of `forward` that is the loss (tensor<1xf32>)">,
    Option<"stepName", "step", "std::string", /*default=*/"\"train_step\"",
           "name of the generated function (must not exist yet)">
  ];
  let statistics = [
    Statistic<"numGradientOps", "num-gradient-ops", "Number of ops added for the backward">
  ];
  let dependentDialects = ["kiln::KilnDialect", "mlir::func::FuncDialect"];
}

def KilnOptimizer : Pass<"kiln-optimizer", "mlir::ModuleOp"> {
  let summary = "Append a PyTorch optimizer step (SGD, Adam, AdamW) to a training-step function";
  let description = [{
    Rewrites the function `step` made by kiln-autodiff (results: the loss, then
    one gradient per name in its `kiln.gradients`) so that it also updates
    every such parameter in place with `kiln.update`, as torch.optim.SGD
    (momentum, dampening 0, Nesterov, coupled L2 weight decay), torch.optim.Adam
    (coupled L2) or torch.optim.AdamW (decoupled decay) does. The learning rate
    is a new trailing argument `tensor<1xf32>`; Adam and AdamW also take
    `bias_correction1` and `bias_correction2` (1 - beta^t, computed by the
    driver), so the step holds no step counter and one artifact serves every
    step and every LR schedule. Optimizer state is read from new non-trainable
    parameters `<p>.momentum_buffer` (SGD with momentum) or `<p>.exp_avg` and
    `<p>.exp_avg_sq` (Adam, AdamW), which the driver creates zero-filled with
    the shape of `<p>`; their names are listed in `kiln.optimizer_state`. The
    results are unchanged. See docs/dialect.md, section "Optimizers".
  }];
  let options = [
    Option<"stepName", "step", "std::string", /*default=*/"\"train_step\"",
           "the training-step function to rewrite (made by kiln-autodiff)">,
    Option<"optimizerName", "optimizer", "std::string", /*default=*/"\"sgd\"",
           "sgd | adam | adamw">,
    Option<"momentum", "momentum", "double", /*default=*/"0.9",
           "SGD momentum (0: plain SGD, no momentum buffer)">,
    Option<"nesterov", "nesterov", "bool", /*default=*/"false",
           "SGD: Nesterov momentum (needs momentum > 0)">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.0",
           "SGD/Adam: coupled L2 (g += wd * p); AdamW: decoupled (p *= 1 - lr * wd)">,
    Option<"noDecayBnBias", "no-decay-bn-bias", "bool", /*default=*/"false",
           "no weight decay for parameters of rank 1 (biases, batch-norm weight and bias)">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "Adam/AdamW beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "Adam/AdamW beta2">,
    Option<"epsilon", "epsilon", "double", /*default=*/"1e-8", "Adam/AdamW epsilon">,
    Option<"dampening", "dampening", "double", /*default=*/"0.0",
           "SGD dampening; only 0 is accepted (see docs/dialect.md)">
  ];
  let statistics = [
    Statistic<"numOptimizerOps", "num-optimizer-ops", "Number of ops added for the update">
  ];
  let dependentDialects = ["kiln::KilnDialect", "mlir::func::FuncDialect"];
}

def KilnFoldBatchNorm : Pass<"kiln-fold-batch-norm", "mlir::func::FuncOp"> {
  let summary = "Fold inference-form batch_norm into the convolution before it";
  let description = [{
    Rewrites `batch_norm(conv2d(x, W[, b]), gamma, beta, mean, var)` into
    `conv2d(x, W', b')` where the convolution result has no other user and
    W, b and the four batch-norm operands are `kiln.parameter`s (any other
    batch_norm is left alone). W' and b' are new parameters named
    `<W>.bn_folded` and `<conv>.bias.bn_folded` (made unique in the module);
    parameter ops left without users are erased. The pass only knows names,
    not values: it lists each fold on the function in `kiln.batch_norm_folds`,
    an array of dictionaries with the keys conv_weight, conv_bias ("" for
    none), bn_weight, bn_bias, bn_mean, bn_var, epsilon, folded_weight and
    folded_bias, and the driver (compileInference,
    compiler/lib/Driver/BatchNormFolding.cpp) computes
      s = gamma / sqrt(var + epsilon),  W' = W * s,  b' = (b - mean) * s + beta
    per output channel in double and removes the attribute. For inference
    artifacts only: training needs the batch_norm.
  }];
  let statistics = [
    Statistic<"numFolded", "num-folded", "Number of batch_norm ops folded">
  ];
  let dependentDialects = ["kiln::KilnDialect"];
}

def KilnPackConvWeights : Pass<"kiln-pack-conv-weights", "mlir::func::FuncOp"> {
  let summary = "Store the weights of small-output-plane convolutions as HWIO";
  let description = [{
    Gives `conv2d(x, W)` the weight layout "hwio" ([KH, KW, Cin, Cout],
    output channels contiguous) where the runtime's direct convolution puts
    output channels in the vector lanes: W is a `kiln.parameter` in OIHW, one
    group, dilation 1, and either a "same" stride-1 convolution of at most 49
    taps (directSameConvApplies in kiln/Dialect/OpQueries.h: the lowering
    calls kiln_conv2d_same_f32) or any other of stride 1 or 2
    (hwioConvApplies: kiln_conv2d_hwio_f32), with
    kiln_conv2d_channels_in_lanes(OH, OW, Cout)
    (runtime/include/kiln/runtime/KernelABI.h: output planes of at most 28
    columns and 784 pixels, Cout a multiple of 16). Any other convolution is
    left alone. W is replaced by a new non-trainable parameter `<W>.hwio`
    (made unique in the module; one per source parameter, shared by every
    convolution packed from it) and the old parameter op is erased when
    nothing else reads it. The pass only knows names, not values: it lists
    each new parameter on the function in `kiln.weight_packs`, an array of
    dictionaries {source, packed, exact}, and the driver (compileInference,
    compiler/lib/Driver/ConvWeightPacking.cpp) stores the transposed values
      packed[((ky * KW + kx) * Cin + ci) * Cout + co] = W[co][ci][ky][kx]
    and removes the attribute. `exact` is true where every convolution packed
    from W was computed by a direct kernel before (same, 3x3 stride 2, 1x1
    stride 2), which adds taps, then input channels, as channels in lanes
    does: a transposition, the outputs bitwise those of the OIHW model.
    Otherwise (the OIHW lowering ran im2col + sgemm, e.g. a "valid" window)
    the sums run in another order and export_model checks the packed model
    against the unpacked one. For inference artifacts only (kiln-autodiff
    rejects packed weights), and only where the CPU lowering uses the direct
    convolution (im2col + sgemm reads OIHW).
  }];
  let statistics = [
    Statistic<"numPacked", "num-packed", "Number of convolutions given HWIO weights">
  ];
  let dependentDialects = ["kiln::KilnDialect"];
}

def KilnFusion : Pass<"kiln-fuse", "mlir::func::FuncOp"> {
  let summary = "Group kiln ops into kiln.kernel ops by the fusion-kind table";
  let description = [{
    Walks each function in order and grows groups: an anchor (out-fusible,
    reduction or injective op, or an elementwise/broadcast op that joins no
    group) absorbs the elementwise and broadcast consumers of its current
    result while that result has no other user and the consumer keeps its
    shape. A consumer reading two open groups (a residual add) joins the one
    created last. Then a pointwise group whose result only one other group
    reads moves into it: into a pointwise group of its shape, or in front of a
    reduce_sum/reduce_mean that reduces it (a prologue). See
    compiler/lib/Transforms/FusionKinds.cpp for the table and the rule.
    Each group becomes a `kiln.kernel` named `<function>_k<index>` at the
    position of its last op; its operands are the group's external values in
    first-use order (parameters and constants included).
    Views (reshape, flatten), parameters and constants stay outside kernels.
  }];
  let options = [
    Option<"noFusion", "no-fusion", "bool", /*default=*/"false",
           "put every op in a kernel of its own (the unfused reference)">,
    Option<"report", "report", "bool", /*default=*/"false",
           "emit a remark with the kernel count and a note per kernel listing its ops">
  ];
  let statistics = [
    Statistic<"numKernels", "num-kernels", "Number of kiln.kernel ops created">,
    Statistic<"numEpilogueOps", "num-epilogue-ops",
              "Number of ops fused into an existing group as an epilogue">,
    Statistic<"numProducerGroups", "num-producer-groups",
              "Number of pointwise groups absorbed by the group reading them">,
    Statistic<"numRecomputedGroups", "num-recomputed-groups",
              "Number of copies of pointwise groups recomputed by an extra reader">
  ];
  let dependentDialects = ["kiln::KilnDialect"];
}

def KilnPlanMemory : Pass<"kiln-plan-memory", "mlir::func::FuncOp"> {
  let summary = "Assign every intermediate a slice of one arena, reusing dead ones";
  let description = [{
    Computes each kernel result's live interval over the kernel sequence and
    places it in the arena greedily by size (largest first, each at the lowest
    offset free of every buffer live at the same time), so buffers whose
    lifetimes do not overlap share bytes. Views (reshape, flatten) alias their
    input's buffer. Rejects any op outside a kernel other than parameters,
    constants, views and the return. Sizes are linear in the batch: offsets
    are stored as offset_fixed + offset_per_item * batch. Results returned by the
    function are written straight to the caller's output buffers; a returned
    value that cannot be (returned twice, or an argument, parameter or constant)
    is listed in the function's `kiln.copy_outputs`. Annotates kernels and views
    (see docs/dialect.md) and the function (arena sizes, peak).
  }];
  let options = [
    Option<"report", "report", "bool", /*default=*/"false",
           "emit a remark with the arena size and peak bytes per batch item">
  ];
}

def KilnLowerToLLVM : Pass<"kiln-lower-to-llvm", "mlir::ModuleOp"> {
  let summary = "Lower each kiln.kernel to an llvm.func of loops (and sgemm calls)";
  let description = [{
    For every kiln.kernel in every function creates
    `llvm.func @<name>(ptr %buffers, i64 %batch, i64 %task_begin, i64 %task_end, ptr %scratch)`
    in the LLVM dialect: scf loops, arith math and cblas_sgemm calls lowered to
    LLVM. The kernel op gets `kiln.work_per_item`, `kiln.work_fixed`,
    `kiln.work_per_task`, `kiln.scratch_bytes` and `kiln.flops_per_item` (see
    runtime/schema/kiln_artifact.fbs, table Kernel) so the runtime can split its
    ceil((work_fixed + work_per_item * batch) / work_per_task) tasks over threads.
    The scheduling functions themselves are left in the kiln dialect.

    Convolutions (and their input gradients) with stride 1, dilation 1, one
    group and "same" padding call the runtime's direct convolution
    (kiln_conv2d_same_f32) instead of im2col + sgemm when `conv-algorithm` is
    `direct`, or `auto` on a CPU with AVX-512 (the kernels are compiled for the
    host). Other convolutions always use im2col + sgemm.
  }];
  let options = [
    Option<"convAlgorithm", "conv-algorithm", "std::string", /*default=*/"\"auto\"",
           "auto | im2col | direct: how eligible convolutions are computed">
  ];
  let dependentDialects = ["mlir::LLVM::LLVMDialect", "mlir::scf::SCFDialect",
                           "mlir::arith::ArithDialect", "mlir::cf::ControlFlowDialect",
                           "mlir::math::MathDialect"];
}

def KilnPrintCuda : Pass<"kiln-print-cuda", "mlir::ModuleOp"> {
  let summary = "Print the CUDA C of every kiln.kernel (the CUDA target's codegen)";
  let description = [{
    Generates the CUDA C translation unit of the module's fused kernels (run
    after kiln-fuse; kiln-plan-memory is not needed) exactly as
    `kiln-compile --target=cpu,cuda` hands it to NVRTC, and prints it to
    stdout before the module. Each distinct kernel is preceded by a comment
    `// <symbol>: <ops> [<strategy>]`; kernels identical up to their name share
    one function. The module is not changed. For the lit tests of the CUDA
    codegen (test/lit/Codegen/cuda-*.mlir).
  }];
  let options = [
    Option<"withPrelude", "with-prelude", "bool", /*default=*/"false",
           "also print the shared device helpers (the text then compiles as is)">
  ];
}

#endif // KILN_TRANSFORMS_PASSES_TD

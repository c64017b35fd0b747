//===- FusionKinds.cpp - the fusion-kind table -----------------------------===//
//
// Fusion in Kiln is decided by two things only: the kind of each op
// (getFusionKind) and one table saying which kinds a group absorbs
// (canFuseIntoGroup). kiln-fuse (Fusion.cpp) applies them in program order and
// adds the structural conditions (the consumer is the sole user of the group's
// value and keeps its shape).
//
//===----------------------------------------------------------------------===//
#include "kiln/Transforms/FusionKinds.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

namespace kiln {

namespace {

// A binary op is Elementwise when both operands already have the result's
// shape (the loop nest reads each input at the output index), Broadcast when
// one of them is stretched (the loop nest reads it at a reduced index).
FusionKind binaryKind(mlir::Operation *op) {
  auto result = llvm::cast<mlir::ShapedType>(op->getResult(0).getType());
  for (mlir::Value operand : op->getOperands())
    if (llvm::cast<mlir::ShapedType>(operand.getType()).getShape() != result.getShape())
      return FusionKind::Broadcast;
  return FusionKind::Elementwise;
}

constexpr bool Y = true;
constexpr bool N = false;
constexpr unsigned kE = static_cast<unsigned>(FusionKind::Elementwise);
constexpr unsigned kB = static_cast<unsigned>(FusionKind::Broadcast);

// kTable[anchor][consumer]. Columns in enum order:
//                                              Elem Bcast Inj Red OutF View Leaf
constexpr bool kTable[kNumFusionKinds][kNumFusionKinds] = {
    // Elementwise anchor: a chain of pointwise ops is one loop nest.
    /* Elementwise */ {Y, Y, N, N, N, N, N},
    // Broadcast anchor: same loop nest as elementwise, some inputs re-read.
    /* Broadcast   */ {Y, Y, N, N, N, N, N},
    // Injective anchor (transpose): the epilogue runs on each element it writes.
    /* Injective   */ {Y, Y, N, N, N, N, N},
    // Reduction anchor (pools, softmax, reduce): the epilogue runs on each
    // finished output element, after the window/axis has been reduced.
    /* Reduction   */ {Y, Y, N, N, N, N, N},
    // Out-fusible anchor (conv, GEMM): bias, batch norm, residual add and the
    // activation run on the output tile while it is still in registers/cache.
    /* OutFusible  */ {Y, Y, N, N, N, N, N},
    // Views are aliases, not computations: they never anchor a group.
    /* View        */ {N, N, N, N, N, N, N},
    // Parameters and constants are bound from the parameter table: no group.
    /* Leaf        */ {N, N, N, N, N, N, N},
};
// Why the columns for Injective, Reduction and OutFusible consumers are all N:
// each needs its input's elements in an order (or many times) that an epilogue
// evaluated once per output element of the group cannot provide, so it starts
// a new group. View and Leaf columns are N because those ops never enter one.

static_assert(kTable[static_cast<unsigned>(FusionKind::OutFusible)][kE] &&
                  kTable[static_cast<unsigned>(FusionKind::OutFusible)][kB],
              "conv/GEMM must absorb bias, batch norm and activation epilogues");
static_assert(!kTable[kE][static_cast<unsigned>(FusionKind::Reduction)],
              "nothing absorbs a reduction consumer");

} // namespace

FusionKind getFusionKind(mlir::Operation *op) {
  return llvm::TypeSwitch<mlir::Operation *, FusionKind>(op)
      // Convolution and GEMM, forward and backward: an sgemm whose output
      // tile takes an epilogue.
      .Case<Conv2dOp, MatmulOp, LinearOp, Conv2dGradInputOp, Conv2dGradWeightOp>(
          [](auto) { return FusionKind::OutFusible; })
      .Case<MaxPool2dOp, AvgPool2dOp, GlobalAvgPoolOp, SoftmaxOp, LogSoftmaxOp,
            ReduceSumOp, ReduceMeanOp, MaxPool2dGradOp, AvgPool2dGradOp>(
          [](auto) { return FusionKind::Reduction; })
      .Case<TransposeOp>([](auto) { return FusionKind::Injective; })
      .Case<ReluOp, Relu6Op, SigmoidOp, HardswishOp, SqrtOp, RsqrtOp, NegOp>(
          [](auto) { return FusionKind::Elementwise; })
      .Case<AddOp, SubOp, MulOp, DivOp, ReluGradOp, Relu6GradOp, HardswishGradOp,
            SigmoidGradOp>([](auto binary) { return binaryKind(binary); })
      // Reads its input at a reduced index: the definition of broadcast.
      .Case<BroadcastToOp>([](auto) { return FusionKind::Broadcast; })
      // Per-channel scale and shift: the [C] operands are broadcast over N,H,W.
      .Case<BatchNormOp>([](auto) { return FusionKind::Broadcast; })
      .Case<ReshapeOp, FlattenOp>([](auto) { return FusionKind::View; })
      .Case<ParameterOp, ConstantOp>([](auto) { return FusionKind::Leaf; })
      .Case<KernelOp>([](KernelOp kernel) {
        return symbolizeFusionKind(kernel.getKind()).value_or(FusionKind::Leaf);
      })
      .Default([](mlir::Operation *) { return FusionKind::Leaf; });
}

llvm::StringRef stringifyFusionKind(FusionKind kind) {
  switch (kind) {
  case FusionKind::Elementwise:
    return "elementwise";
  case FusionKind::Broadcast:
    return "broadcast";
  case FusionKind::Injective:
    return "injective";
  case FusionKind::Reduction:
    return "reduction";
  case FusionKind::OutFusible:
    return "out_fusible";
  case FusionKind::View:
    return "view";
  case FusionKind::Leaf:
    return "leaf";
  }
  llvm_unreachable("unknown FusionKind");
}

std::optional<FusionKind> symbolizeFusionKind(llvm::StringRef text) {
  return llvm::StringSwitch<std::optional<FusionKind>>(text)
      .Case("elementwise", FusionKind::Elementwise)
      .Case("broadcast", FusionKind::Broadcast)
      .Case("injective", FusionKind::Injective)
      .Case("reduction", FusionKind::Reduction)
      .Case("out_fusible", FusionKind::OutFusible)
      .Case("view", FusionKind::View)
      .Case("leaf", FusionKind::Leaf)
      .Default(std::nullopt);
}

bool canFuseIntoGroup(FusionKind groupAnchorKind, FusionKind consumerKind) {
  return kTable[static_cast<unsigned>(groupAnchorKind)][static_cast<unsigned>(consumerKind)];
}

// Producer fusion saves the producer's store and the consumer's load of a
// whole tensor. Only pointwise producers qualify: the consumer evaluates them
// once per element it reads, which costs no more than the producer's own loop.
//   consumer group            absorbs a pointwise producer?
//   elementwise / broadcast   yes (same elements: one loop nest, a DAG)
//   reduce_sum / reduce_mean  yes (evaluated per element reduced: a prologue)
//   other reductions, conv,   no (pools, softmax and GEMMs read each input
//   GEMM, transpose               element several times or in blocks)
bool canAbsorbProducer(FusionKind consumerKind, mlir::Operation *consumerAnchor,
                       FusionKind producerKind) {
  bool pointwiseProducer =
      producerKind == FusionKind::Elementwise || producerKind == FusionKind::Broadcast;
  if (!pointwiseProducer)
    return false;
  if (consumerKind == FusionKind::Elementwise || consumerKind == FusionKind::Broadcast)
    return true;
  return consumerKind == FusionKind::Reduction &&
         llvm::isa<ReduceSumOp, ReduceMeanOp>(consumerAnchor);
}

std::string describeKernel(KernelOp kernel) {
  std::string ops;
  for (mlir::Operation &op : kernel.getBody().front().without_terminator()) {
    if (!ops.empty())
      ops += '+';
    // "kiln.batch_norm" -> "batch_norm": the dialect is implied in a kernel.
    ops += op.getName().stripDialect().str();
  }
  return ops;
}

} // namespace kiln

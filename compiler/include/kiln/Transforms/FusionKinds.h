//===- FusionKinds.h - how kiln ops fuse --------------------------*- C++ -*-===//
//
// Every kiln op has a fusion kind, and one small table (canFuseIntoGroup, in
// FusionKinds.cpp) says which kinds a group may absorb as its epilogue; one
// rule (canAbsorbProducer) says which finished groups the group reading them
// may take in as producers. kiln-fuse is nothing more than the table applied
// in program order, then the rule; read them first.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_TRANSFORMS_FUSIONKINDS_H
#define KILN_TRANSFORMS_FUSIONKINDS_H

#include "kiln/Dialect/KilnOps.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>

namespace kiln {

// The first five values are numbered as the artifact schema's FusionKind
// (runtime/schema/kiln_artifact.fbs) so a kernel's kind converts by value.
// View and Leaf never become kernels.
enum class FusionKind : uint8_t {
  Elementwise = 0, // one output element from the same element of each input
  Broadcast = 1,   // elementwise, but some input is broadcast (smaller shape)
  Injective = 2,   // each output element reads one input element elsewhere
  Reduction = 3,   // each output element reads a window or an axis
  OutFusible = 4,  // conv/GEMM: expensive, ends in an elementwise-friendly tile
  View = 5,        // reshape/flatten: the same bytes under another shape
  Leaf = 6,        // parameter/constant (and ops the table does not know)
};

inline constexpr unsigned kNumFusionKinds = 7;

// The kind of `op`. A kiln.kernel reports the kind recorded on it. Ops outside
// the kiln dialect and kiln.yield are Leaf, i.e. never fused.
FusionKind getFusionKind(mlir::Operation *op);

// The lower-case spelling used in the `kind` attribute of kiln.kernel:
// elementwise, broadcast, injective, reduction, out_fusible, view, leaf.
llvm::StringRef stringifyFusionKind(FusionKind kind);
std::optional<FusionKind> symbolizeFusionKind(llvm::StringRef text);

// THE TABLE: may a group whose anchor (first op) has kind `groupAnchorKind`
// absorb a consumer of kind `consumerKind` as an epilogue? The structural
// conditions (sole user, same shape) are kiln-fuse's business, not the table's.
bool canFuseIntoGroup(FusionKind groupAnchorKind, FusionKind consumerKind);

// THE SECOND RULE, producer (input) fusion: may a finished group of kind
// `producerKind` be absorbed by the group that reads its result, anchored by
// `consumerAnchor` (kind `consumerKind`)? Yes for a pointwise producer
// (elementwise/broadcast) read by a pointwise consumer (one loop nest over the
// same elements) or by a reduce_sum/reduce_mean anchor (the reduction
// evaluates it per input element: a prologue). Sole use and shape are
// kiln-fuse's business.
bool canAbsorbProducer(FusionKind consumerKind, mlir::Operation *consumerAnchor,
                       FusionKind producerKind);

// The ops of a kernel body joined by '+', without the dialect prefix, in body
// order: "conv2d+batch_norm+add+relu". Used by reports and the artifact.
std::string describeKernel(KernelOp kernel);

} // namespace kiln

#endif

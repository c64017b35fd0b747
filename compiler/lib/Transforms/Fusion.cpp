//===- Fusion.cpp - kiln-fuse: group kiln ops into kiln.kernel ops ---------===//
//
// One walk over each block in program order. Every computing op (not a view,
// parameter or constant) either joins an open group as an epilogue or anchors
// a new group. An elementwise or broadcast op joins a group when
//   1. the table allows it (canFuseIntoGroup(anchor kind, op kind)),
//   2. it consumes the group's current result,
//   3. that result has no user but this op (else the value would have to be
//      materialised anyway, and a later kernel would read it), and
//   4. its result has the group's shape (an epilogue runs once per element the
//      group already computes; it cannot enlarge the iteration space).
// If several groups qualify (a residual add reading two groups), it joins the
// one created last; the other value becomes an external input.
//
// Then, in the order the groups end, producer fusion (canAbsorbProducer): a
// pointwise group P moves into the group C that reads its result when
//   5. every user of P's result is in C, and
//   6. C iterates over P's elements: C is pointwise with P's result shape, or
//      C is anchored by reduce_sum/reduce_mean whose input is P's result and
//      no op after the anchor reads it (P becomes C's prologue).
// Its result is then never stored: a residual add's other operand, or a
// batch-norm statistic's squared deviations, are computed where they are read.
//   7. A producer read by several groups that all satisfy 6 is recomputed in
//      each (a copy of its ops per reader) when it reads at most one tensor of
//      its own size and is at most 4 ops: batch norm's x - mean and
//      (x - mean) * rstd are recomputed from x by every reader instead of
//      being stored for the backward.
//
// Each group then becomes one kiln.kernel placed where its last op was. That
// is sound because, by rule 3, no value computed inside a group except its last
// one has a user outside the group, so nothing between the group's first and
// last op can depend on the ops being moved; by rule 5 the same holds for a
// group with an absorbed producer (whose ops keep their program order).
//
//===----------------------------------------------------------------------===//
#include "kiln/Transforms/FusionKinds.h"
#include "kiln/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <algorithm>

namespace kiln {
#define GEN_PASS_DEF_KILNFUSION
#include "kiln/Transforms/Passes.h.inc"

namespace {

using mlir::Operation;
using mlir::Value;

struct Group {
  FusionKind anchorKind;
  llvm::SmallVector<Operation *, 4> ops; // program order
  unsigned lastPosition = 0;             // program position of ops.back()
  Operation *anchor = nullptr;           // the op that started the group
};

llvm::ArrayRef<int64_t> shapeOf(Value v) {
  return llvm::cast<mlir::ShapedType>(v.getType()).getShape();
}

bool isElementwiseLike(FusionKind kind) {
  return kind == FusionKind::Elementwise || kind == FusionKind::Broadcast;
}

// The ops that take part in fusion: kiln computations. Views, leaves, ops of
// other dialects and kernels that already exist are left where they are.
bool isFusible(Operation *op) {
  if (llvm::isa<KernelOp>(op) || op->getNumResults() != 1)
    return false;
  FusionKind kind = getFusionKind(op);
  return kind != FusionKind::View && kind != FusionKind::Leaf;
}

struct KilnFusionPass : impl::KilnFusionBase<KilnFusionPass> {
  using KilnFusionBase::KilnFusionBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    llvm::SmallPtrSet<Operation *, 16> created;
    for (mlir::Block &block : func.getBody())
      materialize(formGroups(block), created);

    // Names follow the kernel order of the whole function, so they are stable
    // under the placement above and unique per function.
    unsigned index = 0;
    llvm::SmallVector<KernelOp> kernels;
    func.walk([&](KernelOp kernel) {
      if (created.contains(kernel))
        kernel.setName((func.getSymName() + "_k" + llvm::Twine(index)).str());
      ++index;
      kernels.push_back(kernel);
    });
    numKernels += created.size();

    if (report)
      emitReport(func, kernels);
  }

  // Rules 1-4 of the file comment, applied in program order.
  llvm::SmallVector<Group> formGroups(mlir::Block &block) {
    llvm::SmallVector<Group> groups;
    // The current result of every group, i.e. the value an epilogue may read.
    llvm::DenseMap<Value, unsigned> groupOfResult;
    unsigned position = 0;
    positionOf.clear();
    updates.clear();
    for (Operation &op : block) {
      ++position;
      if (auto update = llvm::dyn_cast<UpdateOp>(op)) {
        // The parameter is overwritten where the new value is computed.
        Operation *writer = rootOf(update.getValue()).getDefiningOp();
        unsigned at = writer && positionOf.count(writer) ? positionOf.lookup(writer) : position;
        updates.push_back({at, rootOf(update.getParameter())});
      }
      if (!isFusible(&op))
        continue;
      FusionKind kind = getFusionKind(&op);
      Value result = op.getResult(0);

      std::optional<unsigned> join;
      if (!noFusion && isElementwiseLike(kind)) {
        for (Value operand : op.getOperands()) {
          auto it = groupOfResult.find(operand);
          if (it == groupOfResult.end())
            continue;
          unsigned candidate = it->second;
          bool soleUser = llvm::all_of(operand.getUsers(),
                                       [&](Operation *user) { return user == &op; });
          bool sameShape = shapeOf(result) == shapeOf(operand);
          if (canFuseIntoGroup(groups[candidate].anchorKind, kind) && soleUser &&
              sameShape && (!join || candidate > *join))
            join = candidate;
        }
      }

      positionOf[&op] = position;
      if (join) {
        Group &group = groups[*join];
        groupOfResult.erase(group.ops.back()->getResult(0));
        group.ops.push_back(&op);
        group.lastPosition = position;
        ++numEpilogueOps;
      } else {
        groups.push_back(Group{kind, {&op}, position, &op});
      }
      groupOfResult[result] = join ? *join : groups.size() - 1;
    }
    // Kernels are created in the order of their last op, which is where each
    // one is placed; that is the kernel order of the function.
    llvm::stable_sort(groups, [](const Group &a, const Group &b) {
      return a.lastPosition < b.lastPosition;
    });
    if (!noFusion)
      absorbProducers(groups);
    return groups;
  }

  // Rules 5 to 7 of the file comment. `groups` is in the order the groups
  // end, so a producer is visited before the groups that absorb it, and a
  // group that absorbed producers can itself be absorbed later.
  void absorbProducers(llvm::SmallVectorImpl<Group> &groups) {
    llvm::DenseMap<Operation *, unsigned> owner;
    for (unsigned i = 0; i < groups.size(); ++i)
      for (Operation *op : groups[i].ops)
        owner[op] = i;
    // Rule 6 for one consumer group.
    auto canMoveInto = [&](const Group &producer, const Group &into, Value result) {
      if (!canAbsorbProducer(into.anchorKind, into.anchor, producer.anchorKind))
        return false;
      bool iteratesOverIt;
      if (into.anchorKind == FusionKind::Reduction) {
        // The reduction's input, read by nothing after the anchor.
        unsigned anchorPosition = positionOf.lookup(into.anchor);
        iteratesOverIt =
            into.anchor->getOperand(0) == result &&
            llvm::all_of(result.getUsers(), [&](Operation *user) {
              return !llvm::is_contained(into.ops, user) || user == into.anchor ||
                     positionOf.lookup(user) < anchorPosition;
            });
      } else {
        iteratesOverIt = shapeOf(result) == shapeOf(into.ops.back()->getResult(0));
      }
      return iteratesOverIt && !readsParameterUpdatedBefore(producer, into.lastPosition);
    };
    auto merge = [&](unsigned into, llvm::ArrayRef<Operation *> ops, FusionKind kind) {
      Group &group = groups[into];
      for (Operation *op : ops)
        owner[op] = into;
      group.ops.append(ops.begin(), ops.end());
      llvm::stable_sort(group.ops, [&](Operation *a, Operation *b) {
        return positionOf.lookup(a) < positionOf.lookup(b);
      });
      if (group.anchorKind == FusionKind::Elementwise)
        group.anchorKind = kind; // broadcast if either reads a stretched input
    };
    for (unsigned p = 0; p < groups.size(); ++p) {
      Group &producer = groups[p];
      if (producer.ops.empty())
        continue;
      Value result = producer.ops.back()->getResult(0);
      // Rule 5: every user is in a group (one, or rule 7: several).
      llvm::SmallVector<unsigned, 4> consumers;
      bool allInGroups = !result.use_empty();
      for (Operation *user : result.getUsers()) {
        auto it = owner.find(user);
        if (it == owner.end() || it->second == p) {
          allInGroups = false;
          break;
        }
        if (!llvm::is_contained(consumers, it->second))
          consumers.push_back(it->second);
      }
      if (!allInGroups ||
          !llvm::all_of(consumers,
                        [&](unsigned c) { return canMoveInto(producer, groups[c], result); }) ||
          (consumers.size() > 1 && !cheapToRecompute(producer, result)))
        continue;
      llvm::sort(consumers);
      // Every consumer but the last gets a copy of the producer's ops (placed
      // before its last op, where every value they read is defined, and
      // ordered by the originals' positions); the last one takes the ops
      // themselves.
      for (unsigned c : llvm::ArrayRef<unsigned>(consumers).drop_back()) {
        mlir::IRMapping mapping;
        mlir::OpBuilder builder(producer.ops.back());
        llvm::SmallVector<Operation *, 4> copies;
        for (Operation *op : producer.ops) {
          Operation *copy = builder.clone(*op, mapping);
          positionOf[copy] = positionOf.lookup(op);
          copies.push_back(copy);
        }
        for (Operation *op : groups[c].ops)
          op->replaceUsesOfWith(result, mapping.lookup(result));
        merge(c, copies, producer.anchorKind);
        ++numRecomputedGroups;
      }
      merge(consumers.back(), producer.ops, producer.anchorKind);
      producer.ops.clear();
      ++numProducerGroups;
    }
    llvm::erase_if(groups, [](const Group &g) { return g.ops.empty(); });
  }

  // Rule 7: recomputing a producer in each reader costs no extra memory
  // traffic when it reads at most one tensor of its own size (the others are
  // broadcast per channel, or scalars): each reader loads that tensor instead
  // of the producer's result. A short chain keeps the extra arithmetic small.
  static bool cheapToRecompute(const Group &producer, Value result) {
    constexpr size_t kMaxRecomputedOps = 4;
    if (producer.ops.size() > kMaxRecomputedOps)
      return false;
    llvm::SmallPtrSet<Operation *, 8> inside(producer.ops.begin(), producer.ops.end());
    llvm::SmallVector<Value, 2> fullInputs;
    for (Operation *op : producer.ops)
      for (Value operand : op->getOperands())
        if (!inside.contains(operand.getDefiningOp()) && shapeOf(operand) == shapeOf(result) &&
            !llvm::is_contained(fullInputs, operand))
          fullInputs.push_back(operand);
    return fullInputs.size() <= 1;
  }

  // Parameters are updated in place by the kernel computing their
  // kiln.update's value (kiln-plan-memory), so a producer that reads a
  // parameter must not move to or past that kernel.
  bool readsParameterUpdatedBefore(const Group &producer, unsigned newPosition) const {
    for (Operation *op : producer.ops)
      for (Value operand : op->getOperands()) {
        Value root = rootOf(operand);
        for (const auto &[at, param] : updates)
          if (param == root && at > positionOf.lookup(op) && at <= newPosition)
            return true;
      }
    return false;
  }

  /// The value under any reshape/flatten views.
  static Value rootOf(Value v) {
    while (Operation *def = v.getDefiningOp()) {
      if (!llvm::isa<ReshapeOp, FlattenOp>(def))
        break;
      v = def->getOperand(0);
    }
    return v;
  }

  llvm::DenseMap<Operation *, unsigned> positionOf; // program position of fusible ops
  llvm::SmallVector<std::pair<unsigned, Value>> updates; // kiln.update: position, parameter

  void materialize(llvm::ArrayRef<Group> groups,
                   llvm::SmallPtrSetImpl<Operation *> &created) {
    for (const Group &group : groups) {
      Operation *last = group.ops.back();
      llvm::SmallPtrSet<Operation *, 8> inGroup(group.ops.begin(), group.ops.end());

      // External values in first-use order; parameters and constants are
      // among them, the runtime binds those from the parameter table.
      llvm::SetVector<Value> inputs;
      llvm::SmallVector<mlir::Location> locs;
      for (Operation *op : group.ops) {
        locs.push_back(op->getLoc());
        for (Value operand : op->getOperands())
          if (!inGroup.contains(operand.getDefiningOp()))
            inputs.insert(operand);
      }

      mlir::OpBuilder builder(last);
      mlir::Location loc = mlir::FusedLoc::get(&getContext(), locs);
      // The final name needs the function's kernel order; set in runOnOperation.
      auto kernel = builder.create<KernelOp>(loc, last->getResult(0).getType(),
                                             inputs.getArrayRef(), "",
                                             stringifyFusionKind(group.anchorKind));
      llvm::SmallVector<mlir::Location> argLocs;
      for (Value input : inputs)
        argLocs.push_back(input.getLoc());
      mlir::Block *body = builder.createBlock(&kernel.getBody(), {},
                                              mlir::ValueRange(inputs.getArrayRef()).getTypes(),
                                              argLocs);
      mlir::IRMapping mapping;
      mapping.map(inputs.getArrayRef(), body->getArguments());
      for (Operation *op : group.ops)
        builder.clone(*op, mapping);
      builder.create<YieldOp>(last->getLoc(), mapping.lookup(last->getResult(0)));

      last->getResult(0).replaceAllUsesWith(kernel.getResult());
      // Reverse order: each op's only users are later ops of the group.
      for (Operation *op : llvm::reverse(group.ops)) {
        assert(op->use_empty() && "a group value escaped the group");
        op->erase();
      }
      created.insert(kernel);
    }
  }

  // One remark per function, one note per kernel, so a driver or a person can
  // read what was fused without dumping the IR.
  void emitReport(mlir::func::FuncOp func, llvm::ArrayRef<KernelOp> kernels) {
    mlir::InFlightDiagnostic diag = func.emitRemark()
                                    << "kiln-fuse: " << kernels.size() << " kernels";
    for (KernelOp kernel : kernels)
      diag.attachNote(kernel.getLoc())
          << kernel.getName() << " (" << kernel.getKind() << "): " << describeKernel(kernel);
  }
};

} // namespace
} // namespace kiln

//===- MemoryPlan.cpp - kiln-plan-memory: one arena for all intermediates --===//
//
// After kiln-fuse every computation is a kiln.kernel, so the function is a
// sequence of kernels. Each kernel result is one buffer; a view (reshape,
// flatten) is the same bytes under another shape and shares its input's
// buffer. A buffer is live from the kernel that writes it to the last kernel
// that reads it or any view of it. Buffers returned by the function are
// written straight into the caller's outputs; all others get a slice of one
// arena, placed "greedy by size": largest first, each at the lowest offset
// that overlaps no already placed buffer whose lifetime overlaps its own.
//
// Sizes are linear in the batch: a buffer with a dynamic dim (the batch) needs
// per-item bytes x batch and lives in the per-item region; a fully static one
// needs fixed bytes and lives in the fixed region. The fixed region comes
// first, so a buffer's address is
//   arena + offset_fixed + offset_per_item * batch
// with offset_fixed = arena_fixed_bytes for every per-item buffer. Every size
// is rounded up to 64 bytes, so every address is 64-byte aligned for any batch.
//
// A kernel never writes over one of its own inputs: its output's lifetime
// starts at its index and each input's lifetime reaches at least that index,
// so the two lifetimes overlap and the placement keeps their bytes disjoint.
//
//===----------------------------------------------------------------------===//
#include "kiln/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <optional>
#include <vector>

namespace kiln {
#define GEN_PASS_DEF_KILNPLANMEMORY
#include "kiln/Transforms/Passes.h.inc"

namespace {

using mlir::Operation;
using mlir::Value;

constexpr int64_t kAlignment = 64;

// Attribute names: docs/dialect.md, "Memory-plan attributes".
constexpr llvm::StringLiteral kBuffer = "kiln.buffer";
constexpr llvm::StringLiteral kOffsetFixed = "kiln.offset_fixed";
constexpr llvm::StringLiteral kOffsetPerItem = "kiln.offset_per_item";
constexpr llvm::StringLiteral kOutputIndex = "kiln.output_index";
constexpr llvm::StringLiteral kArenaFixedBytes = "kiln.arena_fixed_bytes";
constexpr llvm::StringLiteral kArenaPerItemBytes = "kiln.arena_per_item_bytes";
constexpr llvm::StringLiteral kPeakBytesPerItem = "kiln.peak_bytes_per_item";
constexpr llvm::StringLiteral kCopyOutputs = "kiln.copy_outputs";
constexpr llvm::StringLiteral kParamName = "kiln.param_name";

struct Buffer {
  KernelOp writer;
  llvm::SmallVector<Operation *, 2> views; // views of it, resolved through chains
  unsigned first = 0;                      // index of the writing kernel
  unsigned last = 0;                       // index of the last reading kernel
  bool perItem = false;
  int64_t size = 0; // bytes (per item when perItem), rounded up to kAlignment
  std::optional<int64_t> outputIndex;
  std::optional<llvm::StringRef> paramName; // written in place into a parameter
  int64_t offset = 0; // within its region

  bool livesWith(const Buffer &other) const {
    return first <= other.last && other.first <= last;
  }
};

bool isView(Operation *op) { return llvm::isa<ReshapeOp, FlattenOp>(op); }

// Follows reshape/flatten chains to the value that owns the bytes.
Value resolveViews(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (!isView(def))
      break;
    value = def->getOperand(0);
  }
  return value;
}

int64_t roundUp(int64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

// Places `ids` (all in one region) and returns the region's size.
int64_t placeGreedyBySize(std::vector<Buffer> &buffers, llvm::ArrayRef<unsigned> ids) {
  llvm::SmallVector<unsigned> order(ids.begin(), ids.end());
  // Largest first; ties in program order so the plan is deterministic.
  llvm::stable_sort(order, [&](unsigned a, unsigned b) {
    if (buffers[a].size != buffers[b].size)
      return buffers[a].size > buffers[b].size;
    return buffers[a].first < buffers[b].first;
  });

  int64_t regionSize = 0;
  llvm::SmallVector<unsigned> placed;
  for (unsigned id : order) {
    Buffer &buffer = buffers[id];
    // Only buffers alive at the same time constrain this one.
    llvm::SmallVector<unsigned> conflicts;
    for (unsigned other : placed)
      if (buffer.livesWith(buffers[other]))
        conflicts.push_back(other);
    llvm::sort(conflicts, [&](unsigned a, unsigned b) {
      return buffers[a].offset < buffers[b].offset;
    });
    // Scan the conflicts by offset for the first gap that fits.
    int64_t offset = 0;
    for (unsigned other : conflicts) {
      if (offset + buffer.size <= buffers[other].offset)
        break;
      offset = std::max(offset, buffers[other].offset + buffers[other].size);
    }
    buffer.offset = offset;
    regionSize = std::max(regionSize, offset + buffer.size);
    placed.push_back(id);
  }
  return regionSize;
}

struct KilnPlanMemoryPass : impl::KilnPlanMemoryBase<KilnPlanMemoryPass> {
  using KilnPlanMemoryBase::KilnPlanMemoryBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    if (!func.getBody().hasOneBlock()) {
      func.emitOpError("kiln-plan-memory expects a function with a single block");
      return signalPassFailure();
    }
    mlir::Block &block = func.getBody().front();
    mlir::Builder builder(&getContext());

    // 1. Buffers and their lifetimes over the kernel sequence.
    std::vector<Buffer> buffers;
    llvm::DenseMap<Value, unsigned> bufferOf; // kernel results and views of them
    llvm::SmallVector<UpdateOp> updates;
    unsigned numKernels = 0;
    for (Operation &op : block) {
      if (auto kernel = llvm::dyn_cast<KernelOp>(op)) {
        unsigned index = numKernels++;
        for (Value input : kernel.getInputs()) {
          auto it = bufferOf.find(input);
          if (it != bufferOf.end())
            buffers[it->second].last = std::max(buffers[it->second].last, index);
        }
        if (failed(addBuffer(kernel, index, buffers)))
          return signalPassFailure();
        bufferOf[kernel.getResult()] = buffers.size() - 1;
      } else if (isView(&op)) {
        auto it = bufferOf.find(op.getOperand(0));
        if (it != bufferOf.end()) {
          // The id first: inserting the view may grow the map and free the
          // slot `it` points at (CI once crashed reading it afterwards).
          const unsigned id = it->second;
          bufferOf[op.getResult(0)] = id;
          buffers[id].views.push_back(&op);
        }
      } else if (auto update = llvm::dyn_cast<UpdateOp>(op)) {
        updates.push_back(update);
      } else if (llvm::isa<ParameterOp, ConstantOp, mlir::func::ReturnOp>(op)) {
        continue;
      } else {
        // Anything else would read or write memory the plan knows nothing of.
        op.emitOpError("is outside a kiln.kernel; kiln-plan-memory only accepts "
                       "kiln.kernel, kiln.parameter, kiln.constant, kiln.reshape, "
                       "kiln.flatten and func.return (run kiln-fuse first)");
        return signalPassFailure();
      }
    }

    // 1b. kiln.update: the kernel computing a parameter's new value writes it
    // straight into the parameter (an optimizer step updates weights in
    // place). Sound when no later kernel reads the old value and the writer
    // itself reads it only at the element it writes.
    llvm::SmallVector<KernelOp> kernelOrder;
    for (Operation &op : block)
      if (auto kernel = llvm::dyn_cast<KernelOp>(op))
        kernelOrder.push_back(kernel);
    for (UpdateOp update : updates) {
      auto param = update.getParameter().getDefiningOp<ParameterOp>();
      Value root = resolveViews(update.getValue());
      auto it = bufferOf.find(root);
      if (!param || it == bufferOf.end()) {
        update.emitOpError("kiln-plan-memory: the new value must be computed by a kernel "
                           "in this function");
        return signalPassFailure();
      }
      Buffer &buffer = buffers[it->second];
      if (buffer.paramName) {
        update.emitOpError("kiln-plan-memory: one value updates two parameters ('")
            << *buffer.paramName << "' and '" << param.getName() << "')";
        return signalPassFailure();
      }
      for (unsigned t = 0; t < kernelOrder.size(); ++t) {
        KernelOp reader = kernelOrder[t];
        if (!llvm::is_contained(reader.getInputs(), update.getParameter()))
          continue;
        bool sameElement = t == buffer.first &&
                           reader.getResult().getType() == update.getParameter().getType() &&
                           (reader.getKind() == "elementwise" || reader.getKind() == "broadcast");
        if (t > buffer.first || (t == buffer.first && !sameElement)) {
          reader.emitOpError("kiln-plan-memory: reads parameter '")
              << param.getName() << "' after (or while) kernel "
              << kernelOrder[buffer.first].getName() << " overwrites it in place";
          return signalPassFailure();
        }
      }
      buffer.paramName = param.getName();
    }

    // 2. Returned values: the first return of a kernel's buffer is written
    // there directly; every other returned value needs a copy after the
    // kernels have run.
    llvm::SmallVector<mlir::Attribute> copies;
    auto addCopy = [&](int64_t output, llvm::StringRef from,
                       std::optional<mlir::NamedAttribute> source = std::nullopt) {
      llvm::SmallVector<mlir::NamedAttribute> fields{
          builder.getNamedAttr("output", builder.getI64IntegerAttr(output)),
          builder.getNamedAttr("from", builder.getStringAttr(from))};
      if (source)
        fields.push_back(*source);
      copies.push_back(builder.getDictionaryAttr(fields));
    };
    auto index = [&](int64_t value) {
      return builder.getNamedAttr("index", builder.getI64IntegerAttr(value));
    };
    auto returnOp = llvm::cast<mlir::func::ReturnOp>(block.getTerminator());
    for (auto [position, operand] : llvm::enumerate(returnOp.getOperands())) {
      auto output = static_cast<int64_t>(position);
      Value root = resolveViews(operand);
      if (auto it = bufferOf.find(root); it != bufferOf.end()) {
        Buffer &buffer = buffers[it->second];
        if (buffer.paramName)
          addCopy(output, "param", builder.getNamedAttr("name", builder.getStringAttr(*buffer.paramName)));
        else if (!buffer.outputIndex)
          buffer.outputIndex = output;
        else // The same bytes returned twice: copy the output written first.
          addCopy(output, "output", index(*buffer.outputIndex));
      } else if (auto argument = llvm::dyn_cast<mlir::BlockArgument>(root)) {
        addCopy(output, "input", index(argument.getArgNumber()));
      } else if (auto parameter = root.getDefiningOp<ParameterOp>()) {
        addCopy(output, "param", builder.getNamedAttr("name", parameter.getNameAttr()));
      } else {
        // A kiln.constant (step 1 admits nothing else). Its data is in the
        // parameter table; the writer finds it as the root of this operand.
        addCopy(output, "constant");
      }
    }

    // 3. Placement, one region at a time.
    llvm::SmallVector<unsigned> fixedIds, perItemIds;
    for (auto [id, buffer] : llvm::enumerate(buffers))
      if (!buffer.outputIndex && !buffer.paramName)
        (buffer.perItem ? perItemIds : fixedIds).push_back(id);
    int64_t fixedBytes = placeGreedyBySize(buffers, fixedIds);
    int64_t perItemBytes = placeGreedyBySize(buffers, perItemIds);

    // The lower bound any plan must meet: the most per-item arena bytes alive
    // at once (outputs live in the caller's memory, not the arena).
    int64_t peakPerItem = 0;
    for (unsigned t = 0; t < numKernels; ++t) {
      int64_t live = 0;
      for (unsigned id : perItemIds)
        if (buffers[id].first <= t && t <= buffers[id].last)
          live += buffers[id].size;
      peakPerItem = std::max(peakPerItem, live);
    }

    // 4. Annotations.
    for (Buffer &buffer : buffers) {
      llvm::SmallVector<Operation *, 3> ops{buffer.writer};
      ops.append(buffer.views.begin(), buffer.views.end());
      for (Operation *op : ops) {
        for (llvm::StringLiteral name :
             {kBuffer, kOffsetFixed, kOffsetPerItem, kOutputIndex, kParamName})
          op->removeAttr(name);
        if (buffer.paramName) {
          op->setAttr(kBuffer, builder.getStringAttr("param"));
          op->setAttr(kParamName, builder.getStringAttr(*buffer.paramName));
          continue;
        }
        if (buffer.outputIndex) {
          op->setAttr(kBuffer, builder.getStringAttr("output"));
          op->setAttr(kOutputIndex, builder.getI64IntegerAttr(*buffer.outputIndex));
          continue;
        }
        op->setAttr(kBuffer, builder.getStringAttr("arena"));
        op->setAttr(kOffsetFixed,
                    builder.getI64IntegerAttr(buffer.perItem ? fixedBytes : buffer.offset));
        op->setAttr(kOffsetPerItem, builder.getI64IntegerAttr(buffer.perItem ? buffer.offset : 0));
      }
    }
    func->setAttr(kArenaFixedBytes, builder.getI64IntegerAttr(fixedBytes));
    func->setAttr(kArenaPerItemBytes, builder.getI64IntegerAttr(perItemBytes));
    func->setAttr(kPeakBytesPerItem, builder.getI64IntegerAttr(peakPerItem));
    if (copies.empty())
      func->removeAttr(kCopyOutputs);
    else
      func->setAttr(kCopyOutputs, builder.getArrayAttr(copies));

    if (report) {
      int64_t withoutReuse = 0;
      for (unsigned id : perItemIds)
        withoutReuse += buffers[id].size;
      func.emitRemark() << "arena: " << perItemBytes << " B/item (peak live " << peakPerItem
                        << " B/item), " << fixedBytes << " B fixed, " << numKernels
                        << " kernels; without reuse " << withoutReuse << " B/item";
    }
  }

  // A kernel's result as a buffer. Every `?` in kiln is the batch (usually
  // dim 0, elsewhere after a transpose), so one dynamic dim means per-item
  // bytes and none means fixed bytes. Two would grow with batch squared, which
  // an offset linear in the batch cannot express.
  mlir::LogicalResult addBuffer(KernelOp kernel, unsigned index, std::vector<Buffer> &buffers) {
    auto type = kernel.getResult().getType();
    if (type.getNumDynamicDims() > 1)
      return kernel.emitOpError("result ")
             << type << " has more than one dynamic dimension; kiln-plan-memory "
             << "sizes buffers as fixed + per-item bytes x batch";
    int64_t elements = 1;
    for (int64_t dim : type.getShape())
      if (!mlir::ShapedType::isDynamic(dim))
        elements *= dim;
    Buffer buffer;
    buffer.writer = kernel;
    buffer.first = buffer.last = index;
    buffer.perItem = type.getNumDynamicDims() == 1;
    buffer.size = roundUp(elements * type.getElementTypeBitWidth() / 8);
    buffers.push_back(buffer);
    return mlir::success();
  }
};

} // namespace
} // namespace kiln

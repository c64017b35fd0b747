//===- PackConvWeights.cpp - kiln-pack-conv-weights: OIHW -> HWIO weights ===//
//
// The runtime's direct convolution (kiln_conv2d_same_f32) vectorises over
// output pixels, which wastes lanes on small planes (a 7x7 image fills 49 of
// 64, a thread's half of a 14x14 one 98 of 112) and masks the taps outside
// the image. Its channels-in-lanes variant (also kiln_conv2d_hwio_f32, for
// stride 2 and other windows) puts output channels in the lanes instead,
// which needs the weights of one (ci, ky, kx) for consecutive output
// channels to be contiguous: HWIO, [KH, KW, Cin, Cout]. Weights of an
// inference artifact never change, so the layout is fixed at compile time
// instead of the runtime transposing on every call.
//
// As kiln-fold-batch-norm, this pass rewrites the IR by parameter name. The
// values live in the parameter table, outside the IR, so each new parameter
// is recorded on the function (`kiln.weight_packs`) and the driver stores
// the transposed values (compiler/lib/Driver/ConvWeightPacking.cpp).
//
//===----------------------------------------------------------------------===//
#include "kiln/Dialect/OpQueries.h"
#include "kiln/Transforms/Passes.h"

#include "kiln/runtime/KernelABI.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

namespace kiln {
#define GEN_PASS_DEF_KILNPACKCONVWEIGHTS
#include "kiln/Transforms/Passes.h.inc"

namespace {

using mlir::Operation;

constexpr llvm::StringLiteral kPacksAttr = "kiln.weight_packs";

/// Whether the runtime will compute `conv` with output channels in the
/// vector lanes once its weight is HWIO: a direct "same" convolution, or any
/// other of stride 1 or 2 (kiln_conv2d_hwio_f32; the CPU lowering's rules),
/// of a small output plane with Cout a multiple of 16.
bool packable(Conv2dOp conv) {
  if (conv.getWeightLayout() != "oihw")
    return false;
  std::optional<ConvExtents> extents = convExtentsOf(conv);
  if (!extents || !(directSameConvApplies(*extents) || hwioConvApplies(*extents)))
    return false;
  const int64_t cout = conv.getOihwWeightShape()[0];
  return !mlir::ShapedType::isDynamic(cout) &&
         kiln_conv2d_channels_in_lanes(extents->oh, extents->ow, cout);
}

/// Whether the channels-in-lanes kernel computes `conv` with the same sums,
/// in the same order, as the OIHW lowering it replaces (then packing is a
/// transposition and the outputs stay bitwise): the direct "same"
/// convolution, the phase-split 3x3 stride-2 one and the strided 1x1 one
/// over gathered pixels (the CPU lowering's rules, OpQueries.h) all add
/// taps, then input channels, as it does. Other shapes (a "valid" window,
/// say) went through im2col + sgemm, whose sums run in another order: the
/// export checks those (kiln.weight_packs "exact").
bool keepsSums(Conv2dOp conv) {
  std::optional<ConvExtents> e = convExtentsOf(conv);
  return e && (directSameConvApplies(*e) || directStride2ConvApplies(*e) ||
               directSubsampledConvApplies(*e));
}

struct KilnPackConvWeightsPass : impl::KilnPackConvWeightsBase<KilnPackConvWeightsPass> {
  using KilnPackConvWeightsBase::KilnPackConvWeightsBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    mlir::MLIRContext *ctx = &getContext();
    // Parameter names are global to the module (one parameter table): a new
    // name must not collide with any function's parameters, and a source
    // another function already packed keeps its packed name, so the table
    // holds each packed weight once.
    llvm::StringSet<> taken;
    llvm::StringMap<std::string> packedName;
    Operation *scope = func->getParentOp() ? func->getParentOp() : func.getOperation();
    scope->walk([&](ParameterOp p) { taken.insert(p.getName()); });
    scope->walk([&](mlir::func::FuncOp f) {
      if (auto packs = f->getAttrOfType<mlir::ArrayAttr>(kPacksAttr))
        for (mlir::Attribute a : packs)
          if (auto dict = llvm::dyn_cast<mlir::DictionaryAttr>(a)) {
            auto source = dict.getAs<mlir::StringAttr>("source");
            auto packed = dict.getAs<mlir::StringAttr>("packed");
            if (source && packed)
              packedName.try_emplace(source.getValue(), packed.str());
          }
    });

    llvm::SmallVector<mlir::Attribute> packs;
    llvm::StringSet<> listed; // packed names in this function's list
    if (auto existing = func->getAttrOfType<mlir::ArrayAttr>(kPacksAttr))
      for (mlir::Attribute a : existing) {
        packs.push_back(a);
        if (auto dict = llvm::dyn_cast<mlir::DictionaryAttr>(a))
          if (auto packed = dict.getAs<mlir::StringAttr>("packed"))
            listed.insert(packed.getValue());
      }

    llvm::SmallVector<Conv2dOp> candidates;
    func.walk([&](Conv2dOp conv) {
      if (conv.getWeight().getDefiningOp<ParameterOp>() && packable(conv))
        candidates.push_back(conv);
    });

    mlir::OpBuilder builder(ctx);
    // One packed op per source op, placed right after it so that it
    // dominates every convolution the source op feeds.
    llvm::DenseMap<Operation *, ParameterOp> packedOf;
    llvm::SetVector<Operation *> sources;
    // This run's new list entries (source, packed name), and whether every
    // convolution packed from each keeps its sums.
    llvm::SmallVector<std::pair<mlir::StringAttr, std::string>> added;
    llvm::StringMap<bool> exact;
    for (Conv2dOp conv : candidates) {
      auto source = conv.getWeight().getDefiningOp<ParameterOp>();
      ParameterOp &packed = packedOf[source.getOperation()];
      if (!packed) {
        std::string name;
        if (auto it = packedName.find(source.getName()); it != packedName.end()) {
          name = it->second;
        } else {
          name = source.getName().str() + ".hwio";
          for (int n = 2; taken.contains(name); ++n)
            name = source.getName().str() + ".hwio." + std::to_string(n);
          taken.insert(name);
          packedName[source.getName()] = name;
        }
        auto oihw = llvm::cast<mlir::RankedTensorType>(source.getType());
        llvm::ArrayRef<int64_t> s = oihw.getShape(); // [Cout, Cin, KH, KW]
        auto hwio = mlir::RankedTensorType::get({s[2], s[3], s[1], s[0]},
                                                oihw.getElementType());
        builder.setInsertionPointAfter(source);
        packed = builder.create<ParameterOp>(
            source.getLoc(), mlir::TypeRange{hwio}, mlir::ValueRange{},
            llvm::ArrayRef<mlir::NamedAttribute>{
                builder.getNamedAttr("name", builder.getStringAttr(name)),
                builder.getNamedAttr("trainable", builder.getBoolAttr(false))});
        if (listed.insert(name).second)
          added.emplace_back(source.getNameAttr(), name);
        sources.insert(source.getOperation());
      }
      bool &keeps = exact.try_emplace(packed.getName(), true).first->second;
      keeps = keeps && keepsSums(conv);
      conv.getWeightMutable().assign(packed.getResult());
      conv.setWeightLayout("hwio");
      ++numPacked;
    }
    for (auto &[source, name] : added)
      packs.push_back(builder.getDictionaryAttr({
          builder.getNamedAttr("source", source),
          builder.getNamedAttr("packed", builder.getStringAttr(name)),
          builder.getNamedAttr("exact", builder.getBoolAttr(exact.lookup(name))),
      }));
    for (Operation *source : sources)
      if (source->use_empty())
        source->erase();
    if (!packs.empty())
      func->setAttr(kPacksAttr, mlir::ArrayAttr::get(ctx, packs));
  }
};

} // namespace
} // namespace kiln

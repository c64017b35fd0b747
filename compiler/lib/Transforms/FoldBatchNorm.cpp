//===- FoldBatchNorm.cpp - kiln-fold-batch-norm: conv2d + batch_norm -> conv2d ===//
//
// An inference-form batch_norm after a convolution is an affine map per output
// channel c: y = (conv(x, W)[c] + b[c] - mean[c]) * s[c] + beta[c] with
// s = gamma / sqrt(var + eps), so it equals conv(x, W') + b' with
// W'[c] = W[c] * s[c] and b'[c] = (b[c] - mean[c]) * s[c] + beta[c].
//
// This pass does the rewrite on names only. The values live in the parameter
// table, outside the IR, so the pass records each fold on the function
// (`kiln.batch_norm_folds`) and the driver computes W' and b' from the table
// in double precision (compiler/lib/Driver/BatchNormFolding.cpp). Keeping the
// arithmetic out of the pass lets export_model check the folded model against
// the unfolded one before it trusts it.
//
//===----------------------------------------------------------------------===//
#include "kiln/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringSet.h"

namespace kiln {
#define GEN_PASS_DEF_KILNFOLDBATCHNORM
#include "kiln/Transforms/Passes.h.inc"

namespace {

using mlir::Operation;
using mlir::Value;

constexpr llvm::StringLiteral kFoldsAttr = "kiln.batch_norm_folds";

/// The parameter op defining `v`, or null.
ParameterOp paramOf(Value v) { return v ? v.getDefiningOp<ParameterOp>() : ParameterOp(); }

/// "<prefix>.weight" -> "<prefix>", anything else unchanged.
std::string layerPrefix(llvm::StringRef weightName) {
  if (weightName.ends_with(".weight"))
    return weightName.drop_back(llvm::StringRef(".weight").size()).str();
  return weightName.str();
}

struct KilnFoldBatchNormPass : impl::KilnFoldBatchNormBase<KilnFoldBatchNormPass> {
  using KilnFoldBatchNormBase::KilnFoldBatchNormBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    // Parameter names are global to the module (one parameter table), so new
    // names must not collide with any function's parameters.
    llvm::StringSet<> taken;
    Operation *scope = func->getParentOp() ? func->getParentOp() : func.getOperation();
    scope->walk([&](ParameterOp p) { taken.insert(p.getName()); });
    auto unique = [&](std::string name) {
      std::string candidate = name;
      for (int n = 2; taken.contains(candidate); ++n)
        candidate = name + "." + std::to_string(n);
      taken.insert(candidate);
      return candidate;
    };

    llvm::SmallVector<mlir::Attribute> folds;
    if (auto existing = func->getAttrOfType<mlir::ArrayAttr>(kFoldsAttr))
      folds.append(existing.begin(), existing.end());
    llvm::SmallVector<BatchNormOp> candidates;
    func.walk([&](BatchNormOp bn) { candidates.push_back(bn); });

    mlir::MLIRContext *ctx = &getContext();
    mlir::OpBuilder builder(ctx);
    for (BatchNormOp bn : candidates) {
      auto conv = bn.getInput().getDefiningOp<Conv2dOp>();
      // The convolution's own result must disappear: another user would still
      // need the unnormalised values. A packed (HWIO) weight is left alone:
      // the driver scales OIHW rows per output channel, and packing runs
      // after folding anyway.
      if (!conv || !conv.getResult().hasOneUse() || conv.hasHwioWeight())
        continue;
      ParameterOp weight = paramOf(conv.getWeight());
      ParameterOp bias = paramOf(conv.getBias());
      ParameterOp gamma = paramOf(bn.getWeight()), beta = paramOf(bn.getBias());
      ParameterOp mean = paramOf(bn.getMean()), var = paramOf(bn.getVar());
      if (!weight || (conv.getBias() && !bias) || !gamma || !beta || !mean || !var)
        continue;
      // Per-output-channel vectors of the weight's leading extent (OIHW).
      auto weightType = llvm::cast<mlir::RankedTensorType>(weight.getType());
      if (weightType.getRank() != 4)
        continue;
      int64_t channels = weightType.getDimSize(0);
      auto isChannelVector = [&](ParameterOp p) {
        auto t = llvm::cast<mlir::RankedTensorType>(p.getType());
        return t.getRank() == 1 && t.getDimSize(0) == channels;
      };
      if (!isChannelVector(gamma) || !isChannelVector(beta) || !isChannelVector(mean) ||
          !isChannelVector(var) || (bias && !isChannelVector(bias)))
        continue;

      std::string prefix = layerPrefix(weight.getName());
      std::string foldedWeight = unique(weight.getName().str() + ".bn_folded");
      std::string foldedBias = unique(prefix + ".bias.bn_folded");

      builder.setInsertionPoint(conv);
      auto param = [&](const std::string &name, mlir::Type type) {
        return builder.create<ParameterOp>(
            conv.getLoc(), mlir::TypeRange{type}, mlir::ValueRange{},
            llvm::ArrayRef<mlir::NamedAttribute>{
                builder.getNamedAttr("name", builder.getStringAttr(name)),
                builder.getNamedAttr("trainable", builder.getBoolAttr(false))});
      };
      auto newWeight = param(foldedWeight, weightType);
      auto newBias = param(foldedBias, mlir::RankedTensorType::get({channels},
                                                                   weightType.getElementType()));
      auto folded = builder.create<Conv2dOp>(
          bn.getLoc(), mlir::TypeRange{bn.getResult().getType()},
          mlir::ValueRange{conv.getInput(), newWeight.getResult(), newBias.getResult()},
          conv->getAttrs());

      folds.push_back(builder.getDictionaryAttr({
          builder.getNamedAttr("conv_weight", weight.getNameAttr()),
          builder.getNamedAttr("conv_bias", builder.getStringAttr(bias ? bias.getName() : "")),
          builder.getNamedAttr("bn_weight", gamma.getNameAttr()),
          builder.getNamedAttr("bn_bias", beta.getNameAttr()),
          builder.getNamedAttr("bn_mean", mean.getNameAttr()),
          builder.getNamedAttr("bn_var", var.getNameAttr()),
          builder.getNamedAttr("epsilon", bn.getEpsilonAttr()),
          builder.getNamedAttr("folded_weight", builder.getStringAttr(foldedWeight)),
          builder.getNamedAttr("folded_bias", builder.getStringAttr(foldedBias)),
      }));

      bn.getResult().replaceAllUsesWith(folded.getResult());
      bn.erase();
      conv.erase();
      // One op may feed several operands (a shared parameter): erase it once.
      llvm::SmallPtrSet<Operation *, 6> dead;
      for (ParameterOp p : {weight, bias, gamma, beta, mean, var})
        if (p && p->use_empty())
          dead.insert(p.getOperation());
      for (Operation *op : dead)
        op->erase();
      ++numFolded;
    }
    if (!folds.empty())
      func->setAttr(kFoldsAttr, mlir::ArrayAttr::get(ctx, folds));
  }
};

} // namespace
} // namespace kiln

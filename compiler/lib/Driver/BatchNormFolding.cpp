//===- BatchNormFolding.cpp - values of kiln-fold-batch-norm's folds ------===//
//
// kiln-fold-batch-norm rewrites the IR by parameter name; the values are in
// the parameter table, so the arithmetic happens here. It is done in double:
// the folded model is then as close to the exact affine composition as one
// f32 rounding per weight allows, and export_model compares it with the
// unfolded model before using it.
//===----------------------------------------------------------------------===//
#include "BatchNormFolding.h"
#include "FunctionRecipes.h"

#include "kiln/Dialect/KilnOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <set>

namespace kiln {

namespace {
constexpr const char *kFoldsAttr = "kiln.batch_norm_folds";
} // namespace

std::vector<BatchNormFold> materializeBatchNormFolds(mlir::ModuleOp module,
                                                     std::vector<ParamRecord> &params) {
  std::vector<BatchNormFold> folds;
  for (mlir::DictionaryAttr dict : takeFunctionRecipes(module, kFoldsAttr)) {
    auto field = [&](llvm::StringRef key) { return recipeString(dict, key, kFoldsAttr); };
    BatchNormFold f;
    f.convWeight = field("conv_weight");
    f.convBias = field("conv_bias");
    f.bnWeight = field("bn_weight");
    f.bnBias = field("bn_bias");
    f.bnMean = field("bn_mean");
    f.bnVar = field("bn_var");
    f.foldedWeight = field("folded_weight");
    f.foldedBias = field("folded_bias");
    auto eps = dict.getAs<mlir::FloatAttr>("epsilon");
    if (!eps)
      throw CompileError(fmt::format("internal: {} entry without 'epsilon'", kFoldsAttr));
    f.epsilon = float(eps.getValueAsDouble());
    folds.push_back(std::move(f));
  }

  // params grows below: look values up by index, never by reference.
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params.size(); ++i)
    index[params[i].name] = i;
  for (const BatchNormFold &f : folds) {
    auto get = [&](const std::string &name) -> const ParamRecord & {
      auto it = index.find(name);
      if (it == index.end())
        throw CompileError(fmt::format("batch-norm folding: no value for parameter '{}'", name));
      return params[it->second];
    };
    ParamRecord weight = get(f.convWeight);
    const int64_t channels = weight.shape.empty() ? 0 : weight.shape[0];
    auto vec = [&](const std::string &name) {
      const ParamRecord &p = get(name);
      if (int64_t(p.data.size()) != channels)
        throw CompileError(fmt::format("batch-norm folding: '{}' has {} values, '{}' has {} "
                                       "output channels",
                                       name, p.data.size(), f.convWeight, channels));
      return p.data;
    };
    std::vector<float> gamma = vec(f.bnWeight), beta = vec(f.bnBias), mean = vec(f.bnMean),
                       var = vec(f.bnVar);
    std::vector<float> bias = f.convBias.empty() ? std::vector<float>(size_t(channels), 0.0f)
                                                 : vec(f.convBias);
    if (channels <= 0 || weight.data.size() % size_t(channels) != 0)
      throw CompileError(fmt::format("batch-norm folding: '{}' is not an OIHW weight",
                                     f.convWeight));
    const size_t perChannel = weight.data.size() / size_t(channels);
    ParamRecord foldedWeight{f.foldedWeight, weight.shape, std::vector<float>(weight.data.size()),
                             false};
    ParamRecord foldedBias{f.foldedBias, {channels}, std::vector<float>(size_t(channels)), false};
    for (int64_t c = 0; c < channels; ++c) {
      // The f32 epsilon widened exactly, as the unfolded kernel adds it.
      double scale = double(gamma[c]) / std::sqrt(double(var[c]) + double(f.epsilon));
      for (size_t k = 0; k < perChannel; ++k) {
        size_t i = size_t(c) * perChannel + k;
        foldedWeight.data[i] = float(double(weight.data[i]) * scale);
      }
      foldedBias.data[c] = float((double(bias[c]) - double(mean[c])) * scale + double(beta[c]));
    }
    index[foldedWeight.name] = params.size();
    params.push_back(std::move(foldedWeight));
    index[foldedBias.name] = params.size();
    params.push_back(std::move(foldedBias));
  }
  return folds;
}

void keepReferencedParams(mlir::ModuleOp module, std::vector<ParamRecord> &params) {
  std::set<std::string> used;
  module.walk([&](ParameterOp p) { used.insert(p.getName().str()); });
  std::vector<ParamRecord> kept;
  for (ParamRecord &p : params)
    if (used.count(p.name))
      kept.push_back(std::move(p));
  params = std::move(kept);
}

} // namespace kiln

//===- ConvWeightPacking.cpp - values of kiln-pack-conv-weights' packs ----===//
//
// kiln-pack-conv-weights rewrites the IR by parameter name; the values are in
// the parameter table, so the transposition happens here. It moves values
// and computes nothing, which is why a packed artifact's outputs are bitwise
// those of the unpacked one.
//===----------------------------------------------------------------------===//
#include "ConvWeightPacking.h"
#include "FunctionRecipes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

namespace kiln {

namespace {
constexpr const char *kPacksAttr = "kiln.weight_packs";
} // namespace

std::vector<ConvWeightPack> materializeConvWeightPacks(mlir::ModuleOp module,
                                                       std::vector<ParamRecord> &params) {
  std::vector<ConvWeightPack> packs;
  // Functions that pack the same source share its packed parameter and each
  // list it: one table entry per packed name.
  std::map<std::string, std::string> sourceOf;
  for (mlir::DictionaryAttr dict : takeFunctionRecipes(module, kPacksAttr)) {
    ConvWeightPack p{recipeString(dict, "source", kPacksAttr),
                     recipeString(dict, "packed", kPacksAttr)};
    if (auto exact = dict.getAs<mlir::BoolAttr>("exact"))
      p.exact = exact.getValue();
    auto [it, inserted] = sourceOf.try_emplace(p.packed, p.source);
    if (!inserted && it->second != p.source)
      throw CompileError(fmt::format("internal: {} packs both '{}' and '{}' into '{}'",
                                     kPacksAttr, it->second, p.source, p.packed));
    if (inserted)
      packs.push_back(std::move(p));
  }

  // params grows below: look values up by index, never by reference.
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params.size(); ++i)
    index[params[i].name] = i;
  for (const ConvWeightPack &p : packs) {
    auto it = index.find(p.source);
    if (it == index.end())
      throw CompileError(
          fmt::format("conv weight packing: no value for parameter '{}'", p.source));
    if (index.count(p.packed))
      throw CompileError(fmt::format("conv weight packing: a parameter '{}' exists already",
                                     p.packed));
    const ParamRecord &src = params[it->second];
    int64_t numel = 1;
    for (int64_t d : src.shape)
      numel *= d;
    if (src.shape.size() != 4 || numel != int64_t(src.data.size()))
      throw CompileError(fmt::format("conv weight packing: '{}' has {} values, expected an "
                                     "OIHW weight filling its shape [{}]",
                                     p.source, src.data.size(), fmt::join(src.shape, ", ")));
    const int64_t cout = src.shape[0], cin = src.shape[1], kh = src.shape[2],
                  kw = src.shape[3];
    ParamRecord packed{p.packed, {kh, kw, cin, cout}, std::vector<float>(src.data.size()), false};
    for (int64_t co = 0; co < cout; ++co)
      for (int64_t ci = 0; ci < cin; ++ci)
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx)
            packed.data[size_t(((ky * kw + kx) * cin + ci) * cout + co)] =
                src.data[size_t(((co * cin + ci) * kh + ky) * kw + kx)];
    index[packed.name] = params.size();
    params.push_back(std::move(packed));
  }
  return packs;
}

} // namespace kiln

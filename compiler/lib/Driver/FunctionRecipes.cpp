//===- FunctionRecipes.cpp - what name-rewriting passes leave for the driver ----===//
#include "FunctionRecipes.h"

#include "kiln/Driver/Compiler.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <fmt/format.h>

namespace kiln {

std::vector<mlir::DictionaryAttr> takeFunctionRecipes(mlir::ModuleOp module,
                                                      llvm::StringRef attr) {
  // Collect first: nothing may throw through MLIR's walk (built without exceptions).
  llvm::SmallVector<mlir::func::FuncOp> funcs;
  module.walk([&](mlir::func::FuncOp func) { funcs.push_back(func); });
  std::vector<mlir::DictionaryAttr> recipes;
  for (mlir::func::FuncOp func : funcs) {
    auto list = func->getAttrOfType<mlir::ArrayAttr>(attr);
    if (!list)
      continue;
    for (mlir::Attribute a : list) {
      auto dict = llvm::dyn_cast<mlir::DictionaryAttr>(a);
      if (!dict)
        throw CompileError(fmt::format("internal: {} must hold dictionaries", attr.str()));
      recipes.push_back(dict);
    }
    func->removeAttr(attr);
  }
  return recipes;
}

std::string recipeString(mlir::DictionaryAttr recipe, llvm::StringRef key, llvm::StringRef attr) {
  auto value = recipe.getAs<mlir::StringAttr>(key);
  if (!value)
    throw CompileError(fmt::format("internal: {} entry without '{}'", attr.str(), key.str()));
  return value.str();
}

} // namespace kiln

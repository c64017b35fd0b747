//===- FunctionRecipes.h - what name-rewriting passes leave for the driver -*- C++ -*-===//
//
// kiln-fold-batch-norm and kiln-pack-conv-weights rewrite the IR by parameter
// name; the values live in the parameter table, outside the IR. Each lists
// what it did on the function as an array of dictionaries of names, which
// the driver reads here to compute the new values.
//===----------------------------------------------------------------------===//
#ifndef KILN_DRIVER_FUNCTIONRECIPES_H
#define KILN_DRIVER_FUNCTIONRECIPES_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace kiln {

/// Every dictionary of every function's `attr` list, in function order; the
/// attributes are removed. Throws CompileError on an entry that is not a
/// dictionary.
std::vector<mlir::DictionaryAttr> takeFunctionRecipes(mlir::ModuleOp module,
                                                      llvm::StringRef attr);

/// Field `key` of a recipe from `attr` as a string; throws CompileError
/// naming both where it is missing.
std::string recipeString(mlir::DictionaryAttr recipe, llvm::StringRef key, llvm::StringRef attr);

} // namespace kiln

#endif

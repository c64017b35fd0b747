//===- BatchNormFolding.h - values of kiln-fold-batch-norm's folds -*- C++ -*-===//
#ifndef KILN_DRIVER_BATCHNORMFOLDING_H
#define KILN_DRIVER_BATCHNORMFOLDING_H

#include "ArtifactWriter.h"

#include <vector>

namespace kiln {

/// Reads the `kiln.batch_norm_folds` recipes kiln-fold-batch-norm left on the
/// module's functions, appends the folded parameters to `params` (values in
/// double, rounded once; see BatchNormFold in Compiler.h) and removes the
/// attributes. Throws CompileError when a source parameter is missing from
/// `params` or has the wrong size.
std::vector<BatchNormFold> materializeBatchNormFolds(mlir::ModuleOp module,
                                                     std::vector<ParamRecord> &params);

/// Drops the parameters no kiln.parameter op of the module reads.
void keepReferencedParams(mlir::ModuleOp module, std::vector<ParamRecord> &params);

} // namespace kiln

#endif

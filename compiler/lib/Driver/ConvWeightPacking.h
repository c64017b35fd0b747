//===- ConvWeightPacking.h - values of kiln-pack-conv-weights' packs -*- C++ -*-===//
#ifndef KILN_DRIVER_CONVWEIGHTPACKING_H
#define KILN_DRIVER_CONVWEIGHTPACKING_H

#include "ArtifactWriter.h"

#include <vector>

namespace kiln {

/// Reads the `kiln.weight_packs` lists kiln-pack-conv-weights left on the
/// module's functions, appends each packed parameter to `params` (the source
/// transposed from OIHW to HWIO; see ConvWeightPack in Compiler.h) once, and
/// removes the attributes. Throws CompileError when a source parameter is
/// missing from `params` or its values do not fill its OIHW shape.
std::vector<ConvWeightPack> materializeConvWeightPacks(mlir::ModuleOp module,
                                                       std::vector<ParamRecord> &params);

} // namespace kiln

#endif

//===- KilnDialect.cpp - kiln dialect registration -------------------------===//
#include "kiln/Dialect/KilnDialect.h"
#include "kiln/Dialect/KilnOps.h"

using namespace mlir;
using namespace kiln;

#include "kiln/Dialect/KilnOpsDialect.cpp.inc"

void KilnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "kiln/Dialect/KilnOps.cpp.inc"
      >();
}

// Folders produce DenseElementsAttr values; materialise them as kiln.constant.
Operation *KilnDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  auto elements = llvm::dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return builder.create<ConstantOp>(loc, type, elements);
}

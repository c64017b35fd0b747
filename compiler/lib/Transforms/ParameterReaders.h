//===- ParameterReaders.h - the kiln.parameter ops of a body ---*- C++ -*-===//
//
// Private to compiler/lib/Transforms. A parameter may be read by several
// kiln.parameter ops (one per use site in the frontend's text); kiln-autodiff
// sums their adjoints per name and kiln-optimizer updates each name once, so
// both passes start from the same grouping by name.
//===----------------------------------------------------------------------===//
#ifndef KILN_TRANSFORMS_PARAMETERREADERS_H
#define KILN_TRANSFORMS_PARAMETERREADERS_H

#include "kiln/Dialect/KilnOps.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <string>

namespace kiln {

class ParameterReaders {
public:
  /// The kiln.parameter ops directly in `body` (all, or only the trainable ones).
  ParameterReaders(mlir::Block &body, bool trainableOnly);

  /// Every collected op, in program order.
  llvm::ArrayRef<ParameterOp> all() const { return all_; }
  /// The parameter names in order of first appearance.
  llvm::ArrayRef<std::string> names() const { return names_; }
  /// The ops reading `name`, in program order (empty if none).
  llvm::ArrayRef<ParameterOp> readers(llvm::StringRef name) const;
  /// The first op reading `name` (null if none).
  ParameterOp first(llvm::StringRef name) const;

private:
  llvm::SmallVector<ParameterOp> all_;
  llvm::SmallVector<std::string> names_;
  llvm::StringMap<llvm::SmallVector<ParameterOp, 1>> byName_;
};

} // namespace kiln

#endif

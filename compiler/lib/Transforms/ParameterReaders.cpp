//===- ParameterReaders.cpp - the kiln.parameter ops of a body ------------===//
#include "ParameterReaders.h"

namespace kiln {

ParameterReaders::ParameterReaders(mlir::Block &body, bool trainableOnly) {
  for (mlir::Operation &op : body) {
    auto param = llvm::dyn_cast<ParameterOp>(op);
    if (!param || (trainableOnly && !param.getTrainable()))
      continue;
    auto &list = byName_[param.getName()];
    if (list.empty())
      names_.push_back(param.getName().str());
    list.push_back(param);
    all_.push_back(param);
  }
}

llvm::ArrayRef<ParameterOp> ParameterReaders::readers(llvm::StringRef name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? llvm::ArrayRef<ParameterOp>() : llvm::ArrayRef(it->second);
}

ParameterOp ParameterReaders::first(llvm::StringRef name) const {
  llvm::ArrayRef<ParameterOp> list = readers(name);
  return list.empty() ? ParameterOp() : list.front();
}

} // namespace kiln

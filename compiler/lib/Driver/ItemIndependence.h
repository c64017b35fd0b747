//===- ItemIndependence.h - may an entry's batch be split? ------*- C++ -*-===//
//
// Entry.items_independent in the artifact: whether item n of every output of
// an entry is a function of item n of its inputs alone (and of parameters),
// with no parameter written. The runtime then splits the batch between its
// threads, each running every launch on its own items, instead of splitting
// every launch (runtime/src/Session.cpp).
//===----------------------------------------------------------------------===//
#ifndef KILN_DRIVER_ITEMINDEPENDENCE_H
#define KILN_DRIVER_ITEMINDEPENDENCE_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <string>

namespace kiln {

/// True when every input and result of `func` has the dynamic batch as
/// dimension 0 and every op that reads batch items keeps them apart: per-item
/// ops (elementwise, conv2d, pools, batch_norm with given statistics, linear,
/// matmul of items by a fixed matrix, softmax and reductions over other axes,
/// reshapes that keep each item's elements, transposes that keep dimension 0).
/// Anything else (a reduction over the batch, a parameter update, an op this
/// list does not know) makes it false, which is always safe. `why`, where
/// given, receives the reason for false.
bool entryItemsIndependent(mlir::func::FuncOp func, std::string *why = nullptr);

} // namespace kiln

#endif

//===- MlirInterpreter.h - evaluate a func.func of kiln ops in double ------===//
//
// Walks the ops of one function in order and evaluates each with the
// reference op functions of Reference.h (double precision). It is the oracle
// for passes that rewrite kiln IR, kiln-autodiff first: the IR a pass produces
// is evaluated here and compared with finite differences or with the input IR.
// kiln.kernel bodies are evaluated too, so fused IR can be interpreted as well.
//
// Every '?' in the function is the batch: its extent is read from the
// arguments (all their '?' dims must agree) and every result is checked
// against its op's result type, so a wrong shape inference shows up as an
// exception naming the op.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_REFERENCE_MLIRINTERPRETER_H
#define KILN_REFERENCE_MLIRINTERPRETER_H

#include "kiln/reference/Reference.h"

#include <map>
#include <string>
#include <vector>

namespace mlir {
class Operation;
}  // namespace mlir

namespace kiln::ref {

struct InterpretResult {
  std::vector<RefTensor> results;             // the func.return operands, in order
  std::map<std::string, RefTensor> updates;   // kiln.update: parameter name -> new value
};

/// Evaluates the func.func `func` on `args` (one per function argument) with
/// `params` giving the value of every kiln.parameter it reads, by name.
/// `batch` is the extent of '?' dims when no argument carries one (e.g. a
/// function without arguments); -1 means "from the arguments".
/// Throws std::invalid_argument on a missing parameter, a shape that disagrees
/// with the IR's types, or an op it does not know.
InterpretResult interpret(mlir::Operation* func, const std::vector<RefTensor>& args,
                          const std::map<std::string, RefTensor>& params, int64_t batch = -1);

}  // namespace kiln::ref

#endif  // KILN_REFERENCE_MLIRINTERPRETER_H

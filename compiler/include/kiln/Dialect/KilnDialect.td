//===- KilnDialect.td - the kiln dialect definition ----------*- tablegen -*-===//
//
// The kiln dialect models a deep-learning graph on ranked f32 tensors whose
// dimension 0 (the batch) is dynamic. It is the compiler's input (emitted by the
// C++ frontend), the level at which autodiff and fusion work, and, through
// kiln.kernel, the unit that codegen lowers to one native or CUDA kernel.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_DIALECT_TD
#define KILN_DIALECT_TD

include "mlir/IR/OpBase.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let summary = "Deep-learning dataflow graphs on f32 tensors with a dynamic batch";
  let cppNamespace = "::kiln";
  let hasConstantMaterializer = 1;
}

class Kiln_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kiln_Dialect, mnemonic, traits>;

// Ranked f32 tensors only: every Kiln value is one.
def Kiln_Tensor : RankedTensorOf<[F32]>;

#endif // KILN_DIALECT_TD

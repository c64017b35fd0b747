// kiln-plan-memory rejects what it cannot plan, with an error on the op.
// RUN: kiln-opt -split-input-file -verify-diagnostics -kiln-plan-memory %s

// A kiln computation left outside a kernel (kiln-fuse did not run).
func.func @unfused(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  // expected-error @below {{'kiln.relu' op is outside a kiln.kernel; kiln-plan-memory only accepts kiln.kernel, kiln.parameter, kiln.constant, kiln.reshape, kiln.flatten and func.return (run kiln-fuse first)}}
  %0 = kiln.relu %x : (tensor<?x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// An op of another dialect reading a kernel result: the plan could not see
// that use, so it refuses rather than free the buffer too early.
func.func @foreign(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = kiln.kernel "foreign_k0" kind("elementwise") (%x : tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%i: tensor<?x16xf32>):
    %r = kiln.relu %i : (tensor<?x16xf32>) -> tensor<?x16xf32>
    kiln.yield %r : tensor<?x16xf32>
  }
  // expected-error @below {{'arith.addf' op is outside a kiln.kernel}}
  %1 = arith.addf %0, %0 : tensor<?x16xf32>
  return %1 : tensor<?x16xf32>
}

// -----

// [?,?] would need batch * batch bytes: no offset linear in the batch fits.
func.func @batch_squared(%x: tensor<?x4xf32>, %y: tensor<4x?xf32>) -> tensor<?x?xf32> {
  // expected-error @below {{'kiln.kernel' op result 'tensor<?x?xf32>' has more than one dynamic dimension}}
  %0 = kiln.kernel "batch_squared_k0" kind("out_fusible") (%x, %y : tensor<?x4xf32>, tensor<4x?xf32>) -> tensor<?x?xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4x?xf32>):
    %r = kiln.matmul %a, %b : (tensor<?x4xf32>, tensor<4x?xf32>) -> tensor<?x?xf32>
    kiln.yield %r : tensor<?x?xf32>
  }
  return %0 : tensor<?x?xf32>
}

// kiln.update: the kernel computing a parameter's new value writes it in place
// (kiln.buffer = "param"); reading the old value after that kernel is an error.
// RUN: kiln-opt -split-input-file -kiln-fuse -kiln-plan-memory -verify-diagnostics %s | FileCheck %s

// Before: w - g then kiln.update. After: the sub kernel is bound to the
// parameter, not to the arena; the other kernel still gets an arena slice.
// CHECK-LABEL: func.func @sgd_step
// CHECK: kiln.kernel "sgd_step_k0" kind("elementwise")
// CHECK-SAME: kiln.buffer = "param"
// CHECK-SAME: kiln.param_name = "w"
// CHECK: kiln.update
// CHECK: kiln.kernel "sgd_step_k1"
// CHECK-SAME: kiln.buffer = "output"
func.func @sgd_step(%g: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %w = kiln.parameter "w" : tensor<4x3xf32>
  %n = kiln.sub %w, %g : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  kiln.update %w, %n : tensor<4x3xf32>, tensor<4x3xf32>
  %r = kiln.mul %g, %g : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %r : tensor<4x3xf32>
}

// -----

// A kernel after the in-place writer still reads the old weights.
func.func @read_after_update(%g: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %w = kiln.parameter "w" : tensor<4x3xf32>
  %n = kiln.sub %w, %g : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  kiln.update %w, %n : tensor<4x3xf32>, tensor<4x3xf32>
  // expected-error @+1 {{reads parameter 'w' after (or while) kernel read_after_update_k0 overwrites it in place}}
  %r = kiln.relu %w : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %r : tensor<4x3xf32>
}

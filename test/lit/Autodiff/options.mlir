// kiln-autodiff's options: the function to differentiate, the index of its
// loss result and the name of the generated function.
// RUN: kiln-opt %s -kiln-autodiff="forward=model loss=1 step=grads" | FileCheck %s

// Options: differentiate @model, whose result #1 is the loss, into @grads.
// CHECK-LABEL: func.func @grads
// CHECK-SAME: (%{{.*}}: tensor<?x2xf32>) -> (tensor<1xf32>, tensor<2xf32>)
// CHECK-SAME: kiln.gradients = ["p"]
// CHECK: %[[L:.*]] = kiln.reshape %{{.*}} {shape = array<i64: 1>}
// CHECK: return %[[L]], %{{.*}} : tensor<1xf32>, tensor<2xf32>
func.func @model(%x: tensor<?x2xf32>) -> (tensor<?x2xf32>, tensor<1xf32>) {
  %p = kiln.parameter "p" : tensor<2xf32>
  %y = kiln.mul %x, %p : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %s = kiln.reduce_sum %y {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x2xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %y, %l : tensor<?x2xf32>, tensor<1xf32>
}

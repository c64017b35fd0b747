// Gradients of the views and of broadcast_to: reshape/flatten reshape the
// gradient back (dim 0 stays -1), transpose applies the inverse permutation,
// broadcast_to sums over the dims it added or stretched (in one reduction).
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// CHECK-LABEL: func.func @train_step
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: 4, -1, 3>}
// CHECK-NEXT: %[[G1:.*]] = kiln.transpose %[[G]] {perm = array<i64: 1, 2, 0>} : (tensor<4x?x3xf32>) -> tensor<?x3x4xf32>
// CHECK-NEXT: %[[G2:.*]] = kiln.reshape %[[G1]] {shape = array<i64: -1, 12>} : (tensor<?x3x4xf32>) -> tensor<?x12xf32>
// CHECK-NEXT: %[[G3:.*]] = kiln.reshape %[[G2]] {shape = array<i64: -1, 2, 2, 3>} : (tensor<?x12xf32>) -> tensor<?x2x2x3xf32>
// CHECK-NEXT: kiln.mul %[[G3]], %{{.*}}
func.func @forward(%x: tensor<?x2x2x3xf32>) -> tensor<1xf32> {
  %s = kiln.parameter "s" : tensor<3xf32>
  %h = kiln.mul %x, %s : (tensor<?x2x2x3xf32>, tensor<3xf32>) -> tensor<?x2x2x3xf32>
  %f = kiln.flatten %h : (tensor<?x2x2x3xf32>) -> tensor<?x12xf32>
  %r = kiln.reshape %f {shape = array<i64: -1, 3, 4>} : (tensor<?x12xf32>) -> tensor<?x3x4xf32>
  %t = kiln.transpose %r {perm = array<i64: 2, 0, 1>} : (tensor<?x3x4xf32>) -> tensor<4x?x3xf32>
  %u = kiln.reduce_sum %t {axes = array<i64: 0, 1, 2>, keepdim = true} : (tensor<4x?x3xf32>) -> tensor<1x1x1xf32>
  %l = kiln.reshape %u {shape = array<i64: 1>} : (tensor<1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// broadcast_to [3, 1] -> [?, 3, 4]: one reduction over the new leading dim and
// the stretched one (a single pass over the gradient), then the 1 re-inserted.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: -> (tensor<1xf32>, tensor<3x1xf32>)
// CHECK: kiln.constant dense<1.000000e+00> : tensor<1xf32>
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 3, 4>}
// CHECK-NEXT: %[[S:.*]] = kiln.reduce_sum %[[G]] {axes = array<i64: 0, 2>} : (tensor<?x3x4xf32>) -> tensor<3xf32>
// CHECK-NEXT: %[[R:.*]] = kiln.reshape %[[S]] {shape = array<i64: 3, 1>} : (tensor<3xf32>) -> tensor<3x1xf32>
// CHECK-NEXT: return %{{.*}}, %[[R]]
func.func @forward(%x: tensor<?x3x4xf32>) -> tensor<1xf32> {
  %p = kiln.parameter "p" : tensor<3x1xf32>
  %b = kiln.broadcast_to %p {shape = array<i64: -1, 3, 4>} : (tensor<3x1xf32>) -> tensor<?x3x4xf32>
  %u = kiln.reduce_sum %b {axes = array<i64: 0, 1, 2>, keepdim = true} : (tensor<?x3x4xf32>) -> tensor<1x1x1xf32>
  %l = kiln.reshape %u {shape = array<i64: 1>} : (tensor<1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

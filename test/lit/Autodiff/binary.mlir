// Gradients of the broadcasting binary ops: each operand's part is summed over
// the dims broadcasting added (leading dims: keepdim = false) or stretched
// (size-1 dims: keepdim = true), so that it has the operand's type.
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// add: g for both operands. b [4] gained the batch dim, c [?, 1] was stretched
// along dim 1 (an argument, so it gets no gradient), s (rank 0) everything.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>, %[[C:.*]]: tensor<?x1xf32>) -> (tensor<1xf32>, tensor<4xf32>, tensor<f32>)
// CHECK-SAME: kiln.gradients = ["b", "s"]
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 4>} : (tensor<1x1xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %[[GS:.*]] = kiln.reduce_sum %[[G]] {axes = array<i64: 0, 1>} : (tensor<?x4xf32>) -> tensor<f32>
// CHECK-NEXT: %[[GB:.*]] = kiln.reduce_sum %[[G]] {axes = array<i64: 0>} : (tensor<?x4xf32>) -> tensor<4xf32>
// CHECK-NEXT: return %{{.*}}, %[[GB]], %[[GS]]
func.func @forward(%x: tensor<?x4xf32>, %c: tensor<?x1xf32>) -> tensor<1xf32> {
  %b = kiln.parameter "b" : tensor<4xf32>
  %s = kiln.parameter "s" : tensor<f32>
  %y = kiln.add %b, %c : (tensor<4xf32>, tensor<?x1xf32>) -> tensor<?x4xf32>
  %z = kiln.add %y, %s : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
  %r = kiln.reduce_sum %z {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x4xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %r {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// sub: g and -g; a stretched size-1 dim is summed with keepdim.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: kiln.gradients = ["a", "b"]
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: 3, 4>} : (tensor<1x1xf32>) -> tensor<3x4xf32>
// CHECK-NEXT: %[[GA:.*]] = kiln.reduce_sum %[[G]] {axes = array<i64: 0>, keepdim = true} : (tensor<3x4xf32>) -> tensor<1x4xf32>
// CHECK-NEXT: %[[SB:.*]] = kiln.reduce_sum %[[G]] {axes = array<i64: 1>, keepdim = true} : (tensor<3x4xf32>) -> tensor<3x1xf32>
// CHECK-NEXT: %[[GB:.*]] = kiln.neg %[[SB]] : (tensor<3x1xf32>) -> tensor<3x1xf32>
// CHECK-NEXT: return %{{.*}}, %[[GA]], %[[GB]]
func.func @forward() -> tensor<1xf32> {
  %a = kiln.parameter "a" : tensor<1x4xf32>
  %b = kiln.parameter "b" : tensor<3x1xf32>
  %y = kiln.sub %a, %b : (tensor<1x4xf32>, tensor<3x1xf32>) -> tensor<3x4xf32>
  %r = kiln.reduce_sum %y {axes = array<i64: 0, 1>, keepdim = true} : (tensor<3x4xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %r {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// mul: g * b for a, g * a for b, each reduced to its operand.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK: %[[W:.*]] = kiln.parameter "w" : tensor<4xf32>
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 4>}
// CHECK-NEXT: %[[P:.*]] = kiln.mul %[[G]], %[[X]] : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %[[GW:.*]] = kiln.reduce_sum %[[P]] {axes = array<i64: 0>} : (tensor<?x4xf32>) -> tensor<4xf32>
// CHECK-NEXT: return %{{.*}}, %[[GW]]
func.func @forward(%x: tensor<?x4xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<4xf32>
  %y = kiln.mul %x, %w : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = kiln.reduce_sum %y {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x4xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %r {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// div: g / b for a; -(g * y / b) for b, y = a / b.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[A:.*]] = kiln.parameter "a" : tensor<2x4xf32>
// CHECK: %[[B:.*]] = kiln.parameter "b" : tensor<4xf32>
// CHECK: %[[Y:.*]] = kiln.div %[[A]], %[[B]]
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: 2, 4>}
// CHECK-NEXT: %[[GA:.*]] = kiln.div %[[G]], %[[B]] : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT: %[[GY:.*]] = kiln.mul %[[G]], %[[Y]]
// CHECK-NEXT: %[[Q:.*]] = kiln.div %[[GY]], %[[B]]
// CHECK-NEXT: %[[S:.*]] = kiln.reduce_sum %[[Q]] {axes = array<i64: 0>} : (tensor<2x4xf32>) -> tensor<4xf32>
// CHECK-NEXT: %[[GB:.*]] = kiln.neg %[[S]]
// CHECK-NEXT: return %{{.*}}, %[[GA]], %[[GB]]
func.func @forward() -> tensor<1xf32> {
  %a = kiln.parameter "a" : tensor<2x4xf32>
  %b = kiln.parameter "b" : tensor<4xf32>
  %y = kiln.div %a, %b : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %r = kiln.reduce_sum %y {axes = array<i64: 0, 1>, keepdim = true} : (tensor<2x4xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %r {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

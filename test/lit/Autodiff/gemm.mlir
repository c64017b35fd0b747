// Gradients of matmul and linear: products with the transposed other operand;
// the weight gradients contract over the (dynamic) batch.
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// linear(x, W, b) = x W^T + b: dx = g W, dW = g^T x, db = reduce_sum(g, [0]).
// h is computed from a parameter, so it needs its input gradient too.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>)
// CHECK-SAME: -> (tensor<1xf32>, tensor<3xf32>, tensor<5x3xf32>, tensor<5xf32>)
// CHECK-SAME: kiln.gradients = ["s", "fc.w", "fc.b"]
// CHECK: %[[S:.*]] = kiln.parameter "s" : tensor<3xf32>
// CHECK: %[[H:.*]] = kiln.mul %[[X]], %[[S]]
// CHECK: %[[W:.*]] = kiln.parameter "fc.w" : tensor<5x3xf32>
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 5>}
// CHECK-NEXT: %[[DH:.*]] = kiln.matmul %[[G]], %[[W]] : (tensor<?x5xf32>, tensor<5x3xf32>) -> tensor<?x3xf32>
// CHECK-NEXT: %[[GT:.*]] = kiln.transpose %[[G]] {perm = array<i64: 1, 0>} : (tensor<?x5xf32>) -> tensor<5x?xf32>
// CHECK-NEXT: %[[DW:.*]] = kiln.matmul %[[GT]], %[[H]] : (tensor<5x?xf32>, tensor<?x3xf32>) -> tensor<5x3xf32>
// CHECK-NEXT: %[[DB:.*]] = kiln.reduce_sum %[[G]] {axes = array<i64: 0>} : (tensor<?x5xf32>) -> tensor<5xf32>
// CHECK-NEXT: %[[P:.*]] = kiln.mul %[[DH]], %[[X]]
// CHECK-NEXT: %[[DS:.*]] = kiln.reduce_sum %[[P]] {axes = array<i64: 0>} : (tensor<?x3xf32>) -> tensor<3xf32>
// CHECK-NEXT: return %{{.*}}, %[[DS]], %[[DW]], %[[DB]]
func.func @forward(%x: tensor<?x3xf32>) -> tensor<1xf32> {
  %s = kiln.parameter "s" : tensor<3xf32>
  %h = kiln.mul %x, %s : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %w = kiln.parameter "fc.w" : tensor<5x3xf32>
  %b = kiln.parameter "fc.b" : tensor<5xf32>
  %y = kiln.linear %h, %w, %b : (tensor<?x3xf32>, tensor<5x3xf32>, tensor<5xf32>) -> tensor<?x5xf32>
  %r = kiln.reduce_sum %y {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x5xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %r {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// matmul(a, b): da = g b^T, db = a^T g. Here a = h^T [4, ?] and b = h, so the
// forward contracts over the batch; h gets both contributions, summed.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[H:.*]] = kiln.mul
// CHECK: %[[HT:.*]] = kiln.transpose %[[H]] {perm = array<i64: 1, 0>} : (tensor<?x4xf32>) -> tensor<4x?xf32>
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: 4, 4>}
// CHECK-NEXT: %[[BT:.*]] = kiln.transpose %[[H]] {perm = array<i64: 1, 0>} : (tensor<?x4xf32>) -> tensor<4x?xf32>
// CHECK-NEXT: %[[DA:.*]] = kiln.matmul %[[G]], %[[BT]] : (tensor<4x4xf32>, tensor<4x?xf32>) -> tensor<4x?xf32>
// CHECK-NEXT: %[[AT:.*]] = kiln.transpose %[[HT]] {perm = array<i64: 1, 0>} : (tensor<4x?xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %[[DB:.*]] = kiln.matmul %[[AT]], %[[G]] : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %[[DAT:.*]] = kiln.transpose %[[DA]] {perm = array<i64: 1, 0>} : (tensor<4x?xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %[[DH:.*]] = kiln.add %[[DB]], %[[DAT]] : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: kiln.mul %[[DH]], %{{.*}}
func.func @forward(%x: tensor<?x4xf32>) -> tensor<1xf32> {
  %s = kiln.parameter "s" : tensor<4xf32>
  %h = kiln.mul %x, %s : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %ht = kiln.transpose %h {perm = array<i64: 1, 0>} : (tensor<?x4xf32>) -> tensor<4x?xf32>
  %y = kiln.matmul %ht, %h : (tensor<4x?xf32>, tensor<?x4xf32>) -> tensor<4x4xf32>
  %r = kiln.reduce_sum %y {axes = array<i64: 0, 1>, keepdim = true} : (tensor<4x4xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %r {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

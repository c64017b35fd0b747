// Gradients of softmax, log_softmax and the reductions.
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// softmax: y * (g - reduce_sum(g * y, axis, keepdim)).
// CHECK-LABEL: func.func @train_step
// CHECK: %[[Y:.*]] = kiln.softmax %{{.*}} {axis = 1 : i64} : (tensor<?x4x3xf32>) -> tensor<?x4x3xf32>
// CHECK: %[[W:.*]] = kiln.parameter "w" : tensor<4x3xf32>
// CHECK: %[[G0:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 4, 3>}
// CHECK-NEXT: %[[G:.*]] = kiln.mul %[[G0]], %[[W]]
// CHECK-NEXT: %[[GW:.*]] = kiln.mul %[[G0]], %[[Y]]
// CHECK-NEXT: kiln.reduce_sum %[[GW]] {axes = array<i64: 0>} : (tensor<?x4x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: %[[GY:.*]] = kiln.mul %[[G]], %[[Y]]
// CHECK-NEXT: %[[DOT:.*]] = kiln.reduce_sum %[[GY]] {axes = array<i64: 1>, keepdim = true} : (tensor<?x4x3xf32>) -> tensor<?x1x3xf32>
// CHECK-NEXT: %[[C:.*]] = kiln.sub %[[G]], %[[DOT]]
// CHECK-NEXT: %[[DX:.*]] = kiln.mul %[[Y]], %[[C]] : (tensor<?x4x3xf32>, tensor<?x4x3xf32>) -> tensor<?x4x3xf32>
func.func @forward(%x: tensor<?x4x3xf32>) -> tensor<1xf32> {
  %s = kiln.parameter "s" : tensor<3xf32>
  %h = kiln.mul %x, %s : (tensor<?x4x3xf32>, tensor<3xf32>) -> tensor<?x4x3xf32>
  %y = kiln.softmax %h {axis = 1 : i64} : (tensor<?x4x3xf32>) -> tensor<?x4x3xf32>
  %w = kiln.parameter "w" : tensor<4x3xf32>
  %z = kiln.mul %y, %w : (tensor<?x4x3xf32>, tensor<4x3xf32>) -> tensor<?x4x3xf32>
  %u = kiln.reduce_sum %z {axes = array<i64: 0, 1, 2>, keepdim = true} : (tensor<?x4x3xf32>) -> tensor<1x1x1xf32>
  %l = kiln.reshape %u {shape = array<i64: 1>} : (tensor<1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// Softmax cross-entropy: -reduce_mean(reduce_sum(onehot * log_softmax(z), [1])).
// reduce_mean over the batch: scale by 1 / batch, then broadcast back;
// reduce_sum over [1] without keepdim: reshape to [?, 1], then broadcast;
// log_softmax: g - softmax(z) * reduce_sum(g, axis, keepdim).
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %[[T:.*]]: tensor<?x5xf32>)
// CHECK: %[[Z:.*]] = kiln.linear
// CHECK: %[[SEED:.*]] = kiln.constant dense<1.000000e+00> : tensor<1xf32>
// CHECK-NEXT: %[[NEG:.*]] = kiln.neg %[[SEED]]
// CHECK-NEXT: %[[ONE:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[ONE2:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[ONES:.*]] = kiln.broadcast_to %[[ONE2]] {shape = array<i64: -1>} : (tensor<f32>) -> tensor<?xf32>
// CHECK-NEXT: %[[N:.*]] = kiln.reduce_sum %[[ONES]] {axes = array<i64: 0>} : (tensor<?xf32>) -> tensor<f32>
// CHECK-NEXT: %[[INVN:.*]] = kiln.div %[[ONE]], %[[N]]
// CHECK-NEXT: %[[GM:.*]] = kiln.mul %[[NEG]], %[[INVN]] : (tensor<1xf32>, tensor<f32>) -> tensor<1xf32>
// CHECK-NEXT: %[[GS:.*]] = kiln.broadcast_to %[[GM]] {shape = array<i64: -1>} : (tensor<1xf32>) -> tensor<?xf32>
// CHECK-NEXT: %[[GR:.*]] = kiln.reshape %[[GS]] {shape = array<i64: -1, 1>} : (tensor<?xf32>) -> tensor<?x1xf32>
// CHECK-NEXT: %[[GP:.*]] = kiln.broadcast_to %[[GR]] {shape = array<i64: -1, 5>} : (tensor<?x1xf32>) -> tensor<?x5xf32>
// CHECK-NEXT: %[[GL:.*]] = kiln.mul %[[GP]], %[[T]]
// CHECK-NEXT: %[[P:.*]] = kiln.softmax %[[Z]] : (tensor<?x5xf32>) -> tensor<?x5xf32>
// CHECK-NEXT: %[[TOT:.*]] = kiln.reduce_sum %[[GL]] {axes = array<i64: -1>, keepdim = true} : (tensor<?x5xf32>) -> tensor<?x1xf32>
// CHECK-NEXT: %[[PT:.*]] = kiln.mul %[[P]], %[[TOT]]
// CHECK-NEXT: %[[GZ:.*]] = kiln.sub %[[GL]], %[[PT]] : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
// CHECK-NEXT: %[[GZT:.*]] = kiln.transpose %[[GZ]]
// CHECK-NEXT: %[[DW:.*]] = kiln.matmul %[[GZT]], %[[X]] : (tensor<5x?xf32>, tensor<?x8xf32>) -> tensor<5x8xf32>
// CHECK-NEXT: %[[DB:.*]] = kiln.reduce_sum %[[GZ]] {axes = array<i64: 0>}
// CHECK-NEXT: return %{{.*}}, %[[DW]], %[[DB]]
func.func @forward(%x: tensor<?x8xf32>, %onehot: tensor<?x5xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "fc.w" : tensor<5x8xf32>
  %b = kiln.parameter "fc.b" : tensor<5xf32>
  %z = kiln.linear %x, %w, %b : (tensor<?x8xf32>, tensor<5x8xf32>, tensor<5xf32>) -> tensor<?x5xf32>
  %ls = kiln.log_softmax %z : (tensor<?x5xf32>) -> tensor<?x5xf32>
  %p = kiln.mul %onehot, %ls : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
  %s = kiln.reduce_sum %p {axes = array<i64: 1>} : (tensor<?x5xf32>) -> tensor<?xf32>
  %m = kiln.reduce_mean %s {axes = array<i64: 0>, keepdim = true} : (tensor<?xf32>) -> tensor<1xf32>
  %loss = kiln.neg %m : (tensor<1xf32>) -> tensor<1xf32>
  return %loss : tensor<1xf32>
}

// -----

// A reduction over dim 0 and a non-leading dim, keepdim = false: the leading
// reduced dim comes back through broadcasting, the inner one through reshape.
// reduce_mean over static dims scales by a constant.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[SCALE:.*]] = kiln.constant dense<0.166666672> : tensor<f32>
// CHECK-NEXT: %[[G1:.*]] = kiln.mul %{{.*}}, %[[SCALE]] : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %[[G2:.*]] = kiln.reshape %[[G1]] {shape = array<i64: 3, 1>} : (tensor<3xf32>) -> tensor<3x1xf32>
// CHECK-NEXT: %[[G3:.*]] = kiln.broadcast_to %[[G2]] {shape = array<i64: 2, 3, 3>} : (tensor<3x1xf32>) -> tensor<2x3x3xf32>
// CHECK-NEXT: return %{{.*}}, %[[G3]]
func.func @forward() -> tensor<1xf32> {
  %p = kiln.parameter "p" : tensor<2x3x3xf32>
  %m = kiln.reduce_mean %p {axes = array<i64: 0, 2>} : (tensor<2x3x3xf32>) -> tensor<3xf32>
  %s = kiln.reduce_sum %m {axes = array<i64: 0>, keepdim = true} : (tensor<3xf32>) -> tensor<1xf32>
  return %s : tensor<1xf32>
}

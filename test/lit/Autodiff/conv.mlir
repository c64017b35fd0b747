// Gradient of conv2d: conv2d_grad_input (with the input's shape, so strided
// convolutions that drop rows get the right size), conv2d_grad_weight with the
// weight's shape, and reduce_sum over N, H, W for the bias. All three carry
// the forward's strides, padding, dilation and groups.
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// The input is an argument: no conv2d_grad_input for it.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%[[X:.*]]: tensor<?x3x8x8xf32>)
// CHECK-SAME: kiln.gradients = ["w", "b"]
// CHECK-NOT: kiln.conv2d_grad_input
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 4, 4, 2>}
// CHECK-NEXT: %[[DW:.*]] = kiln.conv2d_grad_weight %[[X]], %[[G]] {dilation = array<i64: 1, 2>, padding = array<i64: 1, 0>, strides = array<i64: 2, 2>, weight_shape = array<i64: 4, 3, 3, 3>} : (tensor<?x3x8x8xf32>, tensor<?x4x4x2xf32>) -> tensor<4x3x3x3xf32>
// CHECK-NEXT: %[[DB:.*]] = kiln.reduce_sum %[[G]] {axes = array<i64: 0, 2, 3>} : (tensor<?x4x4x2xf32>) -> tensor<4xf32>
// CHECK-NEXT: return %{{.*}}, %[[DW]], %[[DB]]
func.func @forward(%x: tensor<?x3x8x8xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<4x3x3x3xf32>
  %b = kiln.parameter "b" : tensor<4xf32>
  %y = kiln.conv2d %x, %w, %b {strides = array<i64: 2, 2>, padding = array<i64: 1, 0>, dilation = array<i64: 1, 2>}
      : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<?x4x4x2xf32>
  %r = kiln.reduce_sum %y {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x4x4x2xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %r {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// Two convolutions: the second (depthwise, stride 2 on an odd size) needs the
// gradient of its input, a value computed from the first conv's parameters.
// input_shape says 8 rows: a transposed convolution of 4 rows would give 7.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: kiln.gradients = ["w1", "w2"]
// CHECK: %[[W1:.*]] = kiln.parameter "w1"
// CHECK: %[[H:.*]] = kiln.conv2d %{{.*}}, %[[W1]]
// CHECK: %[[W2:.*]] = kiln.parameter "w2"
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 8, 4, 4>}
// CHECK-NEXT: %[[DH:.*]] = kiln.conv2d_grad_input %[[G]], %[[W2]] {groups = 4 : i64, input_shape = array<i64: -1, 4, 8, 8>, padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x8x4x4xf32>, tensor<8x1x3x3xf32>) -> tensor<?x4x8x8xf32>
// CHECK-NEXT: %[[DW2:.*]] = kiln.conv2d_grad_weight %[[H]], %[[G]] {groups = 4 : i64, padding = array<i64: 1, 1>, strides = array<i64: 2, 2>, weight_shape = array<i64: 8, 1, 3, 3>}
// CHECK-NEXT: %[[DW1:.*]] = kiln.conv2d_grad_weight %{{.*}}, %[[DH]] {weight_shape = array<i64: 4, 2, 1, 1>}
// CHECK-NEXT: return %{{.*}}, %[[DW1]], %[[DW2]]
func.func @forward(%x: tensor<?x2x8x8xf32>) -> tensor<1xf32> {
  %w1 = kiln.parameter "w1" : tensor<4x2x1x1xf32>
  %h = kiln.conv2d %x, %w1 : (tensor<?x2x8x8xf32>, tensor<4x2x1x1xf32>) -> tensor<?x4x8x8xf32>
  %w2 = kiln.parameter "w2" : tensor<8x1x3x3xf32>
  %y = kiln.conv2d %h, %w2 {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, groups = 4 : i64}
      : (tensor<?x4x8x8xf32>, tensor<8x1x3x3xf32>) -> tensor<?x8x4x4xf32>
  %r = kiln.reduce_sum %y {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x8x4x4xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %r {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

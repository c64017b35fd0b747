// Gradients of the pools: max_pool2d_grad (reads the forward input to find each
// window's first maximum), avg_pool2d_grad (needs only the input's shape) with
// the forward's window attributes (strides written out even where the forward
// left them to default to the kernel), and global_avg_pool as a broadcast
// scaled by 1 / (H * W).
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// CHECK-LABEL: func.func @train_step
// CHECK: %[[H:.*]] = kiln.mul
// CHECK-NEXT: %[[MP:.*]] = kiln.max_pool2d %[[H]]
// CHECK-NEXT: %[[AP:.*]] = kiln.avg_pool2d %[[MP]]
// CHECK-NEXT: %[[GP:.*]] = kiln.global_avg_pool %[[AP]]
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 2, 1, 1>}
// CHECK-NEXT: %[[SPREAD:.*]] = kiln.broadcast_to %[[G]] {shape = array<i64: -1, 2, 3, 3>} : (tensor<?x2x1x1xf32>) -> tensor<?x2x3x3xf32>
// CHECK-NEXT: %[[AREA:.*]] = kiln.constant dense<0.111111112> : tensor<f32>
// CHECK-NEXT: %[[G1:.*]] = kiln.mul %[[SPREAD]], %[[AREA]]
// CHECK-NEXT: %[[G2:.*]] = kiln.avg_pool2d_grad %[[G1]] {ceil_mode = true, count_include_pad = false, input_shape = array<i64: -1, 2, 4, 4>, kernel_size = array<i64: 2, 2>, padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x2x3x3xf32>) -> tensor<?x2x4x4xf32>
// CHECK-NEXT: %[[G3:.*]] = kiln.max_pool2d_grad %[[H]], %[[G2]] {kernel_size = array<i64: 3, 3>, padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x2x7x7xf32>, tensor<?x2x4x4xf32>) -> tensor<?x2x7x7xf32>
// CHECK-NEXT: kiln.mul %[[G3]], %{{.*}}
func.func @forward(%x: tensor<?x2x7x7xf32>) -> tensor<1xf32> {
  %s = kiln.parameter "s" : tensor<2x1x1xf32>
  %h = kiln.mul %x, %s : (tensor<?x2x7x7xf32>, tensor<2x1x1xf32>) -> tensor<?x2x7x7xf32>
  %mp = kiln.max_pool2d %h {kernel_size = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1>}
      : (tensor<?x2x7x7xf32>) -> tensor<?x2x4x4xf32>
  %ap = kiln.avg_pool2d %mp {kernel_size = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = true, count_include_pad = false}
      : (tensor<?x2x4x4xf32>) -> tensor<?x2x3x3xf32>
  %gp = kiln.global_avg_pool %ap : (tensor<?x2x3x3xf32>) -> tensor<?x2x1x1xf32>
  %t = kiln.reduce_sum %gp {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x2x1x1xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %t {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

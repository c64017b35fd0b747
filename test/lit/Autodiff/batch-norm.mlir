// batch_norm is the inference form (x - mean) * rsqrt(var + eps) * w + b; its
// gradient w.r.t. x treats the statistics as the constants they are there:
// g * (w * rsqrt(var + eps)) per channel. The statistics are usually frozen
// parameters (no gradient); weight and bias get reductions over N, H, W.
// Training mode is built from primitives (second case) and differentiates
// through them: reduce_mean over the batch scales by 1 / batch, computed once
// per function as the sum of a [?] tensor of ones.
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// CHECK-LABEL: func.func @train_step
// CHECK-SAME: kiln.gradients = ["conv.w", "bn.w", "bn.b"]
// CHECK: %[[W:.*]] = kiln.parameter "bn.w"
// CHECK: %[[M:.*]] = kiln.parameter "bn.mean" {trainable = false}
// CHECK: %[[V:.*]] = kiln.parameter "bn.var" {trainable = false}
// CHECK: %[[Y:.*]] = kiln.batch_norm %[[X:.*]], %[[W]], %{{.*}}, %[[M]], %[[V]]
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 3, 2, 2>}
// CHECK-NEXT: %[[EPS:.*]] = kiln.constant dense<1.000000e-03> : tensor<f32>
// CHECK-NEXT: %[[VE:.*]] = kiln.add %[[V]], %[[EPS]] : (tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: %[[INV:.*]] = kiln.rsqrt %[[VE]]
// CHECK-NEXT: %[[SCALE:.*]] = kiln.mul %[[W]], %[[INV]]
// CHECK-NEXT: %[[SCALEB:.*]] = kiln.reshape %[[SCALE]] {shape = array<i64: 3, 1, 1>} : (tensor<3xf32>) -> tensor<3x1x1xf32>
// CHECK-NEXT: %[[DX:.*]] = kiln.mul %[[G]], %[[SCALEB]] : (tensor<?x3x2x2xf32>, tensor<3x1x1xf32>) -> tensor<?x3x2x2xf32>
// CHECK-NEXT: %[[DB:.*]] = kiln.reduce_sum %[[G]] {axes = array<i64: 0, 2, 3>} : (tensor<?x3x2x2xf32>) -> tensor<3xf32>
// CHECK-NEXT: %[[MB:.*]] = kiln.reshape %[[M]] {shape = array<i64: 3, 1, 1>}
// CHECK-NEXT: %[[XC:.*]] = kiln.sub %[[X]], %[[MB]]
// CHECK-NEXT: %[[GXC:.*]] = kiln.mul %[[G]], %[[XC]]
// CHECK-NEXT: %[[SUM:.*]] = kiln.reduce_sum %[[GXC]] {axes = array<i64: 0, 2, 3>}
// CHECK-NEXT: %[[DW:.*]] = kiln.mul %[[SUM]], %[[INV]]
// CHECK: kiln.conv2d_grad_weight %{{.*}}, %[[DX]]
// CHECK: return %{{.*}}, %{{.*}}, %[[DW]], %[[DB]]
func.func @forward(%x: tensor<?x2x2x2xf32>) -> tensor<1xf32> {
  %cw = kiln.parameter "conv.w" : tensor<3x2x1x1xf32>
  %c = kiln.conv2d %x, %cw : (tensor<?x2x2x2xf32>, tensor<3x2x1x1xf32>) -> tensor<?x3x2x2xf32>
  %w = kiln.parameter "bn.w" : tensor<3xf32>
  %b = kiln.parameter "bn.b" : tensor<3xf32>
  %m = kiln.parameter "bn.mean" {trainable = false} : tensor<3xf32>
  %v = kiln.parameter "bn.var" {trainable = false} : tensor<3xf32>
  %y = kiln.batch_norm %c, %w, %b, %m, %v {epsilon = 1.0e-3 : f32}
      : (tensor<?x3x2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x3x2x2xf32>
  %t = kiln.reduce_sum %y {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x3x2x2xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %t {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// Training mode from primitives: mean and biased variance over [0, 2, 3].
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: kiln.gradients = ["conv.w"]
// CHECK: %[[ONE:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[ONES:.*]] = kiln.broadcast_to %[[ONE]] {shape = array<i64: -1>} : (tensor<f32>) -> tensor<?xf32>
// CHECK-NEXT: %[[N:.*]] = kiln.reduce_sum %[[ONES]] {axes = array<i64: 0>} : (tensor<?xf32>) -> tensor<f32>
// CHECK-NEXT: %[[F:.*]] = kiln.div %{{.*}}, %[[N]] : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %[[S:.*]] = kiln.mul %{{.*}}, %[[F]] : (tensor<1x3x1x1xf32>, tensor<f32>) -> tensor<1x3x1x1xf32>
// CHECK-NEXT: kiln.broadcast_to %[[S]] {shape = array<i64: -1, 3, 2, 2>} : (tensor<1x3x1x1xf32>) -> tensor<?x3x2x2xf32>
// The second mean reuses the batch count.
// CHECK-NOT: {shape = array<i64: -1>}
// CHECK: kiln.div %{{.*}}, %[[N]] : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NOT: {shape = array<i64: -1>}
// CHECK: return
func.func @forward(%x: tensor<?x2x2x2xf32>) -> tensor<1xf32> {
  %cw = kiln.parameter "conv.w" : tensor<3x2x1x1xf32>
  %c = kiln.conv2d %x, %cw : (tensor<?x2x2x2xf32>, tensor<3x2x1x1xf32>) -> tensor<?x3x2x2xf32>
  %mean = kiln.reduce_mean %c {axes = array<i64: 0, 2, 3>, keepdim = true} : (tensor<?x3x2x2xf32>) -> tensor<1x3x1x1xf32>
  %xc = kiln.sub %c, %mean : (tensor<?x3x2x2xf32>, tensor<1x3x1x1xf32>) -> tensor<?x3x2x2xf32>
  %sq = kiln.mul %xc, %xc : (tensor<?x3x2x2xf32>, tensor<?x3x2x2xf32>) -> tensor<?x3x2x2xf32>
  %var = kiln.reduce_mean %sq {axes = array<i64: 0, 2, 3>, keepdim = true} : (tensor<?x3x2x2xf32>) -> tensor<1x3x1x1xf32>
  %eps = kiln.constant dense<1.0e-5> : tensor<f32>
  %ve = kiln.add %var, %eps : (tensor<1x3x1x1xf32>, tensor<f32>) -> tensor<1x3x1x1xf32>
  %inv = kiln.rsqrt %ve : (tensor<1x3x1x1xf32>) -> tensor<1x3x1x1xf32>
  %y = kiln.mul %xc, %inv : (tensor<?x3x2x2xf32>, tensor<1x3x1x1xf32>) -> tensor<?x3x2x2xf32>
  %y2 = kiln.mul %y, %y : (tensor<?x3x2x2xf32>, tensor<?x3x2x2xf32>) -> tensor<?x3x2x2xf32>
  %t = kiln.reduce_sum %y2 {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x3x2x2xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %t {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

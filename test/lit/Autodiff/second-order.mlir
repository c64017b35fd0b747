// The gradient ops are differentiable too (they are linear in their grad
// operand): a function that already contains a backward can be differentiated
// again. max_pool2d_grad has no rule (see errors.mlir).
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// relu_grad / relu6_grad: the same op on the incoming gradient for dy, nothing
// for x (piecewise constant); hardswish_grad: also 1/3 where -3 < x < 3 for x;
// sigmoid_grad: g * dy * (1 - 2y) for y. Operands that were broadcast
// ([4] against [?, 4]) are summed back.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: kiln.gradients = ["dy", "s", "y"]
// CHECK: %[[DY:.*]] = kiln.parameter "dy" : tensor<4xf32>
// CHECK: %[[X:.*]] = kiln.mul
// CHECK-NEXT: %[[R:.*]] = kiln.relu_grad %[[X]], %[[DY]]
// CHECK-NEXT: %[[R6:.*]] = kiln.relu6_grad %[[X]], %[[R]]
// CHECK-NEXT: %[[H:.*]] = kiln.hardswish_grad %[[X]], %[[R6]]
// CHECK-NEXT: %[[Y:.*]] = kiln.parameter "y" : tensor<4xf32>
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 4>}
// sigmoid_grad(y, h): for h, sigmoid_grad(y, g); for y, g * h * (1 - 2y) summed to [4].
// CHECK-NEXT: %[[GH:.*]] = kiln.sigmoid_grad %[[Y]], %[[G]] : (tensor<4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %[[TWO:.*]] = kiln.constant dense<2.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[Y2:.*]] = kiln.mul %[[Y]], %[[TWO]]
// CHECK-NEXT: %[[ONE:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[SLOPE:.*]] = kiln.sub %[[ONE]], %[[Y2]] : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: %[[P:.*]] = kiln.mul %[[G]], %[[H]]
// CHECK-NEXT: %[[PY:.*]] = kiln.mul %[[P]], %[[SLOPE]]
// CHECK-NEXT: %[[DYY:.*]] = kiln.reduce_sum %[[PY]] {axes = array<i64: 0>} : (tensor<?x4xf32>) -> tensor<4xf32>
// hardswish_grad(x, r6): for r6, hardswish_grad(x, g); for x, relu6_grad(x + 3, g * r6) / 3.
// CHECK-NEXT: %[[GR6:.*]] = kiln.hardswish_grad %[[X]], %[[GH]]
// CHECK-NEXT: %[[THREE:.*]] = kiln.constant dense<3.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[XS:.*]] = kiln.add %[[X]], %[[THREE]]
// CHECK-NEXT: %[[GR:.*]] = kiln.mul %[[GH]], %[[R6]]
// CHECK-NEXT: %[[M:.*]] = kiln.relu6_grad %[[XS]], %[[GR]]
// CHECK-NEXT: %[[THIRD:.*]] = kiln.constant dense<0.333333343> : tensor<f32>
// CHECK-NEXT: %[[GX:.*]] = kiln.mul %[[M]], %[[THIRD]]
// relu6_grad and relu_grad: the same op on the gradient; dy [4] was broadcast.
// CHECK-NEXT: %[[GRR:.*]] = kiln.relu6_grad %[[X]], %[[GR6]]
// CHECK-NEXT: %[[GDY:.*]] = kiln.relu_grad %[[X]], %[[GRR]]
// CHECK-NEXT: %[[DDY:.*]] = kiln.reduce_sum %[[GDY]] {axes = array<i64: 0>} : (tensor<?x4xf32>) -> tensor<4xf32>
// CHECK-NEXT: %[[GS:.*]] = kiln.mul %[[GX]], %{{.*}}
// CHECK-NEXT: %[[DS:.*]] = kiln.reduce_sum %[[GS]] {axes = array<i64: 0>}
// CHECK-NEXT: return %{{.*}}, %[[DDY]], %[[DS]], %[[DYY]]
func.func @forward(%a: tensor<?x4xf32>) -> tensor<1xf32> {
  %dy = kiln.parameter "dy" : tensor<4xf32>
  %s = kiln.parameter "s" : tensor<4xf32>
  %x = kiln.mul %a, %s : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = kiln.relu_grad %x, %dy : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r6 = kiln.relu6_grad %x, %r : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %h = kiln.hardswish_grad %x, %r6 : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = kiln.parameter "y" : tensor<4xf32>
  %sg = kiln.sigmoid_grad %y, %h : (tensor<4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %u = kiln.reduce_sum %sg {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x4xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %u {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// conv2d_grad_input(dy, w): conv2d(g, w) for dy, conv2d_grad_weight(g, dy) for w;
// conv2d_grad_weight(x, dy): conv2d(x, g) for dy; avg_pool2d_grad(dy): avg_pool2d(g).
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%[[X:.*]]: tensor<2x2x5x5xf32>)
// CHECK-SAME: kiln.gradients = ["w", "dy", "pd"]
// CHECK: %[[W:.*]] = kiln.parameter "w" : tensor<3x2x3x3xf32>
// CHECK: %[[DY:.*]] = kiln.parameter "dy" : tensor<2x3x2x2xf32>
// CHECK: %[[GW:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: 3, 2, 3, 3>}
// CHECK-NEXT: %[[GA:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: 2, 2, 5, 5>}
// CHECK-NEXT: %[[PD:.*]] = kiln.avg_pool2d %[[GA]] {ceil_mode = true, kernel_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<2x2x5x5xf32>) -> tensor<2x2x3x3xf32>
// CHECK-NEXT: %[[C1:.*]] = kiln.conv2d %[[X]], %[[GW]] {strides = array<i64: 2, 2>} : (tensor<2x2x5x5xf32>, tensor<3x2x3x3xf32>) -> tensor<2x3x2x2xf32>
// CHECK-NEXT: %[[C2:.*]] = kiln.conv2d %[[GA]], %[[W]] {strides = array<i64: 2, 2>} : (tensor<2x2x5x5xf32>, tensor<3x2x3x3xf32>) -> tensor<2x3x2x2xf32>
// CHECK-NEXT: %[[DW:.*]] = kiln.conv2d_grad_weight %[[GA]], %[[DY]] {strides = array<i64: 2, 2>, weight_shape = array<i64: 3, 2, 3, 3>}
// CHECK-NEXT: %[[DDY:.*]] = kiln.add %[[C1]], %[[C2]]
// CHECK-NEXT: return %{{.*}}, %[[DW]], %[[DDY]], %[[PD]]
func.func @forward(%x: tensor<2x2x5x5xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<3x2x3x3xf32>
  %dy = kiln.parameter "dy" : tensor<2x3x2x2xf32>
  %gi = kiln.conv2d_grad_input %dy, %w {strides = array<i64: 2, 2>, input_shape = array<i64: 2, 2, 5, 5>}
      : (tensor<2x3x2x2xf32>, tensor<3x2x3x3xf32>) -> tensor<2x2x5x5xf32>
  %gw = kiln.conv2d_grad_weight %x, %dy {strides = array<i64: 2, 2>, weight_shape = array<i64: 3, 2, 3, 3>}
      : (tensor<2x2x5x5xf32>, tensor<2x3x2x2xf32>) -> tensor<3x2x3x3xf32>
  %pd = kiln.parameter "pd" : tensor<2x2x3x3xf32>
  %ap = kiln.avg_pool2d_grad %pd {kernel_size = array<i64: 2, 2>, ceil_mode = true, input_shape = array<i64: 2, 2, 5, 5>}
      : (tensor<2x2x3x3xf32>) -> tensor<2x2x5x5xf32>
  %a = kiln.add %gi, %ap : (tensor<2x2x5x5xf32>, tensor<2x2x5x5xf32>) -> tensor<2x2x5x5xf32>
  %u = kiln.reduce_sum %a {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<2x2x5x5xf32>) -> tensor<1x1x1x1xf32>
  %v = kiln.reduce_sum %gw {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<3x2x3x3xf32>) -> tensor<1x1x1x1xf32>
  %t = kiln.add %u, %v : (tensor<1x1x1x1xf32>, tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %t {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

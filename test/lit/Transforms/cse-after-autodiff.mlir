// Why the driver runs CSE after canonicalize: autodiff builds each use's
// gradient on its own, so equal sub-expressions appear once per use. Here two
// centred convolutions of the same input are added: both branches get the
// same upstream gradient, so each builds the same reduce_sum, the same 1/N
// and, since the two convolutions read the same x with equally shaped
// weights, the same conv2d_grad_weight. Without CSE each would become its
// own kernel; with it one computes, and the second output is a copy of the
// first (the memory plan's copy_outputs, see memory-plan.mlir).
// RUN: kiln-opt %s -kiln-autodiff -canonicalize | FileCheck %s --check-prefix=BEFORE
// RUN: kiln-opt %s -kiln-autodiff -canonicalize -cse | FileCheck %s --check-prefix=AFTER

// BEFORE-LABEL: func.func @train_step
// BEFORE: %[[G:.*]] = kiln.add %[[U:.*]], %[[U]]
// BEFORE-NEXT: kiln.reduce_sum %[[G]] {axes = array<i64: 0, 2, 3>, keepdim = true}
// BEFORE: kiln.div
// BEFORE: %[[DWA:.*]] = kiln.conv2d_grad_weight
// BEFORE-NEXT: kiln.reduce_sum %[[G]] {axes = array<i64: 0, 2, 3>, keepdim = true}
// BEFORE: kiln.div
// BEFORE: %[[DWB:.*]] = kiln.conv2d_grad_weight
// BEFORE: return %{{.*}}, %[[DWB]], %[[DWA]] :

// AFTER-LABEL: func.func @train_step
// AFTER: %[[G:.*]] = kiln.add %[[U:.*]], %[[U]]
// AFTER-NEXT: kiln.reduce_sum %[[G]] {axes = array<i64: 0, 2, 3>, keepdim = true}
// AFTER-NOT: kiln.reduce_sum %[[G]]
// AFTER: kiln.div
// AFTER-NOT: kiln.div
// AFTER: %[[DW:.*]] = kiln.conv2d_grad_weight
// AFTER-NOT: kiln.conv2d_grad_weight
// AFTER: return %{{.*}}, %[[DW]], %[[DW]] :
func.func @forward(%x: tensor<?x2x2x2xf32>) -> tensor<1xf32> {
  %wa = kiln.parameter "a.w" : tensor<3x2x1x1xf32>
  %ca = kiln.conv2d %x, %wa : (tensor<?x2x2x2xf32>, tensor<3x2x1x1xf32>) -> tensor<?x3x2x2xf32>
  %ma = kiln.reduce_mean %ca {axes = array<i64: 0, 2, 3>, keepdim = true} : (tensor<?x3x2x2xf32>) -> tensor<1x3x1x1xf32>
  %ya = kiln.sub %ca, %ma : (tensor<?x3x2x2xf32>, tensor<1x3x1x1xf32>) -> tensor<?x3x2x2xf32>
  %wb = kiln.parameter "b.w" : tensor<3x2x1x1xf32>
  %cb = kiln.conv2d %x, %wb : (tensor<?x2x2x2xf32>, tensor<3x2x1x1xf32>) -> tensor<?x3x2x2xf32>
  %mb = kiln.reduce_mean %cb {axes = array<i64: 0, 2, 3>, keepdim = true} : (tensor<?x3x2x2xf32>) -> tensor<1x3x1x1xf32>
  %yb = kiln.sub %cb, %mb : (tensor<?x3x2x2xf32>, tensor<1x3x1x1xf32>) -> tensor<?x3x2x2xf32>
  %y = kiln.add %ya, %yb : (tensor<?x3x2x2xf32>, tensor<?x3x2x2xf32>) -> tensor<?x3x2x2xf32>
  %sq = kiln.mul %y, %y : (tensor<?x3x2x2xf32>, tensor<?x3x2x2xf32>) -> tensor<?x3x2x2xf32>
  %t = kiln.reduce_sum %sq {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x3x2x2xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %t {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// kiln-fold-batch-norm: batch_norm(conv2d(x, W[, b]), gamma, beta, mean, var)
// becomes conv2d(x, W', b') with new parameters; the fold is listed in
// kiln.batch_norm_folds for the driver, which computes the values
// (compiler/lib/Driver/BatchNormFolding.cpp; checked in test/unit/inference).
// RUN: kiln-opt %s -split-input-file -kiln-fold-batch-norm | FileCheck %s

// No conv bias: the recipe says so with conv_bias = ""; the five source
// parameters lose their last user and are erased.
// CHECK-LABEL: func.func @no_bias
// CHECK-SAME: kiln.batch_norm_folds = [{bn_bias = "bn1.bias", bn_mean = "bn1.running_mean", bn_var = "bn1.running_var", bn_weight = "bn1.weight", conv_bias = "", conv_weight = "c1.weight", epsilon = 9.99999974E-6 : f32, folded_bias = "c1.bias.bn_folded", folded_weight = "c1.weight.bn_folded"}]
// CHECK-NEXT: %[[W:.*]] = kiln.parameter "c1.weight.bn_folded" {trainable = false} : tensor<3x2x3x3xf32>
// CHECK-NEXT: %[[B:.*]] = kiln.parameter "c1.bias.bn_folded" {trainable = false} : tensor<3xf32>
// CHECK-NEXT: %[[C:.*]] = kiln.conv2d %arg0, %[[W]], %[[B]] {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x2x4x4xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<?x3x2x2xf32>
// CHECK-NEXT: %[[R:.*]] = kiln.relu %[[C]]
// CHECK-NEXT: return %[[R]]
// CHECK-NOT: kiln.batch_norm
func.func @no_bias(%x: tensor<?x2x4x4xf32>) -> tensor<?x3x2x2xf32> {
  %w = kiln.parameter "c1.weight" : tensor<3x2x3x3xf32>
  %g = kiln.parameter "bn1.weight" : tensor<3xf32>
  %b = kiln.parameter "bn1.bias" : tensor<3xf32>
  %m = kiln.parameter "bn1.running_mean" {trainable = false} : tensor<3xf32>
  %v = kiln.parameter "bn1.running_var" {trainable = false} : tensor<3xf32>
  %c = kiln.conv2d %x, %w {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x2x4x4xf32>, tensor<3x2x3x3xf32>) -> tensor<?x3x2x2xf32>
  %n = kiln.batch_norm %c, %g, %b, %m, %v : (tensor<?x3x2x2xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<?x3x2x2xf32>
  %r = kiln.relu %n : (tensor<?x3x2x2xf32>) -> tensor<?x3x2x2xf32>
  return %r : tensor<?x3x2x2xf32>
}

// -----

// A conv bias is recorded; the epsilon attribute is carried over; the conv
// weight is still read by a second convolution, so its op stays. A folded
// name already taken in the module gets a ".2" suffix.
// CHECK-LABEL: func.func @with_bias
// CHECK-SAME: conv_bias = "c2.bias", conv_weight = "c2.weight", epsilon = 1.000000e-03 : f32, folded_bias = "c2.bias.bn_folded", folded_weight = "c2.weight.bn_folded.2"
// CHECK: %[[W0:.*]] = kiln.parameter "c2.weight" : tensor<4x4x1x1xf32>
// CHECK: kiln.parameter "c2.weight.bn_folded.2" {trainable = false}
// CHECK-NEXT: kiln.parameter "c2.bias.bn_folded" {trainable = false} : tensor<4xf32>
// CHECK-NEXT: %[[F:.*]] = kiln.conv2d %arg0
// CHECK-NOT: kiln.batch_norm
// CHECK: kiln.conv2d %[[F]], %[[W0]] :
func.func @with_bias(%x: tensor<?x4x3x3xf32>) -> tensor<?x4x3x3xf32> {
  %taken = kiln.parameter "c2.weight.bn_folded" : tensor<1xf32>
  %w = kiln.parameter "c2.weight" : tensor<4x4x1x1xf32>
  %cb = kiln.parameter "c2.bias" : tensor<4xf32>
  %g = kiln.parameter "bn2.weight" : tensor<4xf32>
  %b = kiln.parameter "bn2.bias" : tensor<4xf32>
  %m = kiln.parameter "bn2.running_mean" {trainable = false} : tensor<4xf32>
  %v = kiln.parameter "bn2.running_var" {trainable = false} : tensor<4xf32>
  %c = kiln.conv2d %x, %w, %cb : (tensor<?x4x3x3xf32>, tensor<4x4x1x1xf32>, tensor<4xf32>) -> tensor<?x4x3x3xf32>
  %n = kiln.batch_norm %c, %g, %b, %m, %v {epsilon = 1.0e-3 : f32} : (tensor<?x4x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x3x3xf32>
  %c2 = kiln.conv2d %n, %w : (tensor<?x4x3x3xf32>, tensor<4x4x1x1xf32>) -> tensor<?x4x3x3xf32>
  return %c2 : tensor<?x4x3x3xf32>
}

// -----

// Left alone: the conv result has a second user (it is returned too), the
// batch norm does not follow a convolution, and a statistic that is not a
// parameter (a constant). No attribute is added.
// CHECK-LABEL: func.func @not_foldable
// CHECK-NOT: kiln.batch_norm_folds
// CHECK-COUNT-3: kiln.batch_norm %
func.func @not_foldable(%x: tensor<?x2x4x4xf32>) -> (tensor<?x2x4x4xf32>, tensor<?x2x4x4xf32>, tensor<?x2x4x4xf32>, tensor<?x2x4x4xf32>) {
  %w = kiln.parameter "c.weight" : tensor<2x2x1x1xf32>
  %g = kiln.parameter "bn.weight" : tensor<2xf32>
  %b = kiln.parameter "bn.bias" : tensor<2xf32>
  %m = kiln.parameter "bn.running_mean" {trainable = false} : tensor<2xf32>
  %v = kiln.parameter "bn.running_var" {trainable = false} : tensor<2xf32>
  %k = kiln.constant dense<1.0> : tensor<2xf32>
  %c = kiln.conv2d %x, %w : (tensor<?x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x4x4xf32>
  %n1 = kiln.batch_norm %c, %g, %b, %m, %v : (tensor<?x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x4x4xf32>
  %r = kiln.relu %x : (tensor<?x2x4x4xf32>) -> tensor<?x2x4x4xf32>
  %n2 = kiln.batch_norm %r, %g, %b, %m, %v : (tensor<?x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x4x4xf32>
  %c3 = kiln.conv2d %x, %w : (tensor<?x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<?x2x4x4xf32>
  %n3 = kiln.batch_norm %c3, %g, %b, %m, %k : (tensor<?x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<?x2x4x4xf32>
  return %c, %n1, %n2, %n3 : tensor<?x2x4x4xf32>, tensor<?x2x4x4xf32>, tensor<?x2x4x4xf32>, tensor<?x2x4x4xf32>
}

// -----

// A convolution with a packed (HWIO) weight is left alone: the driver
// scales OIHW rows per output channel (compileInference folds before it
// packs, so it never sees one).
// CHECK-LABEL: func.func @hwio_not_folded
// CHECK-NOT: kiln.batch_norm_folds
// CHECK: kiln.conv2d {{.*}}weight_layout = "hwio"
// CHECK-NEXT: kiln.batch_norm %
func.func @hwio_not_folded(%x: tensor<?x4x7x7xf32>) -> tensor<?x16x7x7xf32> {
  %w = kiln.parameter "c.weight.hwio" : tensor<3x3x4x16xf32>
  %g = kiln.parameter "bn.weight" : tensor<16xf32>
  %b = kiln.parameter "bn.bias" : tensor<16xf32>
  %m = kiln.parameter "bn.running_mean" {trainable = false} : tensor<16xf32>
  %v = kiln.parameter "bn.running_var" {trainable = false} : tensor<16xf32>
  %c = kiln.conv2d %x, %w {padding = array<i64: 1, 1>, weight_layout = "hwio"} : (tensor<?x4x7x7xf32>, tensor<3x3x4x16xf32>) -> tensor<?x16x7x7xf32>
  %n = kiln.batch_norm %c, %g, %b, %m, %v : (tensor<?x16x7x7xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x7x7xf32>
  return %n : tensor<?x16x7x7xf32>
}

// kiln-pack-conv-weights: a convolution of stride 1 or 2 (one group,
// dilation 1; any window and padding) of a small output plane whose output
// channels the runtime puts in the vector lanes
// (kiln_conv2d_channels_in_lanes: at most 28 columns and 784 pixels, Cout a
// multiple of 16) reads its weight as a new HWIO parameter; the pack is
// listed in kiln.weight_packs for the driver, which stores the transposed
// values (compiler/lib/Driver/ConvWeightPacking.cpp; checked in
// test/unit/inference), with whether the convolutions packed keep their sums.
// RUN: kiln-opt %s -split-input-file -kiln-pack-conv-weights | FileCheck %s

// A 7x7 plane, 64 -> 64 channels, 3x3 with padding 1 (resnet20's last
// stage), bias kept: the weight becomes [3, 3, 64, 64] and the OIHW
// parameter, left without users, is erased.
// CHECK-LABEL: func.func @packed
// CHECK-SAME: kiln.weight_packs = [{exact = true, packed = "c.weight.hwio", source = "c.weight"}]
// CHECK-NOT: "c.weight"
// CHECK: %[[W:.*]] = kiln.parameter "c.weight.hwio" {trainable = false} : tensor<3x3x64x64xf32>
// CHECK-NEXT: %[[B:.*]] = kiln.parameter "c.bias" : tensor<64xf32>
// CHECK-NEXT: %[[C:.*]] = kiln.conv2d %arg0, %[[W]], %[[B]] {padding = array<i64: 1, 1>, weight_layout = "hwio"} : (tensor<?x64x7x7xf32>, tensor<3x3x64x64xf32>, tensor<64xf32>) -> tensor<?x64x7x7xf32>
// CHECK-NEXT: return %[[C]]
func.func @packed(%x: tensor<?x64x7x7xf32>) -> tensor<?x64x7x7xf32> {
  %w = kiln.parameter "c.weight" : tensor<64x64x3x3xf32>
  %b = kiln.parameter "c.bias" : tensor<64xf32>
  %c = kiln.conv2d %x, %w, %b {padding = array<i64: 1, 1>} : (tensor<?x64x7x7xf32>, tensor<64x64x3x3xf32>, tensor<64xf32>) -> tensor<?x64x7x7xf32>
  return %c : tensor<?x64x7x7xf32>
}

// -----

// A 3x3 stride-2 convolution (ResNet's downsampling) and a 1x1 stride-2 one
// (its shortcut) whose 7x7 output planes qualify, and a "valid" 5x5 one
// (lenet5's second): packed the same way. The first two keep their sums
// (exact: the OIHW lowering's direct kernels add taps, then input channels,
// as channels in lanes does); the "valid" one went through im2col + sgemm.
// CHECK-LABEL: func.func @stride2_packed
// CHECK-SAME: kiln.weight_packs = [{exact = true, packed = "d.weight.hwio", source = "d.weight"}, {exact = true, packed = "s.weight.hwio", source = "s.weight"}, {exact = false, packed = "v.weight.hwio", source = "v.weight"}]
// CHECK: %[[W:.*]] = kiln.parameter "d.weight.hwio" {trainable = false} : tensor<3x3x32x64xf32>
// CHECK-NEXT: kiln.conv2d %arg0, %[[W]] {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>, weight_layout = "hwio"} : (tensor<?x32x14x14xf32>, tensor<3x3x32x64xf32>) -> tensor<?x64x7x7xf32>
// CHECK: %[[S:.*]] = kiln.parameter "s.weight.hwio" {trainable = false} : tensor<1x1x32x64xf32>
// CHECK-NEXT: kiln.conv2d %arg0, %[[S]] {strides = array<i64: 2, 2>, weight_layout = "hwio"} : (tensor<?x32x14x14xf32>, tensor<1x1x32x64xf32>) -> tensor<?x64x7x7xf32>
// CHECK: %[[V:.*]] = kiln.parameter "v.weight.hwio" {trainable = false} : tensor<5x5x6x16xf32>
// CHECK-NEXT: kiln.conv2d %arg1, %[[V]] {weight_layout = "hwio"} : (tensor<?x6x14x14xf32>, tensor<5x5x6x16xf32>) -> tensor<?x16x10x10xf32>
func.func @stride2_packed(%x: tensor<?x32x14x14xf32>, %y: tensor<?x6x14x14xf32>) -> (tensor<?x64x7x7xf32>, tensor<?x64x7x7xf32>, tensor<?x16x10x10xf32>) {
  %w = kiln.parameter "d.weight" : tensor<64x32x3x3xf32>
  %c = kiln.conv2d %x, %w {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x32x14x14xf32>, tensor<64x32x3x3xf32>) -> tensor<?x64x7x7xf32>
  %s = kiln.parameter "s.weight" : tensor<64x32x1x1xf32>
  %d = kiln.conv2d %x, %s {strides = array<i64: 2, 2>} : (tensor<?x32x14x14xf32>, tensor<64x32x1x1xf32>) -> tensor<?x64x7x7xf32>
  %v = kiln.parameter "v.weight" : tensor<16x6x5x5xf32>
  %e = kiln.conv2d %y, %v : (tensor<?x6x14x14xf32>, tensor<16x6x5x5xf32>) -> tensor<?x16x10x10xf32>
  return %c, %d, %e : tensor<?x64x7x7xf32>, tensor<?x64x7x7xf32>, tensor<?x16x10x10xf32>
}

// -----

// One parameter read by two convolutions: one packed parameter, listed once,
// read by both. A packed name already taken in the module gets a ".2"
// suffix. Cin need not be a multiple of 16 (only Cout is in the lanes).
// CHECK-LABEL: func.func @shared
// CHECK-SAME: kiln.weight_packs = [{exact = true, packed = "s.weight.hwio.2", source = "s.weight"}]
// CHECK: kiln.parameter "s.weight.hwio" : tensor<1xf32>
// CHECK-NEXT: %[[W:.*]] = kiln.parameter "s.weight.hwio.2" {trainable = false} : tensor<3x3x4x32xf32>
// CHECK-NOT: kiln.parameter
// CHECK: kiln.conv2d %arg0, %[[W]] {padding = array<i64: 1, 1>, weight_layout = "hwio"}
// CHECK: kiln.conv2d %arg1, %[[W]] {padding = array<i64: 1, 1>, weight_layout = "hwio"}
func.func @shared(%x: tensor<?x4x5x5xf32>, %y: tensor<?x4x5x5xf32>) -> (tensor<?x32x5x5xf32>, tensor<?x32x5x5xf32>, tensor<1xf32>) {
  %taken = kiln.parameter "s.weight.hwio" : tensor<1xf32>
  %w = kiln.parameter "s.weight" : tensor<32x4x3x3xf32>
  %a = kiln.conv2d %x, %w {padding = array<i64: 1, 1>} : (tensor<?x4x5x5xf32>, tensor<32x4x3x3xf32>) -> tensor<?x32x5x5xf32>
  %b = kiln.conv2d %y, %w {padding = array<i64: 1, 1>} : (tensor<?x4x5x5xf32>, tensor<32x4x3x3xf32>) -> tensor<?x32x5x5xf32>
  return %a, %b, %taken : tensor<?x32x5x5xf32>, tensor<?x32x5x5xf32>, tensor<1xf32>
}

// -----

// A source parameter that something else still reads keeps its op: here a
// convolution of a 32x32 plane (over 28 columns), which is not packed.
// CHECK-LABEL: func.func @source_still_read
// CHECK-SAME: kiln.weight_packs = [{exact = true, packed = "k.weight.hwio", source = "k.weight"}]
// CHECK: %[[W:.*]] = kiln.parameter "k.weight" : tensor<16x16x3x3xf32>
// CHECK-NEXT: %[[P:.*]] = kiln.parameter "k.weight.hwio" {trainable = false} : tensor<3x3x16x16xf32>
// CHECK: kiln.conv2d %arg0, %[[P]] {padding = array<i64: 1, 1>, weight_layout = "hwio"}
// CHECK: kiln.conv2d %arg1, %[[W]] {padding = array<i64: 1, 1>} :
func.func @source_still_read(%x: tensor<?x16x7x7xf32>, %y: tensor<?x16x32x32xf32>) -> (tensor<?x16x7x7xf32>, tensor<?x16x32x32xf32>) {
  %w = kiln.parameter "k.weight" : tensor<16x16x3x3xf32>
  %a = kiln.conv2d %x, %w {padding = array<i64: 1, 1>} : (tensor<?x16x7x7xf32>, tensor<16x16x3x3xf32>) -> tensor<?x16x7x7xf32>
  %b = kiln.conv2d %y, %w {padding = array<i64: 1, 1>} : (tensor<?x16x32x32xf32>, tensor<16x16x3x3xf32>) -> tensor<?x16x32x32xf32>
  return %a, %b : tensor<?x16x7x7xf32>, tensor<?x16x32x32xf32>
}

// -----

// Left alone: a 32x32 plane, Cout 8 (not a multiple of 16), stride 2 to a
// plane over 28 columns (64x64 -> 32x32), a 1x1 stride-2 one there too, a
// weight that is not a parameter, stride 3, two groups, and a weight
// already HWIO. No attribute is added.
// CHECK-LABEL: func.func @not_packed
// CHECK-NOT: kiln.weight_packs
// CHECK-NOT: hwio
// CHECK: kiln.conv2d %arg1, %arg3 {padding = array<i64: 1, 1>, weight_layout = "hwio"}
func.func @not_packed(%x32: tensor<?x64x32x32xf32>, %x7: tensor<?x64x7x7xf32>, %warg: tensor<64x64x3x3xf32>, %whwio: tensor<3x3x64x64xf32>, %x64: tensor<?x64x64x64xf32>)
    -> (tensor<?x64x32x32xf32>, tensor<?x8x7x7xf32>, tensor<?x64x32x32xf32>, tensor<?x64x32x32xf32>, tensor<?x64x7x7xf32>, tensor<?x64x2x2xf32>, tensor<?x64x7x7xf32>, tensor<?x64x7x7xf32>) {
  %w = kiln.parameter "w" : tensor<64x64x3x3xf32>
  %w8 = kiln.parameter "w8" : tensor<8x64x3x3xf32>
  %wg = kiln.parameter "wg" : tensor<64x32x3x3xf32>
  %w1 = kiln.parameter "w1" : tensor<64x64x1x1xf32>
  %plane = kiln.conv2d %x32, %w {padding = array<i64: 1, 1>} : (tensor<?x64x32x32xf32>, tensor<64x64x3x3xf32>) -> tensor<?x64x32x32xf32>
  %cout8 = kiln.conv2d %x7, %w8 {padding = array<i64: 1, 1>} : (tensor<?x64x7x7xf32>, tensor<8x64x3x3xf32>) -> tensor<?x8x7x7xf32>
  %stride2 = kiln.conv2d %x64, %w {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x64x64x64xf32>, tensor<64x64x3x3xf32>) -> tensor<?x64x32x32xf32>
  %shortcut = kiln.conv2d %x64, %w1 {strides = array<i64: 2, 2>} : (tensor<?x64x64x64xf32>, tensor<64x64x1x1xf32>) -> tensor<?x64x32x32xf32>
  %arg = kiln.conv2d %x7, %warg {padding = array<i64: 1, 1>} : (tensor<?x64x7x7xf32>, tensor<64x64x3x3xf32>) -> tensor<?x64x7x7xf32>
  %valid = kiln.conv2d %x7, %w {strides = array<i64: 3, 3>} : (tensor<?x64x7x7xf32>, tensor<64x64x3x3xf32>) -> tensor<?x64x2x2xf32>
  %grouped = kiln.conv2d %x7, %wg {padding = array<i64: 1, 1>, groups = 2 : i64} : (tensor<?x64x7x7xf32>, tensor<64x32x3x3xf32>) -> tensor<?x64x7x7xf32>
  %hwio = kiln.conv2d %x7, %whwio {padding = array<i64: 1, 1>, weight_layout = "hwio"} : (tensor<?x64x7x7xf32>, tensor<3x3x64x64xf32>) -> tensor<?x64x7x7xf32>
  return %plane, %cout8, %stride2, %shortcut, %arg, %valid, %grouped, %hwio : tensor<?x64x32x32xf32>, tensor<?x8x7x7xf32>, tensor<?x64x32x32xf32>, tensor<?x64x32x32xf32>, tensor<?x64x7x7xf32>, tensor<?x64x2x2xf32>, tensor<?x64x7x7xf32>, tensor<?x64x7x7xf32>
}

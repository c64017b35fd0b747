// kiln-lower-to-llvm on a convolution whose weight is HWIO
// ([KH, KW, Cin, Cout], made by kiln-pack-conv-weights for inference
// artifacts): the geometry is the logical OIHW one (16 output channels, 3x3
// taps over 4 input channels), and both direct-convolution calls get the
// HWIO weight strides co 1, ci Cout = 16, ky KW * Cin * Cout = 192,
// kx Cin * Cout = 64 (OIHW would be 36, 9, 3, 1). im2col + sgemm reads OIHW
// rows, so lowering the same kernel with conv-algorithm=im2col is an error.
// Convolutions the direct "same" kernel does not take (3x3 and 1x1 stride
// 2 here) call the HWIO entry kiln_conv2d_hwio_f32 with their window,
// stride and padding (channels in lanes: no phase planes, no gather, so no
// scratch).
// RUN: kiln-opt -kiln-lower-to-llvm="conv-algorithm=direct" %s | FileCheck %s
// RUN: not kiln-opt -kiln-lower-to-llvm="conv-algorithm=im2col" %s 2>&1 | FileCheck %s --check-prefix=IM2COL

// IM2COL: error: kiln-lower-to-llvm: weight_layout "hwio" needs the direct convolution

func.func @hwio(%arg0: tensor<?x4x5x5xf32>) -> tensor<?x16x5x5xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w.hwio" {trainable = false} : tensor<3x3x4x16xf32>
  %1 = kiln.kernel "hwio_k0" kind("out_fusible") (%arg0, %0 : tensor<?x4x5x5xf32>, tensor<3x3x4x16xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x16x5x5xf32> {
  ^bb0(%arg2: tensor<?x4x5x5xf32>, %arg3: tensor<3x3x4x16xf32>):
    %3 = kiln.conv2d %arg2, %arg3 {padding = array<i64: 1, 1>, weight_layout = "hwio"} : (tensor<?x4x5x5xf32>, tensor<3x3x4x16xf32>) -> tensor<?x16x5x5xf32>
    kiln.yield %3 : tensor<?x16x5x5xf32>
  }
  return %1 : tensor<?x16x5x5xf32>
}

// Scratch for 40 packed 5x5 images of 4 input and 16 output channels:
// (4 + 16) * 40 * 25 floats = 80000 bytes.
// CHECK-LABEL: func.func @hwio
// CHECK:         kiln.kernel "hwio_k0" {{.*}} kiln.scratch_bytes = 80000 : i64
// CHECK-LABEL: func.func @hwio_stride2
// CHECK:         kiln.kernel "hwio_s2_k0" {{.*}} kiln.scratch_bytes = 0 : i64
// CHECK-LABEL: func.func @hwio_1x1
// CHECK:         kiln.kernel "hwio_1x1_k0" {{.*}} kiln.scratch_bytes = 0 : i64
// CHECK-LABEL: llvm.func @hwio_k0(
// The calls' trailing constants: kh, kw, ph, pw, then the four weight strides.
// CHECK:         llvm.mlir.constant(3 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(3 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    %[[CO:.*]] = llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    %[[CI:.*]] = llvm.mlir.constant(16 : i64) : i64
// CHECK-NEXT:    %[[KY:.*]] = llvm.mlir.constant(192 : i64) : i64
// CHECK-NEXT:    %[[KX:.*]] = llvm.mlir.constant(64 : i64) : i64
// CHECK-NEXT:    llvm.call @kiln_conv2d_same_images_f32({{.*}}, %[[CO]], %[[CI]], %[[KY]], %[[KX]], %{{.*}})
// CHECK:         llvm.mlir.constant(3 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(3 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    %[[CO1:.*]] = llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    %[[CI1:.*]] = llvm.mlir.constant(16 : i64) : i64
// CHECK-NEXT:    %[[KY1:.*]] = llvm.mlir.constant(192 : i64) : i64
// CHECK-NEXT:    %[[KX1:.*]] = llvm.mlir.constant(64 : i64) : i64
// CHECK-NEXT:    llvm.call @kiln_conv2d_same_f32({{.*}}, %[[CO1]], %[[CI1]], %[[KY1]], %[[KX1]], %{{.*}}, %{{.*}}, %{{.*}})
// CHECK-NOT:     llvm.call @cblas_sgemm

func.func @hwio_stride2(%arg0: tensor<?x16x28x28xf32>) -> tensor<?x32x14x14xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "down.w.hwio" {trainable = false} : tensor<3x3x16x32xf32>
  %1 = kiln.kernel "hwio_s2_k0" kind("out_fusible") (%arg0, %0 : tensor<?x16x28x28xf32>, tensor<3x3x16x32xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x32x14x14xf32> {
  ^bb0(%arg2: tensor<?x16x28x28xf32>, %arg3: tensor<3x3x16x32xf32>):
    %3 = kiln.conv2d %arg2, %arg3 {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>, weight_layout = "hwio"} : (tensor<?x16x28x28xf32>, tensor<3x3x16x32xf32>) -> tensor<?x32x14x14xf32>
    kiln.yield %3 : tensor<?x32x14x14xf32>
  }
  return %1 : tensor<?x32x14x14xf32>
}

// CHECK-LABEL: llvm.func @hwio_s2_k0(
// The call's trailing constants: cin, h, w, cout, kh, kw, stride, ph, pw,
// then the stage's residual offset.
// CHECK:         llvm.mlir.constant(16 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(28 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(28 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(32 : i64) : i64
// CHECK-NEXT:    %[[KH:.*]] = llvm.mlir.constant(3 : i64) : i64
// CHECK-NEXT:    %[[KW:.*]] = llvm.mlir.constant(3 : i64) : i64
// CHECK-NEXT:    %[[S:.*]] = llvm.mlir.constant(2 : i64) : i64
// CHECK-NEXT:    %[[PH:.*]] = llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    %[[PW:.*]] = llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(0 : i64) : i64
// CHECK-NEXT:    llvm.call @kiln_conv2d_hwio_f32({{.*}}, %[[KH]], %[[KW]], %[[S]], %[[PH]], %[[PW]], %{{.*}})
// CHECK-NOT:     llvm.call @kiln_conv2d_stride2_f32(
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK-LABEL: llvm.func @hwio_1x1_k0(
// CHECK:         llvm.mlir.constant(64 : i64) : i64
// CHECK-NEXT:    %[[KH1:.*]] = llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    %[[KW1:.*]] = llvm.mlir.constant(1 : i64) : i64
// CHECK-NEXT:    %[[S1:.*]] = llvm.mlir.constant(2 : i64) : i64
// CHECK-NEXT:    %[[PH1:.*]] = llvm.mlir.constant(0 : i64) : i64
// CHECK-NEXT:    %[[PW1:.*]] = llvm.mlir.constant(0 : i64) : i64
// CHECK-NEXT:    llvm.mlir.constant(0 : i64) : i64
// CHECK-NEXT:    llvm.call @kiln_conv2d_hwio_f32({{.*}}, %[[KH1]], %[[KW1]], %[[S1]], %[[PH1]], %[[PW1]], %{{.*}})
// CHECK-NOT:     llvm.call @kiln_conv2d_same_f32(
// CHECK-NOT:     llvm.call @cblas_sgemm

func.func @hwio_1x1(%arg0: tensor<?x32x14x14xf32>) -> tensor<?x64x7x7xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "short.w.hwio" {trainable = false} : tensor<1x1x32x64xf32>
  %1 = kiln.kernel "hwio_1x1_k0" kind("out_fusible") (%arg0, %0 : tensor<?x32x14x14xf32>, tensor<1x1x32x64xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x64x7x7xf32> {
  ^bb0(%arg2: tensor<?x32x14x14xf32>, %arg3: tensor<1x1x32x64xf32>):
    %3 = kiln.conv2d %arg2, %arg3 {strides = array<i64: 2, 2>, weight_layout = "hwio"} : (tensor<?x32x14x14xf32>, tensor<1x1x32x64xf32>) -> tensor<?x64x7x7xf32>
    kiln.yield %3 : tensor<?x64x7x7xf32>
  }
  return %1 : tensor<?x64x7x7xf32>
}

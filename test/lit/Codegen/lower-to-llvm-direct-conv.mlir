// kiln-lower-to-llvm with conv-algorithm=direct: "same" stride-1 convolutions
// and their input gradients call the runtime's direct convolution
// (kiln_conv2d_same_f32, or kiln_conv2d_same_images_f32 for several small
// images at once; runtime/src/kernels/DirectConv.cpp) instead of
// im2col + cblas_sgemm, and need no im2col scratch; their 3x3 and 5x5 weight
// gradients call kiln_conv2d_same_grad_weight_f32; a 3x3 stride-2 convolution
// of an even plane calls kiln_conv2d_stride2_f32, a strided 1x1 one without
// padding gathers the pixels it reads into scratch and calls
// kiln_conv2d_same_f32 on them as a 1x1 "same" convolution, other strided
// ones keep im2col + sgemm. An epilogue of bias -> batch_norm -> add -> relu (any of
// them, in that order) goes to those forward calls as a kiln_conv2d_epilogue
// struct (KernelABI.h) that the runtime applies in its stores; any other
// epilogue runs over the output in place after the call, which then gets a
// null struct pointer. An unknown conv-algorithm is an error.
// RUN: kiln-opt -split-input-file -kiln-lower-to-llvm="conv-algorithm=direct" %s | FileCheck %s
// RUN: not kiln-opt -kiln-lower-to-llvm="conv-algorithm=winograd" %s 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: conv-algorithm must be auto, im2col or direct, not 'winograd'

// Forward: 3x3 padding 1 on 5x5, 4 output channels. A plane this small
// (25 <= 512 pixels) is packed: each chunk's whole images, 1024 / 25 = 40 at
// most (work_per_item 5 rows, chunks of 200), go to
// kiln_conv2d_same_images_f32 with scratch for 40 packed input and output
// images ((3 + 4) * 40 * 25 floats = 28000 bytes); the rows of an image that
// a chunk cuts (the runtime splits tasks by rows) go to kiln_conv2d_same_f32,
// written straight into the output (channel stride 5 * 5 = 25 floats). The
// relu is the calls' output stage: a kiln_conv2d_epilogue in the kernel's
// frame with relu = 1 and every pointer null, and no loop of its own.
func.func @same(%arg0: tensor<?x3x5x5xf32>) -> tensor<?x4x5x5xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %1 = kiln.kernel "same_k0" kind("out_fusible") (%arg0, %0 : tensor<?x3x5x5xf32>, tensor<4x3x3x3xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x4x5x5xf32> {
  ^bb0(%arg2: tensor<?x3x5x5xf32>, %arg3: tensor<4x3x3x3xf32>):
    %3 = kiln.conv2d %arg2, %arg3 {padding = array<i64: 1, 1>} : (tensor<?x3x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x5x5xf32>
    %4 = kiln.relu %3 : (tensor<?x4x5x5xf32>) -> tensor<?x4x5x5xf32>
    kiln.yield %4 : tensor<?x4x5x5xf32>
  }
  return %1 : tensor<?x4x5x5xf32>
}

// CHECK-DAG:   llvm.func @kiln_conv2d_same_f32(!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, !llvm.ptr)
// CHECK-DAG:   llvm.func @kiln_conv2d_same_images_f32(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, !llvm.ptr)
// CHECK-LABEL: func.func @same
// CHECK:         kiln.kernel "same_k0" {{.*}} kiln.scratch_bytes = 28000 : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 5 : i64
// CHECK-LABEL: llvm.func @same_k0(
// CHECK-SAME:    %[[SCRATCH:[a-z0-9]+]]: !llvm.ptr) {
// CHECK:         %[[STAGE:.*]] = llvm.alloca %{{.*}} x !llvm.struct<(ptr, ptr, ptr, ptr, ptr, ptr, f32, i32)>
// CHECK:         %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK:         %[[RELU:.*]] = llvm.mlir.constant(1 : i32) : i32
// CHECK:         %[[BIAS:.*]] = llvm.getelementptr %[[STAGE]][0, 0]
// CHECK:         llvm.store %[[NULL]], %[[BIAS]]
// CHECK:         %[[RELUFIELD:.*]] = llvm.getelementptr %[[STAGE]][0, 7]
// CHECK:         llvm.store %[[RELU]], %[[RELUFIELD]] : i32, !llvm.ptr
// CHECK-DAG:     llvm.mlir.constant(200 : i64) : i64
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.call @kiln_conv2d_same_images_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[SCRATCH]], {{.*}}, %[[STAGE]])
// CHECK:         %[[C25:.*]] = llvm.mlir.constant(25 : i64) : i64
// CHECK:         llvm.call @kiln_conv2d_same_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[C25]], {{.*}}, %[[STAGE]])
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK-NOT:     llvm.intr.maxnum
// CHECK:         llvm.return

// -----

// A ResNet block's tail: conv -> batch_norm -> add (the shortcut, laid out
// as the output) -> relu, on a 24 x 24 plane (one call per image). The
// struct holds the four batch-norm parameter buffers (kernel operands 2-5),
// eps and relu; before each call its residual field points at the
// shortcut's element at the call's output offset (image * 4 * 576 + first
// row * 24), the same offset as `out`. No elementwise loop remains.
func.func @block(%arg0: tensor<?x3x24x24xf32>, %arg1: tensor<?x4x24x24xf32>) -> tensor<?x4x24x24xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %g = kiln.parameter "bn.weight" : tensor<4xf32>
  %b = kiln.parameter "bn.bias" : tensor<4xf32>
  %m = kiln.parameter "bn.mean" : tensor<4xf32>
  %v = kiln.parameter "bn.var" : tensor<4xf32>
  %1 = kiln.kernel "block_k0" kind("out_fusible") (%arg0, %0, %g, %b, %m, %v, %arg1 : tensor<?x3x24x24xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<?x4x24x24xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x4x24x24xf32> {
  ^bb0(%a0: tensor<?x3x24x24xf32>, %a1: tensor<4x3x3x3xf32>, %a2: tensor<4xf32>, %a3: tensor<4xf32>, %a4: tensor<4xf32>, %a5: tensor<4xf32>, %a6: tensor<?x4x24x24xf32>):
    %3 = kiln.conv2d %a0, %a1 {padding = array<i64: 1, 1>} : (tensor<?x3x24x24xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x24x24xf32>
    %4 = kiln.batch_norm %3, %a2, %a3, %a4, %a5 {epsilon = 1.0e-03 : f32} : (tensor<?x4x24x24xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x24x24xf32>
    %5 = kiln.add %a6, %4 : (tensor<?x4x24x24xf32>, tensor<?x4x24x24xf32>) -> tensor<?x4x24x24xf32>
    %6 = kiln.relu %5 : (tensor<?x4x24x24xf32>) -> tensor<?x4x24x24xf32>
    kiln.yield %6 : tensor<?x4x24x24xf32>
  }
  return %1 : tensor<?x4x24x24xf32>
}

// CHECK-LABEL: llvm.func @block_k0(
// CHECK-SAME:    %[[BUFS:[a-z0-9]+]]: !llvm.ptr,
// CHECK:         %[[I2:.*]] = llvm.mlir.constant(2 : i64) : i64
// CHECK-NEXT:    %[[P2:.*]] = llvm.getelementptr %[[BUFS]][%[[I2]]]
// CHECK-NEXT:    %[[GAMMA:.*]] = llvm.load %[[P2]]
// CHECK:         %[[I6:.*]] = llvm.mlir.constant(6 : i64) : i64
// CHECK-NEXT:    %[[P6:.*]] = llvm.getelementptr %[[BUFS]][%[[I6]]]
// CHECK-NEXT:    %[[SHORTCUT:.*]] = llvm.load %[[P6]]
// CHECK-NEXT:    %[[I7:.*]] = llvm.mlir.constant(7 : i64) : i64
// CHECK-NEXT:    %[[P7:.*]] = llvm.getelementptr %[[BUFS]][%[[I7]]]
// CHECK-NEXT:    %[[OUT:.*]] = llvm.load %[[P7]]
// CHECK:         %[[STAGE:.*]] = llvm.alloca
// CHECK:         %[[EPS:.*]] = llvm.mlir.constant(1.000000e-03 : f32) : f32
// CHECK:         %[[WEIGHTFIELD:.*]] = llvm.getelementptr %[[STAGE]][0, 1]
// CHECK:         llvm.store %[[GAMMA]], %[[WEIGHTFIELD]]
// CHECK:         %[[EPSFIELD:.*]] = llvm.getelementptr %[[STAGE]][0, 6]
// CHECK:         llvm.store %[[EPS]], %[[EPSFIELD]] : f32, !llvm.ptr
// CHECK:         %[[RESFIELD:.*]] = llvm.getelementptr %[[STAGE]][0, 5]
// CHECK-NEXT:    %[[RES:.*]] = llvm.getelementptr %[[SHORTCUT]][%[[OFFSET:.*]]]
// CHECK-NEXT:    llvm.store %[[RES]], %[[RESFIELD]]
// CHECK:         %[[DST:.*]] = llvm.getelementptr %[[OUT]][%[[OFFSET]]]
// CHECK:         llvm.call @kiln_conv2d_same_f32(%{{.*}}, %{{.*}}, %[[DST]], {{.*}}, %[[STAGE]])
// CHECK-NOT:     llvm.intr.maxnum
// CHECK-NOT:     llvm.intr.fmuladd
// CHECK:         llvm.return

// -----

// An epilogue the stage cannot express (sigmoid) runs over the output in
// place after the call, which gets a null stage.
func.func @other(%arg0: tensor<?x3x24x24xf32>) -> tensor<?x4x24x24xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %1 = kiln.kernel "other_k0" kind("out_fusible") (%arg0, %0 : tensor<?x3x24x24xf32>, tensor<4x3x3x3xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x4x24x24xf32> {
  ^bb0(%a0: tensor<?x3x24x24xf32>, %a1: tensor<4x3x3x3xf32>):
    %3 = kiln.conv2d %a0, %a1 {padding = array<i64: 1, 1>} : (tensor<?x3x24x24xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x24x24xf32>
    %4 = kiln.sigmoid %3 : (tensor<?x4x24x24xf32>) -> tensor<?x4x24x24xf32>
    kiln.yield %4 : tensor<?x4x24x24xf32>
  }
  return %1 : tensor<?x4x24x24xf32>
}

// CHECK-LABEL: llvm.func @other_k0(
// CHECK-NOT:     llvm.alloca
// CHECK:         %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CHECK:         llvm.call @kiln_conv2d_same_f32({{.*}}, %[[NULL]])
// CHECK:         llvm.intr.exp
// CHECK:         llvm.return

// -----

// A plane over 512 pixels (24 x 24) is not packed: one kiln_conv2d_same_f32
// call per image (or per rows of one), straight into the output (channel
// stride 576), and no scratch at all.
func.func @same_large(%arg0: tensor<?x3x24x24xf32>) -> tensor<?x4x24x24xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %1 = kiln.kernel "same_large_k0" kind("out_fusible") (%arg0, %0 : tensor<?x3x24x24xf32>, tensor<4x3x3x3xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x4x24x24xf32> {
  ^bb0(%arg2: tensor<?x3x24x24xf32>, %arg3: tensor<4x3x3x3xf32>):
    %3 = kiln.conv2d %arg2, %arg3 {padding = array<i64: 1, 1>} : (tensor<?x3x24x24xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x24x24xf32>
    kiln.yield %3 : tensor<?x4x24x24xf32>
  }
  return %1 : tensor<?x4x24x24xf32>
}

// CHECK-LABEL: func.func @same_large
// CHECK:         kiln.kernel "same_large_k0" {{.*}} kiln.scratch_bytes = 0 : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 24 : i64
// CHECK-LABEL: llvm.func @same_large_k0(
// CHECK-NOT:     llvm.call @kiln_conv2d_same_images_f32
// CHECK:         %[[C576:.*]] = llvm.mlir.constant(576 : i64) : i64
// CHECK:         llvm.call @kiln_conv2d_same_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[C576]], {{.*}})
// CHECK-NOT:     llvm.call @kiln_conv2d_same_images_f32
// CHECK:         llvm.return

// -----

// Input gradient of the same convolution: dX = same conv of dY with the
// flipped, transposed weights, one image per work unit; 5x5 planes are
// packed, 40 images per call (scratch (4 + 3) * 40 * 25 floats = 28000
// bytes), written into dX. The weight pointer starts at the last tap
// ((3-1)*3 + (3-1) = 8 floats in) and is read with strides 9 (per output
// channel of the gradient = input channel of the forward), 3*9 = 27 (per
// forward output channel), -3 (per row) and -1 (per column).
func.func @grad(%arg0: tensor<?x4x5x5xf32>) -> tensor<?x3x5x5xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %1 = kiln.kernel "grad_k0" kind("out_fusible") (%arg0, %0 : tensor<?x4x5x5xf32>, tensor<4x3x3x3xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x3x5x5xf32> {
  ^bb0(%arg2: tensor<?x4x5x5xf32>, %arg3: tensor<4x3x3x3xf32>):
    %3 = "kiln.conv2d_grad_input"(%arg2, %arg3) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, input_shape = array<i64: -1, 3, 5, 5>} : (tensor<?x4x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<?x3x5x5xf32>
    kiln.yield %3 : tensor<?x3x5x5xf32>
  }
  return %1 : tensor<?x3x5x5xf32>
}

// CHECK-LABEL: func.func @grad
// CHECK:         kiln.kernel "grad_k0" {{.*}} kiln.scratch_bytes = 28000 : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 1 : i64
// CHECK-LABEL: llvm.func @grad_k0(
// CHECK-DAG:     %[[C9:.*]] = llvm.mlir.constant(9 : i64) : i64
// CHECK-DAG:     %[[C27:.*]] = llvm.mlir.constant(27 : i64) : i64
// CHECK-DAG:     %[[CM3:.*]] = llvm.mlir.constant(-3 : i64) : i64
// CHECK-DAG:     %[[CM1:.*]] = llvm.mlir.constant(-1 : i64) : i64
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.call @kiln_conv2d_same_images_f32({{.*}}, %[[C9]], %[[C27]], %[[CM3]], %[[CM1]], %{{.*}})
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.return

// -----

// Weight gradient of the same convolution (8x8 planes), batch summed inside
// the runtime's kiln_conv2d_same_grad_weight_f32: one work unit per block of input
// channels (3 / 8 -> blocks of 1: 3 units), scratch for the per-lane sums of
// every (output channel, input channel of the block, tap), 4 * 1 * 9 * 16 =
// 576 floats, and, the plane being under 128 pixels, for 1024 / 64 = 16
// packed images of the block's input channel and of the 4 dY channels:
// 16 * 64 and 4 * 16 * 64 floats; (576 + 1024 + 4096) * 4 = 22784 bytes.
func.func @gradw(%arg0: tensor<?x3x8x8xf32>, %arg1: tensor<?x4x8x8xf32>) -> tensor<4x3x3x3xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %1 = kiln.kernel "gradw_k0" kind("out_fusible") (%arg0, %arg1 : tensor<?x3x8x8xf32>, tensor<?x4x8x8xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<4x3x3x3xf32> {
  ^bb0(%arg2: tensor<?x3x8x8xf32>, %arg3: tensor<?x4x8x8xf32>):
    %3 = "kiln.conv2d_grad_weight"(%arg2, %arg3) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, weight_shape = array<i64: 4, 3, 3, 3>} : (tensor<?x3x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<4x3x3x3xf32>
    kiln.yield %3 : tensor<4x3x3x3xf32>
  }
  return %1 : tensor<4x3x3x3xf32>
}

// CHECK-LABEL: func.func @gradw
// CHECK:         kiln.kernel "gradw_k0" {{.*}} kiln.scratch_bytes = 22784 : i64, kiln.work_fixed = 3 : i64, kiln.work_per_item = 0 : i64
// CHECK-LABEL: llvm.func @gradw_k0(
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.call @kiln_conv2d_same_grad_weight_f32({{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.return

// -----

// 7x7 planes (3 full vectors and one with a single lane) are packed 1024 / 49
// = 20 images at a time, so the direct weight gradient applies there too:
// scratch (576 + roundup16(20 * 49) + 4 * 20 * 49) * 4 = (576 + 992 + 3920)
// * 4 = 21952 bytes.
func.func @gradw_small(%arg0: tensor<?x3x7x7xf32>, %arg1: tensor<?x4x7x7xf32>) -> tensor<4x3x3x3xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %1 = kiln.kernel "gradw_small_k0" kind("out_fusible") (%arg0, %arg1 : tensor<?x3x7x7xf32>, tensor<?x4x7x7xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<4x3x3x3xf32> {
  ^bb0(%arg2: tensor<?x3x7x7xf32>, %arg3: tensor<?x4x7x7xf32>):
    %3 = "kiln.conv2d_grad_weight"(%arg2, %arg3) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, weight_shape = array<i64: 4, 3, 3, 3>} : (tensor<?x3x7x7xf32>, tensor<?x4x7x7xf32>) -> tensor<4x3x3x3xf32>
    kiln.yield %3 : tensor<4x3x3x3xf32>
  }
  return %1 : tensor<4x3x3x3xf32>
}

// CHECK-LABEL: func.func @gradw_small
// CHECK:         kiln.kernel "gradw_small_k0" {{.*}} kiln.scratch_bytes = 21952 : i64, kiln.work_fixed = 3 : i64
// CHECK-LABEL: llvm.func @gradw_small_k0(
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.call @kiln_conv2d_same_grad_weight_f32
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.return

// -----

// Stride 2, 3x3, padding 1 on an even plane (6x6 -> 3x3): the runtime's
// phase-split kiln_conv2d_stride2_f32 over the chunk's rows, 1024 / 9 = 113
// images per chunk (339 rows), scratch for the four phases and the computed
// rows of 114 images: (4 * 3 + 4) * 114 * 9 * 4 = 65664 bytes.
func.func @strided(%arg0: tensor<?x3x6x6xf32>) -> tensor<?x4x3x3xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %1 = kiln.kernel "strided_k0" kind("out_fusible") (%arg0, %0 : tensor<?x3x6x6xf32>, tensor<4x3x3x3xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x4x3x3xf32> {
  ^bb0(%arg2: tensor<?x3x6x6xf32>, %arg3: tensor<4x3x3x3xf32>):
    %3 = kiln.conv2d %arg2, %arg3 {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>} : (tensor<?x3x6x6xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x3x3xf32>
    kiln.yield %3 : tensor<?x4x3x3xf32>
  }
  return %1 : tensor<?x4x3x3xf32>
}

// CHECK-LABEL: func.func @strided
// CHECK:         kiln.kernel "strided_k0" {{.*}} kiln.scratch_bytes = 65664 : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 3 : i64
// CHECK-LABEL: llvm.func @strided_k0(
// CHECK-DAG:     llvm.mlir.constant(339 : i64) : i64
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.call @kiln_conv2d_stride2_f32({{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, !llvm.ptr) -> ()
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.return

// -----

// Its input gradient: kiln_conv2d_stride2_grad_input_f32 per image (one work
// unit each), scratch for one phase of dX: 3 * 3 * 3 floats = 108 bytes.
func.func @grad_strided(%arg0: tensor<?x4x3x3xf32>) -> tensor<?x3x6x6xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %1 = kiln.kernel "grad_strided_k0" kind("out_fusible") (%arg0, %0 : tensor<?x4x3x3xf32>, tensor<4x3x3x3xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x3x6x6xf32> {
  ^bb0(%arg2: tensor<?x4x3x3xf32>, %arg3: tensor<4x3x3x3xf32>):
    %3 = "kiln.conv2d_grad_input"(%arg2, %arg3) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, input_shape = array<i64: -1, 3, 6, 6>} : (tensor<?x4x3x3xf32>, tensor<4x3x3x3xf32>) -> tensor<?x3x6x6xf32>
    kiln.yield %3 : tensor<?x3x6x6xf32>
  }
  return %1 : tensor<?x3x6x6xf32>
}

// CHECK-LABEL: func.func @grad_strided
// CHECK:         kiln.kernel "grad_strided_k0" {{.*}} kiln.scratch_bytes = 108 : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 1 : i64
// CHECK-LABEL: llvm.func @grad_strided_k0(
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.call @kiln_conv2d_stride2_grad_input_f32({{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64) -> ()
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.return

// -----

// Its weight gradient: kiln_conv2d_stride2_grad_weight_f32 per block of
// input channels (3 / 8 -> blocks of 1: 3 units), scratch for the lane sums
// (4 * 1 * 9 * 16 floats) and the phase planes of a group of images
// (64 / ceil(9 / 16) = 64 images * 1 channel * 4 phases * 9 pixels):
// (576 + 2304) * 4 = 11520 bytes.
func.func @gradw_strided(%arg0: tensor<?x3x6x6xf32>, %arg1: tensor<?x4x3x3xf32>) -> tensor<4x3x3x3xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %1 = kiln.kernel "gradw_strided_k0" kind("out_fusible") (%arg0, %arg1 : tensor<?x3x6x6xf32>, tensor<?x4x3x3xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<4x3x3x3xf32> {
  ^bb0(%arg2: tensor<?x3x6x6xf32>, %arg3: tensor<?x4x3x3xf32>):
    %3 = "kiln.conv2d_grad_weight"(%arg2, %arg3) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, weight_shape = array<i64: 4, 3, 3, 3>} : (tensor<?x3x6x6xf32>, tensor<?x4x3x3xf32>) -> tensor<4x3x3x3xf32>
    kiln.yield %3 : tensor<4x3x3x3xf32>
  }
  return %1 : tensor<4x3x3x3xf32>
}

// CHECK-LABEL: func.func @gradw_strided
// CHECK:         kiln.kernel "gradw_strided_k0" {{.*}} kiln.scratch_bytes = 11520 : i64, kiln.work_fixed = 3 : i64
// CHECK-LABEL: llvm.func @gradw_strided_k0(
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.call @kiln_conv2d_stride2_grad_weight_f32({{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i64) -> ()
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.return

// -----

// Stride 2 on an odd plane (7x7 -> 4x4) has no even phase split: im2col +
// sgemm.
func.func @strided_odd(%arg0: tensor<?x3x7x7xf32>) -> tensor<?x4x4x4xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %1 = kiln.kernel "strided_odd_k0" kind("out_fusible") (%arg0, %0 : tensor<?x3x7x7xf32>, tensor<4x3x3x3xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x4x4x4xf32> {
  ^bb0(%arg2: tensor<?x3x7x7xf32>, %arg3: tensor<4x3x3x3xf32>):
    %3 = kiln.conv2d %arg2, %arg3 {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>} : (tensor<?x3x7x7xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x4x4xf32>
    kiln.yield %3 : tensor<?x4x4x4xf32>
  }
  return %1 : tensor<?x4x4x4xf32>
}

// CHECK-LABEL: llvm.func @strided_odd_k0(
// CHECK-NOT:     llvm.call @kiln_conv2d_stride2_f32
// CHECK-NOT:     llvm.call @kiln_conv2d_same_f32
// CHECK:         llvm.call @cblas_sgemm
// CHECK:         llvm.return

// -----

// A 1x1 stride-2 convolution without padding (7x7 -> 4x4, ResNet's shortcut):
// the rows a chunk reads, 1024 / 4 = 256 at most, so a whole image (4 rows),
// are gathered into scratch as [3][rows * 4] (3 * 4 * 4 * 4 = 192 bytes) and
// run by kiln_conv2d_same_f32 as a 1x1 convolution of that plane; the batch
// norm is its output stage. No GEMM.
func.func @subsampled(%arg0: tensor<?x3x7x7xf32>) -> tensor<?x4x4x4xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 0 : i64, kiln.peak_bytes_per_item = 0 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x1x1xf32>
  %g = kiln.parameter "bn.w" : tensor<4xf32>
  %b = kiln.parameter "bn.b" : tensor<4xf32>
  %m = kiln.parameter "bn.m" : tensor<4xf32>
  %v = kiln.parameter "bn.v" : tensor<4xf32>
  %1 = kiln.kernel "subsampled_k0" kind("out_fusible") (%arg0, %0, %g, %b, %m, %v : tensor<?x3x7x7xf32>, tensor<4x3x1x1xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x4x4x4xf32> {
  ^bb0(%arg2: tensor<?x3x7x7xf32>, %arg3: tensor<4x3x1x1xf32>, %a4: tensor<4xf32>, %a5: tensor<4xf32>, %a6: tensor<4xf32>, %a7: tensor<4xf32>):
    %3 = kiln.conv2d %arg2, %arg3 {strides = array<i64: 2, 2>} : (tensor<?x3x7x7xf32>, tensor<4x3x1x1xf32>) -> tensor<?x4x4x4xf32>
    %4 = kiln.batch_norm %3, %a4, %a5, %a6, %a7 {epsilon = 1.0e-05 : f32} : (tensor<?x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x4x4xf32>
    kiln.yield %4 : tensor<?x4x4x4xf32>
  }
  return %1 : tensor<?x4x4x4xf32>
}

// CHECK-LABEL: func.func @subsampled
// CHECK:         kiln.kernel "subsampled_k0" {{.*}} kiln.scratch_bytes = 192 : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 4 : i64
// CHECK-LABEL: llvm.func @subsampled_k0(
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.call @kiln_conv2d_same_f32({{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, !llvm.ptr) -> ()
// CHECK-NOT:     llvm.call @cblas_sgemm
// CHECK:         llvm.return

// kiln-lower-to-llvm on fused, memory-planned modules (the input below is what
// `kiln-opt -kiln-fuse -kiln-plan-memory` makes of a small graph; the IR after
// is in the CHECK lines). Every kiln.kernel becomes an
//   llvm.func @<kernel name>(ptr %buffers, i64 %batch, i64 %task_begin,
//                            i64 %task_end, ptr %scratch)
// next to the unchanged scheduling function, whose kernel ops gain the launch
// attributes the artifact writer reads (work split, scratch, FLOPs).
// Convolutions are pinned to im2col + sgemm here (the default, auto, picks the
// direct convolution on AVX-512 hosts: see lower-to-llvm-direct-conv.mlir).
// RUN: kiln-opt -split-input-file -kiln-lower-to-llvm="conv-algorithm=im2col" %s | FileCheck %s

// conv2d+relu (an out-fusible anchor: im2col + cblas_sgemm + epilogue) and an
// elementwise kernel (sigmoid(y) * y + k0: one loop nest, no calls).
// conv: K = 3*3*3 = 27, so 2 * 4 * 27 * 5 * 5 = 5400 FLOPs per item, plus 100
// for the relu; one work unit per output row (OH = 5 per item). The im2col
// scratch size is a tuning choice: only checked to be non-zero.
// elementwise: 4 * 5 * 5 = 100 elements, 6 FLOPs each by the lowering's count
// (sigmoid 4, mul 1, add 1); one work unit per item (a row below the chunk
// size), no scratch.
func.func @small(%arg0: tensor<?x3x5x5xf32>, %arg1: tensor<?x4x5x5xf32>) -> tensor<?x4x5x5xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 448 : i64, kiln.peak_bytes_per_item = 448 : i64} {
  %0 = kiln.parameter "conv.w" : tensor<4x3x3x3xf32>
  %1 = kiln.kernel "small_k0" kind("out_fusible") (%arg0, %0 : tensor<?x3x5x5xf32>, tensor<4x3x3x3xf32>) attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64} -> tensor<?x4x5x5xf32> {
  ^bb0(%arg2: tensor<?x3x5x5xf32>, %arg3: tensor<4x3x3x3xf32>):
    %3 = kiln.conv2d %arg2, %arg3 {padding = array<i64: 1, 1>} : (tensor<?x3x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x5x5xf32>
    %4 = kiln.relu %3 : (tensor<?x4x5x5xf32>) -> tensor<?x4x5x5xf32>
    kiln.yield %4 : tensor<?x4x5x5xf32>
  }
  %2 = kiln.kernel "small_k1" kind("elementwise") (%arg1, %1 : tensor<?x4x5x5xf32>, tensor<?x4x5x5xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x4x5x5xf32> {
  ^bb0(%arg2: tensor<?x4x5x5xf32>, %arg3: tensor<?x4x5x5xf32>):
    %3 = kiln.sigmoid %arg2 : (tensor<?x4x5x5xf32>) -> tensor<?x4x5x5xf32>
    %4 = kiln.mul %3, %arg2 : (tensor<?x4x5x5xf32>, tensor<?x4x5x5xf32>) -> tensor<?x4x5x5xf32>
    %5 = kiln.add %arg3, %4 : (tensor<?x4x5x5xf32>, tensor<?x4x5x5xf32>) -> tensor<?x4x5x5xf32>
    kiln.yield %5 : tensor<?x4x5x5xf32>
  }
  return %2 : tensor<?x4x5x5xf32>
}

// CHECK:       llvm.func @cblas_sgemm(i32, i32, i32, i32, i32, i32, f32, !llvm.ptr, i32, !llvm.ptr, i32, f32, !llvm.ptr, i32)
// CHECK-LABEL: func.func @small
// CHECK:         kiln.kernel "small_k0" kind("out_fusible") (%arg0, %{{.*}} : tensor<?x3x5x5xf32>, tensor<4x3x3x3xf32>) attributes {kiln.buffer = "arena", kiln.flops_per_item = 5500 : i64, kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64, kiln.scratch_bytes = {{[1-9][0-9]*}} : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 5 : i64, kiln.work_per_task = 1 : i64}
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.conv2d
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.yield
// CHECK:         kiln.kernel "small_k1" kind("elementwise") (%arg1, %{{.*}} : tensor<?x4x5x5xf32>, tensor<?x4x5x5xf32>) attributes {kiln.buffer = "output", kiln.flops_per_item = 600 : i64, kiln.output_index = 0 : i64, kiln.scratch_bytes = 0 : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 1 : i64, kiln.work_per_task = 1 : i64}
// CHECK:         return
// CHECK-LABEL: llvm.func @small_k0(%arg0: !llvm.ptr, %arg1: i64, %arg2: i64, %arg3: i64, %arg4: !llvm.ptr) {
// CHECK:         llvm.call @cblas_sgemm({{.*}}) : (i32, i32, i32, i32, i32, i32, f32, !llvm.ptr, i32, !llvm.ptr, i32, f32, !llvm.ptr, i32) -> ()
// CHECK:         llvm.return
// CHECK-LABEL: llvm.func @small_k1(%arg0: !llvm.ptr, %arg1: i64, %arg2: i64, %arg3: i64, %arg4: !llvm.ptr) {
// CHECK-NOT:     llvm.call
// CHECK:         llvm.intr.exp
// CHECK-NOT:     llvm.call
// CHECK:         llvm.return
// CHECK-NEXT:  }

// -----

// max_pool2d+relu (a reduction anchor: loops, llvm.intr.maxnum, no calls), a
// flatten view (keeps its planned buffer, gets no function) and linear with
// bias (one cblas_sgemm per chunk of rows). pool: 27 outputs * (4 window
// elements + 1 relu) = 135 FLOPs per item, one unit per (n, c, oh) row = 9 per
// item; linear: 2 * 27 * 5 = 270 FLOPs per item, one unit per row.
func.func @head(%arg0: tensor<?x3x6x6xf32>) -> tensor<?x5xf32> attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 128 : i64, kiln.peak_bytes_per_item = 128 : i64} {
  %0 = kiln.parameter "fc.w" : tensor<5x27xf32>
  %1 = kiln.parameter "fc.b" : tensor<5xf32>
  %2 = kiln.kernel "head_k0" kind("reduction") (%arg0 : tensor<?x3x6x6xf32>) attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64} -> tensor<?x3x3x3xf32> {
  ^bb0(%arg1: tensor<?x3x6x6xf32>):
    %5 = kiln.max_pool2d %arg1 {kernel_size = array<i64: 2, 2>} : (tensor<?x3x6x6xf32>) -> tensor<?x3x3x3xf32>
    %6 = kiln.relu %5 : (tensor<?x3x3x3xf32>) -> tensor<?x3x3x3xf32>
    kiln.yield %6 : tensor<?x3x3x3xf32>
  }
  %3 = kiln.flatten %2 {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64} : (tensor<?x3x3x3xf32>) -> tensor<?x27xf32>
  %4 = kiln.kernel "head_k1" kind("out_fusible") (%3, %0, %1 : tensor<?x27xf32>, tensor<5x27xf32>, tensor<5xf32>) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64} -> tensor<?x5xf32> {
  ^bb0(%arg1: tensor<?x27xf32>, %arg2: tensor<5x27xf32>, %arg3: tensor<5xf32>):
    %5 = kiln.linear %arg1, %arg2, %arg3 : (tensor<?x27xf32>, tensor<5x27xf32>, tensor<5xf32>) -> tensor<?x5xf32>
    kiln.yield %5 : tensor<?x5xf32>
  }
  return %4 : tensor<?x5xf32>
}

// CHECK:       llvm.func @cblas_sgemm(
// CHECK-LABEL: func.func @head
// CHECK:         kiln.kernel "head_k0" kind("reduction") (%arg0 : tensor<?x3x6x6xf32>) attributes {kiln.buffer = "arena", kiln.flops_per_item = 135 : i64, kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64, kiln.scratch_bytes = 0 : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 9 : i64, kiln.work_per_task = 1 : i64}
// CHECK:         kiln.flatten %{{.*}} {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64}
// CHECK:         kiln.kernel "head_k1" kind("out_fusible") {{.*}} attributes {kiln.buffer = "output", kiln.flops_per_item = 270 : i64, kiln.output_index = 0 : i64, kiln.scratch_bytes = {{[0-9]+}} : i64, kiln.work_fixed = 0 : i64, kiln.work_per_item = 1 : i64, kiln.work_per_task = 1 : i64}
// CHECK-LABEL: llvm.func @head_k0(%arg0: !llvm.ptr, %arg1: i64, %arg2: i64, %arg3: i64, %arg4: !llvm.ptr) {
// CHECK-NOT:     llvm.call
// CHECK:         llvm.intr.maxnum
// CHECK-NOT:     llvm.call
// CHECK:         llvm.return
// CHECK-NEXT:  }
// CHECK-LABEL: llvm.func @head_k1(%arg0: !llvm.ptr, %arg1: i64, %arg2: i64, %arg3: i64, %arg4: !llvm.ptr) {
// CHECK:         llvm.call @cblas_sgemm(
// CHECK:         llvm.return
// CHECK-NOT:   llvm.func

// The fusion kind of every kiln op (getFusionKind), seen through the unfused
// reference: with no-fusion each computing op becomes a kernel of its own
// whose `kind` is the op's kind. Views, parameters and constants get none.
// RUN: kiln-opt -kiln-fuse=no-fusion %s | FileCheck %s

func.func @kinds(%x: tensor<?x4x8x8xf32>, %y: tensor<?x8xf32>) -> (tensor<?x4x8x8xf32>, tensor<?x8xf32>) {
  %w = kiln.parameter "w" : tensor<4x4x3x3xf32>
  %c = kiln.constant dense<2.0> : tensor<4x1x1xf32>
  %s = kiln.parameter "s" : tensor<4xf32>
  %wl = kiln.parameter "wl" : tensor<8x8xf32>
  %0 = kiln.conv2d %x, %w {padding = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<?x4x8x8xf32>
  %1 = kiln.batch_norm %0, %s, %s, %s, %s : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  %2 = kiln.add %1, %c : (tensor<?x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<?x4x8x8xf32>
  %3 = kiln.sub %2, %c : (tensor<?x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<?x4x8x8xf32>
  %4 = kiln.mul %3, %c : (tensor<?x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<?x4x8x8xf32>
  %5 = kiln.div %4, %c : (tensor<?x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<?x4x8x8xf32>
  %6 = kiln.add %5, %x : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %7 = kiln.sub %6, %x : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %8 = kiln.mul %7, %x : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %9 = kiln.div %8, %x : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %10 = kiln.relu %9 : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %11 = kiln.relu6 %10 : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %12 = kiln.sigmoid %11 : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %13 = kiln.hardswish %12 : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %14 = kiln.max_pool2d %13 {kernel_size = array<i64: 2, 2>} : (tensor<?x4x8x8xf32>) -> tensor<?x4x4x4xf32>
  %15 = kiln.avg_pool2d %14 {kernel_size = array<i64: 2, 2>} : (tensor<?x4x4x4xf32>) -> tensor<?x4x2x2xf32>
  %16 = kiln.global_avg_pool %15 : (tensor<?x4x2x2xf32>) -> tensor<?x4x1x1xf32>
  %17 = kiln.reshape %16 {shape = array<i64: -1, 4>} : (tensor<?x4x1x1xf32>) -> tensor<?x4xf32>
  %18 = kiln.flatten %15 : (tensor<?x4x2x2xf32>) -> tensor<?x16xf32>
  %19 = kiln.reduce_sum %18 {axes = array<i64: 1>, keepdim = true} : (tensor<?x16xf32>) -> tensor<?x1xf32>
  %20 = kiln.reduce_mean %17 {axes = array<i64: 1>, keepdim = true} : (tensor<?x4xf32>) -> tensor<?x1xf32>
  %21 = kiln.softmax %y : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %22 = kiln.log_softmax %21 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %23 = kiln.linear %22, %wl : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %24 = kiln.transpose %23 {perm = array<i64: 1, 0>} : (tensor<?x8xf32>) -> tensor<8x?xf32>
  %25 = kiln.matmul %24, %y : (tensor<8x?xf32>, tensor<?x8xf32>) -> tensor<8x8xf32>
  %26 = kiln.matmul %y, %25 : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %27 = kiln.add %26, %19 : (tensor<?x8xf32>, tensor<?x1xf32>) -> tensor<?x8xf32>
  %28 = kiln.add %27, %20 : (tensor<?x8xf32>, tensor<?x1xf32>) -> tensor<?x8xf32>
  return %10, %28 : tensor<?x4x8x8xf32>, tensor<?x8xf32>
}

// CHECK-LABEL: func.func @kinds
// CHECK-DAG:   kiln.parameter "w"
// CHECK-DAG:   kiln.constant
// CHECK:       kind("out_fusible")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.conv2d
// CHECK:       kind("broadcast")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.batch_norm
// CHECK:       kind("broadcast")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.add
// CHECK:       kind("broadcast")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.sub
// CHECK:       kind("broadcast")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.mul
// CHECK:       kind("broadcast")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.div
// CHECK:       kind("elementwise")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.add
// CHECK:       kind("elementwise")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.sub
// CHECK:       kind("elementwise")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.mul
// CHECK:       kind("elementwise")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.div
// CHECK:       kind("elementwise")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.relu
// CHECK:       kind("elementwise")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.relu6
// CHECK:       kind("elementwise")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.sigmoid
// CHECK:       kind("elementwise")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.hardswish
// CHECK:       kind("reduction")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.max_pool2d
// CHECK:       kind("reduction")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.avg_pool2d
// CHECK:       kind("reduction")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.global_avg_pool
// CHECK:       }
// CHECK-NEXT:  kiln.reshape
// CHECK-NEXT:  kiln.flatten
// CHECK-NEXT:  kind("reduction")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.reduce_sum
// CHECK:       kind("reduction")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.reduce_mean
// CHECK:       kind("reduction")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.softmax
// CHECK:       kind("reduction")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.log_softmax
// CHECK:       kind("out_fusible")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.linear
// CHECK:       kind("injective")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.transpose
// CHECK:       kind("out_fusible")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.matmul
// CHECK:       kind("out_fusible")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.matmul
// CHECK:       kind("broadcast")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.add
// CHECK:       kind("broadcast")
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    kiln.add
// CHECK:       return

// kiln-fuse: the IR before is each function below, the IR after is in its
// CHECK lines. NOFUSE shows the unfused reference (no-fusion), REPORT the
// remark that lists each kernel's ops.
// RUN: kiln-opt -split-input-file -kiln-fuse %s | FileCheck %s
// RUN: kiln-opt -split-input-file -kiln-fuse=no-fusion %s | FileCheck %s --check-prefix=NOFUSE
// RUN: kiln-opt -split-input-file -kiln-fuse=report -mlir-print-op-on-diagnostic=false %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// conv2d, a broadcast bias add, batch_norm and relu: the out-fusible anchor
// absorbs the three epilogue ops, so this is one kernel. Parameters stay
// outside and become kernel operands in first-use order.
func.func @conv_bias_bn_relu(%x: tensor<?x3x8x8xf32>) -> tensor<?x4x8x8xf32> {
  %w = kiln.parameter "w" : tensor<4x3x3x3xf32>
  %bias = kiln.parameter "bias" : tensor<4x1x1xf32>
  %g = kiln.parameter "g" : tensor<4xf32>
  %b = kiln.parameter "b" : tensor<4xf32>
  %m = kiln.parameter "m" : tensor<4xf32>
  %v = kiln.parameter "v" : tensor<4xf32>
  %0 = kiln.conv2d %x, %w {padding = array<i64: 1, 1>} : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<?x4x8x8xf32>
  %1 = kiln.add %0, %bias : (tensor<?x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<?x4x8x8xf32>
  %2 = kiln.batch_norm %1, %g, %b, %m, %v : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  %3 = kiln.relu %2 : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  return %3 : tensor<?x4x8x8xf32>
}

// CHECK-LABEL: func.func @conv_bias_bn_relu
// CHECK-SAME:    (%[[X:.*]]: tensor<?x3x8x8xf32>)
// CHECK:         %[[W:.*]] = kiln.parameter "w"
// CHECK:         %[[BIAS:.*]] = kiln.parameter "bias"
// CHECK:         %[[G:.*]] = kiln.parameter "g"
// CHECK:         %[[B:.*]] = kiln.parameter "b"
// CHECK:         %[[M:.*]] = kiln.parameter "m"
// CHECK:         %[[V:.*]] = kiln.parameter "v"
// CHECK:         %[[K:.*]] = kiln.kernel "conv_bias_bn_relu_k0" kind("out_fusible") (%[[X]], %[[W]], %[[BIAS]], %[[G]], %[[B]], %[[M]], %[[V]] :
// CHECK-NEXT:    ^bb0(%[[AX:[^:]*]]: tensor<?x3x8x8xf32>, %[[AW:[^:]*]]: tensor<4x3x3x3xf32>, %[[ABIAS:[^:]*]]: tensor<4x1x1xf32>, %[[AG:[^:]*]]: tensor<4xf32>, %[[AB:[^:]*]]: tensor<4xf32>, %[[AM:[^:]*]]: tensor<4xf32>, %[[AV:[^:]*]]: tensor<4xf32>):
// CHECK-NEXT:      %[[C:.*]] = kiln.conv2d %[[AX]], %[[AW]] {padding = array<i64: 1, 1>}
// CHECK-NEXT:      %[[A:.*]] = kiln.add %[[C]], %[[ABIAS]]
// CHECK-NEXT:      %[[N:.*]] = kiln.batch_norm %[[A]], %[[AG]], %[[AB]], %[[AM]], %[[AV]]
// CHECK-NEXT:      %[[R:.*]] = kiln.relu %[[N]]
// CHECK-NEXT:      kiln.yield %[[R]] : tensor<?x4x8x8xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    return %[[K]] : tensor<?x4x8x8xf32>

// REPORT:      remark: kiln-fuse: 1 kernels
// REPORT:      note: conv_bias_bn_relu_k0 (out_fusible): conv2d+add+batch_norm+relu

// The unfused reference: one kernel per op, each named and kinded on its own.
// NOFUSE-LABEL: func.func @conv_bias_bn_relu
// NOFUSE:         %[[K0:.*]] = kiln.kernel "conv_bias_bn_relu_k0" kind("out_fusible")
// NOFUSE-NEXT:    ^bb0
// NOFUSE-NEXT:      kiln.conv2d
// NOFUSE-NEXT:      kiln.yield
// NOFUSE:         %[[K1:.*]] = kiln.kernel "conv_bias_bn_relu_k1" kind("broadcast") (%[[K0]], %{{.*}} :
// NOFUSE-NEXT:    ^bb0
// NOFUSE-NEXT:      kiln.add
// NOFUSE-NEXT:      kiln.yield
// NOFUSE:         %[[K2:.*]] = kiln.kernel "conv_bias_bn_relu_k2" kind("broadcast") (%[[K1]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} :
// NOFUSE-NEXT:    ^bb0
// NOFUSE-NEXT:      kiln.batch_norm
// NOFUSE-NEXT:      kiln.yield
// NOFUSE:         %[[K3:.*]] = kiln.kernel "conv_bias_bn_relu_k3" kind("elementwise") (%[[K2]] :
// NOFUSE-NEXT:    ^bb0
// NOFUSE-NEXT:      kiln.relu
// NOFUSE-NEXT:      kiln.yield
// NOFUSE:         return %[[K3]]

// -----

// A ResNet BasicBlock with an identity shortcut. %2 feeds both the second
// conv2d and the residual add, so relu(bn(conv(x))) ends there and the add
// joins the second conv's group, reading %2 as an external input.
func.func @residual_identity(%x: tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32> {
  %w1 = kiln.parameter "w1" : tensor<4x4x3x3xf32>
  %w2 = kiln.parameter "w2" : tensor<4x4x3x3xf32>
  %g = kiln.parameter "g" : tensor<4xf32>
  %b = kiln.parameter "b" : tensor<4xf32>
  %m = kiln.parameter "m" : tensor<4xf32>
  %v = kiln.parameter "v" : tensor<4xf32>
  %0 = kiln.conv2d %x, %w1 {padding = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<?x4x8x8xf32>
  %1 = kiln.batch_norm %0, %g, %b, %m, %v : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  %2 = kiln.relu %1 : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %3 = kiln.conv2d %2, %w2 {padding = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<?x4x8x8xf32>
  %4 = kiln.batch_norm %3, %g, %b, %m, %v : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x8x8xf32>
  %5 = kiln.add %4, %2 : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %6 = kiln.relu %5 : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  return %6 : tensor<?x4x8x8xf32>
}

// CHECK-LABEL: func.func @residual_identity
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4x8x8xf32>)
// CHECK:         %[[W1:.*]] = kiln.parameter "w1"
// CHECK:         %[[W2:.*]] = kiln.parameter "w2"
// CHECK:         %[[K0:.*]] = kiln.kernel "residual_identity_k0" kind("out_fusible") (%[[X]], %[[W1]], {{.*}}) -> tensor<?x4x8x8xf32> {
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.conv2d
// CHECK-NEXT:      kiln.batch_norm
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[K1:.*]] = kiln.kernel "residual_identity_k1" kind("out_fusible") (%[[K0]], %[[W2]], {{.*}}) -> tensor<?x4x8x8xf32> {
// CHECK-NEXT:    ^bb0(%[[SHORTCUT:[^:]*]]: tensor<?x4x8x8xf32>,
// CHECK-NEXT:      %[[C:.*]] = kiln.conv2d %[[SHORTCUT]],
// CHECK-NEXT:      %[[N:.*]] = kiln.batch_norm %[[C]],
// CHECK-NEXT:      %[[A:.*]] = kiln.add %[[N]], %[[SHORTCUT]]
// CHECK-NEXT:      %[[R:.*]] = kiln.relu %[[A]]
// CHECK-NEXT:      kiln.yield %[[R]]
// CHECK-NEXT:    }
// CHECK-NEXT:    return %[[K1]]

// NOFUSE-LABEL: func.func @residual_identity
// NOFUSE-COUNT-7: kiln.kernel
// NOFUSE-NOT:     kiln.kernel
// NOFUSE:         return

// REPORT:      remark: kiln-fuse: 2 kernels
// REPORT:      note: residual_identity_k0 (out_fusible): conv2d+batch_norm+relu
// REPORT:      note: residual_identity_k1 (out_fusible): conv2d+batch_norm+add+relu

// -----

// A BasicBlock with a downsampling shortcut: the add reads two open groups,
// bn(conv(...)) of the main path and bn(conv1x1(x)) of the shortcut. It joins
// the one created last (the shortcut); the main path stays conv2d+batch_norm.
func.func @residual_downsample(%x: tensor<?x4x8x8xf32>) -> tensor<?x8x4x4xf32> {
  %w1 = kiln.parameter "w1" : tensor<8x4x3x3xf32>
  %w2 = kiln.parameter "w2" : tensor<8x8x3x3xf32>
  %ws = kiln.parameter "ws" : tensor<8x4x1x1xf32>
  %g = kiln.parameter "g" : tensor<8xf32>
  %b = kiln.parameter "b" : tensor<8xf32>
  %m = kiln.parameter "m" : tensor<8xf32>
  %v = kiln.parameter "v" : tensor<8xf32>
  %0 = kiln.conv2d %x, %w1 {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x4x8x8xf32>, tensor<8x4x3x3xf32>) -> tensor<?x8x4x4xf32>
  %1 = kiln.batch_norm %0, %g, %b, %m, %v : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
  %2 = kiln.relu %1 : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %3 = kiln.conv2d %2, %w2 {padding = array<i64: 1, 1>} : (tensor<?x8x4x4xf32>, tensor<8x8x3x3xf32>) -> tensor<?x8x4x4xf32>
  %4 = kiln.batch_norm %3, %g, %b, %m, %v : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
  %5 = kiln.conv2d %x, %ws {strides = array<i64: 2, 2>} : (tensor<?x4x8x8xf32>, tensor<8x4x1x1xf32>) -> tensor<?x8x4x4xf32>
  %6 = kiln.batch_norm %5, %g, %b, %m, %v : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
  %7 = kiln.add %4, %6 : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %8 = kiln.relu %7 : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  return %8 : tensor<?x8x4x4xf32>
}

// CHECK-LABEL: func.func @residual_downsample
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4x8x8xf32>)
// CHECK:         %[[WS:.*]] = kiln.parameter "ws"
// CHECK:         %[[K0:.*]] = kiln.kernel "residual_downsample_k0" kind("out_fusible") (%[[X]],
// CHECK:         %[[K1:.*]] = kiln.kernel "residual_downsample_k1" kind("out_fusible") (%[[K0]],
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.conv2d
// CHECK-NEXT:      kiln.batch_norm
// CHECK-NEXT:      kiln.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[K2:.*]] = kiln.kernel "residual_downsample_k2" kind("out_fusible") (%[[X]], %[[WS]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[K1]] :
// CHECK-NEXT:    ^bb0(%[[AX:[^:]*]]: {{.*}}, %[[MAIN:[^:]*]]: tensor<?x8x4x4xf32>):
// CHECK-NEXT:      %[[C:.*]] = kiln.conv2d %[[AX]], {{.*}} {strides = array<i64: 2, 2>}
// CHECK-NEXT:      %[[N:.*]] = kiln.batch_norm %[[C]],
// CHECK-NEXT:      %[[A:.*]] = kiln.add %[[MAIN]], %[[N]]
// CHECK-NEXT:      %[[R:.*]] = kiln.relu %[[A]]
// CHECK-NEXT:      kiln.yield %[[R]]
// CHECK-NEXT:    }
// CHECK-NEXT:    return %[[K2]]

// REPORT:      remark: kiln-fuse: 3 kernels
// REPORT:      note: residual_downsample_k0 (out_fusible): conv2d+batch_norm+relu
// REPORT:      note: residual_downsample_k1 (out_fusible): conv2d+batch_norm
// REPORT:      note: residual_downsample_k2 (out_fusible): conv2d+batch_norm+add+relu

// -----

// Elementwise ops with no anchor before them: the first one anchors an
// elementwise group and the rest of the chain (same-shape binaries included)
// joins it. mul reads %0 in both operand slots; its only user is still mul.
func.func @elementwise_chain(%x: tensor<?x16xf32>, %y: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = kiln.sigmoid %x : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %1 = kiln.mul %0, %0 : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %2 = kiln.sub %1, %y : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %3 = kiln.div %2, %y : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %4 = kiln.relu6 %3 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %5 = kiln.hardswish %4 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  return %5 : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @elementwise_chain
// CHECK-SAME:    (%[[X:[^:]*]]: tensor<?x16xf32>, %[[Y:[^:]*]]: tensor<?x16xf32>)
// CHECK-NEXT:    %[[K:.*]] = kiln.kernel "elementwise_chain_k0" kind("elementwise") (%[[X]], %[[Y]] :
// CHECK-NEXT:    ^bb0(%[[AX:[^:]*]]: tensor<?x16xf32>, %[[AY:[^:]*]]: tensor<?x16xf32>):
// CHECK-NEXT:      %[[S:.*]] = kiln.sigmoid %[[AX]]
// CHECK-NEXT:      %[[M:.*]] = kiln.mul %[[S]], %[[S]]
// CHECK-NEXT:      %[[D:.*]] = kiln.sub %[[M]], %[[AY]]
// CHECK-NEXT:      %[[Q:.*]] = kiln.div %[[D]], %[[AY]]
// CHECK-NEXT:      %[[R6:.*]] = kiln.relu6 %[[Q]]
// CHECK-NEXT:      %[[H:.*]] = kiln.hardswish %[[R6]]
// CHECK-NEXT:      kiln.yield %[[H]]
// CHECK-NEXT:    }
// CHECK-NEXT:    return %[[K]]

// -----

// %1 has two users (sigmoid and add), so it must be materialised: the sigmoid
// cannot join linear+relu and anchors a new group, which the add then joins
// (its other operand, %1, is an external input of that kernel).
func.func @two_users(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = kiln.parameter "w" : tensor<8x8xf32>
  %0 = kiln.linear %x, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  %1 = kiln.relu %0 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %2 = kiln.sigmoid %1 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %3 = kiln.add %1, %2 : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %3 : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @two_users
// CHECK:         %[[K0:.*]] = kiln.kernel "two_users_k0" kind("out_fusible")
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.linear
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[K1:.*]] = kiln.kernel "two_users_k1" kind("elementwise") (%[[K0]] : tensor<?x8xf32>)
// CHECK-NEXT:    ^bb0(%[[R:[^:]*]]: tensor<?x8xf32>):
// CHECK-NEXT:      %[[S:.*]] = kiln.sigmoid %[[R]]
// CHECK-NEXT:      %[[A:.*]] = kiln.add %[[R]], %[[S]]
// CHECK-NEXT:      kiln.yield %[[A]]
// CHECK-NEXT:    }
// CHECK-NEXT:    return %[[K1]]

// -----

// global_avg_pool gives [N,4,1,1]. Adding a [4,1,1] bias keeps that shape and
// joins the pool's group; adding the [N,4,8,8] input grows the iteration
// space, so that broadcast add anchors a new group (and absorbs the relu).
func.func @broadcast_grows(%x: tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32> {
  %bias = kiln.parameter "bias" : tensor<4x1x1xf32>
  %0 = kiln.global_avg_pool %x : (tensor<?x4x8x8xf32>) -> tensor<?x4x1x1xf32>
  %1 = kiln.add %0, %bias : (tensor<?x4x1x1xf32>, tensor<4x1x1xf32>) -> tensor<?x4x1x1xf32>
  %2 = kiln.add %1, %x : (tensor<?x4x1x1xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %3 = kiln.relu %2 : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  return %3 : tensor<?x4x8x8xf32>
}

// CHECK-LABEL: func.func @broadcast_grows
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4x8x8xf32>)
// CHECK:         %[[K0:.*]] = kiln.kernel "broadcast_grows_k0" kind("reduction") {{.*}} -> tensor<?x4x1x1xf32> {
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.global_avg_pool
// CHECK-NEXT:      kiln.add {{.*}} : (tensor<?x4x1x1xf32>, tensor<4x1x1xf32>) -> tensor<?x4x1x1xf32>
// CHECK-NEXT:      kiln.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[K1:.*]] = kiln.kernel "broadcast_grows_k1" kind("broadcast") (%[[K0]], %[[X]] : {{.*}}) -> tensor<?x4x8x8xf32> {
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.add {{.*}} : (tensor<?x4x1x1xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    return %[[K1]]

// -----

// Reduction, injective and out-fusible anchors each take an epilogue; a
// reduction, injective or out-fusible consumer always starts a new group.
func.func @anchors(%x: tensor<?x4x8x8xf32>, %y: tensor<?x10xf32>) -> (tensor<?x4x4x4xf32>, tensor<?x10xf32>, tensor<?x4xf32>) {
  %c = kiln.constant dense<0.5> : tensor<1xf32>
  %wl = kiln.parameter "wl" : tensor<10x10xf32>
  %bl = kiln.parameter "bl" : tensor<10xf32>
  %wm = kiln.parameter "wm" : tensor<10x4xf32>
  // max_pool2d + relu, then avg_pool2d + a scalar mul: two reduction kernels.
  %0 = kiln.max_pool2d %x {kernel_size = array<i64: 2, 2>} : (tensor<?x4x8x8xf32>) -> tensor<?x4x4x4xf32>
  %1 = kiln.relu %0 : (tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
  %2 = kiln.avg_pool2d %1 {kernel_size = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : (tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
  %3 = kiln.mul %2, %c : (tensor<?x4x4x4xf32>, tensor<1xf32>) -> tensor<?x4x4x4xf32>
  // linear + bias add + sigmoid: one out-fusible kernel.
  %4 = kiln.linear %y, %wl : (tensor<?x10xf32>, tensor<10x10xf32>) -> tensor<?x10xf32>
  %5 = kiln.add %4, %bl : (tensor<?x10xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  %6 = kiln.sigmoid %5 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // softmax + relu; the log_softmax after it is a new reduction group.
  %7 = kiln.softmax %6 {axis = 1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  %8 = kiln.relu %7 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  %9 = kiln.log_softmax %8 {axis = 1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // matmul is out-fusible, so it is not absorbed by log_softmax's group.
  %10 = kiln.matmul %9, %wm : (tensor<?x10xf32>, tensor<10x4xf32>) -> tensor<?x4xf32>
  // transpose anchors an injective group; reduce_sum and reduce_mean (with
  // its relu) each anchor a reduction group.
  %11 = kiln.transpose %10 {perm = array<i64: 1, 0>} : (tensor<?x4xf32>) -> tensor<4x?xf32>
  %12 = kiln.relu %11 : (tensor<4x?xf32>) -> tensor<4x?xf32>
  %13 = kiln.reduce_sum %12 {axes = array<i64: 0>, keepdim = true} : (tensor<4x?xf32>) -> tensor<1x?xf32>
  %14 = kiln.transpose %13 {perm = array<i64: 1, 0>} : (tensor<1x?xf32>) -> tensor<?x1xf32>
  %15 = kiln.add %10, %14 : (tensor<?x4xf32>, tensor<?x1xf32>) -> tensor<?x4xf32>
  return %3, %6, %15 : tensor<?x4x4x4xf32>, tensor<?x10xf32>, tensor<?x4xf32>
}

// CHECK-LABEL: func.func @anchors
// CHECK:         %[[CST:.*]] = kiln.constant dense<5.000000e-01> : tensor<1xf32>
// CHECK:         %[[K0:.*]] = kiln.kernel "anchors_k0" kind("reduction")
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.max_pool2d
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K1:.*]] = kiln.kernel "anchors_k1" kind("reduction") (%[[K0]], %[[CST]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.avg_pool2d
// CHECK-NEXT:      kiln.mul
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K2:.*]] = kiln.kernel "anchors_k2" kind("out_fusible")
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.linear
// CHECK-NEXT:      kiln.add
// CHECK-NEXT:      kiln.sigmoid
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K3:.*]] = kiln.kernel "anchors_k3" kind("reduction") (%[[K2]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.softmax
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K4:.*]] = kiln.kernel "anchors_k4" kind("reduction") (%[[K3]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.log_softmax
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K5:.*]] = kiln.kernel "anchors_k5" kind("out_fusible") (%[[K4]],
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.matmul
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K6:.*]] = kiln.kernel "anchors_k6" kind("injective") (%[[K5]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.transpose
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K7:.*]] = kiln.kernel "anchors_k7" kind("reduction") (%[[K6]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.reduce_sum
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K8:.*]] = kiln.kernel "anchors_k8" kind("injective") (%[[K7]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.transpose
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K9:.*]] = kiln.kernel "anchors_k9" kind("broadcast") (%[[K5]], %[[K8]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.add
// CHECK-NEXT:      kiln.yield
// CHECK:         return %[[K1]], %[[K2]], %[[K9]]

// -----

// Views (flatten, reshape) and leaves stay outside kernels. The relu after the
// flatten reads the view, not the group's value, so it anchors its own group.
func.func @views(%x: tensor<?x4x2x2xf32>) -> tensor<?x2x8xf32> {
  %w = kiln.parameter "w" : tensor<16x16xf32>
  %0 = kiln.max_pool2d %x {kernel_size = array<i64: 1, 1>} : (tensor<?x4x2x2xf32>) -> tensor<?x4x2x2xf32>
  %1 = kiln.flatten %0 : (tensor<?x4x2x2xf32>) -> tensor<?x16xf32>
  %2 = kiln.relu %1 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %3 = kiln.linear %2, %w : (tensor<?x16xf32>, tensor<16x16xf32>) -> tensor<?x16xf32>
  %4 = kiln.reshape %3 {shape = array<i64: -1, 2, 8>} : (tensor<?x16xf32>) -> tensor<?x2x8xf32>
  return %4 : tensor<?x2x8xf32>
}

// CHECK-LABEL: func.func @views
// CHECK:         %[[K0:.*]] = kiln.kernel "views_k0" kind("reduction")
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.max_pool2d
// CHECK-NEXT:      kiln.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[F:.*]] = kiln.flatten %[[K0]] : (tensor<?x4x2x2xf32>) -> tensor<?x16xf32>
// CHECK-NEXT:    %[[K1:.*]] = kiln.kernel "views_k1" kind("elementwise") (%[[F]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[K2:.*]] = kiln.kernel "views_k2" kind("out_fusible") (%[[K1]],
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.linear
// CHECK-NEXT:      kiln.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[R:.*]] = kiln.reshape %[[K2]] {shape = array<i64: -1, 2, 8>}
// CHECK-NEXT:    return %[[R]]

// -----

// Producer fusion. The squared deviation (sub, then mul: one pointwise group)
// is read only by the variance's reduce_mean: it moves in front of it as the
// reduction's prologue. The residual's second operand (a relu group read only
// by the add's group) moves into that group: one kernel, nothing stored in
// between. The mean itself is read by two groups and stays a kernel.
func.func @producers(%x: tensor<?x4x8x8xf32>, %y: tensor<?x4x8x8xf32>) -> (tensor<4xf32>, tensor<?x4x8x8xf32>) {
  %mean = kiln.reduce_mean %x {axes = array<i64: 0, 2, 3>} : (tensor<?x4x8x8xf32>) -> tensor<4xf32>
  %m = kiln.reshape %mean {shape = array<i64: 4, 1, 1>} : (tensor<4xf32>) -> tensor<4x1x1xf32>
  %c = kiln.sub %x, %m : (tensor<?x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<?x4x8x8xf32>
  %s = kiln.mul %c, %c : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %v = kiln.reduce_mean %s {axes = array<i64: 0, 2, 3>} : (tensor<?x4x8x8xf32>) -> tensor<4xf32>
  %r = kiln.relu %y : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %n = kiln.mul %x, %m : (tensor<?x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<?x4x8x8xf32>
  %o = kiln.add %n, %r : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  return %v, %o : tensor<4xf32>, tensor<?x4x8x8xf32>
}

// CHECK-LABEL: func.func @producers
// CHECK:         %[[K0:.*]] = kiln.kernel "producers_k0" kind("reduction")
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.reduce_mean
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[M:.*]] = kiln.reshape %[[K0]]
// CHECK-NEXT:    %[[K1:.*]] = kiln.kernel "producers_k1" kind("reduction") (%{{.*}}, %[[M]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.sub
// CHECK-NEXT:      kiln.mul
// CHECK-NEXT:      kiln.reduce_mean
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[K2:.*]] = kiln.kernel "producers_k2" kind("broadcast") (%{{.*}}, %{{.*}}, %[[M]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.mul
// CHECK-NEXT:      kiln.add
// CHECK-NEXT:      kiln.yield
// CHECK-NOT:     kiln.kernel
// CHECK:         return %[[K1]], %[[K2]]

// -----

// Recomputation (rule 7): x - m is read by two groups (the variance reduction
// and the scaled relu), reads one tensor of its size and is one op, so each
// reader gets its own copy and nothing is stored. x * y reads two tensors of
// its size: recomputing it would read both twice, so it stays a kernel that
// its two readers load.
func.func @recompute(%x: tensor<?x4x8x8xf32>, %y: tensor<?x4x8x8xf32>, %m: tensor<4x1x1xf32>, %s: tensor<4x1x1xf32>) -> (tensor<4xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<?x4x8x8xf32>) {
  %c = kiln.sub %x, %m : (tensor<?x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<?x4x8x8xf32>
  %sq = kiln.mul %c, %c : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %v = kiln.reduce_mean %sq {axes = array<i64: 0, 2, 3>} : (tensor<?x4x8x8xf32>) -> tensor<4xf32>
  %n = kiln.mul %c, %s : (tensor<?x4x8x8xf32>, tensor<4x1x1xf32>) -> tensor<?x4x8x8xf32>
  %r = kiln.relu %n : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %p = kiln.mul %x, %y : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %ps = kiln.reduce_sum %p {axes = array<i64: 0, 2, 3>} : (tensor<?x4x8x8xf32>) -> tensor<4xf32>
  %pr = kiln.sigmoid %p : (tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  return %v, %r, %ps, %pr : tensor<4xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<?x4x8x8xf32>
}

// CHECK-LABEL: func.func @recompute
// CHECK:         %[[V:.*]] = kiln.kernel "recompute_k0" kind("reduction") (%[[X:.*]], %[[M:.*]] :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.sub
// CHECK-NEXT:      kiln.mul
// CHECK-NEXT:      kiln.reduce_mean
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[R:.*]] = kiln.kernel "recompute_k1" kind("broadcast") (%[[X]], %[[M]], %{{.*}} :
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.sub
// CHECK-NEXT:      kiln.mul
// CHECK-NEXT:      kiln.relu
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[P:.*]] = kiln.kernel "recompute_k2" kind("elementwise")
// CHECK-NEXT:    ^bb0
// CHECK-NEXT:      kiln.mul
// CHECK-NEXT:      kiln.yield
// CHECK:         %[[PS:.*]] = kiln.kernel "recompute_k3" kind("reduction") (%[[P]] :
// CHECK:         %[[PR:.*]] = kiln.kernel "recompute_k4" kind("elementwise") (%[[P]] :
// CHECK:         return %[[V]], %[[R]], %[[PS]], %[[PR]]

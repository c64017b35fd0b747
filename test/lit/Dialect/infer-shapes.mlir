// Result-type inference. The first part writes ops in the generic form (as the
// frontend does) with the result types docs/dialect.md prescribes; the verifier
// compares each against the inferred type, so these parse only if inference
// agrees. The second part writes wrong result types and checks the diagnostic
// names the inferred one.
// RUN: kiln-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @conv_shapes
// CHECK: kiln.conv2d {{.*}} -> tensor<?x8x16x16xf32>
// CHECK: kiln.conv2d {{.*}} -> tensor<?x8x28x26xf32>
// CHECK: kiln.conv2d {{.*}} -> tensor<?x8x?x?xf32>
// CHECK: kiln.conv2d {{.*}} -> tensor<?x6x10x10xf32>
func.func @conv_shapes(%x: tensor<?x4x32x32xf32>, %d: tensor<?x4x?x?xf32>) {
  %w = "kiln.parameter"() {name = "w"} : () -> tensor<8x4x3x3xf32>
  // (32 + 2 - 3) / 2 + 1 = 16
  %0 = "kiln.conv2d"(%x, %w) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>}
      : (tensor<?x4x32x32xf32>, tensor<8x4x3x3xf32>) -> tensor<?x8x16x16xf32>
  // dilation (2, 3): window 5 and 7 -> 28 and 26
  %1 = "kiln.conv2d"(%x, %w) {dilation = array<i64: 2, 3>}
      : (tensor<?x4x32x32xf32>, tensor<8x4x3x3xf32>) -> tensor<?x8x28x26xf32>
  // Dynamic H and W stay dynamic.
  %2 = "kiln.conv2d"(%d, %w) : (tensor<?x4x?x?xf32>, tensor<8x4x3x3xf32>) -> tensor<?x8x?x?xf32>
  // groups 2: weight [6, 4/2, 5, 5]; (32 - 5) / 3 + 1 = 10
  %gw = "kiln.parameter"() {name = "gw"} : () -> tensor<6x2x5x5xf32>
  %3 = "kiln.conv2d"(%x, %gw) {groups = 2 : i64, strides = array<i64: 3, 3>}
      : (tensor<?x4x32x32xf32>, tensor<6x2x5x5xf32>) -> tensor<?x6x10x10xf32>
  return
}

// -----

// CHECK-LABEL: func.func @pool_shapes
// CHECK: kiln.max_pool2d {{.*}} -> tensor<?x3x2x2xf32>
// CHECK: kiln.max_pool2d {{.*}} -> tensor<?x3x3x3xf32>
// CHECK: kiln.avg_pool2d {{.*}} -> tensor<?x3x3x3xf32>
// CHECK: kiln.max_pool2d {{.*}} -> tensor<?x3x4x4xf32>
// CHECK: kiln.global_avg_pool {{.*}} -> tensor<?x3x1x1xf32>
func.func @pool_shapes(%x: tensor<?x3x5x5xf32>, %y: tensor<?x3x6x6xf32>) {
  // floor mode: (5 - 2) / 2 + 1 = 2 (strides default to the kernel)
  %0 = "kiln.max_pool2d"(%x) {kernel_size = array<i64: 2, 2>} : (tensor<?x3x5x5xf32>) -> tensor<?x3x2x2xf32>
  // ceil mode: ceil(3 / 2) + 1 = 3
  %1 = "kiln.max_pool2d"(%x) {kernel_size = array<i64: 2, 2>, ceil_mode = true} : (tensor<?x3x5x5xf32>) -> tensor<?x3x3x3xf32>
  // ceil mode with padding 1: ceil(5 / 2) + 1 = 4, but the 4th window would
  // start at 6 >= 5 + 1 (entirely in the right padding), so 3 as in PyTorch.
  %2 = "kiln.avg_pool2d"(%x) {kernel_size = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = true}
      : (tensor<?x3x5x5xf32>) -> tensor<?x3x3x3xf32>
  // ceil mode, k 3, s 2, p 1 on 6: ceil(5 / 2) + 1 = 4, last window starts at 6 < 7.
  %3 = "kiln.max_pool2d"(%y) {kernel_size = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = true}
      : (tensor<?x3x6x6xf32>) -> tensor<?x3x4x4xf32>
  %4 = "kiln.global_avg_pool"(%x) : (tensor<?x3x5x5xf32>) -> tensor<?x3x1x1xf32>
  return
}

// -----

// CHECK-LABEL: func.func @broadcast_shapes
// CHECK: kiln.add {{.*}} -> tensor<?x?xf32>
// CHECK: kiln.sub {{.*}} -> tensor<?x4xf32>
// CHECK: kiln.mul {{.*}} -> tensor<3x4xf32>
// CHECK: kiln.div {{.*}} -> tensor<?x5xf32>
// CHECK: kiln.add {{.*}} -> tensor<?x4xf32>
// CHECK: kiln.mul {{.*}} -> tensor<?x3x4xf32>
func.func @broadcast_shapes(%a: tensor<?x1xf32>, %b: tensor<1x?xf32>, %c: tensor<?x4xf32>,
                            %d: tensor<?x?xf32>, %e: tensor<3x4xf32>, %f: tensor<5xf32>,
                            %s: tensor<f32>, %g: tensor<?x1x4xf32>, %h: tensor<3x1xf32>) {
  // '?' with 1 stays '?', both ways round.
  %0 = "kiln.add"(%a, %b) : (tensor<?x1xf32>, tensor<1x?xf32>) -> tensor<?x?xf32>
  // '?' with '?' stays '?'.
  %1 = "kiln.sub"(%c, %c) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // '?' with a static k > 1 is k.
  %2 = "kiln.mul"(%d, %e) : (tensor<?x?xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  // Missing leading dims act as 1.
  %3 = "kiln.div"(%a, %f) : (tensor<?x1xf32>, tensor<5xf32>) -> tensor<?x5xf32>
  %4 = "kiln.add"(%s, %c) : (tensor<f32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %5 = "kiln.mul"(%g, %h) : (tensor<?x1x4xf32>, tensor<3x1xf32>) -> tensor<?x3x4xf32>
  return
}

// -----

// CHECK-LABEL: func.func @dense_shapes
// CHECK: kiln.matmul {{.*}} -> tensor<?x10xf32>
// CHECK: kiln.matmul {{.*}} -> tensor<7x10xf32>
// CHECK: kiln.linear {{.*}} -> tensor<?x10xf32>
// CHECK: kiln.batch_norm {{.*}} -> tensor<?x64xf32>
func.func @dense_shapes(%x: tensor<?x64xf32>, %k: tensor<7x?xf32>) {
  %w = "kiln.parameter"() {name = "w"} : () -> tensor<64x10xf32>
  %0 = "kiln.matmul"(%x, %w) : (tensor<?x64xf32>, tensor<64x10xf32>) -> tensor<?x10xf32>
  // A dynamic K matches anything.
  %1 = "kiln.matmul"(%k, %w) : (tensor<7x?xf32>, tensor<64x10xf32>) -> tensor<7x10xf32>
  %lw = "kiln.parameter"() {name = "lw"} : () -> tensor<10x64xf32>
  %lb = "kiln.parameter"() {name = "lb"} : () -> tensor<10xf32>
  %2 = "kiln.linear"(%x, %lw, %lb) : (tensor<?x64xf32>, tensor<10x64xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  %p = "kiln.parameter"() {name = "p"} : () -> tensor<64xf32>
  %3 = "kiln.batch_norm"(%x, %p, %p, %p, %p) : (tensor<?x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return
}

// -----

// CHECK-LABEL: func.func @axis_shapes
// CHECK: kiln.softmax {{.*}} -> tensor<?x3x5xf32>
// CHECK: kiln.reduce_sum {{.*}} -> tensor<?x5xf32>
// CHECK: kiln.reduce_mean {{.*}} -> tensor<?x1x1xf32>
// CHECK: kiln.reduce_sum {{.*}} -> tensor<f32>
func.func @axis_shapes(%x: tensor<?x3x5xf32>) {
  %0 = "kiln.softmax"(%x) {axis = -2 : i64} : (tensor<?x3x5xf32>) -> tensor<?x3x5xf32>
  %1 = "kiln.reduce_sum"(%x) {axes = array<i64: 1>} : (tensor<?x3x5xf32>) -> tensor<?x5xf32>
  %2 = "kiln.reduce_mean"(%x) {axes = array<i64: -1, 1>, keepdim = true} : (tensor<?x3x5xf32>) -> tensor<?x1x1xf32>
  // Reducing the batch too leaves a scalar.
  %3 = "kiln.reduce_sum"(%x) {axes = array<i64: 0, 1, 2>} : (tensor<?x3x5xf32>) -> tensor<f32>
  return
}

// -----

// CHECK-LABEL: func.func @view_shapes
// CHECK: kiln.reshape {{.*}} -> tensor<?x15xf32>
// CHECK: kiln.reshape {{.*}} -> tensor<2x5x3xf32>
// CHECK: kiln.flatten {{.*}} -> tensor<?x15xf32>
// CHECK: kiln.flatten {{.*}} -> tensor<?x3x?xf32>
// CHECK: kiln.flatten {{.*}} -> tensor<?x3x5xf32>
// CHECK: kiln.transpose {{.*}} -> tensor<5x?x3xf32>
func.func @view_shapes(%x: tensor<?x3x5xf32>, %s: tensor<2x3x5xf32>, %d: tensor<?x3x?x2xf32>) {
  %0 = "kiln.reshape"(%x) {shape = array<i64: -1, 15>} : (tensor<?x3x5xf32>) -> tensor<?x15xf32>
  // A static dim 0 may be written out when it equals the input's.
  %1 = "kiln.reshape"(%s) {shape = array<i64: 2, 5, 3>} : (tensor<2x3x5xf32>) -> tensor<2x5x3xf32>
  %2 = "kiln.flatten"(%x) : (tensor<?x3x5xf32>) -> tensor<?x15xf32>
  // A dynamic dim in the flattened range makes the product dynamic.
  %3 = "kiln.flatten"(%d) {start_dim = 2 : i64} : (tensor<?x3x?x2xf32>) -> tensor<?x3x?xf32>
  // Negative start_dim counts from the end: flattening only the last dim.
  %4 = "kiln.flatten"(%x) {start_dim = -1 : i64} : (tensor<?x3x5xf32>) -> tensor<?x3x5xf32>
  %5 = "kiln.transpose"(%x) {perm = array<i64: 2, 0, 1>} : (tensor<?x3x5xf32>) -> tensor<5x?x3xf32>
  return
}

// -----

// CHECK-LABEL: func.func @training_shapes
// CHECK: kiln.matmul {{.*}} -> tensor<10x64xf32>
// CHECK: kiln.broadcast_to {{.*}} -> tensor<?x10xf32>
// CHECK: kiln.broadcast_to {{.*}} -> tensor<4x?x10xf32>
// CHECK: kiln.broadcast_to {{.*}} -> tensor<?xf32>
// CHECK: kiln.relu_grad {{.*}} -> tensor<?x3x10xf32>
// CHECK: kiln.conv2d_grad_input {{.*}} -> tensor<?x4x32x32xf32>
// CHECK: kiln.conv2d_grad_input {{.*}} -> tensor<?x4x31x31xf32>
// CHECK: kiln.conv2d_grad_input {{.*}} -> tensor<2x8x9x9xf32>
// CHECK: kiln.conv2d_grad_weight {{.*}} -> tensor<8x4x3x3xf32>
// CHECK: kiln.conv2d_grad_weight {{.*}} -> tensor<8x1x3x3xf32>
// CHECK: kiln.max_pool2d_grad {{.*}} -> tensor<?x3x5x5xf32>
// CHECK: kiln.avg_pool2d_grad {{.*}} -> tensor<?x3x5x5xf32>
// CHECK: kiln.avg_pool2d_grad {{.*}} -> tensor<?x3x6x6xf32>
func.func @training_shapes(%dy: tensor<?x10xf32>, %x: tensor<?x64xf32>, %b: tensor<10xf32>,
                           %g: tensor<?x8x16x16xf32>, %i: tensor<?x4x32x32xf32>,
                           %d: tensor<2x8x7x7xf32>, %dg: tensor<?x8x30x30xf32>,
                           %p: tensor<?x3x5x5xf32>, %pg: tensor<?x3x3x3xf32>, %r: tensor<?x3x10xf32>) {
  // dW of a linear layer: [10, ?] x [?, 64], a contraction over the batch.
  %dyt = "kiln.transpose"(%dy) {perm = array<i64: 1, 0>} : (tensor<?x10xf32>) -> tensor<10x?xf32>
  %0 = "kiln.matmul"(%dyt, %x) : (tensor<10x?xf32>, tensor<?x64xf32>) -> tensor<10x64xf32>
  // -1 is the batch; missing leading dims and 1s broadcast.
  %1 = "kiln.broadcast_to"(%b) {shape = array<i64: -1, 10>} : (tensor<10xf32>) -> tensor<?x10xf32>
  %2 = "kiln.broadcast_to"(%dy) {shape = array<i64: 4, -1, 10>} : (tensor<?x10xf32>) -> tensor<4x?x10xf32>
  %one = "kiln.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %3 = "kiln.broadcast_to"(%one) {shape = array<i64: -1>} : (tensor<f32>) -> tensor<?xf32>
  // The activation gradients broadcast like add.
  %4 = "kiln.relu_grad"(%r, %b) : (tensor<?x3x10xf32>, tensor<10xf32>) -> tensor<?x3x10xf32>
  %w = "kiln.parameter"() {name = "w"} : () -> tensor<8x4x3x3xf32>
  // stride 2, padding 1: a 32 or a 31 input both give 16 outputs; input_shape decides.
  %5 = "kiln.conv2d_grad_input"(%g, %w) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, input_shape = array<i64: -1, 4, 32, 32>}
      : (tensor<?x8x16x16xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x32x32xf32>
  %6 = "kiln.conv2d_grad_input"(%g, %w) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, input_shape = array<i64: -1, 4, 31, 31>}
      : (tensor<?x8x16x16xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x31x31xf32>
  // Depthwise, dilation 2, padding 1, a static batch: (9 + 2 - 5) / 1 + 1 = 7.
  %dw = "kiln.parameter"() {name = "dw"} : () -> tensor<8x1x3x3xf32>
  %7 = "kiln.conv2d_grad_input"(%d, %dw) {groups = 8 : i64, dilation = array<i64: 2, 2>, padding = array<i64: 1, 1>, input_shape = array<i64: 2, 8, 9, 9>}
      : (tensor<2x8x7x7xf32>, tensor<8x1x3x3xf32>) -> tensor<2x8x9x9xf32>
  %8 = "kiln.conv2d_grad_weight"(%i, %g) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, weight_shape = array<i64: 8, 4, 3, 3>}
      : (tensor<?x4x32x32xf32>, tensor<?x8x16x16xf32>) -> tensor<8x4x3x3xf32>
  %ix = "kiln.parameter"() {name = "ix"} : () -> tensor<2x8x32x32xf32>
  %9 = "kiln.conv2d_grad_weight"(%ix, %dg) {groups = 8 : i64, weight_shape = array<i64: 8, 1, 3, 3>}
      : (tensor<2x8x32x32xf32>, tensor<?x8x30x30xf32>) -> tensor<8x1x3x3xf32>
  // ceil mode, k 2, s 2 on 5: 3 windows.
  %10 = "kiln.max_pool2d_grad"(%p, %pg) {kernel_size = array<i64: 2, 2>, ceil_mode = true}
      : (tensor<?x3x5x5xf32>, tensor<?x3x3x3xf32>) -> tensor<?x3x5x5xf32>
  %11 = "kiln.avg_pool2d_grad"(%pg) {kernel_size = array<i64: 2, 2>, ceil_mode = true, input_shape = array<i64: -1, 3, 5, 5>}
      : (tensor<?x3x3x3xf32>) -> tensor<?x3x5x5xf32>
  // k 3, s 2, p 1 on 6 (floor): (6 + 2 - 3) / 2 + 1 = 3.
  %12 = "kiln.avg_pool2d_grad"(%pg) {kernel_size = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, input_shape = array<i64: -1, 3, 6, 6>}
      : (tensor<?x3x3x3xf32>) -> tensor<?x3x6x6xf32>
  return
}

// -----

// weight_layout "hwio": the weight is [KH, KW, Cin, Cout], so Cout is its
// last dim and the window its first two.
// CHECK-LABEL: func.func @conv_hwio_shapes
// CHECK: kiln.conv2d {{.*}} -> tensor<?x16x7x7xf32>
// CHECK: kiln.conv2d {{.*}} -> tensor<?x32x3x5xf32>
func.func @conv_hwio_shapes(%x: tensor<?x4x7x7xf32>) {
  %w = "kiln.parameter"() {name = "w"} : () -> tensor<3x3x4x16xf32>
  %0 = "kiln.conv2d"(%x, %w) {padding = array<i64: 1, 1>, weight_layout = "hwio"}
      : (tensor<?x4x7x7xf32>, tensor<3x3x4x16xf32>) -> tensor<?x16x7x7xf32>
  // A 5x3 window, no padding: (7 - 5) + 1 = 3 rows, (7 - 3) + 1 = 5 columns.
  %v = "kiln.parameter"() {name = "v"} : () -> tensor<5x3x4x32xf32>
  %1 = "kiln.conv2d"(%x, %v) {weight_layout = "hwio"}
      : (tensor<?x4x7x7xf32>, tensor<5x3x4x32xf32>) -> tensor<?x32x3x5xf32>
  return
}

// -----

func.func @wrong_conv_hwio(%x: tensor<?x4x7x7xf32>, %w: tensor<3x3x4x16xf32>) {
  // Read as OIHW the weight would give 3 channels: the layout decides.
  // expected-error @+1 {{'kiln.conv2d' op expected result type 'tensor<?x16x7x7xf32>' (inferred from the operands and attributes), found 'tensor<?x3x7x7xf32>'}}
  %0 = "kiln.conv2d"(%x, %w) {padding = array<i64: 1, 1>, weight_layout = "hwio"}
      : (tensor<?x4x7x7xf32>, tensor<3x3x4x16xf32>) -> tensor<?x3x7x7xf32>
  return
}

// -----

func.func @wrong_conv(%x: tensor<?x4x32x32xf32>, %w: tensor<8x4x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected result type 'tensor<?x8x16x16xf32>' (inferred from the operands and attributes), found 'tensor<?x8x15x15xf32>'}}
  %0 = "kiln.conv2d"(%x, %w) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>}
      : (tensor<?x4x32x32xf32>, tensor<8x4x3x3xf32>) -> tensor<?x8x15x15xf32>
  return
}

// -----

func.func @wrong_conv_batch(%x: tensor<?x4x32x32xf32>, %w: tensor<8x4x3x3xf32>) {
  // The batch stays dynamic; a static batch in the result is wrong.
  // expected-error @+1 {{expected result type 'tensor<?x8x30x30xf32>' (inferred from the operands and attributes), found 'tensor<1x8x30x30xf32>'}}
  %0 = "kiln.conv2d"(%x, %w) : (tensor<?x4x32x32xf32>, tensor<8x4x3x3xf32>) -> tensor<1x8x30x30xf32>
  return
}

// -----

func.func @wrong_pool_ceil(%x: tensor<?x3x5x5xf32>) {
  // expected-error @+1 {{'kiln.avg_pool2d' op expected result type 'tensor<?x3x3x3xf32>' (inferred from the operands and attributes), found 'tensor<?x3x4x4xf32>'}}
  %0 = "kiln.avg_pool2d"(%x) {kernel_size = array<i64: 2, 2>, padding = array<i64: 1, 1>, ceil_mode = true}
      : (tensor<?x3x5x5xf32>) -> tensor<?x3x4x4xf32>
  return
}

// -----

func.func @wrong_broadcast(%a: tensor<?x1xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.add' op expected result type 'tensor<?x4xf32>' (inferred from the operands and attributes), found 'tensor<?x1xf32>'}}
  %0 = "kiln.add"(%a, %b) : (tensor<?x1xf32>, tensor<4xf32>) -> tensor<?x1xf32>
  return
}

// -----

func.func @wrong_broadcast_dynamic(%a: tensor<?x?xf32>, %b: tensor<3x4xf32>) {
  // expected-error @+1 {{'kiln.sub' op expected result type 'tensor<3x4xf32>' (inferred from the operands and attributes), found 'tensor<?x?xf32>'}}
  %0 = "kiln.sub"(%a, %b) : (tensor<?x?xf32>, tensor<3x4xf32>) -> tensor<?x?xf32>
  return
}

// -----

func.func @wrong_matmul(%a: tensor<?x64xf32>, %b: tensor<64x10xf32>) {
  // expected-error @+1 {{'kiln.matmul' op expected result type 'tensor<?x10xf32>' (inferred from the operands and attributes), found 'tensor<?x64xf32>'}}
  %0 = "kiln.matmul"(%a, %b) : (tensor<?x64xf32>, tensor<64x10xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @wrong_linear(%x: tensor<?x64xf32>, %w: tensor<10x64xf32>) {
  // expected-error @+1 {{'kiln.linear' op expected result type 'tensor<?x10xf32>' (inferred from the operands and attributes), found 'tensor<10x?xf32>'}}
  %0 = "kiln.linear"(%x, %w) : (tensor<?x64xf32>, tensor<10x64xf32>) -> tensor<10x?xf32>
  return
}

// -----

func.func @wrong_batch_norm(%x: tensor<?x8x4x4xf32>, %p: tensor<8xf32>) {
  // expected-error @+1 {{'kiln.batch_norm' op expected result type 'tensor<?x8x4x4xf32>' (inferred from the operands and attributes), found 'tensor<?x8x16xf32>'}}
  %0 = "kiln.batch_norm"(%x, %p, %p, %p, %p) : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x16xf32>
  return
}

// -----

func.func @wrong_global_pool(%x: tensor<?x8x4x4xf32>) {
  // expected-error @+1 {{'kiln.global_avg_pool' op expected result type 'tensor<?x8x1x1xf32>' (inferred from the operands and attributes), found 'tensor<?x8xf32>'}}
  %0 = "kiln.global_avg_pool"(%x) : (tensor<?x8x4x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @wrong_softmax(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{'kiln.softmax' op expected result type 'tensor<?x10xf32>' (inferred from the operands and attributes), found 'tensor<?xf32>'}}
  %0 = "kiln.softmax"(%x) {axis = 1 : i64} : (tensor<?x10xf32>) -> tensor<?xf32>
  return
}

// -----

func.func @wrong_reduce_keepdim(%x: tensor<?x3x5xf32>) {
  // expected-error @+1 {{'kiln.reduce_mean' op expected result type 'tensor<?x3x1xf32>' (inferred from the operands and attributes), found 'tensor<?x3xf32>'}}
  %0 = "kiln.reduce_mean"(%x) {axes = array<i64: 2>, keepdim = true} : (tensor<?x3x5xf32>) -> tensor<?x3xf32>
  return
}

// -----

func.func @wrong_reshape(%x: tensor<?x3x5xf32>) {
  // expected-error @+1 {{'kiln.reshape' op expected result type 'tensor<?x5x3xf32>' (inferred from the operands and attributes), found 'tensor<?x3x5xf32>'}}
  %0 = "kiln.reshape"(%x) {shape = array<i64: -1, 5, 3>} : (tensor<?x3x5xf32>) -> tensor<?x3x5xf32>
  return
}

// -----

func.func @wrong_flatten(%x: tensor<?x3x5x2xf32>) {
  // expected-error @+1 {{'kiln.flatten' op expected result type 'tensor<?x3x10xf32>' (inferred from the operands and attributes), found 'tensor<?x30xf32>'}}
  %0 = "kiln.flatten"(%x) {start_dim = 2 : i64} : (tensor<?x3x5x2xf32>) -> tensor<?x30xf32>
  return
}

// -----

func.func @wrong_transpose(%x: tensor<?x3x5xf32>) {
  // expected-error @+1 {{'kiln.transpose' op expected result type 'tensor<5x?x3xf32>' (inferred from the operands and attributes), found 'tensor<?x5x3xf32>'}}
  %0 = "kiln.transpose"(%x) {perm = array<i64: 2, 0, 1>} : (tensor<?x3x5xf32>) -> tensor<?x5x3xf32>
  return
}

// -----

func.func @wrong_relu(%x: tensor<?x3xf32>) {
  // expected-error @+1 {{'kiln.relu' op expected result type 'tensor<?x3xf32>' (inferred from the operands and attributes), found 'tensor<?x4xf32>'}}
  %0 = "kiln.relu"(%x) : (tensor<?x3xf32>) -> tensor<?x4xf32>
  return
}

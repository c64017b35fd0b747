// Every kiln op round-trips: custom form in, custom form out (twice), and the
// generic form the frontend emits parses to the same ops.
// RUN: kiln-opt %s | kiln-opt | FileCheck %s
// RUN: kiln-opt %s -mlir-print-op-generic | kiln-opt | FileCheck %s

// CHECK-LABEL: func.func @leaves
// CHECK: kiln.parameter "conv1.weight" : tensor<8x3x3x3xf32>
// CHECK: kiln.parameter "bn.running_mean" {trainable = false} : tensor<8xf32>
// CHECK: kiln.constant dense<5.000000e-01> : tensor<8xf32>
// CHECK: kiln.constant dense<{{\[}}1.000000e+00, 2.000000e+00]> : tensor<2xf32>
func.func @leaves() -> (tensor<8x3x3x3xf32>, tensor<8xf32>, tensor<8xf32>, tensor<2xf32>) {
  %w = kiln.parameter "conv1.weight" : tensor<8x3x3x3xf32>
  %m = kiln.parameter "bn.running_mean" {trainable = false} : tensor<8xf32>
  %c = kiln.constant dense<0.5> : tensor<8xf32>
  %d = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  return %w, %m, %c, %d : tensor<8x3x3x3xf32>, tensor<8xf32>, tensor<8xf32>, tensor<2xf32>
}

// CHECK-LABEL: func.func @gemm_like
// CHECK: kiln.conv2d %{{.*}}, %{{.*}}, %{{.*}} {padding = array<i64: 1, 1>} : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<?x8x32x32xf32>
// CHECK: kiln.conv2d %{{.*}}, %{{.*}} {dilation = array<i64: 2, 2>, groups = 8 : i64, strides = array<i64: 2, 2>} : (tensor<?x8x32x32xf32>, tensor<16x1x3x3xf32>) -> tensor<?x16x14x14xf32>
// CHECK: kiln.matmul %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<64x10xf32>) -> tensor<?x10xf32>
// CHECK: kiln.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<10x64xf32>, tensor<10xf32>) -> tensor<?x10xf32>
// CHECK: kiln.linear %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<10x64xf32>) -> tensor<?x10xf32>
func.func @gemm_like(%x: tensor<?x3x32x32xf32>, %h: tensor<?x64xf32>)
    -> (tensor<?x16x14x14xf32>, tensor<?x10xf32>, tensor<?x10xf32>, tensor<?x10xf32>) {
  %w = kiln.parameter "c1.w" : tensor<8x3x3x3xf32>
  %b = kiln.parameter "c1.b" : tensor<8xf32>
  %c1 = kiln.conv2d %x, %w, %b {padding = array<i64: 1, 1>}
      : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<?x8x32x32xf32>
  %dw = kiln.parameter "dw.w" : tensor<16x1x3x3xf32>
  %c2 = kiln.conv2d %c1, %dw {strides = array<i64: 2, 2>, dilation = array<i64: 2, 2>, groups = 8 : i64}
      : (tensor<?x8x32x32xf32>, tensor<16x1x3x3xf32>) -> tensor<?x16x14x14xf32>
  %k = kiln.parameter "mm.w" : tensor<64x10xf32>
  %mm = kiln.matmul %h, %k : (tensor<?x64xf32>, tensor<64x10xf32>) -> tensor<?x10xf32>
  %lw = kiln.parameter "fc.w" : tensor<10x64xf32>
  %lb = kiln.parameter "fc.b" : tensor<10xf32>
  %l1 = kiln.linear %h, %lw, %lb : (tensor<?x64xf32>, tensor<10x64xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  %l2 = kiln.linear %h, %lw : (tensor<?x64xf32>, tensor<10x64xf32>) -> tensor<?x10xf32>
  return %c2, %mm, %l1, %l2 : tensor<?x16x14x14xf32>, tensor<?x10xf32>, tensor<?x10xf32>, tensor<?x10xf32>
}

// An HWIO weight ([KH, KW, Cin, Cout], kiln-pack-conv-weights) prints its
// layout; the default "oihw" is never printed.
// CHECK-LABEL: func.func @conv_hwio
// CHECK: kiln.conv2d %{{.*}}, %{{.*}}, %{{.*}} {padding = array<i64: 1, 1>, weight_layout = "hwio"} : (tensor<?x4x7x7xf32>, tensor<3x3x4x16xf32>, tensor<16xf32>) -> tensor<?x16x7x7xf32>
// CHECK: kiln.conv2d %{{.*}}, %{{.*}} : (tensor<?x16x7x7xf32>, tensor<16x16x1x1xf32>) -> tensor<?x16x7x7xf32>
func.func @conv_hwio(%x: tensor<?x4x7x7xf32>) -> tensor<?x16x7x7xf32> {
  %w = kiln.parameter "c.weight.hwio" {trainable = false} : tensor<3x3x4x16xf32>
  %b = kiln.parameter "c.bias" : tensor<16xf32>
  %c = kiln.conv2d %x, %w, %b {padding = array<i64: 1, 1>, weight_layout = "hwio"}
      : (tensor<?x4x7x7xf32>, tensor<3x3x4x16xf32>, tensor<16xf32>) -> tensor<?x16x7x7xf32>
  %w1 = kiln.parameter "p.weight" : tensor<16x16x1x1xf32>
  %p = kiln.conv2d %c, %w1 {weight_layout = "oihw"}
      : (tensor<?x16x7x7xf32>, tensor<16x16x1x1xf32>) -> tensor<?x16x7x7xf32>
  return %p : tensor<?x16x7x7xf32>
}

// CHECK-LABEL: func.func @elementwise
// CHECK: kiln.add %{{.*}}, %{{.*}} : (tensor<?x8x4x4xf32>, tensor<8x1x1xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.sub %{{.*}}, %{{.*}} : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.mul %{{.*}}, %{{.*}} : (tensor<?x8x4x4xf32>, tensor<f32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.div %{{.*}}, %{{.*}} : (tensor<?x8x4x4xf32>, tensor<8x1x1xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.relu %{{.*}} : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.relu6 %{{.*}} : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.sigmoid %{{.*}} : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.hardswish %{{.*}} : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.batch_norm %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-03 : f32} : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
func.func @elementwise(%x: tensor<?x8x4x4xf32>, %s: tensor<f32>) -> tensor<?x8x4x4xf32> {
  %c = kiln.parameter "scale" : tensor<8x1x1xf32>
  %v = kiln.parameter "vec" : tensor<8xf32>
  %a = kiln.add %x, %c : (tensor<?x8x4x4xf32>, tensor<8x1x1xf32>) -> tensor<?x8x4x4xf32>
  %b = kiln.sub %a, %x : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %m = kiln.mul %b, %s : (tensor<?x8x4x4xf32>, tensor<f32>) -> tensor<?x8x4x4xf32>
  %d = kiln.div %m, %c : (tensor<?x8x4x4xf32>, tensor<8x1x1xf32>) -> tensor<?x8x4x4xf32>
  %r = kiln.relu %d : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %r6 = kiln.relu6 %r : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %sg = kiln.sigmoid %r6 : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %hs = kiln.hardswish %sg : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %bn = kiln.batch_norm %hs, %v, %v, %v, %v {epsilon = 1.0e-3 : f32}
      : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
  return %bn : tensor<?x8x4x4xf32>
}

// CHECK-LABEL: func.func @reductions
// CHECK: kiln.max_pool2d %{{.*}} {kernel_size = array<i64: 3, 3>, padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x8x32x32xf32>) -> tensor<?x8x16x16xf32>
// CHECK: kiln.avg_pool2d %{{.*}} {ceil_mode = true, count_include_pad = false, kernel_size = array<i64: 2, 2>} : (tensor<?x8x16x16xf32>) -> tensor<?x8x8x8xf32>
// CHECK: kiln.global_avg_pool %{{.*}} : (tensor<?x8x8x8xf32>) -> tensor<?x8x1x1xf32>
// CHECK: kiln.softmax %{{.*}} {axis = 1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
// CHECK: kiln.log_softmax %{{.*}} : (tensor<?x10xf32>) -> tensor<?x10xf32>
// CHECK: kiln.reduce_sum %{{.*}} {axes = array<i64: 1>} : (tensor<?x10xf32>) -> tensor<?xf32>
// CHECK: kiln.reduce_mean %{{.*}} {axes = array<i64: -1>, keepdim = true} : (tensor<?x10xf32>) -> tensor<?x1xf32>
func.func @reductions(%x: tensor<?x8x32x32xf32>, %l: tensor<?x10xf32>)
    -> (tensor<?x8x1x1xf32>, tensor<?x10xf32>, tensor<?x10xf32>, tensor<?xf32>, tensor<?x1xf32>) {
  %mp = kiln.max_pool2d %x {kernel_size = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1>}
      : (tensor<?x8x32x32xf32>) -> tensor<?x8x16x16xf32>
  %ap = kiln.avg_pool2d %mp {kernel_size = array<i64: 2, 2>, ceil_mode = true, count_include_pad = false}
      : (tensor<?x8x16x16xf32>) -> tensor<?x8x8x8xf32>
  %gp = kiln.global_avg_pool %ap : (tensor<?x8x8x8xf32>) -> tensor<?x8x1x1xf32>
  %sm = kiln.softmax %l {axis = 1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  %ls = kiln.log_softmax %l : (tensor<?x10xf32>) -> tensor<?x10xf32>
  %rs = kiln.reduce_sum %l {axes = array<i64: 1>} : (tensor<?x10xf32>) -> tensor<?xf32>
  %rm = kiln.reduce_mean %l {axes = array<i64: -1>, keepdim = true} : (tensor<?x10xf32>) -> tensor<?x1xf32>
  return %gp, %sm, %ls, %rs, %rm : tensor<?x8x1x1xf32>, tensor<?x10xf32>, tensor<?x10xf32>, tensor<?xf32>, tensor<?x1xf32>
}

// CHECK-LABEL: func.func @views
// CHECK: kiln.reshape %{{.*}} {shape = array<i64: -1, 16, 4>} : (tensor<?x8x2x4xf32>) -> tensor<?x16x4xf32>
// CHECK: kiln.flatten %{{.*}} : (tensor<?x16x4xf32>) -> tensor<?x64xf32>
// CHECK: kiln.flatten %{{.*}} {start_dim = 2 : i64} : (tensor<?x8x2x4xf32>) -> tensor<?x8x8xf32>
// CHECK: kiln.transpose %{{.*}} {perm = array<i64: 0, 2, 1>} : (tensor<?x16x4xf32>) -> tensor<?x4x16xf32>
func.func @views(%x: tensor<?x8x2x4xf32>) -> (tensor<?x64xf32>, tensor<?x8x8xf32>, tensor<?x4x16xf32>) {
  %r = kiln.reshape %x {shape = array<i64: -1, 16, 4>} : (tensor<?x8x2x4xf32>) -> tensor<?x16x4xf32>
  %f = kiln.flatten %r : (tensor<?x16x4xf32>) -> tensor<?x64xf32>
  %f2 = kiln.flatten %x {start_dim = 2 : i64} : (tensor<?x8x2x4xf32>) -> tensor<?x8x8xf32>
  %t = kiln.transpose %r {perm = array<i64: 0, 2, 1>} : (tensor<?x16x4xf32>) -> tensor<?x4x16xf32>
  return %f, %f2, %t : tensor<?x64xf32>, tensor<?x8x8xf32>, tensor<?x4x16xf32>
}

// CHECK-LABEL: func.func @kernels
// CHECK: kiln.kernel "k0" kind("out_fusible") (%{{.*}}, %{{.*}} : tensor<?x64xf32>, tensor<10x64xf32>) -> tensor<?x10xf32> {
// CHECK-NEXT: ^bb0(%[[A:.*]]: tensor<?x64xf32>, %[[B:.*]]: tensor<10x64xf32>):
// CHECK-NEXT: %[[L:.*]] = kiln.linear %[[A]], %[[B]]
// CHECK-NEXT: %[[R:.*]] = kiln.relu %[[L]]
// CHECK-NEXT: kiln.yield %[[R]] : tensor<?x10xf32>
// CHECK: kiln.kernel "k1" kind("elementwise") attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 40 : i64} -> tensor<4xf32> {
// CHECK: kiln.constant
// CHECK: kiln.yield
func.func @kernels(%h: tensor<?x64xf32>) -> (tensor<?x10xf32>, tensor<4xf32>) {
  %w = kiln.parameter "fc.w" : tensor<10x64xf32>
  %k = kiln.kernel "k0" kind("out_fusible") (%h, %w : tensor<?x64xf32>, tensor<10x64xf32>) -> tensor<?x10xf32> {
  ^bb0(%a: tensor<?x64xf32>, %b: tensor<10x64xf32>):
    %l = kiln.linear %a, %b : (tensor<?x64xf32>, tensor<10x64xf32>) -> tensor<?x10xf32>
    %r = kiln.relu %l : (tensor<?x10xf32>) -> tensor<?x10xf32>
    kiln.yield %r : tensor<?x10xf32>
  }
  %c = kiln.kernel "k1" kind("elementwise") attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 40 : i64} -> tensor<4xf32> {
    %z = kiln.constant dense<0.0> : tensor<4xf32>
    kiln.yield %z : tensor<4xf32>
  }
  return %k, %c : tensor<?x10xf32>, tensor<4xf32>
}

// The generic form, as the frontend writes it (attributes in the dictionary,
// defaults left out), parses into the same ops.
// CHECK-LABEL: func.func @generic
// CHECK: kiln.parameter "w" : tensor<4x2x3x3xf32>
// CHECK: kiln.constant dense<2.000000e+00> : tensor<4xf32>
// CHECK: kiln.conv2d %{{.*}}, %{{.*}}, %{{.*}} {strides = array<i64: 2, 2>} : (tensor<?x2x9x9xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<?x4x4x4xf32>
// CHECK: kiln.batch_norm %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x4x4xf32>
// CHECK: kiln.relu6 %{{.*}} : (tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
// CHECK: kiln.max_pool2d %{{.*}} {kernel_size = array<i64: 2, 2>} : (tensor<?x4x4x4xf32>) -> tensor<?x4x2x2xf32>
// CHECK: kiln.avg_pool2d %{{.*}} {kernel_size = array<i64: 2, 2>, strides = array<i64: 1, 1>} : (tensor<?x4x2x2xf32>) -> tensor<?x4x1x1xf32>
// CHECK: kiln.global_avg_pool %{{.*}} : (tensor<?x4x4x4xf32>) -> tensor<?x4x1x1xf32>
// CHECK: kiln.reshape %{{.*}} {shape = array<i64: -1, 4>} : (tensor<?x4x1x1xf32>) -> tensor<?x4xf32>
// CHECK: kiln.flatten %{{.*}} : (tensor<?x4x1x1xf32>) -> tensor<?x4xf32>
// CHECK: kiln.transpose %{{.*}} {perm = array<i64: 1, 0>} : (tensor<?x4xf32>) -> tensor<4x?xf32>
// CHECK: kiln.matmul %{{.*}}, %{{.*}} : (tensor<4x?xf32>, tensor<?x4xf32>) -> tensor<4x4xf32>
// CHECK: kiln.linear %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.add %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.sub %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.mul %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.div %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.relu %{{.*}} : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.sigmoid %{{.*}} : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.hardswish %{{.*}} : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.softmax %{{.*}} : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.log_softmax %{{.*}} {axis = 1 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: kiln.reduce_sum %{{.*}} {axes = array<i64: 1>, keepdim = true} : (tensor<?x4xf32>) -> tensor<?x1xf32>
// CHECK: kiln.reduce_mean %{{.*}} {axes = array<i64: 1>} : (tensor<?x4xf32>) -> tensor<?xf32>
// CHECK: kiln.kernel "k" kind("elementwise") (%{{.*}} : tensor<?x4xf32>) -> tensor<?x4xf32> {
// CHECK: kiln.yield %{{.*}} : tensor<?x4xf32>
func.func @generic(%x: tensor<?x2x9x9xf32>) -> (tensor<?x4x1x1xf32>, tensor<4x4xf32>, tensor<?x4xf32>, tensor<?x1xf32>, tensor<?xf32>, tensor<?x4xf32>) {
  %w = "kiln.parameter"() {name = "w", trainable = true} : () -> tensor<4x2x3x3xf32>
  %b = "kiln.constant"() {value = dense<2.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %c = "kiln.conv2d"(%x, %w, %b) {strides = array<i64: 2, 2>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64}
      : (tensor<?x2x9x9xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<?x4x4x4xf32>
  %bn = "kiln.batch_norm"(%c, %b, %b, %b, %b) {epsilon = 1.0e-5 : f32}
      : (tensor<?x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x4x4xf32>
  %r6 = "kiln.relu6"(%bn) : (tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
  %mp = "kiln.max_pool2d"(%r6) {kernel_size = array<i64: 2, 2>} : (tensor<?x4x4x4xf32>) -> tensor<?x4x2x2xf32>
  %ap = "kiln.avg_pool2d"(%mp) {kernel_size = array<i64: 2, 2>, strides = array<i64: 1, 1>, count_include_pad = true}
      : (tensor<?x4x2x2xf32>) -> tensor<?x4x1x1xf32>
  %gp = "kiln.global_avg_pool"(%r6) : (tensor<?x4x4x4xf32>) -> tensor<?x4x1x1xf32>
  %rs = "kiln.reshape"(%gp) {shape = array<i64: -1, 4>} : (tensor<?x4x1x1xf32>) -> tensor<?x4xf32>
  %fl = "kiln.flatten"(%gp) {start_dim = 1 : i64} : (tensor<?x4x1x1xf32>) -> tensor<?x4xf32>
  %tr = "kiln.transpose"(%rs) {perm = array<i64: 1, 0>} : (tensor<?x4xf32>) -> tensor<4x?xf32>
  %mm = "kiln.matmul"(%tr, %fl) : (tensor<4x?xf32>, tensor<?x4xf32>) -> tensor<4x4xf32>
  %li = "kiln.linear"(%fl, %mm) : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %ad = "kiln.add"(%li, %b) : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %sb = "kiln.sub"(%ad, %fl) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %mu = "kiln.mul"(%sb, %sb) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %dv = "kiln.div"(%mu, %b) : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %re = "kiln.relu"(%dv) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %sg = "kiln.sigmoid"(%re) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %hs = "kiln.hardswish"(%sg) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %sm = "kiln.softmax"(%hs) {axis = -1 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %ls = "kiln.log_softmax"(%sm) {axis = 1 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %su = "kiln.reduce_sum"(%ls) {axes = array<i64: 1>, keepdim = true} : (tensor<?x4xf32>) -> tensor<?x1xf32>
  %me = "kiln.reduce_mean"(%ls) {axes = array<i64: 1>, keepdim = false} : (tensor<?x4xf32>) -> tensor<?xf32>
  %k = "kiln.kernel"(%ls) ({
  ^bb0(%a: tensor<?x4xf32>):
    %e = "kiln.relu"(%a) : (tensor<?x4xf32>) -> tensor<?x4xf32>
    "kiln.yield"(%e) : (tensor<?x4xf32>) -> ()
  }) {name = "k", kind = "elementwise"} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %ap, %mm, %li, %su, %me, %k : tensor<?x4x1x1xf32>, tensor<4x4xf32>, tensor<?x4xf32>, tensor<?x1xf32>, tensor<?xf32>, tensor<?x4xf32>
}

// The training ops (docs/dialect.md, "Training ops").
// CHECK-LABEL: func.func @training
// CHECK: kiln.sqrt %{{.*}} : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.rsqrt %{{.*}} : (tensor<8xf32>) -> tensor<8xf32>
// CHECK: kiln.neg %{{.*}} : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 8, 4, 4>} : (tensor<8x1x1xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.relu_grad %{{.*}}, %{{.*}} : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.relu6_grad %{{.*}}, %{{.*}} : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.hardswish_grad %{{.*}}, %{{.*}} : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.sigmoid_grad %{{.*}}, %{{.*}} : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
// CHECK: kiln.conv2d_grad_input %{{.*}}, %{{.*}} {input_shape = array<i64: -1, 4, 8, 8>, padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x8x8xf32>
// CHECK: kiln.conv2d_grad_weight %{{.*}}, %{{.*}} {padding = array<i64: 1, 1>, strides = array<i64: 2, 2>, weight_shape = array<i64: 8, 4, 3, 3>} : (tensor<?x4x8x8xf32>, tensor<?x8x4x4xf32>) -> tensor<8x4x3x3xf32>
// CHECK: kiln.max_pool2d_grad %{{.*}}, %{{.*}} {kernel_size = array<i64: 2, 2>} : (tensor<?x4x8x8xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x8x8xf32>
// CHECK: kiln.avg_pool2d_grad %{{.*}} {count_include_pad = false, input_shape = array<i64: -1, 4, 8, 8>, kernel_size = array<i64: 3, 3>, padding = array<i64: 1, 1>, strides = array<i64: 2, 2>} : (tensor<?x4x4x4xf32>) -> tensor<?x4x8x8xf32>
// CHECK: kiln.update %{{.*}}, %{{.*}} : tensor<8xf32>, tensor<8xf32>
func.func @training(%x: tensor<?x8x4x4xf32>, %dy: tensor<?x8x4x4xf32>, %i: tensor<?x4x8x8xf32>,
                    %p: tensor<?x4x4x4xf32>) -> (tensor<?x8x4x4xf32>, tensor<?x4x8x8xf32>, tensor<8x4x3x3xf32>) {
  %v = kiln.parameter "bn.running_var" {trainable = false} : tensor<8xf32>
  %c = kiln.parameter "c" : tensor<8x1x1xf32>
  %w = kiln.parameter "w" : tensor<8x4x3x3xf32>
  %s = kiln.sqrt %x : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %r = kiln.rsqrt %v : (tensor<8xf32>) -> tensor<8xf32>
  %n = kiln.neg %s : (tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %b = kiln.broadcast_to %c {shape = array<i64: -1, 8, 4, 4>} : (tensor<8x1x1xf32>) -> tensor<?x8x4x4xf32>
  %g1 = kiln.relu_grad %n, %dy : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %g2 = kiln.relu6_grad %b, %g1 : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %g3 = kiln.hardswish_grad %x, %g2 : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %g4 = kiln.sigmoid_grad %x, %g3 : (tensor<?x8x4x4xf32>, tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %gi = kiln.conv2d_grad_input %g4, %w {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, input_shape = array<i64: -1, 4, 8, 8>}
      : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x8x8xf32>
  %gw = kiln.conv2d_grad_weight %i, %g4 {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, weight_shape = array<i64: 8, 4, 3, 3>}
      : (tensor<?x4x8x8xf32>, tensor<?x8x4x4xf32>) -> tensor<8x4x3x3xf32>
  %mp = kiln.max_pool2d_grad %i, %p {kernel_size = array<i64: 2, 2>} : (tensor<?x4x8x8xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x8x8xf32>
  %ap = kiln.avg_pool2d_grad %p {kernel_size = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, count_include_pad = false, input_shape = array<i64: -1, 4, 8, 8>}
      : (tensor<?x4x4x4xf32>) -> tensor<?x4x8x8xf32>
  %sum = kiln.add %gi, %mp : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %all = kiln.add %sum, %ap : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  kiln.update %v, %r : tensor<8xf32>, tensor<8xf32>
  return %g4, %all, %gw : tensor<?x8x4x4xf32>, tensor<?x4x8x8xf32>, tensor<8x4x3x3xf32>
}

// The training ops in the generic form, defaults left out.
// CHECK-LABEL: func.func @generic_training
// CHECK: kiln.broadcast_to %{{.*}} {shape = array<i64: 3, -1>} : (tensor<?xf32>) -> tensor<3x?xf32>
// CHECK: kiln.conv2d_grad_input %{{.*}}, %{{.*}} {input_shape = array<i64: -1, 2, 5, 5>} : (tensor<?x2x3x3xf32>, tensor<2x2x3x3xf32>) -> tensor<?x2x5x5xf32>
// CHECK: kiln.conv2d_grad_weight %{{.*}}, %{{.*}} {weight_shape = array<i64: 2, 2, 3, 3>} : (tensor<?x2x5x5xf32>, tensor<?x2x3x3xf32>) -> tensor<2x2x3x3xf32>
// CHECK: kiln.max_pool2d_grad %{{.*}}, %{{.*}} {ceil_mode = true, kernel_size = array<i64: 2, 2>} : (tensor<?x2x5x5xf32>, tensor<?x2x3x3xf32>) -> tensor<?x2x5x5xf32>
// CHECK: kiln.avg_pool2d_grad %{{.*}} {input_shape = array<i64: -1, 2, 5, 5>, kernel_size = array<i64: 3, 3>, strides = array<i64: 1, 1>} : (tensor<?x2x3x3xf32>) -> tensor<?x2x5x5xf32>
// CHECK: kiln.update %{{.*}}, %{{.*}} : tensor<2x2x3x3xf32>, tensor<2x2x3x3xf32>
func.func @generic_training(%v: tensor<?xf32>, %x: tensor<?x2x5x5xf32>, %dy: tensor<?x2x3x3xf32>)
    -> (tensor<3x?xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>) {
  %bt = "kiln.broadcast_to"(%v) {shape = array<i64: 3, -1>} : (tensor<?xf32>) -> tensor<3x?xf32>
  %w = "kiln.parameter"() {name = "w"} : () -> tensor<2x2x3x3xf32>
  %gi = "kiln.conv2d_grad_input"(%dy, %w) {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, input_shape = array<i64: -1, 2, 5, 5>}
      : (tensor<?x2x3x3xf32>, tensor<2x2x3x3xf32>) -> tensor<?x2x5x5xf32>
  %gw = "kiln.conv2d_grad_weight"(%x, %dy) {weight_shape = array<i64: 2, 2, 3, 3>}
      : (tensor<?x2x5x5xf32>, tensor<?x2x3x3xf32>) -> tensor<2x2x3x3xf32>
  %mp = "kiln.max_pool2d_grad"(%x, %dy) {kernel_size = array<i64: 2, 2>, ceil_mode = true}
      : (tensor<?x2x5x5xf32>, tensor<?x2x3x3xf32>) -> tensor<?x2x5x5xf32>
  %ap = "kiln.avg_pool2d_grad"(%dy) {kernel_size = array<i64: 3, 3>, strides = array<i64: 1, 1>, count_include_pad = true, input_shape = array<i64: -1, 2, 5, 5>}
      : (tensor<?x2x3x3xf32>) -> tensor<?x2x5x5xf32>
  "kiln.update"(%w, %gw) : (tensor<2x2x3x3xf32>, tensor<2x2x3x3xf32>) -> ()
  return %bt, %gi, %mp, %ap : tensor<3x?xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>, tensor<?x2x5x5xf32>
}

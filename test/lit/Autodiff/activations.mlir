// Gradients of the elementwise unary ops: the activation gradient ops for
// relu6 and hardswish (reading the forward input), relu and sigmoid (reading
// the forward output; for relu y > 0 exactly where x > 0, and the input keeps
// one user so relu fuses into its producer); sqrt, rsqrt and neg from
// primitives.
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// A chain y = sigmoid(hardswish(relu6(relu(x * s)))): the backward walks it in
// reverse, each rule reading its own forward value.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[H:.*]] = kiln.mul
// CHECK-NEXT: %[[R:.*]] = kiln.relu %[[H]]
// CHECK-NEXT: %[[R6:.*]] = kiln.relu6 %[[R]]
// CHECK-NEXT: %[[HS:.*]] = kiln.hardswish %[[R6]]
// CHECK-NEXT: %[[SG:.*]] = kiln.sigmoid %[[HS]]
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 4>}
// CHECK-NEXT: %[[G1:.*]] = kiln.sigmoid_grad %[[SG]], %[[G]] : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %[[G2:.*]] = kiln.hardswish_grad %[[R6]], %[[G1]]
// CHECK-NEXT: %[[G3:.*]] = kiln.relu6_grad %[[R]], %[[G2]]
// CHECK-NEXT: %[[G4:.*]] = kiln.relu_grad %[[R]], %[[G3]]
// CHECK-NEXT: kiln.mul %[[G4]], %{{.*}}
func.func @forward(%x: tensor<?x4xf32>) -> tensor<1xf32> {
  %s = kiln.parameter "s" : tensor<4xf32>
  %h = kiln.mul %x, %s : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = kiln.relu %h : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %r6 = kiln.relu6 %r : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %hs = kiln.hardswish %r6 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = kiln.sigmoid %hs : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %t = kiln.reduce_sum %y {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x4xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %t {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// sqrt: g / y * 0.5; rsqrt: g * (y / x) * -0.5; neg: -g.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[P:.*]] = kiln.parameter "p" : tensor<3xf32>
// CHECK-NEXT: %[[Q:.*]] = kiln.sqrt %[[P]]
// CHECK-NEXT: %[[RQ:.*]] = kiln.rsqrt %[[Q]]
// CHECK-NEXT: %[[N:.*]] = kiln.neg %[[RQ]]
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: 3>}
// CHECK-NEXT: %[[G1:.*]] = kiln.neg %[[G]]
// CHECK-NEXT: %[[RATIO:.*]] = kiln.div %[[RQ]], %[[Q]]
// CHECK-NEXT: %[[T:.*]] = kiln.mul %[[G1]], %[[RATIO]]
// CHECK-NEXT: %[[MH:.*]] = kiln.constant dense<-5.000000e-01> : tensor<f32>
// CHECK-NEXT: %[[G2:.*]] = kiln.mul %[[T]], %[[MH]]
// CHECK-NEXT: %[[D:.*]] = kiln.div %[[G2]], %[[Q]]
// CHECK-NEXT: %[[H:.*]] = kiln.constant dense<5.000000e-01> : tensor<f32>
// CHECK-NEXT: %[[G3:.*]] = kiln.mul %[[D]], %[[H]]
// CHECK-NEXT: return %{{.*}}, %[[G3]]
func.func @forward() -> tensor<1xf32> {
  %p = kiln.parameter "p" : tensor<3xf32>
  %q = kiln.sqrt %p : (tensor<3xf32>) -> tensor<3xf32>
  %rq = kiln.rsqrt %q : (tensor<3xf32>) -> tensor<3xf32>
  %n = kiln.neg %rq : (tensor<3xf32>) -> tensor<3xf32>
  %t = kiln.reduce_sum %n {axes = array<i64: 0>, keepdim = true} : (tensor<3xf32>) -> tensor<1xf32>
  return %t : tensor<1xf32>
}

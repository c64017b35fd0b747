// The step function's interface and the bookkeeping of kiln-autodiff:
// accumulation, parameters read twice, dead and frozen parameters, dropped
// results and kiln.update. The options are in options.mlir.
// RUN: kiln-opt %s -split-input-file -kiln-autodiff | FileCheck %s

// The forward is kept unchanged; the step function has its arguments and
// returns the loss and one gradient per trainable parameter, in order of first
// appearance, named by kiln.gradients. "w" is read by two kiln.parameter ops:
// one gradient, the sum. h has two uses: its adjoint is the kiln.add of both.
// "dead" reaches only the dropped second result: a zero gradient, and its ops
// are erased. "frozen" is not trainable: no gradient.
// CHECK-LABEL: func.func @forward(%{{.*}}: tensor<?x3xf32>) -> (tensor<1xf32>, tensor<?x3xf32>)
// CHECK: kiln.parameter "dead"
// CHECK: return %{{.*}}, %{{.*}} : tensor<1xf32>, tensor<?x3xf32>
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%[[X:.*]]: tensor<?x3xf32>) -> (tensor<1xf32>, tensor<3x3xf32>, tensor<3xf32>)
// CHECK-SAME: attributes {kiln.gradients = ["w", "dead"]}
// CHECK-NOT: kiln.parameter "dead"
// CHECK: %[[W1:.*]] = kiln.parameter "w"
// CHECK: %[[H:.*]] = kiln.matmul %[[X]], %[[W1]]
// CHECK: %[[W2:.*]] = kiln.parameter "w"
// CHECK: %[[H2:.*]] = kiln.matmul %[[H]], %[[W2]]
// CHECK: %[[F:.*]] = kiln.parameter "frozen" {trainable = false}
// CHECK: %[[H3:.*]] = kiln.mul %[[H2]], %[[F]]
// CHECK-NEXT: %[[H4:.*]] = kiln.add %[[H3]], %[[H]]
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 3>}
// d(h4 * h2): g * h2 for h4 (and so for h3 and h), g * h4 for h2.
// CHECK-NEXT: %[[GH4:.*]] = kiln.mul %[[G]], %[[H2]]
// CHECK-NEXT: %[[GH2A:.*]] = kiln.mul %[[G]], %[[H4]]
// d(h2 * frozen): only h2's part.
// CHECK-NEXT: %[[GH2B:.*]] = kiln.mul %[[GH4]], %[[F]]
// CHECK-NEXT: %[[GH2:.*]] = kiln.add %[[GH2A]], %[[GH2B]]
// d(h matmul w2)
// CHECK-NEXT: %[[W2T:.*]] = kiln.transpose %[[W2]]
// CHECK-NEXT: %[[GHB:.*]] = kiln.matmul %[[GH2]], %[[W2T]]
// CHECK-NEXT: %[[HT:.*]] = kiln.transpose %[[H]]
// CHECK-NEXT: %[[GW2:.*]] = kiln.matmul %[[HT]], %[[GH2]] : (tensor<3x?xf32>, tensor<?x3xf32>) -> tensor<3x3xf32>
// h's two uses: the add and the second matmul.
// CHECK-NEXT: %[[GH:.*]] = kiln.add %[[GH4]], %[[GHB]]
// CHECK-NEXT: %[[XT:.*]] = kiln.transpose %[[X]]
// CHECK-NEXT: %[[GW1:.*]] = kiln.matmul %[[XT]], %[[GH]]
// The two reads of "w": one gradient.
// CHECK-NEXT: %[[GW:.*]] = kiln.add %[[GW1]], %[[GW2]] : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
// CHECK-NEXT: %[[ZERO:.*]] = kiln.constant dense<0.000000e+00> : tensor<3xf32>
// CHECK-NEXT: return %{{.*}}, %[[GW]], %[[ZERO]]
func.func @forward(%x: tensor<?x3xf32>) -> (tensor<1xf32>, tensor<?x3xf32>) {
  %w = kiln.parameter "w" : tensor<3x3xf32>
  %h = kiln.matmul %x, %w : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  %dead = kiln.parameter "dead" : tensor<3xf32>
  %o = kiln.add %h, %dead : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %w2 = kiln.parameter "w" : tensor<3x3xf32>
  %h2 = kiln.matmul %h, %w2 : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  %frozen = kiln.parameter "frozen" {trainable = false} : tensor<3xf32>
  %h3 = kiln.mul %h2, %frozen : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %h4 = kiln.add %h3, %h : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  %sq = kiln.mul %h4, %h2 : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
  %s = kiln.reduce_sum %sq {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x3xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l, %o : tensor<1xf32>, tensor<?x3xf32>
}

// -----

// kiln.update ops of the forward (running statistics) are kept in the step
// function; ops that only feed them get no backward.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[RM:.*]] = kiln.parameter "running_mean" {trainable = false}
// CHECK: %[[NEW:.*]] = kiln.reduce_mean %{{.*}} {axes = array<i64: 0>}
// CHECK-NEXT: kiln.update %[[RM]], %[[NEW]] : tensor<3xf32>, tensor<3xf32>
// CHECK-NOT: kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 3>} : (tensor<3xf32>)
// CHECK: return
func.func @forward(%x: tensor<?x3xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<3xf32>
  %h = kiln.mul %x, %w : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %rm = kiln.parameter "running_mean" {trainable = false} : tensor<3xf32>
  %m = kiln.reduce_mean %h {axes = array<i64: 0>} : (tensor<?x3xf32>) -> tensor<3xf32>
  kiln.update %rm, %m : tensor<3xf32>, tensor<3xf32>
  %s = kiln.reduce_sum %h {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x3xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// stop_gradient: the identity whose input gets no gradient through it. Here
// y = (x * p) * stop_gradient(x * p): the gradient of p is the product rule's
// first term only, g * stop_gradient(x * p) * x, reduced over the batch.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: kiln.gradients = ["p"]
// CHECK: %[[H:.*]] = kiln.mul %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4xf32>)
// CHECK-NEXT: %[[S:.*]] = kiln.stop_gradient %[[H]]
// CHECK-NEXT: kiln.mul %[[H]], %[[S]]
// CHECK: %[[G:.*]] = kiln.broadcast_to %{{.*}} {shape = array<i64: -1, 4>}
// CHECK-NEXT: %[[GH:.*]] = kiln.mul %[[G]], %[[S]]
// CHECK-NOT: kiln.stop_gradient
// CHECK: kiln.mul %[[GH]], %{{.*}}
// CHECK-NEXT: kiln.reduce_sum %{{.*}} {axes = array<i64: 0>}
// CHECK-NOT: kiln.mul %[[G]], %[[H]]
func.func @forward(%x: tensor<?x4xf32>) -> tensor<1xf32> {
  %p = kiln.parameter "p" : tensor<4xf32>
  %h = kiln.mul %x, %p : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %s = kiln.stop_gradient %h : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = kiln.mul %h, %s : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %t = kiln.reduce_sum %y {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x4xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %t {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// kiln-optimizer with SGD (torch.optim.SGD semantics): the step gains a
// trailing %lr : tensor<1xf32>; with momentum each parameter gets a
// non-trainable "<p>.momentum_buffer" state parameter, updated with
// kiln.update before the parameter itself; the results are unchanged.
// RUN: kiln-opt %s -kiln-autodiff -kiln-optimizer="momentum=0.9 weight-decay=1e-4" | FileCheck %s --check-prefix=MOM
// RUN: kiln-opt %s -kiln-autodiff -kiln-optimizer="momentum=0.9 nesterov=true" | FileCheck %s --check-prefix=NEST
// RUN: kiln-opt %s -kiln-autodiff -kiln-optimizer="momentum=0 weight-decay=1e-4 no-decay-bn-bias=true" | FileCheck %s --check-prefix=PLAIN
// RUN: kiln-opt %s -kiln-autodiff -kiln-optimizer="dampening=0.1" -verify-diagnostics

// Momentum and coupled weight decay on both parameters:
// d = g + wd * p; buf' = buf * momentum + d; p' = p - lr * buf'.
// MOM-LABEL: func.func @train_step
// MOM-SAME: (%{{.*}}: tensor<?x3xf32>, %[[LR:.*]]: tensor<1xf32>) -> (tensor<1xf32>, tensor<2x3xf32>, tensor<2xf32>)
// MOM-SAME: kiln.gradients = ["fc.w", "fc.b"], kiln.optimizer = "sgd", kiln.optimizer_inputs = ["lr"],
// MOM-SAME: kiln.optimizer_state = ["fc.w.momentum_buffer", "fc.b.momentum_buffer"]
// MOM: %[[W:.*]] = kiln.parameter "fc.w" : tensor<2x3xf32>
// MOM: %[[B:.*]] = kiln.parameter "fc.b" : tensor<2xf32>
// MOM: %[[GW:.*]] = kiln.matmul
// MOM: %[[GB:.*]] = kiln.reduce_sum %{{.*}} {axes = array<i64: 0>}
// MOM: %[[WD:.*]] = kiln.constant dense<9.99999974E-5> : tensor<f32>
// MOM: %[[M:.*]] = kiln.constant dense<0.899999976> : tensor<f32>
// MOM: %[[DW:.*]] = kiln.mul %[[W]], %[[WD]]
// MOM-NEXT: %[[D:.*]] = kiln.add %[[GW]], %[[DW]]
// MOM-NEXT: %[[BUF:.*]] = kiln.parameter "fc.w.momentum_buffer" {trainable = false} : tensor<2x3xf32>
// MOM-NEXT: %[[SB:.*]] = kiln.mul %[[BUF]], %[[M]]
// MOM-NEXT: %[[NB:.*]] = kiln.add %[[SB]], %[[D]]
// MOM-NEXT: kiln.update %[[BUF]], %[[NB]] : tensor<2x3xf32>, tensor<2x3xf32>
// MOM-NEXT: %[[STEP:.*]] = kiln.mul %[[LR]], %[[NB]] : (tensor<1xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// MOM-NEXT: %[[NW:.*]] = kiln.sub %[[W]], %[[STEP]]
// MOM-NEXT: kiln.update %[[W]], %[[NW]] : tensor<2x3xf32>, tensor<2x3xf32>
// MOM-NEXT: kiln.mul %[[B]], %[[WD]]
// MOM: kiln.parameter "fc.b.momentum_buffer" {trainable = false} : tensor<2xf32>
// MOM: kiln.update %[[B]], %{{.*}} : tensor<2xf32>, tensor<2xf32>
// MOM-NEXT: return %{{.*}}, %[[GW]], %[[GB]] : tensor<1xf32>, tensor<2x3xf32>, tensor<2xf32>

// Nesterov: the step direction is d + momentum * buf'.
// NEST-LABEL: func.func @train_step
// NEST: %[[M:.*]] = kiln.constant dense<0.899999976> : tensor<f32>
// NEST-NOT: kiln.constant
// NEST: %[[BUF:.*]] = kiln.parameter "fc.w.momentum_buffer" {trainable = false}
// NEST-NEXT: %[[SB:.*]] = kiln.mul %[[BUF]], %[[M]]
// NEST-NEXT: %[[NB:.*]] = kiln.add %[[SB]], %[[G:.*]] :
// NEST-NEXT: kiln.update %[[BUF]], %[[NB]]
// NEST-NEXT: %[[LOOK:.*]] = kiln.mul %[[NB]], %[[M]]
// NEST-NEXT: %[[D:.*]] = kiln.add %[[G]], %[[LOOK]]
// NEST-NEXT: %[[STEP:.*]] = kiln.mul %{{.*}}, %[[D]]
// NEST-NEXT: kiln.sub %{{.*}}, %[[STEP]]

// Momentum 0: plain SGD, no state; no-decay-bn-bias: the rank-1 bias gets no
// weight decay, the rank-2 weight does.
// PLAIN-LABEL: func.func @train_step
// PLAIN-SAME: kiln.optimizer_state = []
// PLAIN-NOT: momentum_buffer
// PLAIN: %[[W:.*]] = kiln.parameter "fc.w"
// PLAIN: %[[B:.*]] = kiln.parameter "fc.b"
// PLAIN: %[[GB:.*]] = kiln.reduce_sum %{{.*}} {axes = array<i64: 0>}
// PLAIN: kiln.mul %[[W]], %{{.*}} : (tensor<2x3xf32>, tensor<f32>)
// PLAIN-NEXT: %[[D:.*]] = kiln.add
// PLAIN-NEXT: %[[STEP:.*]] = kiln.mul %{{.*}}, %[[D]]
// PLAIN-NEXT: %[[NW:.*]] = kiln.sub %[[W]], %[[STEP]]
// PLAIN-NEXT: kiln.update %[[W]], %[[NW]]
// PLAIN-NEXT: %[[SB:.*]] = kiln.mul %{{.*}}, %[[GB]] : (tensor<1xf32>, tensor<2xf32>) -> tensor<2xf32>
// PLAIN-NEXT: %[[NB:.*]] = kiln.sub %[[B]], %[[SB]]
// PLAIN-NEXT: kiln.update %[[B]], %[[NB]]
// PLAIN-NEXT: return
// PLAIN-NOT: momentum_buffer

// expected-error @+1 {{kiln-optimizer: dampening != 0 is not supported}}
module {
func.func @forward(%x: tensor<?x3xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "fc.w" : tensor<2x3xf32>
  %b = kiln.parameter "fc.b" : tensor<2xf32>
  %l = kiln.linear %x, %w, %b : (tensor<?x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %s = kiln.reduce_sum %l {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x2xf32>) -> tensor<1x1xf32>
  %r = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %r : tensor<1xf32>
}
}

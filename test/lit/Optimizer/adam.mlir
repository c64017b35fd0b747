// kiln-optimizer with Adam and AdamW (torch.optim.Adam / AdamW, PyTorch
// 1.13's single-tensor code): the step gains %lr, %bias_correction1 and
// %bias_correction2 (1 - beta^t, computed by the driver: no step counter in
// the graph); each parameter gets "<p>.exp_avg" and "<p>.exp_avg_sq".
// RUN: kiln-opt %s -kiln-autodiff -kiln-optimizer="optimizer=adam weight-decay=0.01 no-decay-bn-bias=true" | FileCheck %s --check-prefix=ADAM
// RUN: kiln-opt %s -kiln-autodiff -kiln-optimizer="optimizer=adamw weight-decay=0.01" | FileCheck %s --check-prefix=ADAMW
// RUN: not kiln-opt %s -kiln-autodiff -kiln-optimizer="optimizer=rmsprop" 2>&1 | FileCheck %s --check-prefix=BAD

// Adam, coupled L2 on the weight only (the bias has rank 1):
// g = g + p * wd; m' = m * b1 + g * (1 - b1); v' = v * b2 + (g * g) * (1 - b2);
// p' = p - (lr / bc1) * (m' / (sqrt(v') / sqrt(bc2) + eps)).
// ADAM-LABEL: func.func @train_step
// ADAM-SAME: (%{{.*}}: tensor<?x3xf32>, %[[LR:.*]]: tensor<1xf32>, %[[BC1:.*]]: tensor<1xf32>, %[[BC2:.*]]: tensor<1xf32>)
// ADAM-SAME: kiln.optimizer = "adam", kiln.optimizer_inputs = ["lr", "bias_correction1", "bias_correction2"],
// ADAM-SAME: kiln.optimizer_state = ["fc.w.exp_avg", "fc.w.exp_avg_sq", "fc.b.exp_avg", "fc.b.exp_avg_sq"]
// ADAM: %[[W:.*]] = kiln.parameter "fc.w" : tensor<2x3xf32>
// ADAM: %[[B:.*]] = kiln.parameter "fc.b" : tensor<2xf32>
// ADAM: %[[GW:.*]] = kiln.matmul
// ADAM: %[[GB:.*]] = kiln.reduce_sum %{{.*}} {axes = array<i64: 0>}
// ADAM: %[[B1:.*]] = kiln.constant dense<0.899999976> : tensor<f32>
// ADAM-NEXT: %[[OMB1:.*]] = kiln.constant dense<1.000000e-01> : tensor<f32>
// ADAM-NEXT: %[[B2:.*]] = kiln.constant dense<9.990000e-01> : tensor<f32>
// ADAM-NEXT: %[[OMB2:.*]] = kiln.constant dense<1.000000e-03> : tensor<f32>
// ADAM-NEXT: %[[EPS:.*]] = kiln.constant dense<9.99999993E-9> : tensor<f32>
// ADAM-NEXT: %[[SS:.*]] = kiln.div %[[LR]], %[[BC1]] : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
// ADAM-NEXT: %[[SQ2:.*]] = kiln.sqrt %[[BC2]] : (tensor<1xf32>) -> tensor<1xf32>
// ADAM-NEXT: %[[WD:.*]] = kiln.constant dense<0.00999999977> : tensor<f32>
// ADAM-NEXT: %[[DW:.*]] = kiln.mul %[[W]], %[[WD]]
// ADAM-NEXT: %[[G:.*]] = kiln.add %[[GW]], %[[DW]]
// ADAM-NEXT: %[[M:.*]] = kiln.parameter "fc.w.exp_avg" {trainable = false} : tensor<2x3xf32>
// ADAM-NEXT: %[[V:.*]] = kiln.parameter "fc.w.exp_avg_sq" {trainable = false} : tensor<2x3xf32>
// ADAM-NEXT: %[[M0:.*]] = kiln.mul %[[M]], %[[B1]]
// ADAM-NEXT: %[[M1:.*]] = kiln.mul %[[G]], %[[OMB1]]
// ADAM-NEXT: %[[MN:.*]] = kiln.add %[[M0]], %[[M1]]
// ADAM-NEXT: %[[V0:.*]] = kiln.mul %[[V]], %[[B2]]
// ADAM-NEXT: %[[GG:.*]] = kiln.mul %[[G]], %[[G]]
// ADAM-NEXT: %[[V1:.*]] = kiln.mul %[[GG]], %[[OMB2]]
// ADAM-NEXT: %[[VN:.*]] = kiln.add %[[V0]], %[[V1]]
// ADAM-NEXT: kiln.update %[[M]], %[[MN]]
// ADAM-NEXT: kiln.update %[[V]], %[[VN]]
// ADAM-NEXT: %[[R:.*]] = kiln.sqrt %[[VN]]
// ADAM-NEXT: %[[RS:.*]] = kiln.div %[[R]], %[[SQ2]] : (tensor<2x3xf32>, tensor<1xf32>) -> tensor<2x3xf32>
// ADAM-NEXT: %[[DEN:.*]] = kiln.add %[[RS]], %[[EPS]]
// ADAM-NEXT: %[[Q:.*]] = kiln.div %[[MN]], %[[DEN]]
// ADAM-NEXT: %[[STEP:.*]] = kiln.mul %[[SS]], %[[Q]] : (tensor<1xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// ADAM-NEXT: %[[NW:.*]] = kiln.sub %[[W]], %[[STEP]]
// ADAM-NEXT: kiln.update %[[W]], %[[NW]]
// The bias: no decay, straight to its state.
// ADAM-NEXT: %[[MB:.*]] = kiln.parameter "fc.b.exp_avg" {trainable = false} : tensor<2xf32>
// ADAM-NEXT: kiln.parameter "fc.b.exp_avg_sq" {trainable = false} : tensor<2xf32>
// ADAM-NEXT: kiln.mul %[[MB]], %[[B1]]
// ADAM-NEXT: kiln.mul %[[GB]], %[[OMB1]]
// ADAM: kiln.update %[[B]], %{{.*}} : tensor<2xf32>, tensor<2xf32>
// ADAM-NEXT: return

// AdamW: p1 = p * (1 - lr * wd) (one factor per step), then Adam from p1
// with the raw gradient.
// ADAMW-LABEL: func.func @train_step
// ADAMW-SAME: kiln.optimizer = "adamw"
// ADAMW: %[[W:.*]] = kiln.parameter "fc.w" : tensor<2x3xf32>
// ADAMW: %[[GW:.*]] = kiln.matmul
// ADAMW: %[[WD:.*]] = kiln.constant dense<0.00999999977> : tensor<f32>
// ADAMW-NEXT: %[[LRWD:.*]] = kiln.mul %{{.*}}, %[[WD]] : (tensor<1xf32>, tensor<f32>) -> tensor<1xf32>
// ADAMW-NEXT: %[[ONE:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
// ADAMW-NEXT: %[[F:.*]] = kiln.sub %[[ONE]], %[[LRWD]] : (tensor<f32>, tensor<1xf32>) -> tensor<1xf32>
// ADAMW-NEXT: %[[P1:.*]] = kiln.mul %[[W]], %[[F]] : (tensor<2x3xf32>, tensor<1xf32>) -> tensor<2x3xf32>
// ADAMW-NEXT: kiln.parameter "fc.w.exp_avg"
// ADAMW-NEXT: kiln.parameter "fc.w.exp_avg_sq"
// ADAMW-NEXT: kiln.mul
// ADAMW-NEXT: kiln.mul %[[GW]], %{{.*}}
// ADAMW: %[[NW:.*]] = kiln.sub %[[P1]], %{{.*}}
// ADAMW-NEXT: kiln.update %[[W]], %[[NW]]
// ADAMW: kiln.mul %{{.*}}, %[[F]] : (tensor<2xf32>, tensor<1xf32>) -> tensor<2xf32>

// BAD: kiln-optimizer: unknown optimizer 'rmsprop' (expected sgd, adam or adamw)
func.func @forward(%x: tensor<?x3xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "fc.w" : tensor<2x3xf32>
  %b = kiln.parameter "fc.b" : tensor<2xf32>
  %l = kiln.linear %x, %w, %b : (tensor<?x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %s = kiln.reduce_sum %l {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x2xf32>) -> tensor<1x1xf32>
  %r = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %r : tensor<1xf32>
}

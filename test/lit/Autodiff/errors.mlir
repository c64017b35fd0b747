// kiln-autodiff's errors: each names the problem and, for an op without a
// gradient rule on a path from a trainable parameter to the loss, the op at
// its location. An op without a rule that is off every such path is fine.
// RUN: kiln-opt %s -split-input-file -kiln-autodiff -verify-diagnostics

// expected-error @+1 {{kiln-autodiff: no function @forward to differentiate}}
module {
  func.func @f() {
    return
  }
}

// -----

// expected-error @+1 {{kiln-autodiff: a symbol @train_step already exists}}
module {
  func.func @forward() -> tensor<1xf32> {
    %w = kiln.parameter "w" : tensor<1xf32>
    return %w : tensor<1xf32>
  }
  func.func @train_step() {
    return
  }
}

// -----

// expected-error @+1 {{kiln-autodiff: expected result #0 of @forward (the loss) to be 'tensor<1xf32>', found 'tensor<f32>' (reduce with keepdim = true to get a [1] tensor)}}
func.func @forward(%x: tensor<?x4xf32>) -> tensor<f32> {
  %w = kiln.parameter "w" : tensor<4xf32>
  %y = kiln.mul %x, %w : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %s = kiln.reduce_sum %y {axes = array<i64: 0, 1>} : (tensor<?x4xf32>) -> tensor<f32>
  return %s : tensor<f32>
}

// -----

// expected-error @+1 {{kiln-autodiff: loss index 0 out of range: @forward has 0 results}}
func.func @forward() {
  return
}

// -----

func.func @forward(%x: tensor<?x4x4x4xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<4x1x1xf32>
  %y = kiln.mul %x, %w : (tensor<?x4x4x4xf32>, tensor<4x1x1xf32>) -> tensor<?x4x4x4xf32>
  // expected-error @+2 {{kiln-autodiff: no gradient rule for 'kiln.max_pool2d_grad' (second-order gradients through max pooling are not supported)}}
  // expected-error @+1 {{kiln-autodiff: failed to build the gradient of 'kiln.max_pool2d_grad'}}
  %g = kiln.max_pool2d_grad %x, %y {kernel_size = array<i64: 1, 1>} : (tensor<?x4x4x4xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
  %s = kiln.reduce_sum %g {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x4x4x4xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// A fused function: kiln-autodiff runs before kiln-fuse.
func.func @forward(%x: tensor<?x4xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<4xf32>
  // expected-error @+2 {{kiln-autodiff: no gradient rule for 'kiln.kernel' (run kiln-autodiff before kiln-fuse)}}
  // expected-error @+1 {{kiln-autodiff: failed to build the gradient of 'kiln.kernel'}}
  %k = kiln.kernel "k0" kind("broadcast") (%x, %w : tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<4xf32>):
    %m = kiln.mul %a, %b : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
    kiln.yield %m : tensor<?x4xf32>
  }
  %s = kiln.reduce_sum %k {axes = array<i64: 0, 1>, keepdim = true} : (tensor<?x4xf32>) -> tensor<1x1xf32>
  %l = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// Ops of other dialects have no rule either.
func.func private @helper(tensor<4xf32>) -> tensor<1xf32>
func.func @forward() -> tensor<1xf32> {
  %w = kiln.parameter "w" : tensor<4xf32>
  // expected-error @+2 {{kiln-autodiff: no gradient rule for 'func.call'}}
  // expected-error @+1 {{kiln-autodiff: failed to build the gradient of 'func.call'}}
  %l = func.call @helper(%w) : (tensor<4xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// A convolution whose input has a dynamic spatial dim: conv2d_grad_input needs
// a static input_shape after the batch.
func.func @forward(%x: tensor<?x2x?x4xf32>) -> tensor<1xf32> {
  %s = kiln.parameter "s" : tensor<2x1x1xf32>
  %h = kiln.mul %x, %s : (tensor<?x2x?x4xf32>, tensor<2x1x1xf32>) -> tensor<?x2x?x4xf32>
  %w = kiln.parameter "w" : tensor<3x2x1x1xf32>
  // expected-error @+2 {{kiln-autodiff: cannot differentiate 'kiln.conv2d' with input type 'tensor<?x2x?x4xf32>': only the batch may be '?'}}
  // expected-error @+1 {{kiln-autodiff: failed to build the gradient of 'kiln.conv2d'}}
  %y = kiln.conv2d %h, %w : (tensor<?x2x?x4xf32>, tensor<3x2x1x1xf32>) -> tensor<?x3x?x4xf32>
  %s1 = kiln.reduce_sum %y {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x3x?x4xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %s1 {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

func.func @forward() -> tensor<1xf32> {
  %a = kiln.parameter "w" : tensor<1xf32>
  // expected-error @+1 {{kiln-autodiff: parameter 'w' is read with types 'tensor<1xf32>' and 'tensor<1x1xf32>'}}
  %b = kiln.parameter "w" : tensor<1x1xf32>
  %c = kiln.reshape %b {shape = array<i64: 1>} : (tensor<1x1xf32>) -> tensor<1xf32>
  %l = kiln.add %a, %c : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

// -----

// No rule is needed off the gradient paths: max_pool2d_grad reads only an
// argument here, so the pass succeeds (and erases it with the dropped result).
func.func @forward(%x: tensor<?x4x4x4xf32>) -> (tensor<1xf32>, tensor<?x4x4x4xf32>) {
  %g = kiln.max_pool2d_grad %x, %x {kernel_size = array<i64: 1, 1>} : (tensor<?x4x4x4xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
  %w = kiln.parameter "w" : tensor<1xf32>
  return %w, %g : tensor<1xf32>, tensor<?x4x4x4xf32>
}

// -----

// A packed (HWIO) weight is for inference artifacts only
// (kiln-pack-conv-weights): differentiating through it is an error.
func.func @forward(%x: tensor<?x4x7x7xf32>) -> tensor<1xf32> {
  %w = kiln.parameter "w.hwio" : tensor<3x3x4x16xf32>
  // expected-error @+2 {{kiln-autodiff: cannot differentiate 'kiln.conv2d' with weight_layout "hwio": packed weights are for inference only (kiln-pack-conv-weights); differentiate the model before packing}}
  // expected-error @+1 {{kiln-autodiff: failed to build the gradient of 'kiln.conv2d'}}
  %c = kiln.conv2d %x, %w {padding = array<i64: 1, 1>, weight_layout = "hwio"} : (tensor<?x4x7x7xf32>, tensor<3x3x4x16xf32>) -> tensor<?x16x7x7xf32>
  %s = kiln.reduce_sum %c {axes = array<i64: 0, 1, 2, 3>, keepdim = true} : (tensor<?x16x7x7xf32>) -> tensor<1x1x1x1xf32>
  %l = kiln.reshape %s {shape = array<i64: 1>} : (tensor<1x1x1x1xf32>) -> tensor<1xf32>
  return %l : tensor<1xf32>
}

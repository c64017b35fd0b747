// kiln-optimizer's errors: each names the problem at the function, the
// parameter or the module.
// RUN: kiln-opt %s -split-input-file -kiln-optimizer -verify-diagnostics

// expected-error @+1 {{kiln-optimizer: no function @train_step}}
module {
}

// -----

module {
  // expected-error @+1 {{kiln-optimizer: @train_step has no kiln.gradients (run kiln-autodiff first)}}
  func.func @train_step() -> tensor<1xf32> {
    %l = kiln.constant dense<0.0> : tensor<1xf32>
    return %l : tensor<1xf32>
  }
}

// -----

module {
  func.func @train_step() -> (tensor<1xf32>, tensor<2xf32>) attributes {kiln.gradients = ["w"]} {
    %l = kiln.constant dense<0.0> : tensor<1xf32>
    // expected-error @+1 {{kiln-optimizer: the state parameter "w.momentum_buffer" already exists}}
    %w = kiln.parameter "w" : tensor<2xf32>
    %g = kiln.constant dense<1.0> : tensor<2xf32>
    %b = kiln.parameter "w.momentum_buffer" {trainable = false} : tensor<2xf32>
    %n = kiln.add %w, %g : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    kiln.update %b, %n : tensor<2xf32>, tensor<2xf32>
    return %l, %g : tensor<1xf32>, tensor<2xf32>
  }
}

// -----

module {
  func.func @train_step() -> (tensor<1xf32>, tensor<2xf32>) attributes {kiln.gradients = ["w"]} {
    %l = kiln.constant dense<0.0> : tensor<1xf32>
    // expected-error @+1 {{kiln-optimizer: parameter "w" is already updated by a kiln.update}}
    %w = kiln.parameter "w" : tensor<2xf32>
    %g = kiln.constant dense<1.0> : tensor<2xf32>
    kiln.update %w, %g : tensor<2xf32>, tensor<2xf32>
    return %l, %g : tensor<1xf32>, tensor<2xf32>
  }
}

// -----

module {
  // expected-error @+1 {{kiln-optimizer: @train_step already has an optimizer}}
  func.func @train_step() -> (tensor<1xf32>) attributes {kiln.gradients = [], kiln.optimizer = "sgd"} {
    %l = kiln.constant dense<0.0> : tensor<1xf32>
    return %l : tensor<1xf32>
  }
}

// One case per verifier rule of docs/dialect.md; each diagnostic says what was
// expected and what was found.
// RUN: kiln-opt %s -split-input-file -verify-diagnostics

func.func @parameter_empty_name() -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.parameter' op expected a non-empty name}}
  %0 = kiln.parameter "" : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @parameter_dynamic_type() -> tensor<?x4xf32> {
  // expected-error @+1 {{'kiln.parameter' op expected a fully static type, found 'tensor<?x4xf32>'}}
  %0 = kiln.parameter "w" : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @constant_type_mismatch() -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.constant' op expected the value's type ('tensor<2xf32>') to equal the result type ('tensor<4xf32>')}}
  %0 = "kiln.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @constant_not_dense() -> tensor<2xf32> {
  // expected-error @+1 {{'kiln.constant' op expected a dense elements value}}
  %0 = "kiln.constant"() {value = sparse<[[0]], [1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @not_f32(%x: tensor<?x4xf16>) -> tensor<?x4xf16> {
  // expected-error @+1 {{operand #0 must be ranked tensor of 32-bit float values}}
  %0 = "kiln.relu"(%x) : (tensor<?x4xf16>) -> tensor<?x4xf16>
  return %0 : tensor<?x4xf16>
}

// -----

func.func @conv_input_rank(%x: tensor<?x3x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected input of rank 4 [N, Cin, H, W], found rank 3}}
  %0 = "kiln.conv2d"(%x, %w) : (tensor<?x3x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_weight_rank(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected weight of rank 4 [Cout, Cin/groups, KH, KW], found rank 3}}
  %0 = "kiln.conv2d"(%x, %w) : (tensor<?x3x32x32xf32>, tensor<8x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_strides_length(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected 2 values (h, w) for 'strides', found 3}}
  %0 = "kiln.conv2d"(%x, %w) {strides = array<i64: 1, 1, 1>} : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_stride_zero(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected 'strides' values >= 1, found [1, 0]}}
  %0 = "kiln.conv2d"(%x, %w) {strides = array<i64: 1, 0>} : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_negative_padding(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected 'padding' values >= 0, found [-1, 0]}}
  %0 = "kiln.conv2d"(%x, %w) {padding = array<i64: -1, 0>} : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_padding_length(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected 2 values (h, w) for 'padding', found 1}}
  %0 = "kiln.conv2d"(%x, %w) {padding = array<i64: 1>} : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x32x32xf32>
  return
}

// -----

func.func @conv_dilation_zero(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected 'dilation' values >= 1, found [0, 1]}}
  %0 = "kiln.conv2d"(%x, %w) {dilation = array<i64: 0, 1>} : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_groups_zero(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected groups >= 1, found 0}}
  %0 = "kiln.conv2d"(%x, %w) {groups = 0 : i64} : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_groups_input_channels(%x: tensor<?x3x32x32xf32>, %w: tensor<8x1x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected groups (2) to divide input channels (3)}}
  %0 = "kiln.conv2d"(%x, %w) {groups = 2 : i64} : (tensor<?x3x32x32xf32>, tensor<8x1x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_groups_output_channels(%x: tensor<?x4x32x32xf32>, %w: tensor<6x1x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected groups (4) to divide output channels (6)}}
  %0 = "kiln.conv2d"(%x, %w) {groups = 4 : i64} : (tensor<?x4x32x32xf32>, tensor<6x1x3x3xf32>) -> tensor<?x6x30x30xf32>
  return
}

// -----

func.func @conv_channels(%x: tensor<?x4x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected weight dim 1 (3) * groups (1) to equal input channels (4)}}
  %0 = kiln.conv2d %x, %w : (tensor<?x4x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_unknown_layout(%x: tensor<?x4x7x7xf32>, %w: tensor<16x4x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected 'weight_layout' to be "oihw" or "hwio", found "nchw"}}
  %0 = kiln.conv2d %x, %w {weight_layout = "nchw"} : (tensor<?x4x7x7xf32>, tensor<16x4x3x3xf32>) -> tensor<?x16x5x5xf32>
  return
}

// -----

func.func @conv_hwio_groups(%x: tensor<?x4x7x7xf32>, %w: tensor<3x3x2x16xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected groups = 1 with weight_layout "hwio", found 2}}
  %0 = kiln.conv2d %x, %w {groups = 2 : i64, weight_layout = "hwio"} : (tensor<?x4x7x7xf32>, tensor<3x3x2x16xf32>) -> tensor<?x16x5x5xf32>
  return
}

// -----

func.func @conv_hwio_rank(%x: tensor<?x4x7x7xf32>, %w: tensor<3x4x16xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected weight of rank 4 [KH, KW, Cin, Cout] (weight_layout "hwio"), found rank 3}}
  %0 = kiln.conv2d %x, %w {weight_layout = "hwio"} : (tensor<?x4x7x7xf32>, tensor<3x4x16xf32>) -> tensor<?x16x5x5xf32>
  return
}

// -----

func.func @conv_hwio_channels(%x: tensor<?x4x7x7xf32>, %w: tensor<3x3x16x4xf32>) {
  // An OIHW-shaped [Cin, Cout] order in the last two dims: the stored axis is named.
  // expected-error @+1 {{'kiln.conv2d' op expected weight dim 2 (16) * groups (1) to equal input channels (4)}}
  %0 = kiln.conv2d %x, %w {weight_layout = "hwio"} : (tensor<?x4x7x7xf32>, tensor<3x3x16x4xf32>) -> tensor<?x4x5x5xf32>
  return
}

// -----

func.func @conv_bias_shape(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected bias of shape [Cout] = [8], found [4]}}
  %0 = kiln.conv2d %x, %w, %b : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>, tensor<4xf32>) -> tensor<?x8x30x30xf32>
  return
}

// -----

func.func @conv_empty_output(%x: tensor<?x3x2x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected the padded input height (2 + 2*0 = 2) to be at least the dilated kernel height (3) so that the output is non-empty}}
  %0 = kiln.conv2d %x, %w : (tensor<?x3x2x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x0x30xf32>
  return
}

// -----

func.func @conv_result_type(%x: tensor<?x3x32x32xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d' op expected result type 'tensor<?x8x30x30xf32>' (inferred from the operands and attributes), found 'tensor<?x8x32x32xf32>'}}
  %0 = kiln.conv2d %x, %w : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>) -> tensor<?x8x32x32xf32>
  return
}

// -----

func.func @matmul_rank(%a: tensor<?x4x2xf32>, %b: tensor<2x3xf32>) {
  // expected-error @+1 {{'kiln.matmul' op expected lhs of rank 2 [M, K], found rank 3}}
  %0 = "kiln.matmul"(%a, %b) : (tensor<?x4x2xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  return
}

// -----

func.func @matmul_k(%a: tensor<?x4xf32>, %b: tensor<5x3xf32>) {
  // expected-error @+1 {{'kiln.matmul' op expected lhs dim 1 (K = 4) to equal rhs dim 0 (5)}}
  %0 = kiln.matmul %a, %b : (tensor<?x4xf32>, tensor<5x3xf32>) -> tensor<?x3xf32>
  return
}

// -----

func.func @linear_input_rank(%x: tensor<?x2x4xf32>, %w: tensor<3x4xf32>) {
  // expected-error @+1 {{'kiln.linear' op expected input of rank 2 [N, IN], found rank 3}}
  %0 = "kiln.linear"(%x, %w) : (tensor<?x2x4xf32>, tensor<3x4xf32>) -> tensor<?x2x3xf32>
  return
}

// -----

func.func @linear_weight_layout(%x: tensor<?x4xf32>, %w: tensor<4x3xf32>) {
  // expected-error @+1 {{'kiln.linear' op expected weight dim 1 (3) to equal input features (4)}}
  %0 = kiln.linear %x, %w : (tensor<?x4xf32>, tensor<4x3xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<?x4xf32>, %w: tensor<3x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.linear' op expected bias of shape [OUT] = [3], found [4]}}
  %0 = kiln.linear %x, %w, %b : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<4xf32>) -> tensor<?x3xf32>
  return
}

// -----

func.func @broadcast_incompatible(%a: tensor<?x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.add' op expected broadcast-compatible operand shapes, found [?, 3] and [4] (dim 1 of the result: 3 vs 4, neither is 1)}}
  %0 = kiln.add %a, %b : (tensor<?x3xf32>, tensor<4xf32>) -> tensor<?x3xf32>
  return
}

// -----

func.func @broadcast_result_type(%a: tensor<?x3xf32>, %b: tensor<1xf32>) {
  // expected-error @+1 {{'kiln.mul' op expected result type 'tensor<?x3xf32>' (inferred from the operands and attributes), found 'tensor<?x1xf32>'}}
  %0 = kiln.mul %a, %b : (tensor<?x3xf32>, tensor<1xf32>) -> tensor<?x1xf32>
  return
}

// -----

func.func @unary_result_type(%a: tensor<?x3xf32>) {
  // expected-error @+1 {{'kiln.sigmoid' op expected result type 'tensor<?x3xf32>' (inferred from the operands and attributes), found 'tensor<4x3xf32>'}}
  %0 = kiln.sigmoid %a : (tensor<?x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @batch_norm_param(%x: tensor<?x8x4x4xf32>, %p: tensor<8xf32>, %q: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.batch_norm' op expected mean of shape [C] = [8] (C = input dim 1), found [4]}}
  %0 = kiln.batch_norm %x, %p, %p, %q, %p : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<4xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
  return
}

// -----

func.func @batch_norm_param_rank(%x: tensor<?x8x4x4xf32>, %p: tensor<8xf32>, %q: tensor<8x1xf32>) {
  // expected-error @+1 {{'kiln.batch_norm' op expected var of rank 1 [C], found rank 2}}
  %0 = kiln.batch_norm %x, %p, %p, %p, %q : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8x1xf32>) -> tensor<?x8x4x4xf32>
  return
}

// -----

func.func @batch_norm_input_rank(%x: tensor<?xf32>, %p: tensor<8xf32>) {
  // expected-error @+1 {{'kiln.batch_norm' op expected input of rank >= 2 [N, C, ...], found rank 1}}
  %0 = kiln.batch_norm %x, %p, %p, %p, %p : (tensor<?xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?xf32>
  return
}

// -----

func.func @batch_norm_epsilon(%x: tensor<?x8xf32>, %p: tensor<8xf32>) {
  // expected-error @+1 {{'kiln.batch_norm' op expected epsilon > 0, found 0.000000e+00}}
  %0 = kiln.batch_norm %x, %p, %p, %p, %p {epsilon = 0.0 : f32} : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @pool_missing_kernel(%x: tensor<?x8x4x4xf32>) {
  // expected-error @+1 {{'kiln.max_pool2d' op requires attribute 'kernel_size'}}
  %0 = "kiln.max_pool2d"(%x) : (tensor<?x8x4x4xf32>) -> tensor<?x8x2x2xf32>
  return
}

// -----

func.func @pool_kernel_length(%x: tensor<?x8x4x4xf32>) {
  // expected-error @+1 {{'kiln.max_pool2d' op expected 2 values (h, w) for 'kernel_size', found 1}}
  %0 = kiln.max_pool2d %x {kernel_size = array<i64: 2>} : (tensor<?x8x4x4xf32>) -> tensor<?x8x2x2xf32>
  return
}

// -----

func.func @pool_stride_zero(%x: tensor<?x8x4x4xf32>) {
  // expected-error @+1 {{'kiln.avg_pool2d' op expected 'strides' values >= 1, found [0, 2]}}
  %0 = kiln.avg_pool2d %x {kernel_size = array<i64: 2, 2>, strides = array<i64: 0, 2>} : (tensor<?x8x4x4xf32>) -> tensor<?x8x2x2xf32>
  return
}

// -----

func.func @pool_padding_half_kernel(%x: tensor<?x8x4x4xf32>) {
  // expected-error @+1 {{'kiln.max_pool2d' op expected padding width (2) to be at most half the kernel width (3)}}
  %0 = kiln.max_pool2d %x {kernel_size = array<i64: 3, 3>, padding = array<i64: 1, 2>} : (tensor<?x8x4x4xf32>) -> tensor<?x8x2x2xf32>
  return
}

// -----

func.func @pool_window_fits(%x: tensor<?x8x2x8xf32>) {
  // expected-error @+1 {{'kiln.avg_pool2d' op expected the padded input height (2 + 2*0 = 2) to be at least the kernel height (3)}}
  %0 = kiln.avg_pool2d %x {kernel_size = array<i64: 3, 3>} : (tensor<?x8x2x8xf32>) -> tensor<?x8x1x2xf32>
  return
}

// -----

func.func @pool_input_rank(%x: tensor<?x8x4xf32>) {
  // expected-error @+1 {{'kiln.global_avg_pool' op expected input of rank 4 [N, C, H, W], found rank 3}}
  %0 = "kiln.global_avg_pool"(%x) : (tensor<?x8x4xf32>) -> tensor<?x8x1x1xf32>
  return
}

// -----

func.func @softmax_axis_range(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{'kiln.softmax' op expected axis in [-2, 2), found 2}}
  %0 = kiln.softmax %x {axis = 2 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  return
}

// -----

func.func @softmax_dynamic_axis(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{'kiln.log_softmax' op expected axis -2 to be a static dim, found '?' in 'tensor<?x10xf32>'}}
  %0 = kiln.log_softmax %x {axis = -2 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  return
}

// -----

func.func @reduce_axis_range(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{'kiln.reduce_sum' op expected axes in [-2, 2), found -3 in [1, -3]}}
  %0 = kiln.reduce_sum %x {axes = array<i64: 1, -3>} : (tensor<?x10xf32>) -> tensor<?xf32>
  return
}

// -----

func.func @reduce_axes_distinct(%x: tensor<?x10x4xf32>) {
  // expected-error @+1 {{'kiln.reduce_mean' op expected distinct axes, found dim 2 twice in [2, -1]}}
  %0 = kiln.reduce_mean %x {axes = array<i64: 2, -1>} : (tensor<?x10x4xf32>) -> tensor<?x10xf32>
  return
}

// -----

func.func @reduce_no_axes(%x: tensor<?x10xf32>) {
  // expected-error @+1 {{'kiln.reduce_sum' op expected at least one axis}}
  %0 = kiln.reduce_sum %x {axes = array<i64>} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  return
}

// -----

func.func @reshape_minus_one_position(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'kiln.reshape' op expected shape dims after position 0 to be >= 1 (-1 is only allowed at position 0), found -1 at position 2}}
  %0 = kiln.reshape %x {shape = array<i64: -1, 4, -1>} : (tensor<?x4x6xf32>) -> tensor<?x4x6xf32>
  return
}

// -----

func.func @reshape_count(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'kiln.reshape' op expected the per-item element count of 'shape' [-1, 5, 5] (25) to equal the input's [?, 4, 6] (24)}}
  %0 = kiln.reshape %x {shape = array<i64: -1, 5, 5>} : (tensor<?x4x6xf32>) -> tensor<?x5x5xf32>
  return
}

// -----

func.func @reshape_batch(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'kiln.reshape' op expected shape[0] to be -1 (the input's dim 0) or equal to the input's dim 0 (?), found 2}}
  %0 = kiln.reshape %x {shape = array<i64: 2, 24>} : (tensor<?x4x6xf32>) -> tensor<2x24xf32>
  return
}

// -----

func.func @reshape_dynamic_item(%x: tensor<?x?x6xf32>) {
  // expected-error @+1 {{'kiln.reshape' op expected the input's dims after dim 0 to be static, found [?, ?, 6]}}
  %0 = kiln.reshape %x {shape = array<i64: -1, 6>} : (tensor<?x?x6xf32>) -> tensor<?x6xf32>
  return
}

// -----

func.func @flatten_batch(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'kiln.flatten' op expected start_dim to name a dim in [1, 3) of the input (dim 0 is the batch), found 0 for rank 3}}
  %0 = kiln.flatten %x {start_dim = 0 : i64} : (tensor<?x4x6xf32>) -> tensor<?xf32>
  return
}

// -----

func.func @flatten_out_of_range(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'kiln.flatten' op expected start_dim to name a dim in [1, 3) of the input (dim 0 is the batch), found 3 for rank 3}}
  %0 = kiln.flatten %x {start_dim = 3 : i64} : (tensor<?x4x6xf32>) -> tensor<?x24xf32>
  return
}

// -----

func.func @transpose_length(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'kiln.transpose' op expected 'perm' of length 3 (the input rank), found 2}}
  %0 = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<?x4x6xf32>) -> tensor<4x?x6xf32>
  return
}

// -----

func.func @transpose_not_permutation(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'kiln.transpose' op expected 'perm' to be a permutation of [0, 3), found [0, 2, 2]}}
  %0 = kiln.transpose %x {perm = array<i64: 0, 2, 2>} : (tensor<?x4x6xf32>) -> tensor<?x6x6xf32>
  return
}

// -----

func.func @kernel_kind(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'kiln.kernel' op expected kind to be one of elementwise, broadcast, injective, reduction, out_fusible, found 'fancy'}}
  %0 = kiln.kernel "k" kind("fancy") (%x : tensor<?x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>):
    kiln.yield %a : tensor<?x4xf32>
  }
  return
}

// -----

func.func @kernel_name(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'kiln.kernel' op expected a non-empty name}}
  %0 = kiln.kernel "" kind("elementwise") (%x : tensor<?x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>):
    kiln.yield %a : tensor<?x4xf32>
  }
  return
}

// -----

func.func @kernel_argument_count(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'kiln.kernel' op expected 1 body arguments (one per operand), found 2}}
  %0 = kiln.kernel "k" kind("elementwise") (%x : tensor<?x4xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>, %b: tensor<?x4xf32>):
    kiln.yield %a : tensor<?x4xf32>
  }
  return
}

// -----

func.func @kernel_argument_type(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'kiln.kernel' op expected body argument #0 to have the type of operand #0 ('tensor<?x4xf32>'), found 'tensor<2x4xf32>'}}
  %0 = kiln.kernel "k" kind("elementwise") (%x : tensor<?x4xf32>) -> tensor<2x4xf32> {
  ^bb0(%a: tensor<2x4xf32>):
    kiln.yield %a : tensor<2x4xf32>
  }
  return
}

// -----

func.func @kernel_yield_type(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'kiln.kernel' op expected the yielded type ('tensor<?x4xf32>') to equal the result type ('tensor<?x1xf32>')}}
  %0 = kiln.kernel "k" kind("elementwise") (%x : tensor<?x4xf32>) -> tensor<?x1xf32> {
  ^bb0(%a: tensor<?x4xf32>):
    kiln.yield %a : tensor<?x4xf32>
  }
  return
}

// -----

func.func @kernel_terminator(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'kiln.kernel' op expected the body to end with 'kiln.yield'}}
  %0 = "kiln.kernel"(%x) ({
  ^bb0(%a: tensor<?x4xf32>):
    %r = "kiln.relu"(%a) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  }) {name = "k", kind = "elementwise"} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @yield_outside_kernel(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'kiln.yield' op expects parent op 'kiln.kernel'}}
  kiln.yield %x : tensor<?x4xf32>
}

// -----
// Training ops.

func.func @sqrt_result(%x: tensor<?x3xf32>) {
  // expected-error @+1 {{'kiln.sqrt' op expected result type 'tensor<?x3xf32>' (inferred from the operands and attributes), found 'tensor<3xf32>'}}
  %0 = "kiln.sqrt"(%x) : (tensor<?x3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @relu_grad_broadcast(%x: tensor<?x3xf32>, %g: tensor<?x4xf32>) {
  // expected-error @+1 {{'kiln.relu_grad' op expected broadcast-compatible operand shapes, found [?, 3] and [?, 4] (dim 1 of the result: 3 vs 4, neither is 1)}}
  %0 = "kiln.relu_grad"(%x, %g) : (tensor<?x3xf32>, tensor<?x4xf32>) -> tensor<?x3xf32>
  return
}

// -----

func.func @sigmoid_grad_result(%y: tensor<3xf32>, %g: tensor<?x3xf32>) {
  // expected-error @+1 {{'kiln.sigmoid_grad' op expected result type 'tensor<?x3xf32>' (inferred from the operands and attributes), found 'tensor<3xf32>'}}
  %0 = "kiln.sigmoid_grad"(%y, %g) : (tensor<3xf32>, tensor<?x3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @broadcast_to_bad_dim(%x: tensor<3xf32>) {
  // expected-error @+1 {{'kiln.broadcast_to' op expected 'shape' dims to be >= 1 or -1 (the batch), found 0 at position 1 of [2, 0]}}
  %0 = "kiln.broadcast_to"(%x) {shape = array<i64: 2, 0>} : (tensor<3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @broadcast_to_lower_rank(%x: tensor<?x3xf32>) {
  // expected-error @+1 {{'kiln.broadcast_to' op expected 'shape' [3] to have at least the input's rank (2)}}
  %0 = "kiln.broadcast_to"(%x) {shape = array<i64: 3>} : (tensor<?x3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @broadcast_to_incompatible(%x: tensor<3x4xf32>) {
  // expected-error @+1 {{'kiln.broadcast_to' op expected the input shape [3, 4] to broadcast to [2, 3, 5] (dim 2 of the result: 4 is neither 1 nor 5)}}
  %0 = "kiln.broadcast_to"(%x) {shape = array<i64: 2, 3, 5>} : (tensor<3x4xf32>) -> tensor<2x3x5xf32>
  return
}

// -----

func.func @broadcast_to_result(%x: tensor<3x1xf32>) {
  // expected-error @+1 {{'kiln.broadcast_to' op expected result type 'tensor<?x3x4xf32>' (inferred from the operands and attributes), found 'tensor<2x3x4xf32>'}}
  %0 = "kiln.broadcast_to"(%x) {shape = array<i64: -1, 3, 4>} : (tensor<3x1xf32>) -> tensor<2x3x4xf32>
  return
}

// -----

func.func @conv_grad_input_rank(%g: tensor<?x8x4xf32>, %w: tensor<8x4x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_input' op expected grad of rank 4 [N, Cout, OH, OW], found rank 3}}
  %0 = "kiln.conv2d_grad_input"(%g, %w) {input_shape = array<i64: -1, 4, 6, 6>} : (tensor<?x8x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_grad_input_missing_shape(%g: tensor<?x8x4x4xf32>, %w: tensor<8x4x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_input' op requires attribute 'input_shape'}}
  %0 = "kiln.conv2d_grad_input"(%g, %w) : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_grad_input_shape_length(%g: tensor<?x8x4x4xf32>, %w: tensor<8x4x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_input' op expected 'input_shape' of 4 dims, found 3 in [4, 6, 6]}}
  %0 = "kiln.conv2d_grad_input"(%g, %w) {input_shape = array<i64: 4, 6, 6>} : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_grad_input_dynamic_spatial(%g: tensor<?x8x4x4xf32>, %w: tensor<8x4x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_input' op expected 'input_shape' dims to be >= 1 (-1, the batch, only at position 0), found -1 at position 2 of [-1, 4, -1, 6]}}
  %0 = "kiln.conv2d_grad_input"(%g, %w) {input_shape = array<i64: -1, 4, -1, 6>} : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x?x6xf32>
  return
}

// -----

func.func @conv_grad_input_channels(%g: tensor<?x8x4x4xf32>, %w: tensor<8x4x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_input' op expected the weight dim 1 (4) * groups (1) to equal the input channels (3) of 'input_shape'}}
  %0 = "kiln.conv2d_grad_input"(%g, %w) {input_shape = array<i64: -1, 3, 6, 6>} : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x3x6x6xf32>
  return
}

// -----

func.func @conv_grad_input_groups(%g: tensor<?x6x4x4xf32>, %w: tensor<6x2x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_input' op expected groups (4) to divide the output channels (6) of the weight}}
  %0 = "kiln.conv2d_grad_input"(%g, %w) {groups = 4 : i64, input_shape = array<i64: -1, 8, 6, 6>} : (tensor<?x6x4x4xf32>, tensor<6x2x3x3xf32>) -> tensor<?x8x6x6xf32>
  return
}

// -----

func.func @conv_grad_input_grad_shape(%g: tensor<?x8x5x4xf32>, %w: tensor<8x4x3x3xf32>) {
  // (6 - 3) / 1 + 1 = 4 rows, not 5.
  // expected-error @+1 {{'kiln.conv2d_grad_input' op expected grad of shape [?, 8, 4, 4] (the conv2d result for 'input_shape' and the weight), found [?, 8, 5, 4]}}
  %0 = "kiln.conv2d_grad_input"(%g, %w) {input_shape = array<i64: -1, 4, 6, 6>} : (tensor<?x8x5x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_grad_input_window(%g: tensor<?x8x1x1xf32>, %w: tensor<8x4x3x3xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_input' op expected the padded input height (1 + 2*0 = 1) to be at least the dilated kernel height (3)}}
  %0 = "kiln.conv2d_grad_input"(%g, %w) {input_shape = array<i64: -1, 4, 1, 3>} : (tensor<?x8x1x1xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x1x3xf32>
  return
}

// -----

func.func @conv_grad_input_result(%g: tensor<?x8x4x4xf32>, %w: tensor<8x4x3x3xf32>) {
  // input_shape, not the smallest input that gives the grad's shape, sets the result.
  // expected-error @+1 {{'kiln.conv2d_grad_input' op expected result type 'tensor<?x4x7x7xf32>' (inferred from the operands and attributes), found 'tensor<?x4x6x6xf32>'}}
  %0 = "kiln.conv2d_grad_input"(%g, %w) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, input_shape = array<i64: -1, 4, 7, 7>} : (tensor<?x8x4x4xf32>, tensor<8x4x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_grad_weight_dynamic(%x: tensor<?x4x6x6xf32>, %g: tensor<?x8x4x4xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_weight' op expected 'weight_shape' dims to be >= 1, found -1 at position 0 of [-1, 4, 3, 3]}}
  %0 = "kiln.conv2d_grad_weight"(%x, %g) {weight_shape = array<i64: -1, 4, 3, 3>} : (tensor<?x4x6x6xf32>, tensor<?x8x4x4xf32>) -> tensor<8x4x3x3xf32>
  return
}

// -----

func.func @conv_grad_weight_grad_channels(%x: tensor<?x4x6x6xf32>, %g: tensor<?x6x4x4xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_weight' op expected grad of shape [?, 8, 4, 4] (the conv2d result for the input and 'weight_shape'), found [?, 6, 4, 4]}}
  %0 = "kiln.conv2d_grad_weight"(%x, %g) {weight_shape = array<i64: 8, 4, 3, 3>} : (tensor<?x4x6x6xf32>, tensor<?x6x4x4xf32>) -> tensor<8x4x3x3xf32>
  return
}

// -----

func.func @conv_grad_weight_groups(%x: tensor<?x4x6x6xf32>, %g: tensor<?x8x4x4xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_weight' op expected 'weight_shape' dim 1 (4) * groups (2) to equal the input channels (4) of the input}}
  %0 = "kiln.conv2d_grad_weight"(%x, %g) {groups = 2 : i64, weight_shape = array<i64: 8, 4, 3, 3>} : (tensor<?x4x6x6xf32>, tensor<?x8x4x4xf32>) -> tensor<8x4x3x3xf32>
  return
}

// -----

func.func @conv_grad_weight_result(%x: tensor<?x4x6x6xf32>, %g: tensor<?x8x4x4xf32>) {
  // expected-error @+1 {{'kiln.conv2d_grad_weight' op expected result type 'tensor<8x4x3x3xf32>' (inferred from the operands and attributes), found 'tensor<?x4x3x3xf32>'}}
  %0 = "kiln.conv2d_grad_weight"(%x, %g) {weight_shape = array<i64: 8, 4, 3, 3>} : (tensor<?x4x6x6xf32>, tensor<?x8x4x4xf32>) -> tensor<?x4x3x3xf32>
  return
}

// -----

func.func @max_pool_grad_shape(%x: tensor<?x4x8x8xf32>, %g: tensor<?x4x3x3xf32>) {
  // expected-error @+1 {{'kiln.max_pool2d_grad' op expected grad of shape [?, 4, 4, 4] (the max_pool2d result for the input), found [?, 4, 3, 3]}}
  %0 = "kiln.max_pool2d_grad"(%x, %g) {kernel_size = array<i64: 2, 2>} : (tensor<?x4x8x8xf32>, tensor<?x4x3x3xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @max_pool_grad_padding(%x: tensor<?x4x8x8xf32>, %g: tensor<?x4x4x4xf32>) {
  // expected-error @+1 {{'kiln.max_pool2d_grad' op expected padding height (2) to be at most half the kernel height (2)}}
  %0 = "kiln.max_pool2d_grad"(%x, %g) {kernel_size = array<i64: 2, 2>, padding = array<i64: 2, 0>} : (tensor<?x4x8x8xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @max_pool_grad_result(%x: tensor<?x4x8x8xf32>, %g: tensor<?x4x4x4xf32>) {
  // expected-error @+1 {{'kiln.max_pool2d_grad' op expected result type 'tensor<?x4x8x8xf32>' (inferred from the operands and attributes), found 'tensor<?x4x4x4xf32>'}}
  %0 = "kiln.max_pool2d_grad"(%x, %g) {kernel_size = array<i64: 2, 2>} : (tensor<?x4x8x8xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x4x4xf32>
  return
}

// -----

func.func @avg_pool_grad_missing_shape(%g: tensor<?x4x4x4xf32>) {
  // expected-error @+1 {{'kiln.avg_pool2d_grad' op requires attribute 'input_shape'}}
  %0 = "kiln.avg_pool2d_grad"(%g) {kernel_size = array<i64: 2, 2>} : (tensor<?x4x4x4xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @avg_pool_grad_shape(%g: tensor<?x4x4x4xf32>) {
  // ceil mode on 9: ceil(7 / 2) + 1 = 5 windows.
  // expected-error @+1 {{'kiln.avg_pool2d_grad' op expected grad of shape [?, 4, 5, 5] (the avg_pool2d result for 'input_shape'), found [?, 4, 4, 4]}}
  %0 = "kiln.avg_pool2d_grad"(%g) {kernel_size = array<i64: 2, 2>, ceil_mode = true, input_shape = array<i64: -1, 4, 9, 9>} : (tensor<?x4x4x4xf32>) -> tensor<?x4x9x9xf32>
  return
}

// -----

func.func @update_not_a_parameter(%x: tensor<4xf32>, %y: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.update' op expected the updated value to be the result of 'kiln.parameter', found a block argument}}
  kiln.update %x, %y : tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @update_computed_value(%y: tensor<4xf32>) {
  %c = kiln.constant dense<1.0> : tensor<4xf32>
  // expected-error @+1 {{'kiln.update' op expected the updated value to be the result of 'kiln.parameter', found the result of 'kiln.constant'}}
  kiln.update %c, %y : tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @update_type(%y: tensor<?x4xf32>) {
  %p = kiln.parameter "w" : tensor<4xf32>
  // expected-error @+1 {{'kiln.update' op expected the new value's type ('tensor<?x4xf32>') to equal the type of parameter 'w' ('tensor<4xf32>')}}
  kiln.update %p, %y : tensor<4xf32>, tensor<?x4xf32>
  return
}

// -----

func.func @update_twice(%y: tensor<4xf32>) {
  %p = kiln.parameter "w" : tensor<4xf32>
  // expected-error @+1 {{'kiln.update' op expected at most one 'kiln.update' of parameter 'w'}}
  kiln.update %p, %y : tensor<4xf32>, tensor<4xf32>
  kiln.update %p, %y : tensor<4xf32>, tensor<4xf32>
  return
}

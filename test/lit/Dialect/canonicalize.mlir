// The kiln folders, driven by the upstream canonicalizer. Each function holds
// the IR before; the CHECK lines show the IR after.
// RUN: kiln-opt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @reshape_same_type
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x6xf32>)
// CHECK-NEXT: return %[[X]]
func.func @reshape_same_type(%x: tensor<?x4x6xf32>) -> tensor<?x4x6xf32> {
  %0 = kiln.reshape %x {shape = array<i64: -1, 4, 6>} : (tensor<?x4x6xf32>) -> tensor<?x4x6xf32>
  return %0 : tensor<?x4x6xf32>
}

// -----

// CHECK-LABEL: func.func @flatten_same_type
// CHECK-SAME: (%[[X:.*]]: tensor<?x24xf32>)
// CHECK-NEXT: return %[[X]]
func.func @flatten_same_type(%x: tensor<?x24xf32>) -> tensor<?x24xf32> {
  %0 = kiln.flatten %x : (tensor<?x24xf32>) -> tensor<?x24xf32>
  return %0 : tensor<?x24xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_of_reshape
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x6xf32>)
// CHECK-NEXT: %[[R:.*]] = kiln.reshape %[[X]] {shape = array<i64: -1, 2, 12>} : (tensor<?x4x6xf32>) -> tensor<?x2x12xf32>
// CHECK-NEXT: return %[[R]]
func.func @reshape_of_reshape(%x: tensor<?x4x6xf32>) -> tensor<?x2x12xf32> {
  %0 = kiln.reshape %x {shape = array<i64: -1, 24>} : (tensor<?x4x6xf32>) -> tensor<?x24xf32>
  %1 = kiln.reshape %0 {shape = array<i64: -1, 2, 12>} : (tensor<?x24xf32>) -> tensor<?x2x12xf32>
  return %1 : tensor<?x2x12xf32>
}

// -----

// The inner reshape keeps its other user; the outer one still reads %x.
// CHECK-LABEL: func.func @reshape_of_shared_reshape
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x6xf32>)
// CHECK-DAG: %[[A:.*]] = kiln.reshape %[[X]] {shape = array<i64: -1, 24>}
// CHECK-DAG: %[[B:.*]] = kiln.reshape %[[X]] {shape = array<i64: -1, 3, 8>}
// CHECK: return %[[A]], %[[B]]
func.func @reshape_of_shared_reshape(%x: tensor<?x4x6xf32>) -> (tensor<?x24xf32>, tensor<?x3x8xf32>) {
  %0 = kiln.reshape %x {shape = array<i64: -1, 24>} : (tensor<?x4x6xf32>) -> tensor<?x24xf32>
  %1 = kiln.reshape %0 {shape = array<i64: -1, 3, 8>} : (tensor<?x24xf32>) -> tensor<?x3x8xf32>
  return %0, %1 : tensor<?x24xf32>, tensor<?x3x8xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_of_flatten
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x2x3xf32>)
// CHECK-NEXT: %[[R:.*]] = kiln.reshape %[[X]] {shape = array<i64: -1, 6, 4>} : (tensor<?x4x2x3xf32>) -> tensor<?x6x4xf32>
// CHECK-NEXT: return %[[R]]
func.func @reshape_of_flatten(%x: tensor<?x4x2x3xf32>) -> tensor<?x6x4xf32> {
  %0 = kiln.flatten %x : (tensor<?x4x2x3xf32>) -> tensor<?x24xf32>
  %1 = kiln.reshape %0 {shape = array<i64: -1, 6, 4>} : (tensor<?x24xf32>) -> tensor<?x6x4xf32>
  return %1 : tensor<?x6x4xf32>
}

// -----

// Flatten then reshape back to the source's shape: nothing is left.
// CHECK-LABEL: func.func @reshape_round_trip
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x6xf32>)
// CHECK-NEXT: return %[[X]]
func.func @reshape_round_trip(%x: tensor<?x4x6xf32>) -> tensor<?x4x6xf32> {
  %0 = kiln.flatten %x : (tensor<?x4x6xf32>) -> tensor<?x24xf32>
  %1 = kiln.reshape %0 {shape = array<i64: -1, 4, 6>} : (tensor<?x24xf32>) -> tensor<?x4x6xf32>
  return %1 : tensor<?x4x6xf32>
}

// -----

// CHECK-LABEL: func.func @transpose_identity
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x6xf32>)
// CHECK-NEXT: return %[[X]]
func.func @transpose_identity(%x: tensor<?x4x6xf32>) -> tensor<?x4x6xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 0, 1, 2>} : (tensor<?x4x6xf32>) -> tensor<?x4x6xf32>
  return %0 : tensor<?x4x6xf32>
}

// -----

// [?,4,6,8] -perm(0,2,3,1)-> [?,6,8,4] -perm(0,3,1,2)... composes to one perm.
// CHECK-LABEL: func.func @transpose_of_transpose
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x6x8xf32>)
// CHECK-NEXT: %[[T:.*]] = kiln.transpose %[[X]] {perm = array<i64: 0, 3, 1, 2>} : (tensor<?x4x6x8xf32>) -> tensor<?x8x4x6xf32>
// CHECK-NEXT: return %[[T]]
func.func @transpose_of_transpose(%x: tensor<?x4x6x8xf32>) -> tensor<?x8x4x6xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 0, 2, 3, 1>} : (tensor<?x4x6x8xf32>) -> tensor<?x6x8x4xf32>
  %1 = kiln.transpose %0 {perm = array<i64: 0, 2, 3, 1>} : (tensor<?x6x8x4xf32>) -> tensor<?x8x4x6xf32>
  return %1 : tensor<?x8x4x6xf32>
}

// -----

// CHECK-LABEL: func.func @transpose_inverse_pair
// CHECK-SAME: (%[[X:.*]]: tensor<?x4x6xf32>)
// CHECK-NEXT: return %[[X]]
func.func @transpose_inverse_pair(%x: tensor<?x4x6xf32>) -> tensor<?x4x6xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 2, 0, 1>} : (tensor<?x4x6xf32>) -> tensor<6x?x4xf32>
  %1 = kiln.transpose %0 {perm = array<i64: 1, 2, 0>} : (tensor<6x?x4xf32>) -> tensor<?x4x6xf32>
  return %1 : tensor<?x4x6xf32>
}

// -----

// CHECK-LABEL: func.func @add_zero
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-NEXT: return %[[X]], %[[X]]
func.func @add_zero(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %z = kiln.constant dense<0.0> : tensor<4xf32>
  %0 = kiln.add %x, %z : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = kiln.add %z, %x : (tensor<4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0, %1 : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// The zero widens [?,1] to [?,4]: folding would change the result type.
// CHECK-LABEL: func.func @add_zero_broadcasting
// CHECK: %[[Z:.*]] = kiln.constant dense<0.000000e+00> : tensor<4xf32>
// CHECK: %[[A:.*]] = kiln.add %{{.*}}, %[[Z]] : (tensor<?x1xf32>, tensor<4xf32>) -> tensor<?x4xf32>
// CHECK: return %[[A]]
func.func @add_zero_broadcasting(%x: tensor<?x1xf32>) -> tensor<?x4xf32> {
  %z = kiln.constant dense<0.0> : tensor<4xf32>
  %0 = kiln.add %x, %z : (tensor<?x1xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// x - 0 is x; 0 - x is a negation and stays.
// CHECK-LABEL: func.func @sub_zero
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK: %[[Z:.*]] = kiln.constant dense<0.000000e+00> : tensor<4xf32>
// CHECK: %[[N:.*]] = kiln.sub %[[Z]], %[[X]]
// CHECK: return %[[X]], %[[N]]
func.func @sub_zero(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %z = kiln.constant dense<0.0> : tensor<4xf32>
  %0 = kiln.sub %x, %z : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = kiln.sub %z, %x : (tensor<4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0, %1 : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func.func @mul_one
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-NEXT: return %[[X]], %[[X]]
func.func @mul_one(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %one = kiln.constant dense<1.0> : tensor<1xf32>
  %0 = kiln.mul %x, %one : (tensor<?x4xf32>, tensor<1xf32>) -> tensor<?x4xf32>
  %1 = kiln.mul %one, %x : (tensor<1xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0, %1 : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// x / 1 is x; 1 / x is a reciprocal and stays.
// CHECK-LABEL: func.func @div_one
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK: %[[ONE:.*]] = kiln.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK: %[[R:.*]] = kiln.div %[[ONE]], %[[X]]
// CHECK: return %[[X]], %[[R]]
func.func @div_one(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %one = kiln.constant dense<1.0> : tensor<4xf32>
  %0 = kiln.div %x, %one : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = kiln.div %one, %x : (tensor<4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0, %1 : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func.func @relu_of_relu
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-NEXT: %[[R:.*]] = kiln.relu %[[X]]
// CHECK-NEXT: return %[[R]]
func.func @relu_of_relu(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = kiln.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %1 = kiln.relu %0 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %1 : tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func.func @relu_of_splat
// CHECK-NEXT: %[[C:.*]] = kiln.constant dense<0.000000e+00> : tensor<4xf32>
// CHECK-NEXT: return %[[C]]
func.func @relu_of_splat() -> tensor<4xf32> {
  %c = kiln.constant dense<-3.0> : tensor<4xf32>
  %0 = kiln.relu %c : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @fold_splats
// CHECK-DAG: %[[ADD:.*]] = kiln.constant dense<5.000000e+00> : tensor<2x3xf32>
// CHECK-DAG: %[[SUB:.*]] = kiln.constant dense<1.000000e+00> : tensor<2x3xf32>
// CHECK-DAG: %[[MUL:.*]] = kiln.constant dense<6.000000e+00> : tensor<2x3xf32>
// CHECK-DAG: %[[DIV:.*]] = kiln.constant dense<1.500000e+00> : tensor<2x3xf32>
// CHECK-NOT: kiln.add
// CHECK-NOT: kiln.sub
// CHECK-NOT: kiln.mul
// CHECK-NOT: kiln.div
// CHECK: return %[[ADD]], %[[SUB]], %[[MUL]], %[[DIV]]
func.func @fold_splats() -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %a = kiln.constant dense<3.0> : tensor<2x3xf32>
  %b = kiln.constant dense<2.0> : tensor<2x3xf32>
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = kiln.sub %a, %b : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = kiln.mul %a, %b : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = kiln.div %a, %b : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0, %1, %2, %3 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Splats of different types broadcast; they are left for codegen.
// CHECK-LABEL: func.func @no_fold_broadcasting_splats
// CHECK: kiln.add %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
func.func @no_fold_broadcasting_splats() -> tensor<2x3xf32> {
  %a = kiln.constant dense<3.0> : tensor<2x3xf32>
  %b = kiln.constant dense<2.0> : tensor<3xf32>
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// The constant folder returns its value, so equal constants are uniqued and
// unused ones disappear.
// CHECK-LABEL: func.func @constants_uniqued
// CHECK-NEXT: %[[C:.*]] = kiln.constant dense<{{\[}}1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK-NEXT: return %[[C]], %[[C]]
func.func @constants_uniqued() -> (tensor<2xf32>, tensor<2xf32>) {
  %unused = kiln.constant dense<7.0> : tensor<2xf32>
  %a = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %b = kiln.constant dense<[1.0, 2.0]> : tensor<2xf32>
  return %a, %b : tensor<2xf32>, tensor<2xf32>
}

// -----

// broadcast_to of a value to its own type is that value; one that widens stays.
// CHECK-LABEL: func.func @broadcast_to_same_type
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>, %[[B:.*]]: tensor<4xf32>)
// CHECK-NEXT: %[[W:.*]] = kiln.broadcast_to %[[B]] {shape = array<i64: -1, 4>}
// CHECK-NEXT: return %[[X]], %[[W]]
func.func @broadcast_to_same_type(%x: tensor<?x4xf32>, %b: tensor<4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %0 = kiln.broadcast_to %x {shape = array<i64: -1, 4>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %1 = kiln.broadcast_to %b {shape = array<i64: -1, 4>} : (tensor<4xf32>) -> tensor<?x4xf32>
  return %0, %1 : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// kiln.update has no result but writes a parameter: canonicalization keeps it
// (and what it reads), while an unused gradient op is erased like any pure op.
// CHECK-LABEL: func.func @update_is_kept
// CHECK-NEXT: %[[P:.*]] = kiln.parameter "w"
// CHECK-NEXT: %[[N:.*]] = kiln.neg %[[P]]
// CHECK-NEXT: kiln.update %[[P]], %[[N]]
// CHECK-NEXT: return
func.func @update_is_kept(%x: tensor<4xf32>) {
  %p = kiln.parameter "w" : tensor<4xf32>
  %n = kiln.neg %p : (tensor<4xf32>) -> tensor<4xf32>
  %dead = kiln.relu_grad %x, %p : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  kiln.update %p, %n : tensor<4xf32>, tensor<4xf32>
  return
}

// -----

// stop_gradient only matters to kiln-autodiff, which runs before: it folds to
// its input.
// CHECK-LABEL: func.func @stop_gradient_folds
// CHECK-SAME:    (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-NOT:     kiln.stop_gradient
// CHECK:         %[[R:.*]] = kiln.relu %[[X]]
// CHECK-NEXT:    return %[[R]]
func.func @stop_gradient_folds(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %s = kiln.stop_gradient %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = kiln.relu %s : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// reduce_sum(a * b) with b constant along every reduced axis: b moves out of
// the sum (reshaped to the sum's shape), so the sum reads a alone (batch
// norm's mean gradient; see FactorBroadcastOutOfReduceSum).
// CHECK-LABEL: func.func @factor_out_of_reduce_sum
// CHECK-SAME: (%[[A:.*]]: tensor<?x3x4x4xf32>, %[[B:.*]]: tensor<3x1x1xf32>)
// CHECK-DAG: %[[F:.*]] = kiln.reshape %[[B]] {shape = array<i64: 3>} : (tensor<3x1x1xf32>) -> tensor<3xf32>
// CHECK-DAG: %[[S:.*]] = kiln.reduce_sum %[[A]] {axes = array<i64: 0, 2, 3>} : (tensor<?x3x4x4xf32>) -> tensor<3xf32>
// CHECK: %[[R:.*]] = kiln.mul %[[S]], %[[F]] : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: return %[[R]]
func.func @factor_out_of_reduce_sum(%a: tensor<?x3x4x4xf32>, %b: tensor<3x1x1xf32>) -> tensor<3xf32> {
  %0 = kiln.mul %a, %b : (tensor<?x3x4x4xf32>, tensor<3x1x1xf32>) -> tensor<?x3x4x4xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 2, 3>} : (tensor<?x3x4x4xf32>) -> tensor<3xf32>
  return %1 : tensor<3xf32>
}

// -----

// keepdim, the factor on the left: it already has the sum's shape.
// CHECK-LABEL: func.func @factor_out_of_reduce_sum_keepdim
// CHECK-SAME: (%[[A:.*]]: tensor<?x3x4xf32>, %[[B:.*]]: tensor<1x3x1xf32>)
// CHECK: %[[S:.*]] = kiln.reduce_sum %[[A]] {axes = array<i64: 0, 2>, keepdim = true} : (tensor<?x3x4xf32>) -> tensor<1x3x1xf32>
// CHECK-NEXT: %[[R:.*]] = kiln.mul %[[S]], %[[B]]
// CHECK-NEXT: return %[[R]]
func.func @factor_out_of_reduce_sum_keepdim(%a: tensor<?x3x4xf32>, %b: tensor<1x3x1xf32>) -> tensor<1x3x1xf32> {
  %0 = kiln.mul %b, %a : (tensor<1x3x1xf32>, tensor<?x3x4xf32>) -> tensor<?x3x4xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 2>, keepdim = true} : (tensor<?x3x4xf32>) -> tensor<1x3x1xf32>
  return %1 : tensor<1x3x1xf32>
}

// -----

// b varies along a reduced axis (W), or is the full shape: no factoring.
// CHECK-LABEL: func.func @no_factor_when_b_varies
// CHECK: %[[M:.*]] = kiln.mul
// CHECK-NEXT: kiln.reduce_sum %[[M]]
// CHECK: %[[M2:.*]] = kiln.mul
// CHECK-NEXT: kiln.reduce_sum %[[M2]]
func.func @no_factor_when_b_varies(%a: tensor<?x3x4xf32>, %b: tensor<3x4xf32>, %c: tensor<?x3x4xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %0 = kiln.mul %a, %b : (tensor<?x3x4xf32>, tensor<3x4xf32>) -> tensor<?x3x4xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 2>} : (tensor<?x3x4xf32>) -> tensor<3xf32>
  %2 = kiln.mul %a, %c : (tensor<?x3x4xf32>, tensor<?x3x4xf32>) -> tensor<?x3x4xf32>
  %3 = kiln.reduce_sum %2 {axes = array<i64: 0, 2>} : (tensor<?x3x4xf32>) -> tensor<3xf32>
  return %1, %3 : tensor<3xf32>, tensor<3xf32>
}

// kiln-plan-memory on already fused functions: the IR before is each function
// below, the annotations it gets are in its CHECK lines (offsets in bytes;
// address = arena + offset_fixed + offset_per_item * batch). REPORT checks the
// remark. Error cases are in memory-plan-errors.mlir.
// RUN: kiln-opt -split-input-file -kiln-plan-memory %s | FileCheck %s
// RUN: kiln-opt -split-input-file -kiln-plan-memory=report -mlir-print-op-on-diagnostic=false %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// A chain of five kernels. Lifetimes (kernel indices): A [0,1], B [1,2],
// C [2,3], D [3,4]; E is returned. Largest first: A at 0; C does not live
// with A, so it reuses offset 0; B lives with both and goes to 256; D lives
// with C only and reuses B's 256. 384 B/item instead of 704, equal to the
// peak (A+B at kernel 1, B+C at kernel 2).
func.func @chain(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %w0 = kiln.parameter "w0" : tensor<64x16xf32>
  %w1 = kiln.parameter "w1" : tensor<32x64xf32>
  %w2 = kiln.parameter "w2" : tensor<64x32xf32>
  %w3 = kiln.parameter "w3" : tensor<16x64xf32>
  %a = kiln.kernel "chain_k0" kind("out_fusible") (%x, %w0 : tensor<?x16xf32>, tensor<64x16xf32>) -> tensor<?x64xf32> {
  ^bb0(%i: tensor<?x16xf32>, %w: tensor<64x16xf32>):
    %r = kiln.linear %i, %w : (tensor<?x16xf32>, tensor<64x16xf32>) -> tensor<?x64xf32>
    kiln.yield %r : tensor<?x64xf32>
  }
  %b = kiln.kernel "chain_k1" kind("out_fusible") (%a, %w1 : tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32> {
  ^bb0(%i: tensor<?x64xf32>, %w: tensor<32x64xf32>):
    %r = kiln.linear %i, %w : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
    kiln.yield %r : tensor<?x32xf32>
  }
  %c = kiln.kernel "chain_k2" kind("out_fusible") (%b, %w2 : tensor<?x32xf32>, tensor<64x32xf32>) -> tensor<?x64xf32> {
  ^bb0(%i: tensor<?x32xf32>, %w: tensor<64x32xf32>):
    %r = kiln.linear %i, %w : (tensor<?x32xf32>, tensor<64x32xf32>) -> tensor<?x64xf32>
    kiln.yield %r : tensor<?x64xf32>
  }
  %d = kiln.kernel "chain_k3" kind("out_fusible") (%c, %w3 : tensor<?x64xf32>, tensor<16x64xf32>) -> tensor<?x16xf32> {
  ^bb0(%i: tensor<?x64xf32>, %w: tensor<16x64xf32>):
    %r = kiln.linear %i, %w : (tensor<?x64xf32>, tensor<16x64xf32>) -> tensor<?x16xf32>
    kiln.yield %r : tensor<?x16xf32>
  }
  %e = kiln.kernel "chain_k4" kind("elementwise") (%d : tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%i: tensor<?x16xf32>):
    %r = kiln.relu %i : (tensor<?x16xf32>) -> tensor<?x16xf32>
    kiln.yield %r : tensor<?x16xf32>
  }
  return %e : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @chain
// CHECK-SAME:    attributes {kiln.arena_fixed_bytes = 0 : i64, kiln.arena_per_item_bytes = 384 : i64, kiln.peak_bytes_per_item = 384 : i64}
// CHECK:         kiln.kernel "chain_k0" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64}
// CHECK:         kiln.kernel "chain_k1" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 256 : i64}
// CHECK:         kiln.kernel "chain_k2" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64}
// CHECK:         kiln.kernel "chain_k3" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 256 : i64}
// CHECK:         kiln.kernel "chain_k4" {{.*}} attributes {kiln.buffer = "output", kiln.output_index = 0 : i64}

// REPORT: remark: arena: 384 B/item (peak live 384 B/item), 0 B fixed, 5 kernels; without reuse 704 B/item

// -----

// A residual: A (kernel 0) is read again by kernel 3, so it stays live across
// B and C. B (256 B) goes first at 0; A lives with B and goes to 256; C lives
// with both and goes to 320 — never over the shortcut A.
func.func @residual(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %w0 = kiln.parameter "w0" : tensor<64x16xf32>
  %w1 = kiln.parameter "w1" : tensor<16x64xf32>
  %a = kiln.kernel "residual_k0" kind("elementwise") (%x : tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%i: tensor<?x16xf32>):
    %r = kiln.relu %i : (tensor<?x16xf32>) -> tensor<?x16xf32>
    kiln.yield %r : tensor<?x16xf32>
  }
  %b = kiln.kernel "residual_k1" kind("out_fusible") (%a, %w0 : tensor<?x16xf32>, tensor<64x16xf32>) -> tensor<?x64xf32> {
  ^bb0(%i: tensor<?x16xf32>, %w: tensor<64x16xf32>):
    %r = kiln.linear %i, %w : (tensor<?x16xf32>, tensor<64x16xf32>) -> tensor<?x64xf32>
    kiln.yield %r : tensor<?x64xf32>
  }
  %c = kiln.kernel "residual_k2" kind("out_fusible") (%b, %w1 : tensor<?x64xf32>, tensor<16x64xf32>) -> tensor<?x16xf32> {
  ^bb0(%i: tensor<?x64xf32>, %w: tensor<16x64xf32>):
    %r = kiln.linear %i, %w : (tensor<?x64xf32>, tensor<16x64xf32>) -> tensor<?x16xf32>
    kiln.yield %r : tensor<?x16xf32>
  }
  %d = kiln.kernel "residual_k3" kind("elementwise") (%c, %a : tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%i: tensor<?x16xf32>, %s: tensor<?x16xf32>):
    %r = kiln.add %i, %s : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
    kiln.yield %r : tensor<?x16xf32>
  }
  return %d : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @residual
// CHECK-SAME:    kiln.arena_per_item_bytes = 384 : i64, kiln.peak_bytes_per_item = 384 : i64
// CHECK:         kiln.kernel "residual_k0" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 256 : i64}
// CHECK:         kiln.kernel "residual_k1" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64}
// CHECK:         kiln.kernel "residual_k2" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 320 : i64}
// CHECK:         kiln.kernel "residual_k3" {{.*}} attributes {kiln.buffer = "output", kiln.output_index = 0 : i64}

// REPORT: remark: arena: 384 B/item (peak live 384 B/item), 0 B fixed, 4 kernels; without reuse 384 B/item

// -----

// Views and outputs. The flatten is A's bytes under another shape, so it gets
// A's slot and keeps A live until kernel 1 reads it. B is returned: kernel 1
// writes output 0 directly, and so does its reshape. Everything else that is
// returned needs a copy after the kernels: B again (directly and as the
// reshape), the argument, the parameter and the constant.
func.func @views_and_outputs(%x: tensor<?x4x2x2xf32>) -> (tensor<?x16xf32>, tensor<?x4x4xf32>, tensor<?x16xf32>, tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<1xf32>) {
  %p = kiln.parameter "p" : tensor<4xf32>
  %cst = kiln.constant dense<1.0> : tensor<1xf32>
  %a = kiln.kernel "views_and_outputs_k0" kind("elementwise") (%x : tensor<?x4x2x2xf32>) -> tensor<?x4x2x2xf32> {
  ^bb0(%i: tensor<?x4x2x2xf32>):
    %r = kiln.relu %i : (tensor<?x4x2x2xf32>) -> tensor<?x4x2x2xf32>
    kiln.yield %r : tensor<?x4x2x2xf32>
  }
  %f = kiln.flatten %a : (tensor<?x4x2x2xf32>) -> tensor<?x16xf32>
  %b = kiln.kernel "views_and_outputs_k1" kind("elementwise") (%f : tensor<?x16xf32>) -> tensor<?x16xf32> {
  ^bb0(%i: tensor<?x16xf32>):
    %r = kiln.sigmoid %i : (tensor<?x16xf32>) -> tensor<?x16xf32>
    kiln.yield %r : tensor<?x16xf32>
  }
  %v = kiln.reshape %b {shape = array<i64: -1, 4, 4>} : (tensor<?x16xf32>) -> tensor<?x4x4xf32>
  return %b, %v, %b, %x, %p, %cst : tensor<?x16xf32>, tensor<?x4x4xf32>, tensor<?x16xf32>, tensor<?x4x2x2xf32>, tensor<4xf32>, tensor<1xf32>
}

// CHECK-LABEL: func.func @views_and_outputs
// CHECK-SAME:    kiln.arena_per_item_bytes = 64 : i64
// CHECK-SAME:    kiln.copy_outputs = [{from = "output", index = 0 : i64, output = 1 : i64}, {from = "output", index = 0 : i64, output = 2 : i64}, {from = "input", index = 0 : i64, output = 3 : i64}, {from = "param", name = "p", output = 4 : i64}, {from = "constant", output = 5 : i64}]
// CHECK:         %[[A:.*]] = kiln.kernel "views_and_outputs_k0" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64}
// CHECK:         %[[F:.*]] = kiln.flatten %[[A]] {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64}
// CHECK:         %[[B:.*]] = kiln.kernel "views_and_outputs_k1" kind("elementwise") (%[[F]] : {{.*}}) attributes {kiln.buffer = "output", kiln.output_index = 0 : i64}
// CHECK:         %[[V:.*]] = kiln.reshape %[[B]] {kiln.buffer = "output", kiln.output_index = 0 : i64, shape = array<i64: -1, 4, 4>}
// CHECK:         return %[[B]], %[[V]], %[[B]], %arg0,

// REPORT: remark: arena: 64 B/item (peak live 64 B/item), 0 B fixed, 2 kernels; without reuse 64 B/item

// -----

// Fixed and per-item regions. P (8x8, 256 B) and Q (8 floats, rounded up to
// 64 B) have no batch dim: the fixed region, where Q reuses P's bytes since
// P is dead once kernel 1 ran. Y and Z ([?,8], 32 B/item rounded to 64) live
// together at kernel 3, so the per-item region is 128 B/item, placed after
// the 256 fixed bytes.
func.func @fixed_and_per_item(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %p = kiln.parameter "p" : tensor<8x8xf32>
  %q = kiln.parameter "q" : tensor<8xf32>
  %pp = kiln.kernel "fixed_and_per_item_k0" kind("elementwise") (%p : tensor<8x8xf32>) -> tensor<8x8xf32> {
  ^bb0(%i: tensor<8x8xf32>):
    %r = kiln.mul %i, %i : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    kiln.yield %r : tensor<8x8xf32>
  }
  %y = kiln.kernel "fixed_and_per_item_k1" kind("out_fusible") (%x, %pp : tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%i: tensor<?x8xf32>, %w: tensor<8x8xf32>):
    %r = kiln.linear %i, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
    kiln.yield %r : tensor<?x8xf32>
  }
  %qq = kiln.kernel "fixed_and_per_item_k2" kind("elementwise") (%q : tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%i: tensor<8xf32>):
    %r = kiln.relu %i : (tensor<8xf32>) -> tensor<8xf32>
    kiln.yield %r : tensor<8xf32>
  }
  %z = kiln.kernel "fixed_and_per_item_k3" kind("broadcast") (%y, %qq : tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32> {
  ^bb0(%i: tensor<?x8xf32>, %b: tensor<8xf32>):
    %r = kiln.add %i, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
    kiln.yield %r : tensor<?x8xf32>
  }
  %out = kiln.kernel "fixed_and_per_item_k4" kind("elementwise") (%z, %y : tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%i: tensor<?x8xf32>, %s: tensor<?x8xf32>):
    %r = kiln.sub %i, %s : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    kiln.yield %r : tensor<?x8xf32>
  }
  return %out : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @fixed_and_per_item
// CHECK-SAME:    attributes {kiln.arena_fixed_bytes = 256 : i64, kiln.arena_per_item_bytes = 128 : i64, kiln.peak_bytes_per_item = 128 : i64}
// CHECK:         kiln.kernel "fixed_and_per_item_k0" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64} -> tensor<8x8xf32>
// CHECK:         kiln.kernel "fixed_and_per_item_k1" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 256 : i64, kiln.offset_per_item = 0 : i64} -> tensor<?x8xf32>
// CHECK:         kiln.kernel "fixed_and_per_item_k2" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 0 : i64, kiln.offset_per_item = 0 : i64} -> tensor<8xf32>
// CHECK:         kiln.kernel "fixed_and_per_item_k3" {{.*}} attributes {kiln.buffer = "arena", kiln.offset_fixed = 256 : i64, kiln.offset_per_item = 64 : i64} -> tensor<?x8xf32>
// CHECK:         kiln.kernel "fixed_and_per_item_k4" {{.*}} attributes {kiln.buffer = "output", kiln.output_index = 0 : i64}

// REPORT: remark: arena: 128 B/item (peak live 128 B/item), 256 B fixed, 5 kernels; without reuse 128 B/item

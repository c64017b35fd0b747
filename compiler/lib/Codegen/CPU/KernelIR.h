//===- KernelIR.h - small helpers for building CPU kernel bodies -*- C++ -*-===//
//
// Generated kernels are llvm.func bodies written with scf loops, arith math and
// raw LLVM pointers (float* + i64 element index). Keeping every index in i64 and
// every buffer a bare pointer keeps the ABI trivial (runtime/include/kiln/
// runtime/KernelABI.h) and lets LLVM's vectorizer see plain strided loops.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_CODEGEN_CPU_KERNELIR_H
#define KILN_CODEGEN_CPU_KERNELIR_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <functional>

namespace kiln::codegen {

/// Builds i64 index arithmetic, f32 math, loads/stores and loops at one
/// insertion point. Constants fold as they are built so static shapes give
/// static loop bounds.
class KernelIR {
public:
  KernelIR(mlir::OpBuilder &builder, mlir::Location loc)
      : b(builder), loc(loc), i64(builder.getI64Type()), f32(builder.getF32Type()),
        ptr(mlir::LLVM::LLVMPointerType::get(builder.getContext())) {}

  mlir::OpBuilder &b;
  mlir::Location loc;
  mlir::Type i64, f32, ptr;

  // ---- i64 index math (folds constants) ----
  mlir::Value c(int64_t v) {
    return b.create<mlir::arith::ConstantOp>(loc, b.getI64IntegerAttr(v));
  }
  static std::optional<int64_t> constValue(mlir::Value v) {
    if (auto op = v.getDefiningOp<mlir::arith::ConstantOp>())
      if (auto attr = llvm::dyn_cast<mlir::IntegerAttr>(op.getValue()))
        return attr.getInt();
    return std::nullopt;
  }
  mlir::Value add(mlir::Value a, mlir::Value x) {
    auto ca = constValue(a), cx = constValue(x);
    if (ca && cx) return c(*ca + *cx);
    if (ca && *ca == 0) return x;
    if (cx && *cx == 0) return a;
    return b.create<mlir::arith::AddIOp>(loc, a, x);
  }
  mlir::Value add(mlir::Value a, int64_t x) { return add(a, c(x)); }
  mlir::Value sub(mlir::Value a, mlir::Value x) {
    auto ca = constValue(a), cx = constValue(x);
    if (ca && cx) return c(*ca - *cx);
    if (cx && *cx == 0) return a;
    return b.create<mlir::arith::SubIOp>(loc, a, x);
  }
  mlir::Value mul(mlir::Value a, mlir::Value x) {
    auto ca = constValue(a), cx = constValue(x);
    if (ca && cx) return c(*ca * *cx);
    if ((ca && *ca == 0) || (cx && *cx == 0)) return c(0);
    if (ca && *ca == 1) return x;
    if (cx && *cx == 1) return a;
    return b.create<mlir::arith::MulIOp>(loc, a, x);
  }
  mlir::Value mul(mlir::Value a, int64_t x) { return mul(a, c(x)); }
  mlir::Value div(mlir::Value a, int64_t x) {
    if (x == 1) return a;
    if (auto ca = constValue(a)) return c(*ca / x);
    return b.create<mlir::arith::DivSIOp>(loc, a, c(x));
  }
  mlir::Value rem(mlir::Value a, int64_t x) {
    if (x == 1) return c(0);
    if (auto ca = constValue(a)) return c(*ca % x);
    return b.create<mlir::arith::RemSIOp>(loc, a, c(x));
  }
  mlir::Value divv(mlir::Value a, mlir::Value x) {
    if (auto cx = constValue(x)) return div(a, *cx);
    return b.create<mlir::arith::DivSIOp>(loc, a, x);
  }
  mlir::Value remv(mlir::Value a, mlir::Value x) {
    if (auto cx = constValue(x)) return rem(a, *cx);
    return b.create<mlir::arith::RemSIOp>(loc, a, x);
  }
  mlir::Value min(mlir::Value a, mlir::Value x) {
    auto ca = constValue(a), cx = constValue(x);
    if (ca && cx) return c(std::min(*ca, *cx));
    return b.create<mlir::arith::MinSIOp>(loc, a, x);
  }
  mlir::Value max(mlir::Value a, mlir::Value x) {
    auto ca = constValue(a), cx = constValue(x);
    if (ca && cx) return c(std::max(*ca, *cx));
    return b.create<mlir::arith::MaxSIOp>(loc, a, x);
  }
  mlir::Value cmp(mlir::arith::CmpIPredicate pred, mlir::Value a, mlir::Value x) {
    return b.create<mlir::arith::CmpIOp>(loc, pred, a, x);
  }
  mlir::Value select(mlir::Value cond, mlir::Value t, mlir::Value f) {
    return b.create<mlir::arith::SelectOp>(loc, cond, t, f);
  }
  mlir::Value i64ToF32(mlir::Value v) {
    return b.create<mlir::arith::SIToFPOp>(loc, f32, v);
  }

  // ---- f32 math ----
  // `contract` lets LLVM form FMAs; no other fast-math, so results stay within
  // a rounding step or two of the double-precision reference.
  mlir::arith::FastMathFlagsAttr contract() {
    return mlir::arith::FastMathFlagsAttr::get(b.getContext(),
                                               mlir::arith::FastMathFlags::contract);
  }
  mlir::arith::FastMathFlagsAttr reassoc() {
    return mlir::arith::FastMathFlagsAttr::get(
        b.getContext(),
        mlir::arith::FastMathFlags::contract | mlir::arith::FastMathFlags::reassoc);
  }
  mlir::Value f(float v) {
    return b.create<mlir::arith::ConstantOp>(loc, b.getF32FloatAttr(v));
  }
  mlir::Value fadd(mlir::Value a, mlir::Value x) {
    return b.create<mlir::arith::AddFOp>(loc, a, x, contract());
  }
  /// An accumulation that may be reassociated (lets LLVM vectorize reductions).
  mlir::Value faddReduce(mlir::Value a, mlir::Value x) {
    return b.create<mlir::arith::AddFOp>(loc, a, x, reassoc());
  }
  mlir::Value fsub(mlir::Value a, mlir::Value x) {
    return b.create<mlir::arith::SubFOp>(loc, a, x, contract());
  }
  mlir::Value fmul(mlir::Value a, mlir::Value x) {
    return b.create<mlir::arith::MulFOp>(loc, a, x, contract());
  }
  mlir::Value fdiv(mlir::Value a, mlir::Value x) {
    return b.create<mlir::arith::DivFOp>(loc, a, x, contract());
  }
  /// max/min without NaN propagation: a bare vmaxps/vminps.
  mlir::Value fmax(mlir::Value a, mlir::Value x) {
    return b.create<mlir::arith::MaxNumFOp>(loc, a, x);
  }
  mlir::Value fmin(mlir::Value a, mlir::Value x) {
    return b.create<mlir::arith::MinNumFOp>(loc, a, x);
  }
  mlir::Value fexp(mlir::Value a) { return b.create<mlir::math::ExpOp>(loc, a); }
  mlir::Value flog(mlir::Value a) { return b.create<mlir::math::LogOp>(loc, a); }
  mlir::Value fsqrt(mlir::Value a) { return b.create<mlir::math::SqrtOp>(loc, a); }
  mlir::Value fcmp(mlir::arith::CmpFPredicate pred, mlir::Value a, mlir::Value x) {
    return b.create<mlir::arith::CmpFOp>(loc, pred, a, x);
  }

  // ---- memory ----
  mlir::Value gep(mlir::Value base, mlir::Value index, mlir::Type elem) {
    return b.create<mlir::LLVM::GEPOp>(loc, ptr, elem, base, mlir::ValueRange{index});
  }
  mlir::Value load(mlir::Value base, mlir::Value index) {
    return b.create<mlir::LLVM::LoadOp>(loc, f32, gep(base, index, f32));
  }
  void store(mlir::Value base, mlir::Value index, mlir::Value value) {
    b.create<mlir::LLVM::StoreOp>(loc, value, gep(base, index, f32));
  }
  mlir::Value loadPtr(mlir::Value base, int64_t index) {
    return b.create<mlir::LLVM::LoadOp>(loc, ptr, gep(base, c(index), ptr));
  }
  /// base + index floats, as a pointer.
  mlir::Value offsetPtr(mlir::Value base, mlir::Value index) { return gep(base, index, f32); }

  /// dst[0..count) = src[0..count) for floats. A constant count becomes inline
  /// vector moves after LLVM lowers the intrinsic.
  void copyFloats(mlir::Value dst, mlir::Value src, int64_t count) {
    if (count <= 0)
      return;
    b.create<mlir::LLVM::MemcpyOp>(loc, dst, src, c(count * 4), /*isVolatile=*/false);
  }
  /// dst[0..count) = 0.0f
  void zeroFloats(mlir::Value dst, int64_t count) {
    if (count <= 0)
      return;
    mlir::Value zero = b.create<mlir::arith::ConstantOp>(loc, b.getI8IntegerAttr(0));
    b.create<mlir::LLVM::MemsetOp>(loc, dst, zero, c(count * 4), /*isVolatile=*/false);
  }

  // ---- control flow ----
  /// for (iv = lb; iv < ub; ++iv) body(iv)
  void forLoop(mlir::Value lb, mlir::Value ub, const std::function<void(mlir::Value)> &body) {
    auto lbc = constValue(lb), ubc = constValue(ub);
    if (lbc && ubc && *ubc - *lbc == 1) { // single trip: no loop
      body(lb);
      return;
    }
    if (lbc && ubc && *ubc <= *lbc)
      return;
    auto loop = b.create<mlir::scf::ForOp>(loc, lb, ub, c(1));
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    body(loop.getInductionVar());
  }
  void forLoop(int64_t lb, int64_t ub, const std::function<void(mlir::Value)> &body) {
    forLoop(c(lb), c(ub), body);
  }
  /// for (iv = lb; iv < ub; iv += step) body(iv)
  void forLoopStep(mlir::Value lb, mlir::Value ub, int64_t step,
                   const std::function<void(mlir::Value)> &body) {
    if (step == 1)
      return forLoop(lb, ub, body);
    auto loop = b.create<mlir::scf::ForOp>(loc, lb, ub, c(step));
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    body(loop.getInductionVar());
  }
  mlir::Value truncI32(mlir::Value v) {
    return b.create<mlir::arith::TruncIOp>(loc, b.getI32Type(), v);
  }
  mlir::Value i32(int32_t v) {
    return b.create<mlir::arith::ConstantOp>(loc, b.getI32IntegerAttr(v));
  }
  /// acc = init; for (iv in [lb, ub)) acc = body(iv, acc); return acc
  mlir::Value forReduce(mlir::Value lb, mlir::Value ub, mlir::Value init,
                        const std::function<mlir::Value(mlir::Value, mlir::Value)> &body) {
    auto loop = b.create<mlir::scf::ForOp>(loc, lb, ub, c(1), mlir::ValueRange{init});
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    mlir::Value next = body(loop.getInductionVar(), loop.getRegionIterArgs()[0]);
    // With iter_args, scf.for's builder leaves the terminator to us.
    b.create<mlir::scf::YieldOp>(loc, next);
    return loop.getResult(0);
  }
  void ifThen(mlir::Value cond, const std::function<void()> &then) {
    auto ifOp = b.create<mlir::scf::IfOp>(loc, cond, /*withElseRegion=*/false);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    then();
  }
  void ifThenElse(mlir::Value cond, const std::function<void()> &then,
                  const std::function<void()> &otherwise) {
    auto ifOp = b.create<mlir::scf::IfOp>(loc, cond, /*withElseRegion=*/true);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    then();
    b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    otherwise();
  }
};

} // namespace kiln::codegen

#endif

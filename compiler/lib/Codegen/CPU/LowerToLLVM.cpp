// Placeholder pass, replaced by its real implementation.
#include "kiln/Transforms/Passes.h"

namespace kiln {
#define GEN_PASS_DEF_KILNLOWERTOLLVM
#include "kiln/Transforms/Passes.h.inc"
namespace {
struct KilnLowerToLLVMPass : impl::KilnLowerToLLVMBase<KilnLowerToLLVMPass> {
  void runOnOperation() override {}
};
} // namespace
} // namespace kiln

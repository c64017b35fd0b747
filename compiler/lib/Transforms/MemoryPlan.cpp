// Placeholder pass, replaced by its real implementation.
#include "kiln/Transforms/Passes.h"

namespace kiln {
#define GEN_PASS_DEF_KILNPLANMEMORY
#include "kiln/Transforms/Passes.h.inc"
namespace {
struct KilnPlanMemoryPass : impl::KilnPlanMemoryBase<KilnPlanMemoryPass> {
  using KilnPlanMemoryBase::KilnPlanMemoryBase;
  void runOnOperation() override {}
};
} // namespace
} // namespace kiln

// Placeholder pass, replaced by its real implementation.
#include "kiln/Transforms/Passes.h"

namespace kiln {
#define GEN_PASS_DEF_KILNFUSION
#include "kiln/Transforms/Passes.h.inc"
namespace {
struct KilnFusionPass : impl::KilnFusionBase<KilnFusionPass> {
  using KilnFusionBase::KilnFusionBase;
  void runOnOperation() override {}
};
} // namespace
} // namespace kiln

//===- LaunchDag.cpp - data dependencies between the launches of an entry --===//
#include "LaunchDag.h"

#include <algorithm>

namespace kiln::rt::cuda {

namespace fb = kiln::artifact;

namespace {

/// Bytes a binding covers. Entry inputs are never written by kernels, so
/// they never order launches and are left out (valid = false).
struct Range {
  bool valid = false;
  fb::BufferKind kind = fb::BufferKind::Arena;
  uint32_t index = 0;      // Param / Output index
  uint64_t lo = 0, hi = 0; // Arena bytes; whole buffer otherwise
};

bool overlaps(const Range &a, const Range &b) {
  if (!a.valid || !b.valid || a.kind != b.kind)
    return false;
  if (a.kind != fb::BufferKind::Arena)
    return a.index == b.index;
  return a.lo < b.hi && b.lo < a.hi;
}

Range rangeOf(const BindingPlan &b, const std::vector<int64_t> &shape, int64_t batch) {
  Range r;
  r.kind = b.kind;
  switch (b.kind) {
  case fb::BufferKind::Input:
    return r; // read-only
  case fb::BufferKind::Arena: {
    uint64_t numel = 1;
    for (int64_t d : shape)
      numel *= uint64_t(d < 0 ? batch : d);
    r.lo = b.offsetFixed + b.offsetPerItem * uint64_t(batch);
    r.hi = r.lo + std::max<uint64_t>(numel, 1) * sizeof(float);
    break;
  }
  case fb::BufferKind::Param:
  case fb::BufferKind::Output:
    r.index = b.index;
    break;
  }
  r.valid = true;
  return r;
}

} // namespace

std::vector<std::vector<uint32_t>>
launchDependencies(const EntryPlan &e, int64_t batch,
                   const std::vector<std::vector<std::vector<int64_t>>> &argShapes,
                   const std::vector<bool> &usesScratch) {
  const size_t n = e.launches.size();
  std::vector<std::vector<Range>> reads(n);
  std::vector<Range> writes(n);
  for (size_t i = 0; i < n; ++i) {
    const LaunchPlan &l = e.launches[i];
    if (l.kernel >= argShapes.size() || argShapes[l.kernel].size() != l.numBindings)
      return {};
    for (uint32_t j = 0; j + 1 < l.numBindings; ++j)
      reads[i].push_back(
          rangeOf(e.bindings[l.firstBinding + j], argShapes[l.kernel][j], batch));
    writes[i] = rangeOf(e.bindings[l.firstBinding + l.numBindings - 1],
                        argShapes[l.kernel].back(), batch);
  }
  const size_t words = (n + 63) / 64;
  std::vector<std::vector<uint64_t>> reach(n, std::vector<uint64_t>(words, 0));
  std::vector<std::vector<uint32_t>> deps(n);
  for (size_t i = 0; i < n; ++i) {
    const bool scratchI = usesScratch[e.launches[i].kernel];
    std::vector<uint32_t> direct;
    for (size_t j = 0; j < i; ++j) {
      bool conflict = scratchI && usesScratch[e.launches[j].kernel];
      conflict = conflict || overlaps(writes[j], writes[i]);
      for (const Range &r : reads[i])
        conflict = conflict || overlaps(writes[j], r);
      for (const Range &r : reads[j])
        conflict = conflict || overlaps(r, writes[i]);
      if (conflict)
        direct.push_back(uint32_t(j));
    }
    // Transitive reduction: latest first; drop a launch that an accepted one
    // already waits for (reach[d] only holds launches before d).
    std::vector<uint64_t> covered(words, 0);
    for (auto it = direct.rbegin(); it != direct.rend(); ++it) {
      uint32_t d = *it;
      if (covered[d / 64] >> (d % 64) & 1)
        continue;
      deps[i].push_back(d);
      for (size_t w = 0; w < words; ++w)
        covered[w] |= reach[d][w];
      covered[d / 64] |= uint64_t(1) << (d % 64);
    }
    reach[i] = covered;
    std::sort(deps[i].begin(), deps[i].end());
  }
  return deps;
}

} // namespace kiln::rt::cuda

#include "NumericsHarness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>
#include <sstream>

namespace kiln::numtest {

std::string Diff::str() const {
  std::ostringstream os;
  os.precision(3);
  os << "relL2 " << relL2 << ", maxRel " << maxRel;
  os.precision(9);
  os << " at element " << worst << " (got " << got << ", want " << want << ")";
  return os.str();
}

namespace {

template <typename T>
Diff compareImpl(const std::vector<float> &got, const std::vector<T> &want) {
  Diff d;
  if (got.size() != want.size()) {
    d.relL2 = d.maxRel = INFINITY;
    return d;
  }
  double maxWant = 0, errSq = 0, wantSq = 0;
  for (T w : want)
    maxWant = std::max(maxWant, std::fabs(double(w)));
  const double floor = std::max(1e-3 * maxWant, 1e-30);
  for (size_t i = 0; i < got.size(); ++i) {
    const double a = got[i], b = double(want[i]);
    const double err = std::isnan(a) ? INFINITY : std::fabs(a - b);
    errSq += err * err;
    wantSq += b * b;
    d.maxAbs = std::max(d.maxAbs, err);
    const double rel = err / std::max(std::fabs(b), floor);
    if (d.worst < 0 || rel > d.maxRel) {
      d.maxRel = rel;
      d.worst = int64_t(i);
      d.got = a;
      d.want = b;
    }
  }
  // An all-zero reference (e.g. relu of negatives): the absolute L2 error.
  d.relL2 = wantSq > 0 ? std::sqrt(errSq / wantSq) : std::sqrt(errSq);
  return d;
}

/// KILN_NUMERICS_VERBOSE=1: print compile times, kernels and every error.
bool verbose() { return std::getenv("KILN_NUMERICS_VERBOSE") != nullptr; }

std::string shapeStr(const std::vector<int64_t> &s) { return fe::shapeToString(s); }

} // namespace

Diff compare(const std::vector<float> &got, const std::vector<double> &want) {
  return compareImpl(got, want);
}
Diff compare(const std::vector<float> &got, const std::vector<float> &want) {
  return compareImpl(got, want);
}

Tolerance accumulation(int64_t terms) {
  Tolerance t;
  const double k = double(std::max<int64_t>(terms, 1));
  t.relL2 = std::max(1e-5, k * kF32Eps);
  t.maxRel = std::max(1e-4, 2e3 * std::sqrt(k) * kF32Eps);
  return t;
}

uint64_t testSeed() {
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  return fe::fnv1a64(name);
}

std::string kernelList(const CompileResult &result) {
  std::string s;
  if (result.entries.empty())
    return "(no entries)";
  for (const CompiledKernel &k : result.entries[0].kernels)
    s += (s.empty() ? "" : " | ") + k.ops;
  return s;
}

fe::Value randomParam(fe::Graph &g, const std::string &name, const fe::Shape &shape, fe::Rng &rng,
                      double lo, double hi) {
  return g.parameter(name, shape, fe::uniformValues(size_t(fe::numElements(shape)), lo, hi, rng));
}

fe::Value weightParam(fe::Graph &g, const std::string &name, const fe::Shape &shape,
                      int64_t fanIn, fe::Rng &rng) {
  const double bound = 1.0 / std::sqrt(double(fanIn));
  return randomParam(g, name, shape, rng, -bound, bound);
}

BnParams bnParams(fe::Graph &g, const std::string &prefix, int64_t channels, fe::Rng &rng) {
  const size_t c = size_t(channels);
  BnParams p;
  p.weight = g.parameter(prefix + ".weight", {channels}, fe::uniformValues(c, 0.5, 1.5, rng));
  p.bias = g.parameter(prefix + ".bias", {channels}, fe::normalValues(c, 0.1, rng));
  p.mean = g.parameter(prefix + ".running_mean", {channels}, fe::normalValues(c, 0.1, rng),
                       /*trainable=*/false);
  p.var = g.parameter(prefix + ".running_var", {channels}, fe::uniformValues(c, 0.5, 1.5, rng),
                      /*trainable=*/false);
  return p;
}

std::shared_ptr<const rt::Artifact> compileAndLoad(const fe::Graph &graph, bool fusion,
                                                   CompileResult *result) {
  CompileOptions options;
  options.fusion = fusion;
  options.modelName = fusion ? "numerics_fused" : "numerics_unfused";
  CompileResult r = compileGraph(graph, options);
  auto artifact = rt::Artifact::loadBuffer(r.artifact, options.modelName);
  if (result)
    *result = std::move(r);
  return artifact;
}

std::vector<ref::RefTensor> makeInputs(const fe::Graph &graph, int64_t batch,
                                       const std::map<std::string, InputRange> &ranges,
                                       uint64_t seed) {
  std::vector<ref::RefTensor> inputs;
  for (int id : graph.inputs()) {
    const fe::Node &node = graph.node(id);
    const std::string &name = node.as<fe::InputAttrs>().name;
    fe::Rng rng(seed ^ fe::fnv1a64(name) ^ (uint64_t(batch) * 0x9E3779B97F4A7C15ull));
    fe::Shape shape = node.shape;
    for (int64_t &d : shape)
      if (d == fe::kDynamic)
        d = batch;
    InputRange range;
    if (auto it = ranges.find(name); it != ranges.end())
      range = it->second;
    ref::RefTensor t(shape);
    for (double &v : t.data) {
      float f = float(rng.uniform(range.lo, range.hi));
      if (range.randomSign && rng.uniform() < 0.5)
        f = -f;
      v = f; // exactly the float the runtime sees
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

std::vector<ref::RefTensor> evaluateReference(const fe::Graph &graph,
                                              const std::vector<ref::RefTensor> &inputs,
                                              int threads) {
  int64_t batch = 0;
  std::vector<bool> batched; // per input: does dim 0 carry the batch?
  for (size_t i = 0; i < inputs.size(); ++i) {
    const fe::Shape &declared = graph.node(graph.inputs()[i]).shape;
    batched.push_back(!declared.empty() && declared[0] == fe::kDynamic);
    if (batched.back())
      batch = inputs[i].shape[0];
  }
  const int64_t parts = std::min<int64_t>(threads, batch);
  if (parts <= 1)
    return ref::evaluate(graph, inputs);

  // Slice [b0, b1) of every batched input.
  auto slice = [&](int64_t b0, int64_t b1) {
    std::vector<ref::RefTensor> out;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!batched[i]) {
        out.push_back(inputs[i]);
        continue;
      }
      const int64_t item = inputs[i].numel() / batch;
      std::vector<int64_t> shape = inputs[i].shape;
      shape[0] = b1 - b0;
      out.emplace_back(shape, std::vector<double>(inputs[i].data.begin() + b0 * item,
                                                  inputs[i].data.begin() + b1 * item));
    }
    return out;
  };
  std::vector<std::future<std::vector<ref::RefTensor>>> futures;
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t b0 = batch * p / parts, b1 = batch * (p + 1) / parts;
    futures.push_back(std::async(std::launch::async, [&graph, sliced = slice(b0, b1)] {
      return ref::evaluate(graph, sliced);
    }));
  }
  std::vector<std::vector<ref::RefTensor>> pieces;
  for (auto &f : futures)
    pieces.push_back(f.get());
  // Concatenate along dim 0 (every output of such a graph carries the batch).
  std::vector<ref::RefTensor> result = pieces[0];
  for (size_t o = 0; o < result.size(); ++o)
    for (size_t p = 1; p < pieces.size(); ++p) {
      result[o].shape[0] += pieces[p][o].shape[0];
      result[o].data.insert(result[o].data.end(), pieces[p][o].data.begin(),
                            pieces[p][o].data.end());
    }
  return result;
}

std::vector<rt::Tensor> runSession(rt::Session &session, const std::vector<ref::RefTensor> &inputs) {
  std::vector<std::vector<float>> data;
  std::vector<rt::TensorView> views;
  data.reserve(inputs.size());
  for (const ref::RefTensor &t : inputs)
    data.push_back(t.toFloats());
  for (size_t i = 0; i < inputs.size(); ++i)
    views.push_back(rt::TensorView{data[i].data(), inputs[i].shape});
  return session.run("infer", views);
}

CheckResult checkGraph(const fe::Graph &graph, const CheckSpec &spec) {
  CheckResult result;
  const uint64_t seed = spec.seed ? spec.seed : testSeed();
  const auto &outputNames = graph.outputNames();

  struct Variant {
    std::string name;
    std::shared_ptr<const rt::Artifact> artifact;
  };
  std::vector<Variant> variants;
  try {
    variants.push_back({"fused", compileAndLoad(graph, true, &result.fused)});
    if (spec.alsoUnfused)
      variants.push_back({"unfused", compileAndLoad(graph, false, &result.unfused)});
  } catch (const std::exception &e) {
    ADD_FAILURE() << "compile/load failed: " << e.what();
    return result;
  }
  result.compiled = true;
  if (verbose()) {
    std::fprintf(stderr, "compiled in %.3f s (fused)", result.fused.seconds);
    if (spec.alsoUnfused)
      std::fprintf(stderr, ", %.3f s (unfused)", result.unfused.seconds);
    std::fprintf(stderr, ": %s\n", kernelList(result.fused).c_str());
  }

  // Inputs and reference outputs per batch.
  std::vector<std::vector<ref::RefTensor>> inputs, expected;
  for (int64_t batch : spec.batches) {
    inputs.push_back(makeInputs(graph, batch, spec.ranges, seed));
    expected.push_back(evaluateReference(
        graph, inputs.back(),
        spec.referenceItemsIndependent ? int(std::max(1u, std::thread::hardware_concurrency()))
                                       : 1));
  }

  // outputs[variant][threads][batch][output]
  std::vector<std::vector<std::vector<std::vector<rt::Tensor>>>> outputs(variants.size());
  for (size_t v = 0; v < variants.size(); ++v) {
    for (int threads : spec.threads) {
      outputs[v].emplace_back();
      rt::Session session(variants[v].artifact, rt::SessionOptions{threads});
      for (size_t b = 0; b < spec.batches.size(); ++b) {
        const std::string where = variants[v].name + ", batch " +
                                  std::to_string(spec.batches[b]) + ", " +
                                  std::to_string(threads) + " thread(s)";
        std::vector<rt::Tensor> got;
        try {
          got = runSession(session, inputs[b]);
        } catch (const std::exception &e) {
          ADD_FAILURE() << where << ": run failed: " << e.what();
          outputs[v].back().emplace_back();
          continue;
        }
        if (got.size() != expected[b].size()) {
          ADD_FAILURE() << where << ": " << got.size() << " outputs, expected "
                        << expected[b].size();
          outputs[v].back().emplace_back();
          continue;
        }
        for (size_t o = 0; o < got.size(); ++o) {
          const std::string &name = outputNames[o];
          const ref::RefTensor &want = expected[b][o];
          if (got[o].shape != want.shape) {
            ADD_FAILURE() << "output '" << name << "' (" << where << "): shape "
                          << shapeStr(got[o].shape) << ", reference " << shapeStr(want.shape);
            continue;
          }
          Tolerance tol = spec.tolerance;
          if (auto it = spec.tolerances.find(name); it != spec.tolerances.end())
            tol = it->second;
          Diff d = compare(got[o].data, want.data);
          if (verbose())
            std::fprintf(stderr, "  %-24s %s: %s (tol %.2g / %.2g)\n", name.c_str(), where.c_str(),
                         d.str().c_str(), tol.relL2, tol.maxRel);
          EXPECT_LE(d.relL2, tol.relL2)
              << "output '" << name << "' " << shapeStr(want.shape) << " (" << where
              << ") vs reference: " << d.str();
          EXPECT_LE(d.maxRel, tol.maxRel)
              << "output '" << name << "' " << shapeStr(want.shape) << " (" << where
              << ") vs reference: " << d.str();
        }
        outputs[v].back().push_back(std::move(got));
      }
    }
  }

  // Fused against unfused, same batch and threads: they run the same GEMMs and
  // reductions and differ only in where the pointwise epilogue is evaluated
  // (a few roundings per element), so 1e-5 relative L2 is generous.
  if (variants.size() == 2) {
    for (size_t t = 0; t < spec.threads.size(); ++t)
      for (size_t b = 0; b < spec.batches.size(); ++b) {
        const auto &f = outputs[0][t][b], &u = outputs[1][t][b];
        if (f.size() != u.size())
          continue; // already reported
        for (size_t o = 0; o < f.size(); ++o) {
          if (f[o].shape != u[o].shape)
            continue;
          Diff d = compare(f[o].data, u[o].data);
          EXPECT_LE(d.relL2, 1e-5)
              << "output '" << outputNames[o] << "' fused vs unfused (batch "
              << spec.batches[b] << ", " << spec.threads[t] << " thread(s)): " << d.str()
              << "\n  fused kernels: " << kernelList(result.fused)
              << "\n  unfused kernels: " << kernelList(result.unfused);
        }
      }
  }
  return result;
}

} // namespace kiln::numtest

//===- Artifact.cpp - read, verify and load a Kiln artifact ---------------===//
//
// Everything in an artifact is treated as untrusted input: after the
// flatbuffers Verifier (structure) we check every index, offset and size the
// runtime will later use without checks, so that a corrupt or hostile file
// fails here with an Error instead of making run() read or write out of
// bounds. The one thing we cannot check is what the kernels themselves do.
//===----------------------------------------------------------------------===//
#include "ArtifactImpl.h"
#include "Blas.h"
#include "CpuFeatures.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

namespace kiln::rt {

namespace fb = kiln::artifact;

namespace {

// Limits that keep a corrupt field from turning into a huge allocation or an
// integer overflow later. They are far above anything a real model needs.
constexpr uint64_t kMaxScratchBytes = uint64_t(1) << 30;  // per thread
constexpr uint32_t kMaxKernelInputs = 1u << 16;
constexpr int64_t kMaxElements = int64_t(1) << 40;        // per signature / param
constexpr uint64_t kMaxFileBytes = uint64_t(1) << 31;     // flatbuffers' 32-bit offsets

bool mulOverflow(uint64_t a, uint64_t b, uint64_t *out) {
  return __builtin_mul_overflow(a, b, out);
}
bool addOverflow(uint64_t a, uint64_t b, uint64_t *out) {
  return __builtin_add_overflow(a, b, out);
}

std::string errnoText(int err) { return std::strerror(err); }

/// Owns a file descriptor so that every error path closes it.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
};

bool writeAll(int fd, const uint8_t *data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data += n;
    size -= size_t(n);
  }
  return true;
}

} // namespace

AlignedBuffer allocateAligned(uint64_t bytes, const char *what) {
  uint64_t rounded;
  if (addOverflow(bytes, KILN_ARENA_ALIGNMENT - 1, &rounded))
    throw Error(fmt::format("kiln: cannot allocate {} bytes for the {}", bytes, what));
  rounded = std::max<uint64_t>(rounded / KILN_ARENA_ALIGNMENT * KILN_ARENA_ALIGNMENT,
                               KILN_ARENA_ALIGNMENT);
  void *p = std::aligned_alloc(KILN_ARENA_ALIGNMENT, size_t(rounded));
  if (!p)
    throw Error(fmt::format("kiln: cannot allocate {} bytes for the {}", bytes, what));
  return AlignedBuffer(static_cast<uint8_t *>(p));
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ",";
    s += shape[i] < 0 ? std::string("?") : std::to_string(shape[i]);
  }
  return s + "]";
}

ArtifactImpl::~ArtifactImpl() {
  if (dl_)
    dlclose(dl_);
}

void ArtifactImpl::fail(const std::string &what) const {
  throw Error(fmt::format("kiln: {}: {}", origin, what));
}

const EntryPlan *ArtifactImpl::findEntry(const std::string &name) const {
  for (const EntryPlan &e : entries)
    if (e.name == name)
      return &e;
  return nullptr;
}

const EntryPlan &ArtifactImpl::entry(const std::string &name) const {
  if (const EntryPlan *e = findEntry(name))
    return *e;
  std::string names;
  for (const EntryPlan &e : entries)
    names += (names.empty() ? "" : ", ") + e.name;
  fail(fmt::format("no entry '{}' (entries: {})", name, names.empty() ? "none" : names));
}

void ArtifactImpl::load(AlignedBuffer data, uint64_t bytesSize, std::string originName) {
  origin = std::move(originName);
  bytes = std::move(data);
  size = bytesSize;
  const uint8_t *buf = bytes.get();

  if (size < 8)
    fail(fmt::format("not a Kiln artifact (only {} bytes)", size));
  if (!fb::ArtifactBufferHasIdentifier(buf))
    fail("not a Kiln artifact (bad magic)");
  if (size >= kMaxFileBytes)
    fail(fmt::format("artifact is {} bytes; flatbuffers are limited to 2 GiB", size));

  // Read schema_version before verifying the whole buffer: a file written for
  // another schema may not verify against ours, and "recompile" is a far more
  // useful message than "corrupt". Only the root table and that one field are
  // verified here.
  {
    flatbuffers::Verifier pre(buf, size_t(size));
    uint32_t rootOffset = flatbuffers::ReadScalar<flatbuffers::uoffset_t>(buf);
    if (rootOffset % 4 != 0 || uint64_t(rootOffset) + 4 > size)
      fail("corrupt or truncated artifact");
    auto *table = reinterpret_cast<const flatbuffers::Table *>(buf + rootOffset);
    if (!table->VerifyTableStart(pre) ||
        !table->VerifyField<uint32_t>(pre, fb::Artifact::VT_SCHEMA_VERSION, 4))
      fail("corrupt or truncated artifact");
    uint32_t version = fb::GetArtifact(buf)->schema_version();
    if (version != KILN_ARTIFACT_SCHEMA_VERSION)
      fail(fmt::format("artifact schema version {}, this runtime reads version {}; "
                       "recompile the model with a matching kiln-compile",
                       version, KILN_ARTIFACT_SCHEMA_VERSION));
  }

  flatbuffers::Verifier verifier(buf, size_t(size), /*max_depth=*/64,
                                 /*max_tables=*/1u << 24);
  if (!fb::VerifyArtifactBuffer(verifier))
    fail("corrupt or truncated artifact");
  root = fb::GetArtifact(buf);

  validateAndPlan();
  loadCpuModule();
}

void ArtifactImpl::validateAndPlan() {
  // ---- parameters ----
  if (const auto *pd = root->param_data()) {
    paramData = pd->data();
    paramDataSize = pd->size();
  }
  if (const auto *ps = root->params()) {
    for (uint32_t i = 0; i < ps->size(); ++i) {
      const fb::Param *p = ps->Get(i);
      if (!p->name() || p->name()->size() == 0)
        fail(fmt::format("parameter {} has no name", i));
      ParamPlan plan;
      plan.info.name = p->name()->str();
      plan.info.trainable = p->trainable();
      uint64_t numel = 1;
      if (p->shape()) {
        for (int64_t d : *p->shape()) {
          if (d < 0 || mulOverflow(numel, uint64_t(d), &numel) || numel > uint64_t(kMaxElements))
            fail(fmt::format("parameter '{}' has an invalid shape", plan.info.name));
          plan.info.shape.push_back(d);
        }
      }
      uint64_t end;
      if (addOverflow(p->offset(), numel, &end) || end > paramDataSize)
        fail(fmt::format("parameter '{}' (offset {}, {} floats) lies outside param_data "
                         "({} floats)",
                         plan.info.name, p->offset(), numel, paramDataSize));
      plan.offset = p->offset();
      plan.numel = numel;
      if (!paramIndex.emplace(plan.info.name, params.size()).second)
        fail(fmt::format("duplicate parameter name '{}'", plan.info.name));
      params.push_back(std::move(plan));
    }
  }

  // ---- kernels ----
  if (const auto *ks = root->kernels()) {
    for (uint32_t i = 0; i < ks->size(); ++i) {
      const fb::Kernel *k = ks->Get(i);
      if (!k->name() || k->name()->size() == 0)
        fail(fmt::format("kernel {} has no name", i));
      std::string name = k->name()->str();
      if (k->work_per_task() <= 0)
        fail(fmt::format("kernel '{}' has work_per_task {} (must be > 0)", name,
                         k->work_per_task()));
      if (k->work_per_item() < 0 || k->work_fixed() < 0)
        fail(fmt::format("kernel '{}' has negative work", name));
      if (k->scratch_bytes() > kMaxScratchBytes)
        fail(fmt::format("kernel '{}' asks for {} bytes of scratch per thread", name,
                         k->scratch_bytes()));
      if (k->num_inputs() > kMaxKernelInputs)
        fail(fmt::format("kernel '{}' has {} inputs", name, k->num_inputs()));
      if (k->flops_per_item() < 0)
        fail(fmt::format("kernel '{}' has negative flops_per_item", name));
      KernelInfo info;
      info.name = std::move(name);
      info.ops = k->ops() ? k->ops()->str() : std::string();
      info.kind = fb::EnumNameFusionKind(k->kind());
      info.flopsPerItem = k->flops_per_item();
      maxScratchBytes = std::max<uint64_t>(maxScratchBytes, k->scratch_bytes());
      kernels.push_back(std::move(info));
    }
  }

  // ---- entries ----
  auto readSignature = [&](const flatbuffers::Vector<flatbuffers::Offset<fb::TensorSig>> *sigs,
                           const std::string &entryName, const char *what) {
    std::vector<TensorInfo> out;
    if (!sigs)
      return out;
    for (uint32_t i = 0; i < sigs->size(); ++i) {
      const fb::TensorSig *s = sigs->Get(i);
      TensorInfo t;
      t.name = s->name() && s->name()->size() ? s->name()->str() : fmt::format("{}{}", what, i);
      if (s->dtype() != fb::DType::F32)
        fail(fmt::format("entry '{}' {} '{}' has an unsupported dtype", entryName, what, t.name));
      uint64_t numel = 1;
      if (s->shape()) {
        for (uint32_t d = 0; d < s->shape()->size(); ++d) {
          int64_t dim = s->shape()->Get(d);
          // Only dimension 0 may be the dynamic batch.
          bool ok = dim >= 0 || (dim == -1 && d == 0);
          if (!ok || (dim > 0 && (mulOverflow(numel, uint64_t(dim), &numel) ||
                                  numel > uint64_t(kMaxElements))))
            fail(fmt::format("entry '{}' {} '{}' has an invalid shape", entryName, what,
                             t.name));
          if (dim == 0)
            numel = 0;
          t.shape.push_back(dim);
        }
      }
      out.push_back(std::move(t));
    }
    return out;
  };
  auto isDynamic = [](const TensorInfo &t) { return !t.shape.empty() && t.shape[0] == -1; };
  // Elements per item (dynamic) or in total (static).
  auto elems = [](const TensorInfo &t) {
    int64_t n = 1;
    for (int64_t d : t.shape)
      if (d >= 0)
        n *= d; // bounded by kMaxElements above
    return n;
  };

  std::unordered_set<std::string> entryNames;
  const auto *fbEntries = root->entries();
  for (uint32_t ei = 0; fbEntries && ei < fbEntries->size(); ++ei) {
    const fb::Entry *e = fbEntries->Get(ei);
    if (!e->name() || e->name()->size() == 0)
      fail(fmt::format("entry {} has no name", ei));
    EntryPlan plan;
    plan.name = e->name()->str();
    if (!entryNames.insert(plan.name).second)
      fail(fmt::format("duplicate entry '{}'", plan.name));
    plan.inputs = readSignature(e->inputs(), plan.name, "input");
    plan.outputs = readSignature(e->outputs(), plan.name, "output");
    for (const TensorInfo &t : plan.outputs) {
      plan.outputElems.push_back(elems(t));
      plan.outputDynamic.push_back(isDynamic(t));
    }
    plan.arenaFixed = e->arena_fixed_bytes();
    plan.arenaPerItem = e->arena_per_item_bytes();
    uint64_t arenaAtOne;
    if (addOverflow(plan.arenaFixed, plan.arenaPerItem, &arenaAtOne))
      fail(fmt::format("entry '{}' has an invalid arena size", plan.name));

    // A binding is safe when its index exists and, for the arena, its start
    // lies inside the arena for every batch >= 1 (the plan is linear in the
    // batch, so checking batch 1 and the per-item slope suffices).
    // `extraFixed`/`extraPerItem` is how many bytes must fit after the start
    // (known for copies, unknown for kernel bindings).
    auto checkBinding = [&](const fb::Binding *b, const std::string &where,
                            uint64_t extraFixed, uint64_t extraPerItem) {
      if (!b)
        fail(fmt::format("{}: missing binding", where));
      BindingPlan bp{b->kind(), b->index(), b->offset_fixed(), b->offset_per_item()};
      switch (bp.kind) {
      case fb::BufferKind::Arena: {
        uint64_t start, end, slope;
        bool overflow = addOverflow(bp.offsetFixed, bp.offsetPerItem, &start) ||
                        addOverflow(start, extraFixed, &end) ||
                        addOverflow(end, extraPerItem, &end) ||
                        addOverflow(bp.offsetPerItem, extraPerItem, &slope);
        if (overflow || end > arenaAtOne || slope > plan.arenaPerItem)
          fail(fmt::format("{}: arena slice (offset {} + {}*batch) lies outside the arena "
                           "({} + {}*batch bytes)",
                           where, bp.offsetFixed, bp.offsetPerItem, plan.arenaFixed,
                           plan.arenaPerItem));
        if (bp.offsetFixed % alignof(float) || bp.offsetPerItem % alignof(float))
          fail(fmt::format("{}: arena offset is not float-aligned", where));
        break;
      }
      case fb::BufferKind::Param:
        if (bp.index >= params.size())
          fail(fmt::format("{}: parameter index {} out of range ({} parameters)", where,
                           bp.index, params.size()));
        break;
      case fb::BufferKind::Input:
        if (bp.index >= plan.inputs.size())
          fail(fmt::format("{}: input index {} out of range ({} inputs)", where, bp.index,
                           plan.inputs.size()));
        break;
      case fb::BufferKind::Output:
        if (bp.index >= plan.outputs.size())
          fail(fmt::format("{}: output index {} out of range ({} outputs)", where, bp.index,
                           plan.outputs.size()));
        break;
      default:
        fail(fmt::format("{}: unknown buffer kind {}", where, int(bp.kind)));
      }
      return bp;
    };

    int64_t flops = 0;
    const auto *launches = e->launches();
    for (uint32_t li = 0; launches && li < launches->size(); ++li) {
      const fb::Launch *l = launches->Get(li);
      std::string where = fmt::format("entry '{}' launch {}", plan.name, li);
      if (l->kernel() >= kernels.size())
        fail(fmt::format("{}: kernel index {} out of range ({} kernels)", where, l->kernel(),
                         kernels.size()));
      const fb::Kernel *k = root->kernels()->Get(l->kernel());
      uint64_t want = uint64_t(k->num_inputs()) + 1;
      uint64_t have = l->buffers() ? l->buffers()->size() : 0;
      if (have != want)
        fail(fmt::format("{}: kernel '{}' takes {} buffers ({} inputs + output), the launch "
                         "binds {}",
                         where, kernels[l->kernel()].name, want, want - 1, have));
      LaunchPlan lp;
      lp.fn = nullptr; // resolved by loadCpuModule
      lp.kernel = l->kernel();
      lp.firstBinding = uint32_t(plan.bindings.size());
      lp.numBindings = uint32_t(want);
      lp.workFixed = k->work_fixed();
      lp.workPerItem = k->work_per_item();
      lp.workPerTask = k->work_per_task();
      for (uint32_t bi = 0; bi < want; ++bi) {
        BindingPlan bp = checkBinding(l->buffers()->Get(bi),
                                      fmt::format("{} binding {}", where, bi), 0, 0);
        // Inputs are the caller's read-only memory.
        if (bi == want - 1 && bp.kind == fb::BufferKind::Input)
          fail(fmt::format("{}: kernel output is bound to an entry input", where));
        plan.bindings.push_back(bp);
      }
      plan.launches.push_back(lp);
      if (__builtin_add_overflow(flops, k->flops_per_item(), &flops))
        flops = INT64_MAX;
    }
    plan.flopsPerItem = flops;

    // copy_from / copy_to: the source must hold at least as many elements as
    // the output for every batch.
    const auto *from = e->copy_from();
    const auto *to = e->copy_to();
    uint32_t numFrom = from ? from->size() : 0, numTo = to ? to->size() : 0;
    if (numFrom != numTo)
      fail(fmt::format("entry '{}': {} copy_from but {} copy_to", plan.name, numFrom, numTo));
    for (uint32_t ci = 0; ci < numFrom; ++ci) {
      std::string where = fmt::format("entry '{}' copy {}", plan.name, ci);
      uint32_t dst = to->Get(ci);
      if (dst >= plan.outputs.size())
        fail(fmt::format("{}: output index {} out of range ({} outputs)", where, dst,
                         plan.outputs.size()));
      bool dynamic = plan.outputDynamic[dst];
      uint64_t bytes = uint64_t(plan.outputElems[dst]) * sizeof(float);
      BindingPlan src = checkBinding(from->Get(ci), where, dynamic ? 0 : bytes,
                                     dynamic ? bytes : 0);
      auto sameSize = [&](const TensorInfo &t) {
        return isDynamic(t) == dynamic && elems(t) == plan.outputElems[dst];
      };
      bool ok = true;
      if (src.kind == fb::BufferKind::Input)
        ok = sameSize(plan.inputs[src.index]);
      else if (src.kind == fb::BufferKind::Output)
        ok = sameSize(plan.outputs[src.index]);
      else if (src.kind == fb::BufferKind::Param)
        ok = !dynamic && params[src.index].numel == uint64_t(plan.outputElems[dst]);
      if (!ok)
        fail(fmt::format("{}: source and output '{}' differ in size", where,
                         plan.outputs[dst].name));
      plan.copies.push_back(CopyPlan{src, dst});
    }
    bool batched = !plan.inputs.empty() && plan.copies.empty();
    for (const TensorInfo &t : plan.inputs) {
      plan.inputElems.push_back(elems(t));
      batched &= isDynamic(t);
    }
    for (bool dynamic : plan.outputDynamic)
      batched &= dynamic;
    plan.itemsIndependent = e->items_independent() && batched;
    entries.push_back(std::move(plan));
  }
}

void ArtifactImpl::loadCpuModule() {
  if (kernels.empty())
    return; // nothing to load (e.g. an artifact whose entries only copy)
  const fb::CpuModule *cpu = root->cpu();
  if (!cpu || !cpu->shared_object() || cpu->shared_object()->size() == 0)
    fail("artifact has kernels but no CPU shared object");
  const uint8_t *so = cpu->shared_object()->data();
  size_t soSize = cpu->shared_object()->size();
  // The dynamic loader trusts the ELF it maps; a corrupt one can crash the
  // process inside dlopen. The CRC makes corruption an error instead.
  if (!cpu->shared_object_crc32())
    fail("CPU module has no shared_object_crc32; recompile the model with a matching "
         "kiln-compile");
  uint32_t crc = uint32_t(crc32_z(0L, so, soSize));
  if (crc != *cpu->shared_object_crc32())
    fail(fmt::format("CPU module is corrupt (CRC-32 {:08x}, expected {:08x})", crc,
                     *cpu->shared_object_crc32()));

  // A module built for a newer CPU would die of SIGILL inside a kernel.
  if (cpu->features() && cpu->features()->size() > 0) {
    const std::set<std::string> &host = hostCpuFlags();
    const std::vector<std::string> missing =
        host.empty() ? std::vector<std::string>{}
                     : missingCpuFeatures(cpu->features()->str(), host);
    if (!missing.empty()) {
      std::string names;
      for (const std::string &m : missing)
        names += (names.empty() ? "" : ", ") + m;
      fail(fmt::format("its CPU kernels were compiled for a CPU with {} ({}), which this CPU "
                       "lacks; compile or export the model on a machine like this one",
                       names, cpu->cpu() ? cpu->cpu()->str() : std::string("unknown")));
    }
  }

  // The kernels call cblas_sgemm: OpenBLAS must be in the process (with its
  // kernels chosen for this CPU) before the module is loaded. See Blas.cpp.
  ensureBlasLoaded();

  std::string dlError;
  // Preferred: an anonymous in-memory file loaded through /proc, no trace on
  // disk. The temp file is only for systems without memfd_create or /proc.
  // KILN_KERNEL_DUMP_DIR keeps the module as a named file so that profilers
  // (perf, valgrind) can resolve kernel symbols; it is never set in production.
  const char *dumpDir = std::getenv("KILN_KERNEL_DUMP_DIR");
  int memfd = dumpDir ? -1 : ::memfd_create("kiln-cpu-module", MFD_CLOEXEC);
  if (dumpDir) {
    std::string path = fmt::format("{}/kiln-kernels-{:08x}.so", dumpDir, crc);
    {
      Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (fd.fd < 0 || !writeAll(fd.fd, so, soSize))
        fail(fmt::format("cannot write the CPU module to {}: {}", path, errnoText(errno)));
    }
    dl_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!dl_) {
      const char *err = dlerror();
      dlError = err ? err : "unknown error";
    }
  } else if (memfd >= 0 && ::access(fmt::format("/proc/self/fd/{}", memfd).c_str(), R_OK) == 0) {
    Fd fd(memfd);
    if (!writeAll(fd.fd, so, soSize))
      fail(fmt::format("cannot write the CPU module to a memfd: {}", errnoText(errno)));
    // glibc reuses an already-loaded object whose *name* matches, and fd numbers
    // are recycled; if an earlier module loaded from the same /proc path is
    // still mapped (dlclose may keep it), pick an equivalent spelling that no
    // loaded object has. RTLD_NOLOAD only asks, it never loads.
    for (int attempt = 0; attempt < 64; ++attempt) {
      std::string path = "/proc/self/fd/";
      for (int i = 0; i < attempt; ++i)
        path += "./";
      path += std::to_string(fd.fd);
      if (void *stale = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD)) {
        dlclose(stale);
        continue;
      }
      dl_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!dl_) {
        const char *err = dlerror();
        dlError = err ? err : "unknown error";
      }
      break;
    }
    if (!dl_ && dlError.empty())
      dlError = "every /proc/self/fd spelling of the module is taken by a stale module";
  } else {
    if (memfd >= 0)
      ::close(memfd);
    const char *tmpdir = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/kiln-cpu-XXXXXX.so";
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    int tfd = ::mkstemps(name.data(), 3);
    if (tfd < 0)
      fail(fmt::format("cannot create a temporary file for the CPU module: {}",
                       errnoText(errno)));
    Fd fd(tfd);
    bool written = writeAll(fd.fd, so, soSize);
    int writeErr = errno;
    if (written) {
      dl_ = dlopen(name.data(), RTLD_NOW | RTLD_LOCAL);
      if (!dl_) {
        const char *err = dlerror();
        dlError = err ? err : "unknown error";
      }
    }
    ::unlink(name.data()); // the mapping keeps the file's contents alive
    if (!written)
      fail(fmt::format("cannot write the CPU module to {}: {}", name.data(),
                       errnoText(writeErr)));
  }
  if (!dl_)
    fail(fmt::format("cannot load the CPU kernels: {}", dlError));

  kernelFns.resize(kernels.size());
  for (size_t i = 0; i < kernels.size(); ++i) {
    dlerror();
    void *sym = dlsym(dl_, kernels[i].name.c_str());
    if (!sym)
      fail(fmt::format("CPU module does not export kernel '{}'", kernels[i].name));
    kernelFns[i] = reinterpret_cast<kiln_cpu_kernel_fn>(sym);
  }
  for (EntryPlan &e : entries)
    for (LaunchPlan &l : e.launches)
      l.fn = kernelFns[l.kernel];
}

// ---------------------------------------------------------------------------
// Artifact
// ---------------------------------------------------------------------------

Artifact::Artifact(std::unique_ptr<ArtifactImpl> impl) : impl_(std::move(impl)) {}
Artifact::~Artifact() = default;

std::shared_ptr<const Artifact> Artifact::loadFile(const std::string &path) {
  auto fail = [&](const std::string &what) -> void {
    throw Error(fmt::format("kiln: {}: {}", path, what));
  };
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0)
    fail(fmt::format("cannot open: {}", errnoText(errno)));
  Fd fd(raw);
  struct stat st;
  if (::fstat(fd.fd, &st) != 0)
    fail(fmt::format("cannot read: {}", errnoText(errno)));
  if (S_ISDIR(st.st_mode))
    fail("cannot read: is a directory");
  // Read straight into the aligned buffer; fall back to growing it for files
  // whose size fstat does not know (pipes).
  uint64_t capacity = S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
  if (capacity >= kMaxFileBytes)
    fail(fmt::format("artifact is {} bytes; flatbuffers are limited to 2 GiB", capacity));
  capacity = std::max<uint64_t>(capacity, 1 << 16);
  AlignedBuffer buf = allocateAligned(capacity, "artifact");
  uint64_t size = 0;
  for (;;) {
    if (size == capacity) {
      if (capacity >= kMaxFileBytes)
        fail("artifact is larger than 2 GiB; flatbuffers are limited to 2 GiB");
      AlignedBuffer bigger = allocateAligned(capacity * 2, "artifact");
      std::memcpy(bigger.get(), buf.get(), size);
      buf = std::move(bigger);
      capacity *= 2;
    }
    ssize_t n = ::read(fd.fd, buf.get() + size, size_t(capacity - size));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail(fmt::format("cannot read: {}", errnoText(errno)));
    }
    if (n == 0)
      break;
    size += uint64_t(n);
  }
  auto impl = std::make_unique<ArtifactImpl>();
  impl->load(std::move(buf), size, path);
  return std::shared_ptr<const Artifact>(new Artifact(std::move(impl)));
}

std::shared_ptr<const Artifact> Artifact::loadBuffer(std::vector<uint8_t> bytes,
                                                     const std::string &origin) {
  // flatbuffers (and the float vectors we hand to kernels) want an aligned base;
  // a std::vector only guarantees malloc alignment.
  AlignedBuffer buf = allocateAligned(bytes.size(), "artifact");
  if (!bytes.empty())
    std::memcpy(buf.get(), bytes.data(), bytes.size());
  uint64_t size = bytes.size();
  bytes = {};
  auto impl = std::make_unique<ArtifactImpl>();
  impl->load(std::move(buf), size, origin);
  return std::shared_ptr<const Artifact>(new Artifact(std::move(impl)));
}

std::string Artifact::modelName() const {
  return impl_->root->model_name() ? impl_->root->model_name()->str() : std::string();
}

std::string Artifact::compilerVersion() const {
  return impl_->root->compiler_version() ? impl_->root->compiler_version()->str()
                                         : std::string();
}

uint32_t Artifact::schemaVersion() const { return impl_->root->schema_version(); }

std::vector<std::string> Artifact::entryNames() const {
  std::vector<std::string> names;
  for (const EntryPlan &e : impl_->entries)
    names.push_back(e.name);
  return names;
}

bool Artifact::hasEntry(const std::string &entry) const {
  return impl_->findEntry(entry) != nullptr;
}

bool Artifact::itemsIndependent(const std::string &entry) const {
  return impl_->entry(entry).itemsIndependent;
}

const std::vector<TensorInfo> &Artifact::inputs(const std::string &entry) const {
  return impl_->entry(entry).inputs;
}

const std::vector<TensorInfo> &Artifact::outputs(const std::string &entry) const {
  return impl_->entry(entry).outputs;
}

std::vector<KernelInfo> Artifact::kernels(const std::string &entry) const {
  std::vector<KernelInfo> out;
  for (const LaunchPlan &l : impl_->entry(entry).launches)
    out.push_back(impl_->kernels[l.kernel]);
  return out;
}

uint64_t Artifact::arenaBytes(const std::string &entry, int64_t batch) const {
  const EntryPlan &e = impl_->entry(entry);
  uint64_t perItem, total;
  if (batch < 0 || mulOverflow(e.arenaPerItem, uint64_t(batch), &perItem) ||
      addOverflow(e.arenaFixed, perItem, &total))
    throw Error(fmt::format("kiln: entry '{}': arena size overflows at batch {}", entry, batch));
  return total;
}

int64_t Artifact::flopsPerItem(const std::string &entry) const {
  return impl_->entry(entry).flopsPerItem;
}

std::vector<ParamInfo> Artifact::params() const {
  std::vector<ParamInfo> out;
  for (const ParamPlan &p : impl_->params)
    out.push_back(p.info);
  return out;
}

const float *Artifact::initialParam(size_t index) const {
  if (index >= impl_->params.size())
    throw Error(fmt::format("kiln: {}: parameter index {} out of range ({} parameters)",
                            impl_->origin, index, impl_->params.size()));
  return impl_->paramData + impl_->params[index].offset;
}

} // namespace kiln::rt

//===- export_for_emulator.cpp - a model with CUDA kernels the emulator runs ===//
//
//   export_for_emulator <model> <weights.kparams> <save dir> <emulator module dir>
//                       [<check images>]
//
// Test support for the GPU inference path without a GPU. Exports like
// `export_model --target=cpu,cuda` (the same library, kiln::exporter, with
// the default architectures sm_80, sm_90 + compute_80 PTX and the default
// folding check over <check images> and 32 synthetic images: with the same
// images as an `export_model` run of the same weights, the folding decision,
// the CUDA C and so NVRTC's cache entry are the same), then builds, for every CUDA image in the written
// inference.kmodel, the CPU-emulated module the fake CUDA driver of
// test/support/cuda_emu loads in its place ($KILN_EMU_MODULE_DIR/<image
// key>.so, compiled from the CUDA C the cubins were compiled from). With
// KILN_CUDA_DRIVER=<libkiln_fake_cuda.so> and KILN_EMU_MODULE_DIR=<module dir>,
// `infer --use-gpu=True` and a GPU Predictor then run the model's CUDA
// kernels in the emulator. On a machine with a GPU the same directory is an
// ordinary model for the real driver.
//
// Exit 0 on success, 1 with one line on stderr otherwise.
//===----------------------------------------------------------------------===//
#include "Emulator.h"
#include "kiln/data/Image.h"
#include "kiln/export/ExportModel.h"
#include "kiln/runtime/schema/kiln_artifact_generated.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using namespace kiln;

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: export_for_emulator <model> <weights.kparams> <save dir> "
                         "<emulator module dir> [<check images>]\n");
    return 1;
  }
  try {
    exporter::ExportOptions o;
    o.model = argv[1];
    o.pretrained = argv[2];
    o.saveDir = argv[3];
    o.cuda = true;
    if (argc == 6) {
      o.checkImages = data::listImageFiles(argv[5]);
      o.checkImagesSource = argv[5];
    }
    o.commandLine = "export_for_emulator";
    exporter::ExportResult r = exporter::exportModel(o);
    std::printf("exported %s with CUDA kernels (%s) to %s\n", o.model.c_str(),
                r.cudaReport.c_str(), o.saveDir.c_str());

    // The kernels of the written file: (symbol, buffers = inputs + output).
    std::ifstream in(r.modelPath, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    const auto *root = artifact::GetArtifact(bytes.data());
    if (!root->cuda() || root->cuda()->size() == 0)
      throw std::runtime_error(r.modelPath + " has no CUDA modules");
    std::vector<std::pair<std::string, int>> kernels;
    std::set<std::string> seen;
    for (const artifact::Kernel *k : *root->kernels())
      if (k->cuda_symbol() && seen.insert(k->cuda_symbol()->str()).second)
        kernels.push_back({k->cuda_symbol()->str(), int(k->num_inputs()) + 1});

    // Every image (each cubin, the PTX) holds the same kernels: build the
    // emulated module once and copy it under each image's key.
    const std::string dir = argv[4];
    fs::create_directories(dir);
    std::string built;
    for (const artifact::CudaModule *m : *root->cuda()) {
      const void *image = m->cubin() && m->cubin()->size()
                              ? static_cast<const void *>(m->cubin()->data())
                              : static_cast<const void *>(m->ptx()->c_str());
      const std::string path = dir + "/" + emu::imageKey(image) + ".so";
      if (fs::exists(path)) {
        built = path;
        continue;
      }
      if (built.empty()) {
        emu::buildModule(r.cudaSource, kernels, path);
      } else {
        fs::copy_file(built, path + ".tmp", fs::copy_options::overwrite_existing);
        fs::rename(path + ".tmp", path);
      }
      built = path;
      std::printf("  %s: %s\n", m->arch() ? m->arch()->c_str() : "?", path.c_str());
    }
    return 0;
  } catch (const std::exception &e) {
    std::string what = e.what();
    for (char &c : what)
      if (c == '\n')
        c = ' ';
    std::fprintf(stderr, "export_for_emulator: %s\n", what.c_str());
    return 1;
  }
}

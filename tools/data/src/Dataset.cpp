//===- Dataset.cpp - the Dataset interface, openDataset, default data path -===//
#include "kiln/data/Dataset.h"

#include <filesystem>

namespace fs = std::filesystem;

namespace kiln::data {

void fail(const std::string &where, const std::string &what) {
  throw Error("kiln: " + where + ": " + what);
}

Split parseSplit(const std::string &name) {
  if (name == "train")
    return Split::Train;
  if (name == "val" || name == "test")
    return Split::Val;
  throw Error("kiln: unknown dataset split '" + name + "' (expected train, val or test)");
}

const char *splitName(Split split) { return split == Split::Train ? "train" : "val"; }

void Dataset::checkIndex(int64_t i) const {
  if (i < 0 || i >= size())
    throw Error("kiln: sample index " + std::to_string(i) + " is outside [0, " +
                std::to_string(size()) + ") of " + describe());
}

Sample Dataset::get(int64_t i) const {
  Sample s;
  s.image.resize(size_t(kImageSize));
  s.label = getInto(i, s.image.data());
  return s;
}

std::unique_ptr<Dataset> openDataset(const std::string &path, Split split) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    fail(path, "data path does not exist");
  if (!fs::is_directory(path, ec))
    fail(path, "data path is not a directory");
  if (ImageList::looksLike(path))
    return std::make_unique<ImageList>(path, split);
  if (FashionMnist::looksLike(path))
    return FashionMnist::open(path, split);
  fail(path, "not a dataset directory: expected train_list.txt/val_list.txt with "
             "label_list.txt (image list), or train-images-idx3-ubyte.gz, "
             "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz "
             "(Fashion-MNIST IDX)");
}

std::unique_ptr<Dataset> openDataset(const std::string &path, const std::string &split) {
  return openDataset(path, parseSplit(split));
}

std::string defaultDataPath() {
  std::error_code ec;
  if (fs::exists("data", ec))
    return "./data";
  if (fs::exists("lite_data", ec))
    return "./lite_data";
  return kSystemFashionMnistDir;
}

}  // namespace kiln::data

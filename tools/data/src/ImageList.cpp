//===- ImageList.cpp - list-file datasets (lite_data) ----------------------===//
#include "kiln/data/Dataset.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace fs = std::filesystem;

namespace kiln::data {
namespace {

const char *const kSpace = " \t\r\n\v\f";

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string::npos)
    return "";
  size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

bool parseInt(const std::string &s, int64_t &value) {
  const char *begin = s.data(), *end = s.data() + s.size();
  if (begin != end && *begin == '+')
    ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  return ec == std::errc() && ptr == end && begin != end;
}

std::string quoteLine(const std::string &line) {
  const size_t kMax = 80;
  return "'" + (line.size() > kMax ? line.substr(0, kMax) + "..." : line) + "'";
}

std::string at(const std::string &file, int64_t line) { return file + ":" + std::to_string(line); }

/// Opens a text file or throws naming it, with `hint` after the reason.
std::ifstream openText(const std::string &path, const std::string &what, const std::string &hint) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    fail(path, "is a directory, expected the " + what);
  errno = 0;
  std::ifstream in(path);
  if (!in)
    fail(path, "cannot open the " + what + ": " +
                   (errno ? std::strerror(errno) : "unknown error") + hint);
  return in;
}

}  // namespace

std::vector<std::string> readLabelList(const std::string &path) {
  std::ifstream in = openText(path, "label list",
                              " (an image-list dataset needs label_list.txt with '<id> <name>' "
                              "lines)");
  std::map<int64_t, std::pair<std::string, int64_t>> byId;  // id -> (name, line)
  std::string raw;
  int64_t lineNo = 0;
  while (std::getline(in, raw)) {
    ++lineNo;
    std::string line = trim(raw);
    if (line.empty())
      continue;
    size_t split = line.find_first_of(kSpace);
    std::string idText = line.substr(0, split);
    std::string name = split == std::string::npos ? "" : trim(line.substr(split));
    int64_t id = 0;
    if (name.empty() || !parseInt(idText, id) || id < 0)
      fail(at(path, lineNo), "malformed line " + quoteLine(line) + ": expected '<id> <name>'");
    auto [it, inserted] = byId.emplace(id, std::make_pair(name, lineNo));
    if (!inserted)
      fail(at(path, lineNo), "class id " + std::to_string(id) + " listed twice (first on line " +
                                 std::to_string(it->second.second) + ")");
  }
  if (in.bad())
    fail(path, "read error");
  if (byId.empty())
    fail(path, "the label list names no classes");
  std::vector<std::string> names;
  for (const auto &[id, entry] : byId) {
    if (id != int64_t(names.size()))
      fail(path, "class ids must be 0.." + std::to_string(byId.size() - 1) + ": id " +
                     std::to_string(names.size()) + " is missing");
    names.push_back(entry.first);
  }
  return names;
}

ImageList::ImageList(const std::string &root, Split split) {
  const char *listName = split == Split::Train ? "train_list.txt" : "val_list.txt";
  load(root, (fs::path(root) / listName).string(), (fs::path(root) / "label_list.txt").string());
}

ImageList::ImageList(const std::string &root, const std::string &listPath,
                     const std::string &labelListPath) {
  load(root, listPath, labelListPath);
}

void ImageList::load(const std::string &root, const std::string &listPath,
                     const std::string &labelListPath) {
  listPath_ = listPath;
  std::ifstream in = openText(listPath, "image list", "");
  classNames_ = readLabelList(labelListPath);
  const int64_t numClasses = int64_t(classNames_.size());
  std::string raw;
  int64_t lineNo = 0;
  while (std::getline(in, raw)) {
    ++lineNo;
    std::string line = trim(raw);
    if (line.empty())
      continue;
    size_t split = line.find_last_of(kSpace);
    int64_t label = 0;
    if (split == std::string::npos || !parseInt(line.substr(split + 1), label))
      fail(at(listPath, lineNo),
           "malformed line " + quoteLine(line) + ": expected '<relative image path> <label>'");
    std::string rel = trim(line.substr(0, split));
    if (label < 0 || label >= numClasses)
      fail(at(listPath, lineNo), "label " + std::to_string(label) + " is outside the " +
                                     std::to_string(numClasses) + " classes of " + labelListPath +
                                     " (0.." + std::to_string(numClasses - 1) + ")");
    fs::path full = fs::path(rel).is_absolute() ? fs::path(rel) : fs::path(root) / rel;
    std::error_code ec;
    if (!fs::is_regular_file(full, ec))
      fail(at(listPath, lineNo), "image '" + rel + "' not found (" + full.string() + ")");
    entries_.push_back({full.string(), int32_t(label)});
  }
  if (in.bad())
    fail(listPath, "read error");
  if (entries_.empty())
    fail(listPath, "the image list names no images");
}

bool ImageList::looksLike(const std::string &dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / "train_list.txt", ec) ||
         fs::is_regular_file(fs::path(dir) / "val_list.txt", ec);
}

int32_t ImageList::getInto(int64_t i, float *image) const {
  checkIndex(i);
  const Entry &e = entries_[size_t(i)];
  readModelInput(e.path, image);
  return e.label;
}

int32_t ImageList::label(int64_t i) const {
  checkIndex(i);
  return entries_[size_t(i)].label;
}

const std::string &ImageList::path(int64_t i) const {
  checkIndex(i);
  return entries_[size_t(i)].path;
}

std::string ImageList::sampleName(int64_t i) const { return path(i); }

std::string ImageList::describe() const {
  return "image list " + listPath_ + " (" + std::to_string(entries_.size()) + " images, " +
         std::to_string(classNames_.size()) + " classes)";
}

}  // namespace kiln::data

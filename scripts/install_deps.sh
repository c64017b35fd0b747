#!/usr/bin/env bash
# Installs exactly what Kiln needs to build, test and run, from Debian packages.
# Idempotent: packages already present are skipped by apt-get; safe to run repeatedly.
#
#   scripts/install_deps.sh                    # what the build, the tests and CI need
#   scripts/install_deps.sh --with-reference   # + PyTorch (python3-torch) for the optional
#                                              #   references: bench/*/reference_torch.py,
#                                              #   bench/training/compare.py and
#                                              #   train_reference_torch.py,
#                                              #   test/alignment/make_fixtures.py
# (or KILN_WITH_REFERENCE=1). CI never needs it: the alignment fixtures are committed.
set -euo pipefail

WITH_REFERENCE="${KILN_WITH_REFERENCE:-0}"
for arg in "$@"; do
  case "$arg" in
    --with-reference) WITH_REFERENCE=1 ;;
    *) echo "install_deps: unknown argument '$arg' (known: --with-reference)" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  # build tools
  cmake ninja-build g++ pkg-config
  # compiler: MLIR/LLVM 19 (dialect, passes, codegen) and lit/FileCheck for pass tests
  llvm-19-dev libmlir-19-dev mlir-19-tools llvm-19-tools
  # runtime and compiler dependencies
  libopenblas-dev          # sgemm behind convolution and matmul kernels
  libflatbuffers-dev flatbuffers-compiler   # the artifact schema (runtime/schema)
  libfmt-dev               # formatting of messages and logs
  libgtest-dev             # unit and numerics tests
  zlib1g-dev               # gzip'd Fashion-MNIST IDX files
  libcli11-dev             # command-line parsing for every tool
  nlohmann-json3-dev       # json sidecar files (compile reports, inference model description)
  libssl-dev               # SHA-256 (OpenSSL libcrypto) of checkpoints and exported models (export_model)
  libpng-dev               # PNG images (lite_data, predict visualisation)
  libjpeg62-turbo-dev      # JPEG images (predict/infer inputs; tools/data)
  libfreetype-dev          # text in predict's result pictures (tools/predict)
  fonts-dejavu-core        # DejaVu Sans, the font of those pictures
  # data
  dataset-fashion-mnist
  # python for lit and reference scripts (numpy for .npy fixtures)
  python3 python3-numpy
)
if [ "$WITH_REFERENCE" = "1" ]; then
  PACKAGES+=(python3-torch)   # PyTorch 1.13 (CPU) for /usr/bin/python3
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install_deps: done"

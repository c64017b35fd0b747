#!/usr/bin/env bash
# Builds Kiln (Release, CMake + Ninja, in build/ at the repo root) and runs every
# test through ctest: GoogleTest unit tests, lit pass/verifier tests, and the
# end-to-end compile-and-run tests. Exits non-zero on any build or test failure.
#
#   bash scripts/run_tests.sh              # configure if needed, build, test
#   KILN_JOBS=4 bash scripts/run_tests.sh  # more parallelism (default: 2)
#   bash scripts/run_tests.sh -R lit       # extra arguments go to ctest
#
# Dependencies come from scripts/install_deps.sh (run_main_job.sh and .ci/run
# call it; run it first on a fresh machine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
JOBS="${KILN_JOBS:-2}"

for tool in cmake ninja; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run_tests: '$tool' not found; install the dependencies first: bash scripts/install_deps.sh" >&2
    exit 1
  fi
done

start=$(date +%s)
if [ ! -f "$BUILD/build.ninja" ]; then
  if [ -f "$BUILD/CMakeCache.txt" ]; then
    echo "run_tests: $BUILD has a CMakeCache.txt but no build.ninja (another generator?); remove $BUILD and rerun" >&2
    exit 1
  fi
  echo "run_tests: configuring $BUILD (Release, Ninja)"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
echo "run_tests: building ($JOBS jobs)"
cmake --build "$BUILD" -j "$JOBS"
built=$(date +%s)
echo "run_tests: build took $((built - start)) s"

echo "run_tests: running ctest"
# ctest prints its summary line ("100% tests passed, 0 tests failed out of N")
# and exits non-zero when any test fails; set -e turns that into our exit code.
ctest --test-dir "$BUILD" --output-on-failure --no-tests=error -j "$JOBS" "$@"
echo "run_tests: tests took $(( $(date +%s) - built )) s (total $(( $(date +%s) - start )) s)"

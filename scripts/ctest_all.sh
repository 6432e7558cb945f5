#!/usr/bin/env bash
# Builds kboost's C++ tests and runs them with ctest, three ways:
#   native     Release build for this machine
#   sanitize   ASan + UBSan (-O1 -g, KBOOST_DCHECKs on), any report fails the test
#   aarch64    cross-built with cmake/toolchains/aarch64-linux-gnu.cmake, run under qemu-user
# Usage: scripts/ctest_all.sh [native] [sanitize] [aarch64]      (no argument: all three)
# Tests see KBOOST_TEST_EMULATED=1 in the aarch64 run (qemu), to shorten long loops there.
# Environment: PYTHON (interpreter that holds or gets cmeel-eigen; default python3),
#              KBOOST_JOBS (parallel jobs, default 2), KBOOST_CTEST_DIR (default build/ctest).
# Installs what is missing: cmeel-eigen with pip (Eigen's headers, for plain CMake builds), and for
# aarch64 g++-aarch64-linux-gnu and qemu-user from Debian (apt-get; as root or through sudo).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
# An absolute path: CMake resolves a relative Python_EXECUTABLE against the build directory, fails,
# and falls back to the base interpreter, whose site-packages lack the venv's cmeel-eigen
# (cmake/KboostEigen.cmake asks that interpreter where cmeel.prefix is).
python=$(command -v "$python")
case "$python" in /*) ;; *) python="$PWD/$python" ;; esac
jobs=${KBOOST_JOBS:-2}
out=${KBOOST_CTEST_DIR:-$root/build/ctest}
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(native sanitize aarch64)

log() { printf '\n== ctest_all: %s\n' "$*"; }
now() { date +%s; }
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

ensure_eigen() {
  if ! "$python" -c "import cmeel, os, sys; d = [os.path.join(p, 'cmeel.prefix', 'share', 'eigen3') for p in sys.path if p]; sys.exit(0 if any(os.path.isdir(x) for x in d) else 1)" 2>/dev/null; then
    log "installing cmeel-eigen (Eigen headers) into $("$python" -c 'import sys; print(sys.prefix)')"
    "$python" -m pip install -q cmeel-eigen
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "ctest_all: need root to run: $*" >&2; return 1; fi
}

ensure_cross() {
  local missing=()
  command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || missing+=(g++-aarch64-linux-gnu)
  command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# build_and_test NAME CMAKE_ARGS...
build_and_test() {
  local name=$1; shift
  local dir=$out/$name t0
  t0=$(now)
  log "$name: configure + build ($dir)"
  cmake -S "$root" -B "$dir" "${generator[@]}" -DPython_EXECUTABLE="$python" \
    -DKBOOST_BUILD_TESTS=ON -DKBOOST_BUILD_PYTHON=OFF "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs"
  log "$name: ctest"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs"
  timings+=("$name $(( $(now) - t0 ))s")
}

mkdir -p "$out"
timings=()
start=$(now)
ensure_eigen
for mode in "${modes[@]}"; do
  case "$mode" in
    native)
      build_and_test native -DCMAKE_BUILD_TYPE=Release
      ;;
    sanitize)
      # halt_on_error + a non-zero exit code make any ASan/UBSan report a test failure.
      export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1}
      export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
      build_and_test sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
        -DKBOOST_SANITIZE=ON
      ;;
    aarch64)
      ensure_cross
      # Tests may shorten long loops under emulation (qemu runs ~5-20x slower than native).
      export KBOOST_TEST_EMULATED=1
      # -O2, not CMake's Release -O3: Debian's aarch64-linux-gnu-g++ 12.2 crashes (internal compiler
      # error in vect_transform_reduction) vectorising some reductions at -O3.
      build_and_test aarch64 -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake"
      ;;
    *)
      echo "ctest_all: unknown mode '$mode' (expected native, sanitize, aarch64)" >&2
      exit 2
      ;;
  esac
done
log "all passed: ${timings[*]}; total $(( $(now) - start ))s wall"
echo "CPU time of this script's children (user, system):"
times >"$out/times.txt"  # not in a pipe: a subshell would report its own (empty) children
tail -1 "$out/times.txt"

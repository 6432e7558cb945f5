#!/usr/bin/env bash
# Fuzzes the weights-file reader (kboost::WeightsFile::parse) with libFuzzer + ASan + UBSan.
# Seeds: real files written by the exporter (scripts/fuzz_seeds.py: every role, tiny networks and
# the full ss-small model). Every input must parse or be rejected with kboost::Error; any other
# exception, a crash, a leak, undefined behaviour or an allocation over the limit fails the run.
# Usage: scripts/fuzz_weights.sh [RUNS]            (default 200000 inputs)
#   FUZZ_TARGET=fuzz_model scripts/fuzz_weights.sh RUNS   fuzzes the whole load path instead
#   (parse -> Model -> Streamer -> two chunks; slower per input).
# Environment: PYTHON (with kboost[train] installed, for the seeds; default python3),
#              KBOOST_FUZZ_DIR (default build/fuzz), KBOOST_JOBS (build jobs, default 2),
#              KBOOST_FUZZ_SEED (libFuzzer -seed, default 1).
# Installs clang from Debian if it is missing (apt-get; as root or through sudo).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-200000}
python=${PYTHON:-python3}
dir=${KBOOST_FUZZ_DIR:-$root/build/fuzz}
target=${FUZZ_TARGET:-fuzz_weights}
jobs=${KBOOST_JOBS:-2}
log() { printf '\n== fuzz_weights: %s\n' "$*"; }

if ! command -v clang++ >/dev/null 2>&1; then
  log "installing clang from Debian"
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends clang
fi
if ! "$python" -c "import cmeel, os, sys; sys.exit(0 if any(os.path.isdir(os.path.join(p, 'cmeel.prefix', 'share', 'eigen3')) for p in sys.path if p) else 1)" 2>/dev/null; then
  "$python" -m pip install -q cmeel-eigen
fi

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
log "building $target with clang (libFuzzer, ASan, UBSan) in $dir"
cmake -S "$root" -B "$dir/build" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DKBOOST_FUZZ=ON -DKBOOST_BUILD_TESTS=OFF -DKBOOST_BUILD_PYTHON=OFF \
  -DPython_EXECUTABLE="$(command -v "$python")" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
cmake --build "$dir/build" -j "$jobs" --target "$target"

log "writing the seed corpus (real exported files)"
rm -rf "$dir/seeds" "$dir/corpus" "$dir/artifacts" && mkdir -p "$dir/corpus" "$dir/artifacts"
"$python" "$root/scripts/fuzz_seeds.py" "$dir/seeds"

log "fuzzing $target: $runs inputs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
start=$(date +%s)
set +e
"$dir/build/csrc/fuzz/$target" -runs="$runs" -seed="${KBOOST_FUZZ_SEED:-1}" -max_len=131072 \
  -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=20 -print_final_stats=1 \
  -artifact_prefix="$dir/artifacts/" "$dir/corpus" "$dir/seeds" >"$dir/fuzz.log" 2>&1
status=$?
set -e
grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)|^"|Uses: |NEW_FUNC' "$dir/fuzz.log" | tail -40
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -1)
log "done: ${execs:-?} inputs in $(( $(date +%s) - start ))s, exit status $status, corpus $(ls "$dir/corpus" | wc -l) files"
if [ "$status" -ne 0 ] || ls "$dir"/artifacts/* >/dev/null 2>&1; then
  echo "$target: FAILED: crashing inputs in $dir/artifacts/ (reproduce: $dir/build/csrc/fuzz/$target FILE)" >&2
  exit 1
fi

#!/usr/bin/env bash
# Instructions per chunk of the C++ core (repeatable, unlike wall time on a shared machine):
# callgrind over kboost_latency at two chunk counts, counting only inside Streamer::process_chunk
# (kboost_latency also times a clock-measuring loop, whose instruction count depends on wall time);
# the difference / 100 is the per-chunk cost.
#   benchmarks/callgrind_per_chunk.sh BUILD_DIR MODEL.gguf
# KBOOST_KERNELS=ref in the environment measures the reference kernels. Unset, it is avx2:
# valgrind 3.19 passes the CPU's AVX-512 flags through but cannot run AVX-512 code.
set -euo pipefail
export KBOOST_KERNELS=${KBOOST_KERNELS:-avx2}
tool=$1/kboost_latency
model=$2
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='kboost::Streamer::process_chunk*' \
    "$tool" "$model" --chunks "$1" --warmup 5 2>&1 \
    | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
a=$(count 20)
b=$(count 120)
echo "$(basename "$model"): $(( (b - a) / 100 )) instructions per chunk ($KBOOST_KERNELS kernels)"

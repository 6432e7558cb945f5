// kboost_latency: per-chunk latency of the C++ core on one thread.
//
//   kboost_latency MODEL.gguf [--chunks N] [--warmup W] [--json]
//
// Loads a weights file, runs W warm-up chunks then N timed chunks of pseudo-random binaural input
// through one Streamer (a device model gets the hint of every chunk pushed before it is needed, so
// the fusion path runs in full; a server model also computes its compressed hint; a TSE model gets
// a fixed speaker), and prints p50 / p99 / max microseconds per chunk and the real-time factor
// (mean compute time / 8 ms of audio). --json prints one JSON object instead.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kboost/error.h"
#include "kboost/model.h"
#include "kboost/stream.h"
#include "kboost/version.h"

namespace {

int usage() {
  std::fprintf(stderr, "usage: kboost_latency MODEL.gguf [--chunks N] [--warmup W] [--json]\n");
  return 2;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string path;
  int n_chunks = 2000, n_warmup = 100;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      json = true;
    } else if ((a == "--chunks" || a == "--warmup") && i + 1 < argc) {
      const int v = std::atoi(argv[++i]);
      if (v < 1) return usage();
      (a == "--chunks" ? n_chunks : n_warmup) = v;
    } else if (!a.empty() && a[0] != '-' && path.empty()) {
      path = a;
    } else {
      return usage();
    }
  }
  try {
    const auto model = kboost::Model::load(path);
    const auto& c = model->config();
    kboost::Streamer s(model);
    if (c.has_speaker()) {
      std::vector<float> e(kboost::kSpeakerDim);
      for (int i = 0; i < kboost::kSpeakerDim; ++i) e[i] = std::sin(0.37f * static_cast<float>(i));
      s.set_speaker(e.data(), e.size());
    }
    const int total = n_warmup + n_chunks;
    std::vector<float> x(2 * kboost::kChunkSize), out(static_cast<size_t>(c.n_out()) * kboost::kChunkSize),
        hint(static_cast<size_t>(c.hint_size()));
    uint32_t rng = 12345;
    std::vector<double> us;
    us.reserve(static_cast<size_t>(n_chunks));
    for (int k = 0; k < total; ++k) {
      for (auto& v : x) {
        rng = rng * 1664525u + 1013904223u;
        v = 0.3f * (static_cast<float>(rng >> 8) / static_cast<float>(1 << 24) - 0.5f);
      }
      for (size_t i = 0; i < hint.size(); ++i) hint[i] = 0.01f * static_cast<float>((k + static_cast<int>(i)) % 17);
      const auto t0 = std::chrono::steady_clock::now();
      if (c.has_fusion()) s.push_hint(k, hint.data(), hint.size());
      s.process_chunk(x.data(), x.size(), out.data(), out.size(), c.has_compressor() ? hint.data() : nullptr,
                      c.has_compressor() ? hint.size() : 0);
      const auto t1 = std::chrono::steady_clock::now();
      if (k >= n_warmup) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    double mean = 0.0;
    for (double v : us) mean += v;
    mean /= static_cast<double>(us.size());
    const double p50 = percentile(us, 50), p99 = percentile(us, 99), mx = *std::max_element(us.begin(), us.end());
    const double chunk_us = 1e6 * kboost::kChunkSize / kboost::kSampleRate;
    // The clock after the timed chunks (best of three short chains; 0 where unsupported) turns the
    // p50 into cycles: a figure that does not move with the host's turbo state.
    double ghz = 0.0;
    for (int r = 0; r < 3; ++r) ghz = std::max(ghz, kboost::measure_clock_ghz(0.02));
    if (json) {
      std::printf(
          "{\"model\": \"%s\", \"config\": \"%s\", \"n_params\": %lld, \"chunks\": %d, \"warmup\": %d, "
          "\"p50_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f, \"mean_us\": %.2f, \"rtf\": %.5f, "
          "\"clock_ghz\": %.3f, \"p50_kcycles\": %.1f, \"kernels\": \"%s\", \"build\": \"%s\"}\n",
          path.c_str(), c.to_string().c_str(), static_cast<long long>(model->n_params()), n_chunks, n_warmup, p50,
          p99, mx, mean, mean / chunk_us, ghz, p50 * ghz, kboost::kernel_isa(), kboost::build_info().c_str());
    } else {
      std::printf("%s\n  %s, %lld params\n  %d chunks after %d warm-up, one thread\n", path.c_str(),
                  c.to_string().c_str(), static_cast<long long>(model->n_params()), n_chunks, n_warmup);
      std::printf("  per chunk: p50 %.1f us, p99 %.1f us, max %.1f us, mean %.1f us\n", p50, p99, mx, mean);
      if (ghz > 0.0) std::printf("  clock %.2f GHz (measured after): p50 %.0f k cycles\n", ghz, p50 * ghz);
      std::printf("  real-time factor %.4f (%.1f ms of compute per second of audio)\n", mean / chunk_us,
                  mean / chunk_us * 1000.0);
      std::printf("  kernels: %s; build: %s\n", kboost::kernel_isa(), kboost::build_info().c_str());
    }
  } catch (const kboost::Error& e) {
    std::fprintf(stderr, "kboost_latency: %s\n", e.what());
    return 1;
  }
  return 0;
}

// Kernel variants against the reference and against double-precision math: every table entry on
// odd sizes (so vector tails run), and the transcendental helpers over their whole range.
#include <cmath>
#include <cstdio>
#include <vector>

#include "kernels/kernels.h"
#include "testing.h"

using kboost::kernels::Kernels;

namespace {

std::vector<float> values(int n, int seed, float scale = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  unsigned s = 2654435761u * static_cast<unsigned>(seed + 1);
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(s >> 8) / static_cast<float>(1 << 24) * 2.0f - 1.0f);
  }
  return v;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

// linear against a double-precision loop, for one table.
void check_table(const Kernels& k) {
  std::printf("  table %s\n", k.name);
  for (int m : {1, 3, 97})
    for (int kk : {1, 5, 16, 33})
      for (int n : {1, 7, 64, 65}) {
        const auto x = values(m * kk, 1), w = values(kk * n, 2), b = values(n, 3);
        std::vector<float> y(static_cast<size_t>(m * n));
        k.linear(m, kk, n, x.data(), kk, w.data(), b.data(), y.data(), n);
        std::vector<float> want(y.size());
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < n; ++j) {
            double acc = b[j];
            for (int p = 0; p < kk; ++p) acc += static_cast<double>(x[i * kk + p]) * w[p * n + j];
            want[i * n + j] = static_cast<float>(acc);
          }
        if (max_abs_diff(y, want) > 1e-5) {
          std::printf("  linear m=%d k=%d n=%d: max diff %g\n", m, kk, n, max_abs_diff(y, want));
          EXPECT_TRUE(false);
        }
      }
  for (int n : {1, 7, 8, 291, 388}) {
    const auto a = values(n, 4), b = values(n, 5);
    double want = 0.0;
    for (int i = 0; i < n; ++i) want += static_cast<double>(a[i]) * b[i];
    EXPECT_TRUE(std::fabs(k.dot(n, a.data(), b.data()) - want) < 1e-5);
    std::vector<float> y = values(n, 6), y0 = y;
    k.axpy(n, 0.5f, a.data(), y.data());
    for (int i = 0; i < n; ++i) y0[i] += 0.5f * a[i];
    EXPECT_TRUE(max_abs_diff(y, y0) < 1e-6);
  }
  // LSTM cell and step against double-precision math, gates across the range that saturates.
  for (int h : {1, 5, 16, 64}) {
    const auto gates = values(4 * h, 7, 12.0f), c0 = values(h, 8, 3.0f);
    std::vector<float> hs(static_cast<size_t>(h)), cs = c0;
    k.lstm_cell(h, gates.data(), hs.data(), cs.data());
    auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
    double err = 0.0;
    for (int j = 0; j < h; ++j) {
      const double c = sig(gates[h + j]) * c0[j] + sig(gates[j]) * std::tanh(static_cast<double>(gates[2 * h + j]));
      err = std::fmax(err, std::fabs(c - cs[j]));
      err = std::fmax(err, std::fabs(sig(gates[3 * h + j]) * std::tanh(c) - hs[j]));
    }
    if (err > 1e-6) std::printf("  lstm_cell h=%d: max error %g\n", h, err);
    EXPECT_TRUE(err <= 1e-6);
    // lstm_step == pre + W h, then the cell.
    const auto pre = values(4 * h, 9), whh = values(h * 4 * h, 10, 0.3f), h0 = values(h, 11);
    std::vector<float> g(static_cast<size_t>(4 * h)), hs1 = h0, cs1 = c0, hs2 = h0, cs2 = c0, g2(g.size());
    k.lstm_step(h, pre.data(), whh.data(), g.data(), hs1.data(), cs1.data());
    k.linear(1, h, 4 * h, h0.data(), h, whh.data(), pre.data(), g2.data(), 4 * h);
    k.lstm_cell(h, g2.data(), hs2.data(), cs2.data());
    EXPECT_TRUE(max_abs_diff(hs1, hs2) < 1e-6 && max_abs_diff(cs1, cs2) < 1e-6);
  }
}

}  // namespace

KBOOST_TEST(reference_table) { check_table(kboost::kernels::kernels_ref()); }

KBOOST_TEST(isa_tables) {
  const Kernels* avx2 = kboost::kernels::kernels_avx2();
#if defined(__x86_64__)
  if (avx2 != nullptr && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    check_table(*avx2);
  } else {
    std::printf("  avx2+fma: not built or not supported by this CPU\n");
  }
#else
  EXPECT_TRUE(avx2 == nullptr);
#endif
  std::printf("  chosen: %s\n", kboost::kernels::kernels().name);
}

int main(int argc, char** argv) { return kboost::testing::run_all(argc, argv); }

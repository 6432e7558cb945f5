// Kernel variants against the reference and against double-precision math: every table entry on
// odd sizes (so vector tails run), and the transcendental helpers over their whole range.
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "kernels/kernels.h"
#include "layers/aligned_vector.h"
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
  // m: single rows, the 2-4 row blocks (4-vector strips on AVX-512), and m = q MR + 1 for the row
  // blocks of 12 and 16 (a last row folded into one block of MR + 1): 13, 17, 25, 97.
  for (int m : {1, 2, 3, 4, 13, 17, 25, 97})
    for (int kk : {1, 5, 16, 33})
      for (int n : {1, 7, 8, 12, 13, 16, 24, 28, 64, 65, 100, 160}) {
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
        // linear_acc from y = bias rows gives the same.
        std::vector<float> y2(y.size());
        for (int i = 0; i < m; ++i) std::copy(b.begin(), b.end(), y2.begin() + i * n);
        k.linear_acc(m, kk, n, x.data(), kk, w.data(), y2.data(), n);
        if (max_abs_diff(y2, want) > 1e-5) {
          std::printf("  linear_acc m=%d k=%d n=%d: max diff %g\n", m, kk, n, max_abs_diff(y2, want));
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
  // vec_mat (y[j] = sum_p x[p] w[p][j]) and mat_vec (y[i] = sum_p a[i][p] x[p]) against double
  // precision, on buffers of either kind (std::vector: 16-byte aligned; AlignedFloats: 64).
  auto check_vec_mat = [&k](int kk, int n, const auto& x, const auto& w, int ldw, const char* what) {
    std::vector<float> got(static_cast<size_t>(n) + 16, 99.0f), want(static_cast<size_t>(n));
    // y on a cache line where w's rows are (the whole-line paths want both).
    kboost::layers::AlignedFloats y(got.begin(), got.end());
    k.vec_mat(kk, n, x.data(), w.data(), ldw, y.data());
    for (int j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int p = 0; p < kk; ++p) acc += static_cast<double>(x[p]) * w[p * ldw + j];
      want[j] = static_cast<float>(acc);
    }
    got.assign(y.begin(), y.begin() + n);
    if (max_abs_diff(got, want) > 1e-5) {
      std::printf("  vec_mat%s k=%d n=%d: max diff %g\n", what, kk, n, max_abs_diff(got, want));
      EXPECT_TRUE(false);
    }
  };
  auto check_mat_vec = [&k](int m, int n, const auto& a, int lda, const auto& x, double tol, const char* what) {
    std::vector<float> y(static_cast<size_t>(m)), want(y.size());
    k.mat_vec(m, n, a.data(), lda, x.data(), y.data());
    for (int i = 0; i < m; ++i) {
      double acc = 0.0;
      for (int p = 0; p < n; ++p) acc += static_cast<double>(a[i * lda + p]) * x[p];
      want[i] = static_cast<float>(acc);
    }
    if (max_abs_diff(y, want) > tol) {
      std::printf("  mat_vec%s m=%d n=%d: max diff %g\n", what, m, n, max_abs_diff(y, want));
      EXPECT_TRUE(false);
    }
  };
  // Weight rows further apart than n (and not on cache lines); mat_vec's 4-row blocks and leftovers.
  for (int kk : {1, 5, 50})
    for (int n : {1, 7, 12, 64, 65, 200, 388}) check_vec_mat(kk, n, values(kk, 12), values(kk * (n + 3), 13), n + 3, "");
  for (int m : {1, 6, 50})
    for (int n : {1, 7, 291}) check_mat_vec(m, n, values(m * (n + 5), 14), n + 5, values(n, 15), 1e-5, "");
  // Rows on cache lines (a 64-byte aligned buffer, a row stride of whole lines: the KB fusion's
  // rings), where the AVX-512 table takes its whole-line paths: vec_mat with every column in
  // registers up to 26 vectors (n <= 416), in strips beyond (432); mat_vec with x in registers up
  // to 20 vectors (n <= 320), four rows at a time beyond.
  for (int kk : {1, 50})
    for (int n : {16, 304, 320, 400, 416, 432}) {
      const int ldw = n + 16;
      const auto xs = values(kk, 16), ws = values(kk * ldw, 17);
      const kboost::layers::AlignedFloats x(xs.begin(), xs.end()), w(ws.begin(), ws.end()),
          xn(w.begin() + ldw * (kk - 1), w.begin() + ldw * (kk - 1) + n);
      check_vec_mat(kk, n, x, w, ldw, " (rows on lines)");
      check_mat_vec(kk, n, w, ldw, xn, 1e-4, " (rows on lines)");
    }
  // layer_norm_rows and prelu against double precision.
  // Rows of 16 go R at a time (R = 16 / 8 in the AVX-512 / AVX2 tables), the last group padded:
  // m = 97 has a partial group in both, m = 3 is one; the callers normalise in place (y == x).
  for (auto [m, n] : {std::pair{3, 1}, {3, 16}, {97, 16}, {17, 16}, {3, 97}, {3, 1552}}) {
    const auto x = values(m * n, 16, 2.0f), w = values(n, 17), b = values(n, 18);
    std::vector<float> y(x.size()), want(x.size());
    k.layer_norm_rows(m, n, x.data(), w.data(), b.data(), y.data(), 1e-5f);
    std::vector<float> in_place = x;
    in_place.resize(x.size() + 32, 7.0f);  // rows past m (a padded group's) must stay untouched
    k.layer_norm_rows(m, n, in_place.data(), w.data(), b.data(), in_place.data(), 1e-5f);
    EXPECT_TRUE(std::equal(y.begin(), y.end(), in_place.begin()));
    EXPECT_TRUE(std::all_of(in_place.begin() + static_cast<long>(x.size()), in_place.end(), [](float v) { return v == 7.0f; }));
    for (int i = 0; i < m; ++i) {
      double mu = 0.0, var = 0.0;
      for (int j = 0; j < n; ++j) mu += x[i * n + j];
      mu /= n;
      for (int j = 0; j < n; ++j) var += (x[i * n + j] - mu) * (x[i * n + j] - mu);
      var /= n;
      for (int j = 0; j < n; ++j) want[i * n + j] = static_cast<float>((x[i * n + j] - mu) / std::sqrt(var + 1e-5) * w[j] + b[j]);
    }
    if (max_abs_diff(y, want) > 1e-4) {
      std::printf("  layer_norm_rows n=%d: max diff %g\n", n, max_abs_diff(y, want));
      EXPECT_TRUE(false);
    }
    std::vector<float> p = x;
    k.prelu(p.data(), static_cast<int>(p.size()), 0.25f);
    for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(p[i] == (x[i] >= 0.0f ? x[i] : 0.25f * x[i]));
  }
  // layer_norm_strided (in place, rows ld apart, weights shared or per row): each row as
  // layer_norm_rows normalises it alone, bit for bit (rows go 4 / 2 at a time in the vector tables:
  // m = 7 has a group of 4, one of 2 and a single row); the gaps between rows untouched.
  for (int n : {5, 291, 388, 776})
    for (long ldw : {0L, 1L}) {
      const int m = 7;
      const long ld = n + 9;
      const auto x = values(static_cast<int>(m * ld), 19, 2.0f), w = values(m * n, 20), b = values(m * n, 21);
      std::vector<float> got = x, want = x;
      k.layer_norm_strided(m, n, got.data(), ld, w.data(), b.data(), ldw * n, 1e-5f);
      for (int i = 0; i < m; ++i)
        k.layer_norm_rows(1, n, want.data() + i * ld, w.data() + i * ldw * n, b.data() + i * ldw * n,
                          want.data() + i * ld, 1e-5f);
      if (got != want) {
        std::printf("  layer_norm_strided n=%d ldw=%ld: max diff %g\n", n, ldw * n, max_abs_diff(got, want));
        EXPECT_TRUE(false);
      }
    }
  // add, mul_add (in place, as the layers call them) and the conv's tap sum against plain loops,
  // lengths with and without a tail past the last whole vector.
  for (int n : {1, 15, 16, 97, 1552}) {
    const auto a = values(n, 31), b = values(n, 32), c = values(n, 33);
    std::vector<float> y = a, z = a;
    k.add(n, y.data(), b.data(), y.data());
    k.mul_add(n, z.data(), b.data(), c.data(), z.data());
    double e_add = 0.0, e_mul = 0.0;
    for (int i = 0; i < n; ++i) {
      e_add = std::fmax(e_add, std::fabs(y[i] - (static_cast<double>(a[i]) + b[i])));
      e_mul = std::fmax(e_mul, std::fabs(z[i] - (static_cast<double>(a[i]) * b[i] + c[i])));
    }
    if (e_add > 1e-6 || e_mul > 1e-6) std::printf("  add / mul_add n=%d: errors %g %g\n", n, e_add, e_mul);
    EXPECT_TRUE(e_add <= 1e-6 && e_mul <= 1e-6);
  }
  for (int c : {3, 8, 16, 17}) {
    const int nf = 97;
    const auto taps = values(nf * 3 * c, 34), bias = values(c, 35);
    std::vector<float> out(static_cast<size_t>(nf * c));
    k.conv_taps(nf, c, taps.data(), bias.data(), out.data());
    double err = 0.0;
    for (int f = 0; f < nf; ++f)
      for (int j = 0; j < c; ++j) {
        double want = static_cast<double>(bias[j]) + taps[(f * 3 + 1) * c + j];
        if (f > 0) want += taps[((f - 1) * 3) * c + j];
        if (f + 1 < nf) want += taps[((f + 1) * 3 + 2) * c + j];
        err = std::fmax(err, std::fabs(out[f * c + j] - want));
      }
    if (err > 1e-5) std::printf("  conv_taps c=%d: max error %g\n", c, err);
    EXPECT_TRUE(err <= 1e-5);
  }
  // Head split (with PReLU) and merge against plain loops: the KB fusion's shapes (4 heads of 3 and
  // 4, vector paths on AVX-512) and another (plain runs), a padded head stride whose padding must
  // stay untouched; merge(split) with slope 1 gives z back.
  for (auto [nh, c] : {std::pair{4, 3}, {4, 4}, {2, 5}}) {
    const int nf = 97;
    const long hs = nf * c + 13;
    const auto z = values(nf * nh * c, 36);
    std::vector<float> heads(static_cast<size_t>(nh * hs), 9.0f), back(z.size(), 0.0f);
    k.heads_split(nf, nh, c, z.data(), 0.25f, heads.data(), hs);
    bool ok = true;
    for (int l = 0; l < nh; ++l) {
      for (int f = 0; f < nf; ++f)
        for (int e = 0; e < c; ++e) {
          const float v = z[(f * nh + l) * c + e];
          ok = ok && heads[l * hs + f * c + e] == (v >= 0.0f ? v : 0.25f * v);
        }
      for (long p = nf * c; p < hs; ++p) ok = ok && heads[l * hs + p] == 9.0f;
    }
    k.heads_split(nf, nh, c, z.data(), 1.0f, heads.data(), hs);
    k.heads_merge(nf, nh, c, heads.data(), hs, back.data());
    ok = ok && back == z;
    if (!ok) std::printf("  heads_split / heads_merge L=%d C=%d: mismatch\n", nh, c);
    EXPECT_TRUE(ok);
  }
  // softmax against double precision (scores spread over +-30: the max subtraction matters).
  for (int n : {1, 7, 16, 50, 53}) {
    const auto x = values(n, 21, 30.0f);
    std::vector<float> y = x;
    k.softmax(y.data(), n);
    double mx = x[0], sum = 0.0;
    for (float v : x) mx = std::fmax(mx, v);
    for (float v : x) sum += std::exp(v - mx);
    double err = 0.0;
    for (int i = 0; i < n; ++i) err = std::fmax(err, std::fabs(std::exp(x[i] - mx) / sum - y[i]));
    if (err > 1e-6) std::printf("  softmax n=%d: max error %g\n", n, err);
    EXPECT_TRUE(err <= 1e-6);
  }
  // LSTM cells against double-precision math, gates across the range that saturates; the sequence
  // kernel against a loop of linear + cells, both directions.
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (int h : {1, 5, 16, 48, 64}) {  // 48: the AVX-512 sliced step's odd slice (kernels_body.inc)
    const int m = 3, g = 4 * h;
    const auto gates = values(m * g, 7, 12.0f), c0 = values(m * h, 8, 3.0f);
    std::vector<float> hs(static_cast<size_t>(m * h)), cs = c0, scratch_gates = gates;
    for (int r = 0; r < m; ++r)  // the kernels' gate units: times log2(e), g times 2 log2(e)
      for (int j = 0; j < g; ++j)
        scratch_gates[r * g + j] = static_cast<float>(scratch_gates[r * g + j] * (j >= 2 * h && j < 3 * h ? 2.0 : 1.0) *
                                                      1.44269504088896340736);
    k.lstm_cells(m, h, scratch_gates.data(), hs.data(), cs.data());
    double err = 0.0;
    for (int r = 0; r < m; ++r)
      for (int j = 0; j < h; ++j) {
        const float* gr = gates.data() + r * g;
        const double c = sig(gr[h + j]) * c0[r * h + j] + sig(gr[j]) * std::tanh(static_cast<double>(gr[2 * h + j]));
        err = std::fmax(err, std::fabs(c - cs[r * h + j]));
        err = std::fmax(err, std::fabs(sig(gr[3 * h + j]) * std::tanh(c) - hs[r * h + j]));
      }
    if (err > 1e-6) std::printf("  lstm_cells h=%d: max error %g\n", h, err);
    EXPECT_TRUE(err <= 1e-6);
    // The fused inter-frame step == linear + linear_acc + lstm_cells (m = 13: blocks of 6 and a
    // lone row; k = 5 inputs), h in place.
    {
      const int mr = 13, kin = 5;
      const auto xin = values(mr * kin, 21), wih = values(kin * g, 22, 0.3f), b = values(g, 23),
                 whh_r = values(h * g, 24, 0.3f), h0 = values(mr * h, 25), c00 = values(mr * h, 26, 2.0f);
      std::vector<float> hs1 = h0, cs1 = c00, hs2 = h0, cs2 = c00, gt(static_cast<size_t>(mr * g)),
                         sc(static_cast<size_t>(mr * g));
      k.lstm_rows(mr, kin, h, xin.data(), wih.data(), b.data(), whh_r.data(), hs1.data(), cs1.data(), sc.data());
      k.linear(mr, kin, g, xin.data(), kin, wih.data(), b.data(), gt.data(), g);
      k.linear_acc(mr, h, g, hs2.data(), h, whh_r.data(), gt.data(), g);
      k.lstm_cells(mr, h, gt.data(), hs2.data(), cs2.data());
      const double dh = max_abs_diff(hs1, hs2), dc = max_abs_diff(cs1, cs2);
      if (dh != 0.0 || dc != 0.0) {
        std::printf("  lstm_rows h=%d: max diff h %g, c %g\n", h, dh, dc);
        EXPECT_TRUE(false);
      }
    }
    const int n = 7, ld_pre = g + 2, ld_out = h + 1;
    const auto pre = values(n * ld_pre, 9), whh = values(h * g, 10, 0.3f);
    for (bool reverse : {false, true}) {
      std::vector<float> out(static_cast<size_t>(n * ld_out), -7.0f), scratch(static_cast<size_t>(5 * h));
      k.lstm_seq(h, n, reverse, pre.data(), ld_pre, whh.data(), out.data(), ld_out, scratch.data());
      std::vector<float> hh(static_cast<size_t>(h), 0.0f), cc(hh), gg(static_cast<size_t>(g)), want(out);
      for (int s = 0; s < n; ++s) {
        const int f = reverse ? n - 1 - s : s;
        k.linear(1, h, g, hh.data(), h, whh.data(), pre.data() + f * ld_pre, gg.data(), g);
        k.lstm_cells(1, h, gg.data(), hh.data(), cc.data());
        std::copy(hh.begin(), hh.end(), want.begin() + f * ld_out);
      }
      if (max_abs_diff(out, want) > 1e-6) {
        std::printf("  lstm_seq h=%d reverse=%d: max diff %g\n", h, reverse ? 1 : 0, max_abs_diff(out, want));
        EXPECT_TRUE(false);
      }
    }
    // blstm == the two directions as sequences (interleaved for small h, sequential for h = 64).
    const int ld_pre2 = 2 * g + 1, ld_out2 = 2 * h + 3;
    const auto pre2 = values(n * ld_pre2, 19), whh_b = values(h * g, 20, 0.3f);
    std::vector<float> out2(static_cast<size_t>(n * ld_out2), -7.0f), want2(out2), scratch2(static_cast<size_t>(10 * h));
    k.blstm(h, n, pre2.data(), ld_pre2, whh.data(), whh_b.data(), out2.data(), ld_out2, scratch2.data());
    k.lstm_seq(h, n, false, pre2.data(), ld_pre2, whh.data(), want2.data(), ld_out2, scratch2.data());
    k.lstm_seq(h, n, true, pre2.data() + g, ld_pre2, whh_b.data(), want2.data() + h, ld_out2, scratch2.data());
    if (max_abs_diff(out2, want2) != 0.0) {
      std::printf("  blstm h=%d: max diff %g\n", h, max_abs_diff(out2, want2));
      EXPECT_TRUE(false);
    }
  }
}

}  // namespace

KBOOST_TEST(reference_table) { check_table(kboost::kernels::kernels_ref()); }

KBOOST_TEST(isa_tables) {
  const Kernels* avx2 = kboost::kernels::kernels_avx2();
  const Kernels* avx512 = kboost::kernels::kernels_avx512();
#if defined(__x86_64__)
  for (const Kernels* t : {avx2, avx512}) {
    if (t != nullptr && kboost::kernels::cpu_supports(*t)) {
      check_table(*t);
    } else {
      std::printf("  %s: not built or not supported by this CPU\n", t != nullptr ? t->name : "(a table)");
    }
  }
#else
  EXPECT_TRUE(avx2 == nullptr);
  EXPECT_TRUE(avx512 == nullptr);
#endif
  std::printf("  chosen: %s\n", kboost::kernels::kernels().name);
}

int main(int argc, char** argv) { return kboost::testing::run_all(argc, argv); }

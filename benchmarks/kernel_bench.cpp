// kboost_kernel_bench: per-call time of the core's kernels at the shapes of the small+KB device
// model (D = 16, H = 16, 97 bins, the KB fusion's 4 heads over a 50-frame window), on one thread.
//
//   kboost_kernel_bench [--reps N] [--json]
//
// The table is the one the core chooses (KBOOST_KERNELS=ref|avx2|avx512 caps it, as everywhere).
// Each figure is the median over 15 batches of N calls (after 200 warm-up calls) of the mean time
// per call: the data stays in cache, so these are the kernels' own costs, not the model's (see
// kboost_latency for that, and docs/perf-notes.md for how the two differ). The fusion's attention
// is timed twice: over rings laid out as the fusion lays them out (rows padded to whole 64-byte
// lines, aligned) and over unpadded rows (the large model's local attention). One line times the
// large model's BLSTM (H = 64), whose recurrent weights live in L2, not L1 (docs/perf-notes.md 16).
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "dsp/stft.h"
#include "kernels/kernels.h"
#include "layers/aligned_vector.h"

namespace {

double median_us(int reps, const std::function<void()>& f) {
  for (int i = 0; i < 200; ++i) f();
  std::vector<double> batches;
  for (int b = 0; b < 15; ++b) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) f();
    const auto t1 = std::chrono::steady_clock::now();
    batches.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / reps);
  }
  std::sort(batches.begin(), batches.end());
  return batches[batches.size() / 2];
}

void fill(kboost::layers::AlignedFloats& v, float scale, int seed) {
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * std::sin(0.37f * static_cast<float>(i) + static_cast<float>(seed));
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 2000;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--reps" && i + 1 < argc && std::atoi(argv[i + 1]) > 0) {
      reps = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: kboost_kernel_bench [--reps N] [--json]\n");
      return 2;
    }
  }
  using kboost::layers::AlignedFloats;
  using kboost::layers::padded_to_line;
  const auto& k = kboost::kernels::kernels();
  constexpr int F = kboost::kNumFreqs, D = 16, H = 16, G = 4 * H, L = 4, E = 3, V = D / L, W = 50;
  AlignedFloats x(F * 3 * D), w(2 * H * 8 * H), bias(8 * H), y(F * 8 * H), scratch(10 * H), gates(F * G),
      hs(F * H), cs(F * H);
  fill(x, 0.5f, 1);
  fill(w, 0.3f, 2);
  fill(bias, 0.1f, 3);
  std::vector<std::pair<std::string, double>> rows;
  auto add = [&](const std::string& name, const std::function<void()>& f) { rows.emplace_back(name, median_us(reps, f)); };

  for (const auto& [m, kk, n] : {std::array<int, 3>{F, D, 8 * H}, {F, D, G}, {F, 2 * H, D}, {F, D, D},
                                 {F, D, L * E}, {F, 8, D}, {F, 3 * 4, 3 * D}, {F, 3 * D, 3 * 8}}) {
    add("linear " + std::to_string(m) + "x" + std::to_string(kk) + "x" + std::to_string(n),
        [&, m = m, kk = kk, n = n] { k.linear(m, kk, n, x.data(), kk, w.data(), bias.data(), y.data(), n); });
  }
  add("blstm H=16 over 97 bins (both directions)", [&] {
    k.blstm(H, F, y.data(), 8 * H, w.data(), w.data() + H * G, x.data(), 2 * H, scratch.data());
  });
  add("lstm_seq H=16 over 97 bins (one direction)",
      [&] { k.lstm_seq(H, F, false, y.data(), 8 * H, w.data(), x.data(), 2 * H, scratch.data()); });
  add("lstm_cells 97 rows H=16 (gates copied in first)", [&] {
    std::copy(y.begin(), y.begin() + F * G, gates.begin());
    k.lstm_cells(F, H, gates.data(), hs.data(), cs.data());
  });
  // The inter-frame LSTM's step over the 97 bins (x [F, d], W_ih then W_hh from wt): lstm_rows
  // (fused for H = 16 on AVX-512), and the three calls it replaces there.
  auto inter_step = [&](const std::string& tag, int d, int h, const float* xs, const float* wt, const float* b,
                        float* hst, float* cst, float* gt) {
    const int g = 4 * h;
    add("lstm_rows 97 rows D=" + std::to_string(d) + " H=" + std::to_string(h) + " (inter-frame step" + tag + ")",
        [=, &k] { k.lstm_rows(F, d, h, xs, wt, b, wt + d * g, hst, cst, gt); });
    add("  the same as linear + linear_acc + lstm_cells", [=, &k] {
      k.linear(F, d, g, xs, d, wt, b, gt, g);
      k.linear_acc(F, h, g, hst, h, wt + d * g, gt, g);
      k.lstm_cells(F, h, gt, hst, cst);
    });
  };
  inter_step("", D, H, x.data(), w.data(), bias.data(), hs.data(), cs.data(), gates.data());
  add("layer_norm_rows 97x16", [&] { k.layer_norm_rows(F, D, x.data(), w.data(), bias.data(), y.data(), 1e-5f); });
  // The fusion's per-head norms (one row of F*V) and its output norm (one row of F*D): the
  // weights and biases of a whole [F, D] (from x, which is long enough).
  add("layer_norm_rows 1x388 (a value head)",
      [&] { k.layer_norm_rows(1, F * V, x.data(), w.data(), x.data() + F * D, y.data(), 1e-5f); });
  // The fusion's per-head norms of a projection (4 heads of F*E = 291, rows 304 apart), all in one
  // call and one call per head (the biases, as above, from x).
  add("layer_norm_strided 4 heads x 291 (one call)",
      [&] { k.layer_norm_strided(L, F * E, y.data(), 304, w.data(), x.data() + F * D, 0, 1e-5f); });
  add("  the same as 4 layer_norm_rows 1x291", [&] {
    for (int l = 0; l < L; ++l)
      k.layer_norm_rows(1, F * E, y.data() + l * 304, w.data(), x.data() + F * D, y.data() + l * 304, 1e-5f);
  });
  add("layer_norm_rows 1x1552 (the fusion's output)",
      [&] { k.layer_norm_rows(1, F * D, x.data(), w.data(), x.data() + F * D, y.data(), 1e-5f); });

  // The fusion's attention over its rings: 4 heads, scores against 50 keys of F*E, sums of 50
  // values of F*V; rows padded + aligned, slot-major [W][L][row] and head-major [L][W][row] (each
  // head's rows one contiguous block), and unpadded slot-major.
  for (const int layout : {0, 1, 2}) {
    const bool padded = layout < 2, head_major = layout == 1;
    const int qk = padded ? padded_to_line(F * E) : F * E, vs = padded ? padded_to_line(F * V) : F * V;
    AlignedFloats keys(static_cast<size_t>(W) * L * qk), values(static_cast<size_t>(W) * L * vs), q(L * qk),
        o(L * vs), scores(L * 64, 1.0f / W);
    fill(keys, 1.0f, 4);
    fill(values, 1.0f, 5);
    fill(q, 1.0f, 6);
    // head l's first row, and the distance between its rows
    const long k0 = head_major ? static_cast<long>(W) * qk : qk, v0 = head_major ? static_cast<long>(W) * vs : vs;
    const int kstep = head_major ? qk : L * qk, vstep = head_major ? vs : L * vs;
    const std::string how = layout == 0 ? " (padded, slot-major)" : layout == 1 ? " (padded, head-major)" : " (unpadded)";
    add("mat_vec 4 heads x 50 keys" + how, [&] {
      for (int l = 0; l < L; ++l) k.mat_vec(W, qk, keys.data() + l * k0, kstep, q.data() + l * qk, scores.data() + l * 64);
    });
    add("vec_mat 4 heads x 50 values" + how, [&] {
      for (int l = 0; l < L; ++l) k.vec_mat(W, vs, scores.data() + l * 64, values.data() + l * v0, vstep, o.data() + l * vs);
    });
  }

  // The fusion's head split (with PReLU) of a [F, 4*3] key projection into padded head-major rows,
  // and the merge of four [F*4] value heads; a conv's tap sum ([F, 3*8] -> [F, 8], the decoder's).
  {
    const int qk = padded_to_line(F * E);
    AlignedFloats heads(static_cast<size_t>(L) * qk), merged(F * D);
    add("heads_split 4 heads of 3 (with PReLU)",
        [&] { k.heads_split(F, L, E, x.data(), 0.25f, heads.data(), qk); });
    add("heads_merge 4 heads of 4", [&] { k.heads_merge(F, L, V, y.data(), F * V, merged.data()); });
    add("conv_taps 97 bins x 8 outputs", [&] { k.conv_taps(F, 8, x.data(), bias.data(), y.data()); });
  }

  // The large model's intra-frame BLSTM (H = 64): each direction's recurrent weights are 64 KB,
  // more than an L1 holds, read once per step.
  {
    constexpr int HL = 64, GL = 4 * HL;
    AlignedFloats wl(2 * HL * GL), pre(F * 2 * GL), outl(F * 2 * HL), scr(10 * HL);
    fill(wl, 0.05f, 7);
    fill(pre, 0.5f, 8);
    add("blstm H=64 over 97 bins (both directions)", [&] {
      k.blstm(HL, F, pre.data(), 2 * GL, wl.data(), wl.data() + HL * GL, outl.data(), 2 * HL, scr.data());
    });
    // The large model's widest products (D = 64): the BLSTM's input projections (both directions),
    // the inter-frame LSTM's, the BLSTM output's transposed conv (2H -> D) and a D -> D conv.
    AlignedFloats xl(F * 2 * HL), wg(2 * HL * 2 * GL), bl(2 * GL);
    fill(xl, 0.5f, 9);
    fill(wg, 0.05f, 10);
    fill(bl, 0.1f, 11);
    AlignedFloats hl(F * HL), cl(F * HL), gl(F * GL);
    fill(hl, 0.5f, 12);
    inter_step(", large", HL, HL, xl.data(), wg.data(), bl.data(), hl.data(), cl.data(), gl.data());
    for (const auto& [kk, n] : {std::array<int, 2>{HL, 2 * GL}, {HL, GL}, {2 * HL, HL}, {HL, HL}}) {
      add("linear " + std::to_string(F) + "x" + std::to_string(kk) + "x" + std::to_string(n) + " (large)",
          [&, kk = kk, n = n] { k.linear(F, kk, n, xl.data(), kk, wg.data(), bl.data(), pre.data(), n); });
    }
  }

  kboost::dsp::StftAnalyzer stft(2);
  kboost::dsp::OlaSynthesizer ola(4);
  add("stft analysis, 2 channels", [&] { stft.step(x.data(), y.data()); });
  add("overlap-add synthesis, 4 outputs", [&] { ola.step(x.data(), y.data()); });

  if (json) {
    std::printf("{\"kernels\": \"%s\", \"reps\": %d, \"us\": {", k.name, reps);
    for (size_t i = 0; i < rows.size(); ++i) std::printf("%s\"%s\": %.4f", i ? ", " : "", rows[i].first.c_str(), rows[i].second);
    std::printf("}}\n");
  } else {
    std::printf("kernels: %s; median over 15 batches of %d calls, us per call\n", k.name, reps);
    for (const auto& [name, us] : rows) std::printf("  %-52s %8.3f\n", name.c_str(), us);
  }
  return 0;
}

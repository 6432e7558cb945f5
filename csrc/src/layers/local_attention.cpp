#include "layers/local_attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"
#include "layers/attention_util.h"
#include "layers/tensor_util.h"

namespace kboost::layers {

namespace {
constexpr int F = kNumFreqs;

LocalAttentionWeights::Proj bind_proj(TensorSource& src, const std::string& p, int d, int n_heads, int c) {
  LocalAttentionWeights::Proj pr;
  pr.wt = transposed(tensor(src, p + "_weight", {n_heads, c, d}), n_heads * c, d);  // [L, C, D] == [L*C, D]
  pr.bias = tensor(src, p + "_bias", {n_heads, c});
  pr.alpha = tensor(src, p + "_alpha", {n_heads});
  pr.norm_w = tensor(src, p + "_norm.weight", {n_heads, c, F});
  pr.norm_b = tensor(src, p + "_norm.bias", {n_heads, c, F});
  return pr;
}

// x [F, D] -> per-head normalised projections out [L, C*F] (index c*F + f).
void project(const LocalAttentionWeights::Proj& pr, int d, int n_heads, int c, const float* x,
             float* scratch, float* out) {
  const auto& k = kernels::kernels();
  const int lc = n_heads * c;
  k.linear(F, d, lc, x, d, pr.wt.data(), pr.bias.data(), scratch, lc);
  // Heads channel-major, out[l][c * F + f] = z[f][l * C + c]: the transpose of z [F, L*C] -> [L*C, F].
  transpose(F, lc, scratch, lc, out, F);
  // PReLU (one parameter per head) on each head's contiguous group, then the per-head LayerNorm.
  const size_t group = static_cast<size_t>(c) * F;
  for (int l = 0; l < n_heads; ++l) kernels::prelu(out + l * group, static_cast<int>(group), pr.alpha[l]);
  k.layer_norm_strided(n_heads, static_cast<int>(group), out, static_cast<long>(group), pr.norm_w.data(),
                       pr.norm_b.data(), static_cast<long>(group), 1e-5f);
}
}  // namespace

LocalAttentionWeights LocalAttentionWeights::bind(TensorSource& src, const std::string& prefix, int d,
                                                  int n_heads, int head_dim, int window) {
  LocalAttentionWeights w;
  w.d = d;
  w.n_heads = n_heads;
  w.e = head_dim;
  w.v = d / n_heads;
  w.window = window;
  w.q = bind_proj(src, prefix + "q", d, n_heads, head_dim);
  w.k = bind_proj(src, prefix + "k", d, n_heads, head_dim);
  w.val = bind_proj(src, prefix + "v", d, n_heads, w.v);
  w.proj_t = transposed(tensor(src, prefix + "proj.weight", {d, d, 1, 1}), d, d);
  w.proj_b = tensor(src, prefix + "proj.bias", {d});
  w.proj_alpha = prelu_weight(src, prefix + "proj_act.weight");
  w.proj_norm_w = transposed(tensor(src, prefix + "proj_norm.weight", {d, F}), d, F);
  w.proj_norm_b = transposed(tensor(src, prefix + "proj_norm.bias", {d, F}), d, F);
  return w;
}

LocalAttentionState::LocalAttentionState(const LocalAttentionWeights& w)
    : k_ring(static_cast<size_t>(w.window) * w.n_heads * w.e * F, 0.0f),
      v_ring(static_cast<size_t>(w.window) * w.n_heads * w.v * F, 0.0f),
      proj(static_cast<size_t>(F) * w.n_heads * std::max(w.e, w.v)),
      q(static_cast<size_t>(w.n_heads) * w.e * F),
      o(static_cast<size_t>(w.d) * F),
      o_t(static_cast<size_t>(F) * w.d),
      y(static_cast<size_t>(F) * w.d),
      scores(static_cast<size_t>(w.window)) {}

void LocalAttentionState::reset() {
  n_frames = 0;
  std::fill(k_ring.begin(), k_ring.end(), 0.0f);
  std::fill(v_ring.begin(), v_ring.end(), 0.0f);
}

void local_attention_step(const LocalAttentionWeights& w, LocalAttentionState& s, const float* x, float* y) {
  const auto& k = kernels::kernels();
  const int d = w.d, n_heads = w.n_heads;
  const long t = s.n_frames;
  const size_t qk_size = static_cast<size_t>(w.e) * F, v_size = static_cast<size_t>(w.v) * F;
  const size_t slot = static_cast<size_t>(t % w.window);
  project(w.q, d, n_heads, w.e, x, s.proj.data(), s.q.data());
  project(w.k, d, n_heads, w.e, x, s.proj.data(), s.k_ring.data() + slot * n_heads * qk_size);
  project(w.val, d, n_heads, w.v, x, s.proj.data(), s.v_ring.data() + slot * n_heads * v_size);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(w.e) * F));
  for (int l = 0; l < n_heads; ++l)
    attend_ring(s.q.data() + l * qk_size, static_cast<int>(qk_size), s.k_ring.data() + l * qk_size,
                n_heads * qk_size, s.v_ring.data() + l * v_size, n_heads * v_size, static_cast<int>(v_size),
                w.window, t, scale, s.scores.data(), s.o.data() + l * v_size);
  // o [L, V, F] = [D, F] -> [F, D], then Conv1x1 -> PReLU -> LN over (D, F) -> + x.
  transpose(d, F, s.o.data(), F, s.o_t.data(), d);
  k.linear(F, d, d, s.o_t.data(), d, w.proj_t.data(), w.proj_b.data(), s.y.data(), d);
  kernels::prelu(s.y.data(), F * d, w.proj_alpha);
  kernels::layer_norm_rows(1, F * d, s.y.data(), w.proj_norm_w.data(), w.proj_norm_b.data(), s.y.data());
  kernels::kernels().add(F * d, x, s.y.data(), y);
  s.n_frames = t + 1;
}

}  // namespace kboost::layers

#include "layers/kb_fusion.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"
#include "layers/attention_util.h"
#include "layers/tensor_util.h"

namespace kboost::layers {

namespace {
constexpr int F = kNumFreqs;

KbFusionWeights::Proj bind_proj(TensorSource& src, const std::string& p, int d, int n_out, int c) {
  KbFusionWeights::Proj pr;
  pr.wt = linear_weight_t(src, p + "_linear.weight", n_out, d);
  pr.bias = tensor(src, p + "_linear.bias", {n_out});
  pr.alpha = prelu_weight(src, p + "_act.weight");
  pr.norm_w = tensor(src, p + "_norm.weight", {F, c});
  pr.norm_b = tensor(src, p + "_norm.bias", {F, c});
  return pr;
}

// x [F, D] -> per-head normalised out [L, stride] (index f*C + c; the padding after F*C untouched).
void heads(const KbFusionWeights::Proj& pr, int d, int n_heads, int c, int stride, const float* x, float* scratch,
           float* out) {
  const auto& k = kernels::kernels();
  const int lc = n_heads * c;
  k.linear(F, d, lc, x, d, pr.wt.data(), pr.bias.data(), scratch, lc);
  split_heads_prelu(scratch, F, n_heads, c, pr.alpha, out, static_cast<size_t>(stride));
  // The heads' norms over (F, C) share one affine: all heads in one call.
  k.layer_norm_strided(n_heads, F * c, out, stride, pr.norm_w.data(), pr.norm_b.data(), 0, 1e-5f);
}
}  // namespace

KbFusionWeights KbFusionWeights::bind(TensorSource& src, const std::string& prefix, int d, int n_hint,
                                      int delay, int n_heads, int head_dim, int window) {
  KbFusionWeights w;
  w.d = d;
  w.n_hint = n_hint;
  w.delay = delay;
  w.n_heads = n_heads;
  w.e = head_dim;
  w.v = d / n_heads;
  w.window = window;
  w.scale_t = transposed(tensor(src, prefix + "film_scale.weight", {d, n_hint, 1, 1}), d, n_hint);
  w.scale_b = tensor(src, prefix + "film_scale.bias", {d});
  w.shift_t = transposed(tensor(src, prefix + "film_shift.weight", {d, n_hint, 1, 1}), d, n_hint);
  w.shift_b = tensor(src, prefix + "film_shift.bias", {d});
  w.q = bind_proj(src, prefix + "q", d, n_heads * head_dim, head_dim);
  w.k = bind_proj(src, prefix + "k", d, n_heads * head_dim, head_dim);
  w.val = bind_proj(src, prefix + "v", d, d, w.v);
  w.proj = bind_proj(src, prefix + "proj", d, d, d);
  return w;
}

KbFusionState::KbFusionState(const KbFusionWeights& w)
    : qk_stride(padded_to_line(F * w.e)),
      v_stride(padded_to_line(F * w.v)),
      align(static_cast<size_t>(w.delay + 1) * F * w.d, 0.0f),
      k_ring(static_cast<size_t>(w.window) * w.n_heads * qk_stride, 0.0f),
      v_ring(static_cast<size_t>(w.window) * w.n_heads * v_stride, 0.0f),
      hint_t(static_cast<size_t>(F) * w.n_hint),
      m(static_cast<size_t>(F) * w.d),
      tmp(static_cast<size_t>(F) * std::max(w.d, w.n_heads * w.e)),
      q(static_cast<size_t>(w.n_heads) * qk_stride, 0.0f),
      o(static_cast<size_t>(w.n_heads) * v_stride, 0.0f),
      y(static_cast<size_t>(F) * w.d),
      scores(static_cast<size_t>(w.window)) {}

void KbFusionState::reset() {
  n_frames = 0;
  std::fill(align.begin(), align.end(), 0.0f);
  std::fill(k_ring.begin(), k_ring.end(), 0.0f);
  std::fill(v_ring.begin(), v_ring.end(), 0.0f);
}

void kb_fusion_step(const KbFusionWeights& w, KbFusionState& s, const float* x, const float* hint, float* y) {
  const auto& k = kernels::kernels();
  const int d = w.d, n_heads = w.n_heads, ch = w.n_hint;
  const long t = s.n_frames;
  const size_t frame = static_cast<size_t>(F) * d;
  // 1. alignment FIFO: write x_t, read x_{t-d} (zeros before frame 0: the slots start zeroed).
  std::copy(x, x + frame, s.align.data() + static_cast<size_t>(t % (w.delay + 1)) * frame);
  const float* x_al = s.align.data() + static_cast<size_t>(((t - w.delay) % (w.delay + 1) + (w.delay + 1)) %
                                                             (w.delay + 1)) * frame;
  // 2. FiLM from the hint (channel-major on the wire -> bin-major).
  if (hint != nullptr) {
    transpose(ch, F, hint, F, s.hint_t.data(), ch);
  } else {
    std::fill(s.hint_t.begin(), s.hint_t.end(), 0.0f);
  }
  k.linear(F, ch, d, s.hint_t.data(), ch, w.scale_t.data(), w.scale_b.data(), s.m.data(), d);
  k.linear(F, ch, d, s.hint_t.data(), ch, w.shift_t.data(), w.shift_b.data(), s.y.data(), d);
  k.mul_add(static_cast<int>(frame), x_al, s.m.data(), s.y.data(), s.m.data());
  // 3. keys/values of the fused frame into the rings, query from the current frame.
  const size_t qk = static_cast<size_t>(s.qk_stride), vs = static_cast<size_t>(s.v_stride);
  const size_t slot = static_cast<size_t>(t % w.window);
  // The rings are head-major: head l's W rows are one contiguous block (its keys or values for
  // the window, read front to back by the attention: the hardware prefetcher's best case), the
  // new frame's row at slot t mod W of each block.
  const size_t k_block = w.window * qk, v_block = w.window * vs;
  heads(w.k, d, n_heads, w.e, static_cast<int>(k_block), s.m.data(), s.tmp.data(), s.k_ring.data() + slot * qk);
  heads(w.val, d, n_heads, w.v, static_cast<int>(v_block), s.m.data(), s.tmp.data(), s.v_ring.data() + slot * vs);
  heads(w.q, d, n_heads, w.e, s.qk_stride, x, s.tmp.data(), s.q.data());
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(F) * w.e));
  // Over the padded lengths: whole aligned vectors (the padding adds zeros to the scores, and the
  // values' padding columns of o are never read).
  for (int l = 0; l < n_heads; ++l)
    attend_ring(s.q.data() + l * qk, s.qk_stride, s.k_ring.data() + l * k_block, qk, s.v_ring.data() + l * v_block,
                vs, s.v_stride, w.window, t, scale, s.scores.data(), s.o.data() + l * vs);
  // Heads re-assembled: [L, F, V] -> [F, L*V] = [F, D].
  merge_heads(s.o.data(), F, n_heads, w.v, s.m.data(), vs);
  k.linear(F, d, d, s.m.data(), d, w.proj.wt.data(), w.proj.bias.data(), s.y.data(), d);
  kernels::prelu(s.y.data(), F * d, w.proj.alpha);
  kernels::layer_norm_rows(1, F * d, s.y.data(), w.proj.norm_w.data(), w.proj.norm_b.data(), s.y.data());
  k.add(static_cast<int>(frame), x, s.y.data(), y);
  s.n_frames = t + 1;
}

}  // namespace kboost::layers

#include "layers/causal_conv.h"

#include <algorithm>

#include "kernels/kernels.h"

namespace kboost::layers {

namespace {
constexpr int F = kNumFreqs;
}

CausalConvWeights CausalConvWeights::bind_conv(TensorSource& src, const std::string& prefix, int n_in,
                                               int n_out) {
  CausalConvWeights cw;
  cw.n_in = n_in;
  cw.n_out = n_out;
  const auto w = src.get(prefix + "weight", {n_out, n_in, 3, 3});
  cw.bias = src.get(prefix + "bias", {n_out});
  cw.w.resize(w.size());
  for (int co = 0; co < n_out; ++co)
    for (int ci = 0; ci < n_in; ++ci)
      for (int kt = 0; kt < 3; ++kt)
        for (int kf = 0; kf < 3; ++kf)
          cw.w[((static_cast<size_t>(kt) * 3 + kf) * n_in + ci) * n_out + co] =
              w[((static_cast<size_t>(co) * n_in + ci) * 3 + kt) * 3 + kf];
  return cw;
}

CausalConvWeights CausalConvWeights::bind_deconv(TensorSource& src, const std::string& prefix, int n_in,
                                                 int n_out) {
  CausalConvWeights cw;
  cw.n_in = n_in;
  cw.n_out = n_out;
  const auto w = src.get(prefix + "weight", {n_in, n_out, 3, 3});
  cw.bias = src.get(prefix + "bias", {n_out});
  cw.w.resize(w.size());
  for (int ci = 0; ci < n_in; ++ci)
    for (int co = 0; co < n_out; ++co)
      for (int kt = 0; kt < 3; ++kt)
        for (int kf = 0; kf < 3; ++kf)
          cw.w[((static_cast<size_t>(kt) * 3 + kf) * n_in + ci) * n_out + co] =
              w[((static_cast<size_t>(ci) * n_out + co) * 3 + (2 - kt)) * 3 + (2 - kf)];
  return cw;
}

CausalConvState::CausalConvState(const CausalConvWeights& w)
    : frames(static_cast<size_t>(3) * F * w.n_in, 0.0f) {}

void CausalConvState::reset() {
  std::fill(frames.begin(), frames.end(), 0.0f);
  n_frames = 0;
}

void causal_conv_step(const CausalConvWeights& w, CausalConvState& s, const float* in, float* out) {
  const auto& k = kernels::kernels();
  const int ci = w.n_in, co = w.n_out;
  const size_t frame_size = static_cast<size_t>(F) * ci;
  const long t = s.n_frames;
  std::copy(in, in + frame_size, s.frames.data() + static_cast<size_t>(t % 3) * frame_size);
  // out = bias + sum over (kt, kf) of frame_{t-2+kt} shifted by kf-1 bins times w[kt][kf]: nine
  // GEMMs over all bins ([F, C_in] x [C_in, C_out]); frames before 0 are zeros (the ring starts
  // zeroed) and bins outside 0..F-1 are skipped (the 'same' zero padding in frequency).
  for (int f = 0; f < F; ++f) std::copy(w.bias.begin(), w.bias.end(), out + static_cast<size_t>(f) * co);
  for (int kt = 0; kt < 3; ++kt) {
    const long slot = ((t - 2 + kt) % 3 + 3) % 3;
    const float* frame = s.frames.data() + static_cast<size_t>(slot) * frame_size;
    for (int kf = 0; kf < 3; ++kf) {
      const int f_lo = std::max(0, 1 - kf), f_hi = std::min(F - 1, F - kf);  // output bins with an input bin
      k.linear_acc(f_hi - f_lo + 1, ci, co, frame + static_cast<size_t>(f_lo - 1 + kf) * ci, ci,
                   w.w.data() + (static_cast<size_t>(kt) * 3 + kf) * ci * co, out + static_cast<size_t>(f_lo) * co, co);
    }
  }
  s.n_frames = t + 1;
}

}  // namespace kboost::layers

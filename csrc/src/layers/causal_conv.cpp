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
          cw.w[((static_cast<size_t>(kt) * n_in + ci) * 3 + kf) * n_out + co] =
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
          cw.w[((static_cast<size_t>(kt) * n_in + ci) * 3 + kf) * n_out + co] =
              w[((static_cast<size_t>(ci) * n_out + co) * 3 + (2 - kt)) * 3 + (2 - kf)];
  return cw;
}

CausalConvState::CausalConvState(const CausalConvWeights& w)
    : frames(static_cast<size_t>(3) * F * w.n_in, 0.0f), taps(static_cast<size_t>(F) * 3 * w.n_out) {}

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
  // out[f] = bias + sum over (kt, kf) of frame_{t-2+kt}[f + kf - 1] w[kt][kf]. Three GEMMs over
  // all bins, one per time tap with the three frequency taps side by side as columns
  // ([F, C_in] x [C_in, 3 C_out], accumulated over kt: wider products than nine of C_out columns,
  // which for the decoder's 8 outputs filled half a vector), then each output bin adds its three
  // neighbours' columns. Frames before 0 are zeros (the ring starts zeroed); bins outside 0..F-1
  // are skipped (the 'same' zero padding in frequency).
  const int n3 = 3 * co;
  float* taps = s.taps.data();
  for (int kt = 0; kt < 3; ++kt) {
    const long slot = ((t - 2 + kt) % 3 + 3) % 3;
    const float* frame = s.frames.data() + static_cast<size_t>(slot) * frame_size;
    const float* wk = w.w.data() + static_cast<size_t>(kt) * ci * n3;
    if (kt == 0) {
      k.linear(F, ci, n3, frame, ci, wk, nullptr, taps, n3);
    } else {
      k.linear_acc(F, ci, n3, frame, ci, wk, taps, n3);
    }
  }
  k.conv_taps(F, co, taps, w.bias.data(), out);
  s.n_frames = t + 1;
}

}  // namespace kboost::layers

#include "layers/causal_conv.h"

#include <algorithm>

#include "kernels/kernels.h"
#include "layers/tensor_util.h"

namespace kboost::layers {

namespace {
constexpr int F = kNumFreqs;
}

CausalConvWeights CausalConvWeights::bind_conv(TensorSource& src, const std::string& prefix, int n_in,
                                               int n_out) {
  CausalConvWeights cw;
  cw.n_in = n_in;
  cw.n_out = n_out;
  const auto w = tensor(src, prefix + "weight", {n_out, n_in, 3, 3});
  cw.bias = tensor(src, prefix + "bias", {n_out});
  AlignedFloats by_tap(w.size());  // [3 (time), C_in, 3 (freq), C_out]
  for (int co = 0; co < n_out; ++co)
    for (int ci = 0; ci < n_in; ++ci)
      for (int kt = 0; kt < 3; ++kt)
        for (int kf = 0; kf < 3; ++kf)
          by_tap[((static_cast<size_t>(kt) * n_in + ci) * 3 + kf) * n_out + co] =
              w[((static_cast<size_t>(co) * n_in + ci) * 3 + kt) * 3 + kf];
  cw.arrange_slots(by_tap);
  return cw;
}

CausalConvWeights CausalConvWeights::bind_deconv(TensorSource& src, const std::string& prefix, int n_in,
                                                 int n_out) {
  CausalConvWeights cw;
  cw.n_in = n_in;
  cw.n_out = n_out;
  const auto w = tensor(src, prefix + "weight", {n_in, n_out, 3, 3});
  cw.bias = tensor(src, prefix + "bias", {n_out});
  AlignedFloats by_tap(w.size());  // [3 (time), C_in, 3 (freq), C_out]
  for (int ci = 0; ci < n_in; ++ci)
    for (int co = 0; co < n_out; ++co)
      for (int kt = 0; kt < 3; ++kt)
        for (int kf = 0; kf < 3; ++kf)
          by_tap[((static_cast<size_t>(kt) * n_in + ci) * 3 + kf) * n_out + co] =
              w[((static_cast<size_t>(ci) * n_out + co) * 3 + (2 - kt)) * 3 + (2 - kf)];
  cw.arrange_slots(by_tap);
  return cw;
}

void CausalConvWeights::arrange_slots(const AlignedFloats& by_tap) {
  const size_t tap = static_cast<size_t>(n_in) * 3 * n_out;  // one time tap's [C_in, 3 C_out]
  w_slots.resize(9 * tap);
  for (int r = 0; r < 3; ++r)
    for (int slot = 0; slot < 3; ++slot) {
      const int kt = (slot - r + 2 + 3) % 3;
      std::copy_n(by_tap.begin() + static_cast<long>(kt * tap), tap,
                  w_slots.begin() + static_cast<long>((3 * r + slot) * tap));
    }
  zeros.assign(static_cast<size_t>(3) * n_out, 0.0f);
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
  const long t = s.n_frames;
  const int slot = static_cast<int>(t % 3);
  float* frames = s.frames.data();
  for (int f = 0; f < F; ++f)
    std::copy_n(in + static_cast<size_t>(f) * ci, ci, frames + (static_cast<size_t>(f) * 3 + slot) * ci);
  // out[f] = bias + sum over (kt, kf) of frame_{t-2+kt}[f + kf - 1] w[kt][kf]: one GEMM over all
  // bins, [F, 3 C_in] (the three frames side by side) x [3 C_in, 3 C_out] (the time taps in the
  // slots' order for this t, the three frequency taps side by side as columns), then each output
  // bin adds its three neighbours' columns. Frames before 0 are zeros (the state starts zeroed);
  // bins outside 0..F-1 are skipped (the 'same' zero padding in frequency). Three GEMMs of C_in
  // inputs accumulated through memory were ~1.5% of a small+KB chunk more (docs/perf-notes.md 18).
  const int n3 = 3 * co;
  const float* wr = w.w_slots.data() + static_cast<size_t>(slot) * 3 * ci * n3;
  k.linear(F, 3 * ci, n3, frames, 3 * ci, wr, w.zeros.data(), s.taps.data(), n3);
  k.conv_taps(F, co, s.taps.data(), w.bias.data(), out);
  s.n_frames = t + 1;
}

}  // namespace kboost::layers

#include "layers/inter_frame.h"

#include <algorithm>

#include "kernels/kernels.h"
#include "layers/tensor_util.h"

namespace kboost::layers {

namespace {
constexpr int F = kNumFreqs;
}

InterFrameWeights InterFrameWeights::bind(TensorSource& src, const std::string& prefix, int d, int h) {
  InterFrameWeights w;
  w.d = d;
  w.h = h;
  w.norm_w = tensor(src, prefix + "norm.weight", {d});
  w.norm_b = tensor(src, prefix + "norm.bias", {d});
  const std::string r = prefix + "rnn.";
  w.wih_t = linear_weight_t(src, r + "weight_ih_l0", 4 * h, d);
  w.whh_t = linear_weight_t(src, r + "weight_hh_l0", 4 * h, h);
  w.bias = summed(tensor(src, r + "bias_ih_l0", {4 * h}), tensor(src, r + "bias_hh_l0", {4 * h}));
  // The LSTM kernels take the gates in base-2 units, g doubled (kernels.h).
  to_gate_units(w.wih_t, 4 * h, h);
  to_gate_units(w.whh_t, 4 * h, h);
  to_gate_units(w.bias, 4 * h, h);
  w.lin_t = tensor(src, prefix + "linear.weight", {h, d, 1});
  w.lin_b = tensor(src, prefix + "linear.bias", {d});
  return w;
}

InterFrameState::InterFrameState(const InterFrameWeights& w)
    : h(static_cast<size_t>(F) * w.h, 0.0f), c(static_cast<size_t>(F) * w.h, 0.0f) {}

InterFrameScratch::InterFrameScratch(const InterFrameWeights& w)
    : z(static_cast<size_t>(F) * w.d), gates(static_cast<size_t>(F) * 4 * w.h) {}

void InterFrameState::reset() {
  std::fill(h.begin(), h.end(), 0.0f);
  std::fill(c.begin(), c.end(), 0.0f);
}

void inter_frame_step(const InterFrameWeights& w, InterFrameState& s, InterFrameScratch& scratch, const float* x,
                      float* y) {
  const auto& k = kernels::kernels();
  const int d = w.d, h = w.h;
  float* z = scratch.z.data();
  float* gates = scratch.gates.data();
  kernels::layer_norm_rows(F, d, x, w.norm_w.data(), w.norm_b.data(), z);
  // The 97 independent sequences advance one step together: gates = b + z W_ih + h W_hh, then
  // the cell updates, in one kernel (no round trip of the gates through memory where it can).
  k.lstm_rows(F, d, h, z, w.wih_t.data(), w.bias.data(), w.whh_t.data(), s.h.data(), s.c.data(), gates);
  k.linear(F, h, d, s.h.data(), h, w.lin_t.data(), w.lin_b.data(), z, d);
  k.add(F * d, x, z, y);
}

}  // namespace kboost::layers

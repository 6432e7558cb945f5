#include "layers/intra_frame.h"

#include <algorithm>

#include "kernels/kernels.h"
#include "layers/tensor_util.h"

namespace kboost::layers {

namespace {
constexpr int F = kNumFreqs;
}

IntraFrameWeights IntraFrameWeights::bind(TensorSource& src, const std::string& prefix, int d, int h) {
  IntraFrameWeights w;
  w.d = d;
  w.h = h;
  w.norm_w = tensor(src, prefix + "norm.weight", {d});
  w.norm_b = tensor(src, prefix + "norm.bias", {d});
  const std::string r = prefix + "rnn.";
  const auto wf = linear_weight_t(src, r + "weight_ih_l0", 4 * h, d);          // [D, 4H]
  const auto wb = linear_weight_t(src, r + "weight_ih_l0_reverse", 4 * h, d);  // [D, 4H]
  w.wih_t.resize(static_cast<size_t>(d) * 8 * h);
  for (int i = 0; i < d; ++i) {
    std::copy_n(wf.begin() + static_cast<long>(i) * 4 * h, 4 * h, w.wih_t.begin() + static_cast<long>(i) * 8 * h);
    std::copy_n(wb.begin() + static_cast<long>(i) * 4 * h, 4 * h,
                w.wih_t.begin() + static_cast<long>(i) * 8 * h + 4 * h);
  }
  const auto bf = summed(tensor(src, r + "bias_ih_l0", {4 * h}), tensor(src, r + "bias_hh_l0", {4 * h}));
  const auto bb = summed(tensor(src, r + "bias_ih_l0_reverse", {4 * h}), tensor(src, r + "bias_hh_l0_reverse", {4 * h}));
  w.bias = bf;
  w.bias.insert(w.bias.end(), bb.begin(), bb.end());
  w.whh_t_fwd = linear_weight_t(src, r + "weight_hh_l0", 4 * h, h);
  w.whh_t_bwd = linear_weight_t(src, r + "weight_hh_l0_reverse", 4 * h, h);
  // The LSTM kernels take the gates in base-2 units, g doubled (kernels.h).
  to_gate_units(w.wih_t, 8 * h, h);
  to_gate_units(w.bias, 8 * h, h);
  to_gate_units(w.whh_t_fwd, 4 * h, h);
  to_gate_units(w.whh_t_bwd, 4 * h, h);
  // ConvTranspose1d weight [2H, D, 1] is already [in, out]: the transposed layout.
  w.lin_t = tensor(src, prefix + "linear.weight", {2 * h, d, 1});
  w.lin_b = tensor(src, prefix + "linear.bias", {d});
  return w;
}

IntraFrameScratch::IntraFrameScratch(const IntraFrameWeights& w)
    : z(static_cast<size_t>(F) * w.d),
      pre(static_cast<size_t>(F) * 8 * w.h),
      hs(static_cast<size_t>(F) * 2 * w.h),
      scratch(static_cast<size_t>(10) * w.h) {}

void intra_frame_step(const IntraFrameWeights& w, IntraFrameScratch& s, const float* x, float* y) {
  const auto& k = kernels::kernels();
  const int d = w.d, h = w.h, g = 4 * h;
  kernels::layer_norm_rows(F, d, x, w.norm_w.data(), w.norm_b.data(), s.z.data());
  // Input projections of both directions for all bins at once: [F, D] x [D, 8H].
  k.linear(F, d, 2 * g, s.z.data(), d, w.wih_t.data(), w.bias.data(), s.pre.data(), 2 * g);
  // Both recurrences in one kernel call: forward h into hs[:, 0:H], backward (bins F-1..0) into
  // hs[:, H:2H].
  k.blstm(h, F, s.pre.data(), 2 * g, w.whh_t_fwd.data(), w.whh_t_bwd.data(), s.hs.data(), 2 * h, s.scratch.data());
  // y = x + Linear(hs); computed into z (free now) so that x == y is allowed.
  k.linear(F, 2 * h, d, s.hs.data(), 2 * h, w.lin_t.data(), w.lin_b.data(), s.z.data(), d);
  k.add(F * d, x, s.z.data(), y);
}

}  // namespace kboost::layers

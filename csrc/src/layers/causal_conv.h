// Causal 3 x 3 convolution over (time, frequency) of one frame per step: the input conv (4 -> D),
// the output deconv (D -> 2 n_out, a ConvTranspose2d computed as the equivalent correlation) and
// the hint compression (2 n_out -> C_h). Causal in time (frames t-2, t-1, t), 'same' in frequency.
//
// Layout: input and output frames are bin-major, [F, C_in] -> [F, C_out].
#pragma once

#include <string>
#include <vector>

#include "kboost/model.h"
#include "layers/aligned_vector.h"

namespace kboost::layers {

struct CausalConvWeights {
  int n_in = 0, n_out = 0;
  AlignedFloats bias;  // [C_out]
  // The step's products are one GEMM over the state's [F, 3 C_in] rows of three frames (slot s =
  // frame index mod 3). Per time tap kt the weights are a [C_in, 3 C_out] matrix (the three
  // frequency taps side by side); for frame t the rows of slot s must meet time tap
  // (s - t + 2) mod 3, so the taps are kept in three orders, one per t mod 3:
  // w_slots [3 (t mod 3), 3 (slot), C_in, 3 C_out].
  AlignedFloats w_slots;
  AlignedFloats zeros;  // [3 C_out]: the GEMM's bias (the conv's own is added with the taps)
  /// by_tap [3 (time), C_in, 3 (freq), C_out] -> w_slots, zeros (n_in, n_out set).
  void arrange_slots(const AlignedFloats& by_tap);

  /// nn.Conv2d(C_in -> C_out, 3 x 3): `prefix`weight [C_out, C_in, 3, 3], `prefix`bias [C_out].
  static CausalConvWeights bind_conv(TensorSource& src, const std::string& prefix, int n_in, int n_out);
  /// nn.ConvTranspose2d(C_in -> C_out, 3 x 3, padding (2, 1)): `prefix`weight [C_in, C_out, 3, 3];
  /// as a correlation the kernel is transposed and flipped in time and frequency.
  static CausalConvWeights bind_deconv(TensorSource& src, const std::string& prefix, int n_in, int n_out);
};

struct CausalConvState {
  explicit CausalConvState(const CausalConvWeights& w);
  void reset();
  AlignedFloats frames;  // [F, 3, C_in]: per bin the last three frames, slot = frame index % 3
  AlignedFloats taps;    // [F, 3 C_out] scratch: each input bin's products with the 3 frequency taps
  long n_frames = 0;
};

/// in [F, C_in] (frame t) -> out [F, C_out]. in and out must not overlap.
void causal_conv_step(const CausalConvWeights& w, CausalConvState& s, const float* in, float* out);

}  // namespace kboost::layers

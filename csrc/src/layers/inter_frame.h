// Inter-frame module of a GridNet block: ChannelNorm -> unidirectional LSTM(D, H) over time, one
// sequence per bin, (h, c) carried from chunk to chunk -> Linear(H -> D) -> + residual.
//
// Layout: x [F, D] bin-major, in and out; state h, c [F, H].
#pragma once

#include <string>
#include <vector>

#include "kboost/model.h"
#include "layers/aligned_vector.h"

namespace kboost::layers {

struct InterFrameWeights {
  int d = 0, h = 0;
  AlignedFloats norm_w, norm_b;  // [D]
  // LSTM weights and biases below: in the kernels' gate units (times log2(e), g times 2 log2(e): kernels.h).
  AlignedFloats wih_t;  // [D, 4H]
  AlignedFloats whh_t;  // [H, 4H]
  AlignedFloats bias;   // [4H]: b_ih + b_hh
  AlignedFloats lin_t;  // [H, D]
  AlignedFloats lin_b;  // [D]

  /// `prefix`norm.*, `prefix`rnn.*_l0, `prefix`linear.* (InterFrame in layers.py).
  static InterFrameWeights bind(TensorSource& src, const std::string& prefix, int d, int h);
};

/// What a block carries from frame to frame.
struct InterFrameState {
  explicit InterFrameState(const InterFrameWeights& w);
  void reset();
  AlignedFloats h, c;  // [F, H] carried across frames
};

/// Working buffers of one step, nothing carried: the blocks of a stream share one (a smaller
/// working set keeps the KB fusion's key/value rings in L2 between chunks).
struct InterFrameScratch {
  explicit InterFrameScratch(const InterFrameWeights& w);
  AlignedFloats z;      // [F, D]
  AlignedFloats gates;  // [F, 4H]
};

/// x [F, D] -> y [F, D]; x == y allowed.
void inter_frame_step(const InterFrameWeights& w, InterFrameState& s, InterFrameScratch& scratch, const float* x,
                      float* y);

}  // namespace kboost::layers

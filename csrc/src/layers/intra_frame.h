// Intra-frame module of a GridNet block: ChannelNorm -> bidirectional LSTM(D, H) across the 97 bins
// of one frame -> Linear(2H -> D) -> + residual. Stateless across frames: IntraFrameScratch holds
// only working buffers.
//
// Layout: x [F, D] bin-major, in and out.
#pragma once

#include <string>
#include <vector>

#include "kboost/model.h"
#include "layers/aligned_vector.h"

namespace kboost::layers {

struct IntraFrameWeights {
  int d = 0, h = 0;
  AlignedFloats norm_w, norm_b;  // [D]
  // LSTM weights and biases below: in the kernels' gate units (times log2(e), g times 2 log2(e): kernels.h).
  AlignedFloats wih_t;      // [D, 8H]: forward gates (4H) | backward gates (4H)
  AlignedFloats bias;       // [8H]: b_ih + b_hh per direction
  AlignedFloats whh_t_fwd;  // [H, 4H]
  AlignedFloats whh_t_bwd;  // [H, 4H]
  AlignedFloats lin_t;      // [2H, D]
  AlignedFloats lin_b;      // [D]

  /// `prefix`norm.*, `prefix`rnn.*_l0{,_reverse}, `prefix`linear.* (IntraFrame in layers.py).
  static IntraFrameWeights bind(TensorSource& src, const std::string& prefix, int d, int h);
};

/// Working buffers of one step, nothing carried from frame to frame: the blocks of a stream share
/// one (a smaller working set keeps the KB fusion's key/value rings in L2 between chunks), as
/// they share InterFrameScratch.
struct IntraFrameScratch {
  explicit IntraFrameScratch(const IntraFrameWeights& w);
  AlignedFloats z;        // [F, D] normalised input
  AlignedFloats pre;      // [F, 8H] input projections of both directions
  AlignedFloats hs;       // [F, 2H] outputs (forward h | backward h)
  AlignedFloats scratch;  // [10H] of the BLSTM kernel
};

/// x [F, D] -> y [F, D]; x == y allowed.
void intra_frame_step(const IntraFrameWeights& w, IntraFrameScratch& s, const float* x, float* y);

}  // namespace kboost::layers

// Causal local multi-head self-attention of the large model (LocalSelfAttention in layers.py): the
// current frame attends to itself and the W-1 frames before it; history that does not exist yet is
// excluded. Per head l: Q, K = LN_(E,F)(PReLU_l(Conv1x1(x))), V = LN_(V,F)(PReLU_l(Conv1x1(x)));
// scores Q.K / sqrt(E F); heads concatenated -> Conv1x1(D -> D) -> PReLU -> LN_(D,F) -> + x.
//
// Layout: x [F, D] bin-major; K/V rings [W, L, E*F] / [W, L, V*F], index c*F + f.
#pragma once

#include <string>
#include <vector>

#include "kboost/model.h"
#include "layers/aligned_vector.h"

namespace kboost::layers {

struct LocalAttentionWeights {
  int d = 0, n_heads = 0, e = 0, v = 0, window = 0;
  struct Proj {
    AlignedFloats wt;              // [D, L*C]
    AlignedFloats bias;            // [L*C]
    AlignedFloats alpha;           // [L]
    AlignedFloats norm_w, norm_b;  // [L, C*F], index c*F + f
  } q, k, val;
  AlignedFloats proj_t, proj_b;  // [D, D], [D]
  float proj_alpha = 0.0f;
  AlignedFloats proj_norm_w, proj_norm_b;  // [F, D] (transposed from [D, F])

  static LocalAttentionWeights bind(TensorSource& src, const std::string& prefix, int d, int n_heads,
                                    int head_dim, int window);
};

struct LocalAttentionState {
  explicit LocalAttentionState(const LocalAttentionWeights& w);
  void reset();
  long n_frames = 0;
  AlignedFloats k_ring, v_ring;  // [W, L, E*F], [W, L, V*F]
  AlignedFloats proj;            // [F, L*max(E,V)] scratch
  AlignedFloats q;               // [L, E*F]
  AlignedFloats o;               // [L, V*F] = [D, F]
  AlignedFloats o_t;             // [F, D]
  AlignedFloats y;               // [F, D]
  AlignedFloats scores;          // [W]
};

/// x [F, D] (frame t) -> y [F, D]; x == y allowed.
void local_attention_step(const LocalAttentionWeights& w, LocalAttentionState& s, const float* x, float* y);

}  // namespace kboost::layers

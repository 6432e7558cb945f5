// Knowledge-boosting fusion after a block of the device model (KBFusion in layers.py, spec
// section 4). With x_t the block output and e the hint this frame uses (the compressed hint of
// chunk t-d, zeros when missing):
//   1. alignment: x_{t-d} from a FIFO of the last d block outputs (zeros before frame 0);
//   2. FiLM: m = x_{t-d} * film_scale(e) + film_shift(e)            (1x1 convs C_h -> D);
//   3. cross-attention, query from x_t, keys/values from the last W fused frames m:
//      q, k = LN_(F,E)(PReLU(Linear(D -> L E))), v = LN_(F,V)(PReLU(Linear(D -> D))), norms shared
//      by the heads; scale 1/sqrt(F E); heads re-assembled -> Linear(D -> D) -> PReLU -> LN_(F,D)
//      -> + x_t.
//
// Layout: x [F, D] bin-major; hint [C_h, F] channel-major (the wire layout); K/V rings
// [W, L, QK] / [W, L, VS], index f*E + e / f*V + c, where each head's F*E (F*V) values are padded
// with zeros to QK (VS), a whole number of 64-byte lines, and the rings start on a line: the
// attention streams them with aligned whole-vector loads (zeros in the query and the keys add
// nothing to the scores; the values' padding columns are computed and dropped).
#pragma once

#include <string>
#include <vector>

#include "kboost/model.h"
#include "layers/aligned_vector.h"

namespace kboost::layers {

struct KbFusionWeights {
  int d = 0, n_hint = 0, delay = 0, n_heads = 0, e = 0, v = 0, window = 0;
  AlignedFloats scale_t, scale_b, shift_t, shift_b;  // [C_h, D], [D]
  struct Proj {
    AlignedFloats wt, bias;  // [D, L*C], [L*C]
    float alpha = 0.0f;
    AlignedFloats norm_w, norm_b;  // [F*C], index f*C + c
  } q, k, val, proj;               // proj: C = D, one "head"

  static KbFusionWeights bind(TensorSource& src, const std::string& prefix, int d, int n_hint, int delay,
                              int n_heads, int head_dim, int window);
};

struct KbFusionState {
  explicit KbFusionState(const KbFusionWeights& w);
  void reset();
  long n_frames = 0;
  int qk_stride = 0, v_stride = 0;    // QK = F*E and VS = F*V padded to a multiple of 16 floats
  AlignedFloats align;           // [d+1, F, D], frame j in slot j % (d+1)
  AlignedFloats k_ring, v_ring;  // [L, W, QK], [L, W, VS]: each head's window one block
  AlignedFloats hint_t;          // [F, C_h]
  AlignedFloats m;               // [F, D] fused frame
  AlignedFloats tmp;             // [F, max(D, L*E)]
  AlignedFloats q;               // [L, QK] (padding zero)
  AlignedFloats o;               // [L, VS]
  AlignedFloats y;               // [F, D]
  AlignedFloats scores;          // [W]
};

/// x [F, D] (frame t), hint [C_h, F] or nullptr (zeros) -> y [F, D]; x == y allowed.
void kb_fusion_step(const KbFusionWeights& w, KbFusionState& s, const float* x, const float* hint, float* y);

}  // namespace kboost::layers

#include "layers/attention_util.h"

#include <algorithm>

#include "kernels/kernels.h"

namespace kboost::layers {

void attend_ring(const float* q, int n_qk, const float* k_ring, size_t slot_stride_k,
                 const float* v_ring, size_t slot_stride_v, int n_v, int window, long t, float scale,
                 float* scores, float* out) {
  const auto& k = kernels::kernels();
  // The frames that exist fill slots 0..n-1 (frame j sits in slot j % window: before the ring wraps
  // the n frames are slots 0..t, after it every slot holds one). Softmax and the weighted sum do not
  // depend on the order of the frames, so both run in slot order: the sum is one vector-matrix
  // product over the value rows.
  const int n = static_cast<int>(std::min<long>(t + 1, window));
  k.mat_vec(n, n_qk, k_ring, static_cast<int>(slot_stride_k), q, scores);
  for (int j = 0; j < n; ++j) scores[j] *= scale;
  kernels::softmax(scores, n);
  k.vec_mat(n, n_v, scores, v_ring, static_cast<int>(slot_stride_v), out);
}

void split_heads(const float* z, int n_freqs, int n_heads, int c, bool channel_major, float* out) {
  const size_t group = static_cast<size_t>(n_freqs) * c;
  for (int f = 0; f < n_freqs; ++f)
    for (int l = 0; l < n_heads; ++l)
      for (int e = 0; e < c; ++e) {
        const float v = z[(static_cast<size_t>(f) * n_heads + l) * c + e];
        out[l * group + (channel_major ? static_cast<size_t>(e) * n_freqs + f : static_cast<size_t>(f) * c + e)] = v;
      }
}

}  // namespace kboost::layers

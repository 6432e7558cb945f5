#include "layers/attention_util.h"

#include <algorithm>

#include "kernels/kernels.h"

namespace kboost::layers {

void attend_ring(const float* q, int n_qk, const float* k_ring, size_t slot_stride_k,
                 const float* v_ring, size_t slot_stride_v, int n_v, int window, long t, float scale,
                 float* scores, float* out) {
  const auto& k = kernels::kernels();
  const long first = std::max(0L, t - window + 1);
  const int n = static_cast<int>(t - first + 1);
  for (int j = 0; j < n; ++j) {
    const float* kj = k_ring + static_cast<size_t>((first + j) % window) * slot_stride_k;
    scores[j] = k.dot(n_qk, q, kj) * scale;
  }
  kernels::softmax(scores, n);
  std::fill(out, out + n_v, 0.0f);
  for (int j = 0; j < n; ++j) {
    const float p = scores[j];
    const float* vj = v_ring + static_cast<size_t>((first + j) % window) * slot_stride_v;
    k.axpy(n_v, p, vj, out);
  }
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

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

namespace {
size_t group_of(int n_freqs, int c, size_t head_stride) {
  return head_stride != 0 ? head_stride : static_cast<size_t>(n_freqs) * c;
}
}  // namespace

void merge_heads(const float* o, int n_freqs, int n_heads, int c, float* out, size_t head_stride) {
  // the inverse of split_heads_prelu's copy
  kernels::kernels().heads_merge(n_freqs, n_heads, c, o, static_cast<long>(group_of(n_freqs, c, head_stride)), out);
}

void split_heads_prelu(const float* z, int n_freqs, int n_heads, int c, float alpha, float* out, size_t head_stride) {
  kernels::kernels().heads_split(n_freqs, n_heads, c, z, alpha, out,
                                 static_cast<long>(group_of(n_freqs, c, head_stride)));
}

void transpose(int rows, int cols, const float* a, int lda, float* t, int ldt) {
  constexpr int B = 8;
  int i = 0;
  for (; i + B <= rows; i += B)
    for (int j = 0; j < cols; ++j) {
      const float* src = a + static_cast<size_t>(i) * lda + j;
      float* dst = t + static_cast<size_t>(j) * ldt + i;
      for (int r = 0; r < B; ++r) dst[r] = src[static_cast<size_t>(r) * lda];
    }
  for (; i < rows; ++i)
    for (int j = 0; j < cols; ++j) t[static_cast<size_t>(j) * ldt + i] = a[static_cast<size_t>(i) * lda + j];
}

}  // namespace kboost::layers

// Helpers shared by the attention layers (local self-attention, KB fusion cross-attention).
#pragma once

#include <cstddef>

namespace kboost::layers {

/// One head of attention over the frames held in a ring of `window` slots (frame j in slot
/// j % window): the frames max(0, t - window + 1) .. t, i.e. the current frame t (already written)
/// and those before it that exist. Frames that do not exist yet are excluded from the softmax.
///   q [n_qk]; keys of slot s at k_ring + s * slot_stride_k; values at v_ring + s * slot_stride_v,
///   [n_v] each; scores: scratch of >= window floats; out [n_v] = sum_j softmax(q.k_j * scale) v_j.
void attend_ring(const float* q, int n_qk, const float* k_ring, size_t slot_stride_k,
                 const float* v_ring, size_t slot_stride_v, int n_v, int window, long t, float scale,
                 float* scores, float* out);

/// Scatter a bin-major projection z [F, L * C] (column l*C + c) into head-major groups.
///   channel_major: out[l][c * F + f]  (local self-attention: per-head LN over (C, F))
///   else:          out[l][f * C + c]  (KB fusion: per-head LN over (F, C))
/// Head l starts at out + l * head_stride (0: F * C, the groups back to back; a larger stride
/// leaves padding after each group untouched).
void split_heads(const float* z, int n_freqs, int n_heads, int c, bool channel_major, float* out,
                 size_t head_stride = 0);

/// split_heads' bin-major case with nn.PReLU (one parameter alpha) applied on the way: the KB
/// fusion's projections, without a separate pass over z.
void split_heads_prelu(const float* z, int n_freqs, int n_heads, int c, float alpha, float* out,
                       size_t head_stride = 0);

/// The inverse of split_heads' bin-major case: o [L][f * C + c] (head l at o + l * head_stride,
/// 0: F * C) -> out [F, L * C].
void merge_heads(const float* o, int n_freqs, int n_heads, int c, float* out, size_t head_stride = 0);

/// t[j][i] = a[i][j] for a [rows, cols] (row stride lda) into t [cols, rows] (row stride ldt).
void transpose(int rows, int cols, const float* a, int lda, float* t, int ldt);

}  // namespace kboost::layers

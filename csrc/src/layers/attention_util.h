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

/// Scatter a bin-major projection z [F, L * C] (column l*C + c) into head-major groups with
/// nn.PReLU (one parameter alpha) on the way: out[l][f * C + c] = prelu(z[f][l * C + c]) (the KB
/// fusion's projections, per-head LN over (F, C) after it). Head l starts at out + l * head_stride
/// (0: F * C, the groups back to back; a larger stride leaves padding after each group untouched).
/// (Local self-attention's channel-major heads, out[l][c * F + f], are the transpose of z.)
void split_heads_prelu(const float* z, int n_freqs, int n_heads, int c, float alpha, float* out,
                       size_t head_stride = 0);

/// The inverse of split_heads_prelu without the activation: o [L][f * C + c] (head l at o + l * head_stride,
/// 0: F * C) -> out [F, L * C].
void merge_heads(const float* o, int n_freqs, int n_heads, int c, float* out, size_t head_stride = 0);

/// t[j][i] = a[i][j] for a [rows, cols] (row stride lda) into t [cols, rows] (row stride ldt).
void transpose(int rows, int cols, const float* a, int lda, float* t, int ldt);

}  // namespace kboost::layers

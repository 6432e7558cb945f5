// Small dense kernels of the streaming core: the products and activations every layer is made of.
//
// Each kernel has a scalar reference `*_ref` (always built, the definition of the result) and may
// have ISA variants beside it (`*_avx2`, `*_neon`); `kernels()` picks one table once, at the first
// call, from what the CPU supports (never from -march=native: one binary runs on every CPU of its
// architecture). Layers call kernels only through that table.
//
// Layout legend: row-major everywhere; `ld*` is the distance in floats between consecutive rows.
// Weights of a PyTorch Linear W [N, K] are stored transposed, wt [K, N], so that the inner loop of
// a product runs over contiguous outputs.
#pragma once

namespace kboost::kernels {

/// y[m][n] = bias[n] + sum_k x[m][k] wt[k][n]. bias may be null (zero). x and y must not overlap.
using LinearFn = void (*)(int m, int k, int n, const float* x, int ldx, const float* wt,
                          const float* bias, float* y, int ldy);
/// y[m][n] += sum_k x[m][k] wt[k][n].
using LinearAccFn = void (*)(int m, int k, int n, const float* x, int ldx, const float* wt,
                             float* y, int ldy);
/// y[n] = sum_p x[p] wt[p][n] with weight rows ldw apart (>= n): e.g. attention's softmax-weighted
/// sum of value rows, x the k weights.
using VecMatFn = void (*)(int k, int n, const float* x, const float* wt, int ldw, float* y);
/// LSTM cell updates of m independent rows from their pre-activations gates [m, 4H] (PyTorch order
/// i, f, g, o per row) in the kernels' GATE UNITS: each gate times log2(e) and the g gate times
/// 2 log2(e). The layers scale the weights and biases that feed the gates at load
/// (layers::to_gate_units), so that the sigmoids are 1 / (1 + 2^-x) (no multiply before the
/// exponential; one fewer per value) and one sigmoid pass over all 4H values serves every gate,
/// tanh(g) = 2 sigmoid(2g) - 1: c = sigmoid(f) c + sigmoid(i) tanh(g); h = sigmoid(o) tanh(c), with
/// c in natural units.
/// h_state, c_state: [m, H], updated in place; gates is scratch (overwritten by the activations).
using LstmCellsFn = void (*)(int m, int h, float* gates, float* h_state, float* c_state);
/// One step of m independent LSTMs (the inter-frame LSTM: one per frequency bin), from their inputs:
/// gates = bias + x W_ih + h W_hh (x [m, k] with rows k apart; wih_t [k, 4H], whh_t [H, 4H], bias
/// [4H], all in gate units as for LstmCellsFn), then the cell update of LstmCellsFn on h_state,
/// c_state [m, H] in place. Each gate sums bias, then x's k products, then h's H products in order:
/// the gates of linear + linear_acc, bit for bit, without their round trip through memory.
/// scratch: [m, 4H] floats.
using LstmRowsFn = void (*)(int m, int k, int h, const float* x, const float* wih_t, const float* bias,
                            const float* whh_t, float* h_state, float* c_state, float* scratch);
/// A whole LSTM sequence of n steps from a zero state, over rows 0..n-1 (or n-1..0 with reverse):
/// at row f, gates = pre[f] + W_hh h_prev (pre [n, ld_pre] holds the input projections with the
/// biases, its first 4H values per row are used; whh_t [H, 4H]; both in gate units, as for
/// LstmCellsFn), the cell update, out[f][0..H) = h.
/// scratch: [5H] floats (gates and c).
using LstmSeqFn = void (*)(int h, int n, bool reverse, const float* pre, int ld_pre, const float* whh_t,
                           float* out, int ld_out, float* scratch);
/// y[i] = sum_p a[i][p] x[p], i < m (a: m rows of n, lda apart), e.g. attention scores against a ring.
using MatVecFn = void (*)(int m, int n, const float* a, int lda, const float* x, float* y);
/// A bidirectional LSTM over rows 0..n-1 from zero states: pre [n, ld_pre] holds per row the input
/// projections of the forward (first 4H values) and backward (next 4H) directions; out [n, ld_out]
/// gets per row forward h (first H) and backward h (next H). The same result as two LstmSeqFn
/// calls; small sizes run both chains interleaved. scratch: [10H] floats.
using BlstmFn = void (*)(int h, int n, const float* pre, int ld_pre, const float* whh_fwd_t, const float* whh_bwd_t,
                         float* out, int ld_out, float* scratch);
/// sum_i a[i] b[i] (a fixed summation order per variant).
using DotFn = float (*)(int n, const float* a, const float* b);
/// y += a x.
using AxpyFn = void (*)(int n, float a, const float* x, float* y);
/// y = a + b over n values (the layers' residual adds); y may be a or b.
using AddFn = void (*)(int n, const float* a, const float* b, float* y);
/// y = a b + c over n values (FiLM); y may be any of them.
using MulAddFn = void (*)(int n, const float* a, const float* b, const float* c, float* y);
/// The causal conv's frequency taps: out[f][j] = bias[j] + taps[f][C + j] + taps[f-1][j] (f > 0) +
/// taps[f+1][2C + j] (f < F-1), from taps [F, 3C] (each bin's products with taps kf = 0, 1, 2).
using ConvTapsFn = void (*)(int n_freqs, int c, const float* taps, const float* bias, float* out);
/// Attention heads out of a bin-major projection, with nn.PReLU (one parameter alpha) on the way:
/// out[l * head_stride + f * C + e] = prelu(z[f * L * C + l * C + e]) for f < F, l < L, e < C.
using HeadsSplitFn = void (*)(int n_freqs, int n_heads, int c, const float* z, float alpha, float* out,
                              long head_stride);
/// The inverse, without an activation: out[f * L * C + l * C + e] = o[l * head_stride + f * C + e].
using HeadsMergeFn = void (*)(int n_freqs, int n_heads, int c, const float* o, long head_stride, float* out);
/// See layer_norm_rows below.
using LayerNormFn = void (*)(int m, int n, const float* x, const float* w, const float* b, float* y, float eps);
/// LayerNorm in place over m rows of n values, ld apart, each with its own affine w, b [n] (rows
/// ldw apart; 0: one w, b for all): the attention heads' norms, several rows per call.
using LayerNormStridedFn = void (*)(int m, int n, float* x, long ld, const float* w, const float* b, long ldw,
                                    float eps);
/// See prelu below.
using PreluFn = void (*)(float* x, int n, float alpha);
/// See softmax below.
using SoftmaxFn = void (*)(float* x, int n);

struct Kernels {
  const char* name;
  int vector_bytes;  ///< the table's vector width: 16 (SSE2, NEON), 32 (AVX2), 64 (AVX-512); 4 scalar
  LinearFn linear;
  LinearAccFn linear_acc;
  VecMatFn vec_mat;
  MatVecFn mat_vec;
  LstmCellsFn lstm_cells;
  LstmRowsFn lstm_rows;
  LstmSeqFn lstm_seq;
  BlstmFn blstm;
  DotFn dot;
  AxpyFn axpy;
  AddFn add;
  MulAddFn mul_add;
  ConvTapsFn conv_taps;
  HeadsSplitFn heads_split;
  HeadsMergeFn heads_merge;
  LayerNormFn layer_norm_rows;
  LayerNormStridedFn layer_norm_strided;
  PreluFn prelu;
  SoftmaxFn softmax;
};

/// The scalar reference table (the baseline ISA of the target: SSE2 on x86-64, NEON on aarch64,
/// through the compiler's vectoriser) and, on x86-64, the AVX2+FMA table (same source).
const Kernels& kernels_ref();
const Kernels* kernels_avx2();    ///< null where not built
const Kernels* kernels_avx512();  ///< null where not built (AVX-512 F/VL/BW/DQ + FMA, 64-byte vectors)

/// Whether this CPU (and OS) can run a table: "ref" always, "avx2+fma", "avx512".
bool cpu_supports(const Kernels& table);

/// The table chosen for this CPU, once (thread-safe): the widest one built that the CPU supports
/// (AVX-512, then AVX2+FMA, then the reference). KBOOST_KERNELS=ref|avx2|avx512 in the environment
/// caps the choice at that table (tests, comparisons, profiling under valgrind, which has no
/// AVX-512); a value it does not know is ignored.
const Kernels& kernels();

// ---- element-wise helpers (through the chosen table) ----------------------------------------------

/// x = x >= 0 ? x : alpha x, in place (nn.PReLU with one parameter).
void prelu(float* x, int n, float alpha);

/// LayerNorm over the last `n` values of each of `m` rows (stride n): y = (x - mean) / sqrt(var +
/// eps) * w + b with a per-element affine w, b [n] (nn.LayerNorm / ChannelNorm). In place allowed.
void layer_norm_rows(int m, int n, const float* x, const float* w, const float* b, float* y,
                     float eps = 1e-5f);

/// In-place numerically stable softmax of n >= 1 scores (through the chosen table).
void softmax(float* x, int n);

}  // namespace kboost::kernels

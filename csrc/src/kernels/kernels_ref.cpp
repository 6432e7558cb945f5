// The reference kernel table: kernels_body.inc compiled with the target's baseline flags, plus the
// helpers that need no variants and the start-up choice of a table.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/kernels_body.inc"

namespace kboost::kernels {

const Kernels& kernels_ref() {
  static const Kernels table{"ref", &body_linear, &body_linear_acc, &body_vec_mat, &body_lstm_cells,
                             &body_lstm_seq, &body_dot,
                             &body_axpy};
  return table;
}

const Kernels& kernels() {
  static const Kernels& table = [] () -> const Kernels& {
    const char* force = std::getenv("KBOOST_KERNELS");
    if (force != nullptr && std::strcmp(force, "ref") == 0) return kernels_ref();
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (kernels_avx2() != nullptr && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return *kernels_avx2();
#endif
    return kernels_ref();
  }();
  return table;
}

namespace {
// Sum with eight partial sums (a fixed order that the compiler vectorises without fast-math).
float sum8(int n, const float* x) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += x[i + l];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += x[i];
  return s;
}
float sum_sq_dev8(int n, const float* x, float mu) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += (x[i + l] - mu) * (x[i + l] - mu);
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += (x[i] - mu) * (x[i] - mu);
  return s;
}
}  // namespace

void layer_norm_rows(int m, int n, const float* x, const float* w, const float* b, float* y, float eps) {
  // Two passes (mean, then squared deviations) in float: as nn.LayerNorm within float rounding.
  for (int i = 0; i < m; ++i) {
    const float* xi = x + static_cast<long>(i) * n;
    float* yi = y + static_cast<long>(i) * n;
    const float mu = sum8(n, xi) / static_cast<float>(n);
    const float var = sum_sq_dev8(n, xi, mu) / static_cast<float>(n);
    const float rstd = 1.0f / std::sqrt(var + eps);
    for (int j = 0; j < n; ++j) yi[j] = (xi[j] - mu) * rstd * w[j] + b[j];
  }
}

void softmax(float* x, int n) {
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace kboost::kernels

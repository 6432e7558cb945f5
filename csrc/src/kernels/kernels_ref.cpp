// The reference kernel table: kernels_body.inc compiled with the target's baseline flags, plus the
// helpers that need no variants and the start-up choice of a table.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/kernels_body.inc"

namespace kboost::kernels {

const Kernels& kernels_ref() {
  static const Kernels table{"ref", &body_linear, &body_linear_acc, &body_lstm_cell, &body_lstm_step, &body_dot,
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

void layer_norm_rows(int m, int n, const float* x, const float* w, const float* b, float* y, float eps) {
  for (int i = 0; i < m; ++i) {
    const float* xi = x + static_cast<long>(i) * n;
    float* yi = y + static_cast<long>(i) * n;
    double sum = 0.0;
    for (int j = 0; j < n; ++j) sum += xi[j];
    const double mean = sum / n;
    double sq = 0.0;
    for (int j = 0; j < n; ++j) {
      const double d = xi[j] - mean;
      sq += d * d;
    }
    const float rstd = static_cast<float>(1.0 / std::sqrt(sq / n + eps));
    const float mu = static_cast<float>(mean);
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

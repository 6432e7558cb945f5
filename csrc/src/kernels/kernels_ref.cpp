// The reference kernel table: kernels_body.inc compiled with the target's baseline flags, plus the
// helpers that need no variants and the start-up choice of a table.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/kernels_body.inc"

namespace kboost::kernels {

const Kernels& kernels_ref() {
  static const Kernels table{"ref", &body_linear, &body_linear_acc, &body_vec_mat, &body_mat_vec, &body_lstm_cells,
                             &body_lstm_seq, &body_blstm, &body_dot,
                             &body_axpy, &body_layer_norm_rows, &body_prelu};
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
  kernels().layer_norm_rows(m, n, x, w, b, y, eps);
}

void prelu(float* x, int n, float alpha) { kernels().prelu(x, n, alpha); }

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

// Scalar reference kernels: plain loops, written so that the compiler vectorises the inner loop
// over contiguous outputs with the baseline ISA of the target.
#include <cmath>

#include "kernels/kernels.h"

namespace kboost::kernels {

void linear_ref(int m, int k, int n, const float* x, int ldx, const float* wt, const float* bias,
                float* y, int ldy) {
  for (int i = 0; i < m; ++i) {
    float* yi = y + static_cast<long>(i) * ldy;
    if (bias != nullptr) {
      for (int j = 0; j < n; ++j) yi[j] = bias[j];
    } else {
      for (int j = 0; j < n; ++j) yi[j] = 0.0f;
    }
  }
  linear_acc_ref(m, k, n, x, ldx, wt, y, ldy);
}

void linear_acc_ref(int m, int k, int n, const float* x, int ldx, const float* wt, float* y,
                    int ldy) {
  for (int i = 0; i < m; ++i) {
    const float* xi = x + static_cast<long>(i) * ldx;
    float* __restrict yi = y + static_cast<long>(i) * ldy;
    for (int p = 0; p < k; ++p) {
      const float a = xi[p];
      const float* __restrict w = wt + static_cast<long>(p) * n;
      for (int j = 0; j < n; ++j) yi[j] += a * w[j];
    }
  }
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

void lstm_cell_ref(int h, const float* gates, float* h_state, float* c_state) {
  const float* gi = gates;
  const float* gf = gates + h;
  const float* gg = gates + 2 * h;
  const float* go = gates + 3 * h;
  for (int j = 0; j < h; ++j) {
    const float c = sigmoid(gf[j]) * c_state[j] + sigmoid(gi[j]) * std::tanh(gg[j]);
    c_state[j] = c;
    h_state[j] = sigmoid(go[j]) * std::tanh(c);
  }
}

void layer_norm_rows(int m, int n, const float* x, const float* w, const float* b, float* y,
                     float eps) {
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

const Kernels& kernels_ref() {
  static const Kernels table{"ref", &linear_ref, &linear_acc_ref, &lstm_cell_ref};
  return table;
}

const Kernels& kernels() {
  // ISA variants are chosen here once; until one exists, the reference is the table.
  static const Kernels& table = kernels_ref();
  return table;
}

}  // namespace kboost::kernels

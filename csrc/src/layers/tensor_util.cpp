#include "layers/tensor_util.h"

namespace kboost::layers {

AlignedFloats tensor(TensorSource& src, const std::string& name, const Shape& shape) {
  const std::vector<float> v = src.get(name, shape);
  return AlignedFloats(v.begin(), v.end());
}

AlignedFloats transposed(const AlignedFloats& a, int rows, int cols) {
  AlignedFloats t(a.size());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) t[static_cast<size_t>(c) * rows + r] = a[static_cast<size_t>(r) * cols + c];
  return t;
}

AlignedFloats summed(const AlignedFloats& a, const AlignedFloats& b) {
  AlignedFloats s(a.size());
  for (size_t i = 0; i < a.size(); ++i) s[i] = a[i] + b[i];
  return s;
}

AlignedFloats linear_weight_t(TensorSource& src, const std::string& name, int n_out, int n_in) {
  return transposed(tensor(src, name, {n_out, n_in}), n_out, n_in);
}

void to_gate_units(AlignedFloats& a, int row_len, int h) {
  const double log2e = 1.44269504088896340736;
  for (size_t r = 0; r + static_cast<size_t>(row_len) <= a.size(); r += static_cast<size_t>(row_len))
    for (int group = 0; group + 4 * h <= row_len; group += 4 * h)
      for (int j = 0; j < 4 * h; ++j) {
        float& v = a[r + static_cast<size_t>(group + j)];
        v = static_cast<float>(static_cast<double>(v) * (j >= 2 * h && j < 3 * h ? 2.0 * log2e : log2e));
      }
}

float prelu_weight(TensorSource& src, const std::string& name) { return src.get(name, {1})[0]; }

}  // namespace kboost::layers

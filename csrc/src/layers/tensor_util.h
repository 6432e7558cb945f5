// Load-time helpers shared by the layers' weight binders (never used on the hot path).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kboost/model.h"
#include "layers/aligned_vector.h"

namespace kboost::layers {

using Shape = std::vector<int64_t>;

/// The tensor `name` of `shape` from src, in a buffer that starts on a cache line (every weight,
/// state and scratch array of the core does: an AVX-512 load from a 16-byte aligned row touches
/// two lines; docs/perf-notes.md, entry 18).
AlignedFloats tensor(TensorSource& src, const std::string& name, const Shape& shape);

/// [rows, cols] row-major -> [cols, rows] row-major.
AlignedFloats transposed(const AlignedFloats& a, int rows, int cols);

/// a[i] + b[i].
AlignedFloats summed(const AlignedFloats& a, const AlignedFloats& b);

/// The Linear weight `name` of shape [n_out, n_in] stored transposed, [n_in, n_out].
AlignedFloats linear_weight_t(TensorSource& src, const std::string& name, int n_out, int n_in);

/// The LSTM kernels' gate units (kernels.h, LstmCellsFn) on `a` (rows of `row_len` values holding
/// groups of 4H gates in PyTorch order i, f, g, o): every column times log2(e), the g columns times
/// 2 log2(e), each product computed in double and rounded once.
void to_gate_units(AlignedFloats& a, int row_len, int h);

/// A single-parameter nn.PReLU weight `name` [1].
float prelu_weight(TensorSource& src, const std::string& name);

}  // namespace kboost::layers

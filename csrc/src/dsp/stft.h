// Streaming STFT analysis and overlap-add synthesis on kboost's chunk grid (training/kboost_train/
// stft.py): window = n_fft = 192 (periodic Hamming), hop = chunk = 128, 97 one-sided bins. Call k
// analyses the frame [128k - 64, 128k + 128) (64 samples kept from the previous call + 128 new)
// and synthesises output samples by overlap-adding with the previous frame's 64-sample tail,
// normalised by the squared-window envelope, so analysis -> synthesis is the identity delayed by
// the 64-sample lookahead.
//
// Two ways to transform a frame, the same result within float rounding:
// - kFft: Eigen's FFT (real transforms on the half spectrum), one frame at a time.
// - kDft: real DFTs as matrix products on the kernel table's GEMM, all channels in one product.
//   The frame's even and odd parts about n = N/2 (x_n +- x_(N-n); the window is symmetric, w_n =
//   w_(N-n)) halve the work: the real parts are a [97 x 97] cosine product, the imaginary ones a
//   [95 x 97] sine product, and the inverse uses the same two (symmetric) tables, 74 KB shared by
//   every instance. 37 k multiply-adds per analysis of two channels (the FFT does a few thousand
//   flops per channel, but scalar, ~20 values per butterfly pass).
// kAuto picks kDft on the AVX-512 table and kFft on the others: measured per table in
// docs/perf-notes.md (entry 15), the products win only with 16-lane vectors. The plans, tables and
// buffers are built in the constructor; a step allocates nothing.
#pragma once

#include <complex>
#include <memory>
#include <vector>

#include "kboost/model.h"
#include "layers/aligned_vector.h"

namespace kboost::dsp {

class Fft;  // Eigen::FFT<float> behind a pimpl, so that this header stays light
struct DftTables;

enum class Transform { kAuto, kFft, kDft };

/// kAuto resolved for the kernel table chosen for this CPU; kFft / kDft as given.
Transform resolve(Transform t);

/// The periodic Hamming window of 192 points, as torch.hamming_window(192) (computed in double).
const std::vector<float>& hamming_window();

class StftAnalyzer {
 public:
  /// n_channels: input channels (2 for binaural).
  explicit StftAnalyzer(int n_channels, Transform transform = Transform::kAuto);
  ~StftAnalyzer();
  void reset();
  /// in [C, 128] (the newest samples of each channel) -> feats [2C, F]: [re_0..re_C-1, im_0..im_C-1].
  void step(const float* in, float* feats);
  Transform transform() const { return transform_; }

 private:
  int n_channels_;
  Transform transform_;
  std::unique_ptr<Fft> fft_;         // kFft
  const DftTables* dft_ = nullptr;   // kDft
  layers::AlignedFloats hist_;             // [C, 64]
  layers::AlignedFloats frame_;            // kFft: [192]
  std::vector<std::complex<float>> spec_;  // kFft: [97]
  layers::AlignedFloats even_;             // kDft: [C, 97]: w_n (x_n + x_(N-n)), n = 0..96 (x_0, x_96 alone)
  layers::AlignedFloats odd_;              // kDft: [C, 95]: w_n (x_n - x_(N-n)), n = 1..95
};

class OlaSynthesizer {
 public:
  explicit OlaSynthesizer(int n_channels, Transform transform = Transform::kAuto);
  ~OlaSynthesizer();
  void reset();
  /// spec [F, 2C] bin-major, channel 2o = re, 2o+1 = im of output o -> out [C, 128].
  void step(const float* spec, float* out);
  Transform transform() const { return transform_; }

 private:
  // The windowed frame [192] of output c (into frame_).
  void inverse_fft(const float* spec, int c);
  void overlap_add(int c, float* out);

  int n_channels_;
  Transform transform_;
  std::unique_ptr<Fft> fft_;         // kFft
  const DftTables* dft_ = nullptr;   // kDft
  layers::AlignedFloats tail_;             // [C, 64]
  layers::AlignedFloats env_;              // [128]
  layers::AlignedFloats frame_;            // [192]: one output's windowed frame
  std::vector<std::complex<float>> spec_;  // kFft: [97]
  layers::AlignedFloats re_;               // kDft: [C, 97]: the real parts, weighted for the one-sided inverse
  layers::AlignedFloats im_;               // kDft: [C, 95]: the imaginary parts of bins 1..95, likewise
  layers::AlignedFloats even_;             // kDft: [C, 97]: the cosine sums (the frame's even part), n = 0..96
  layers::AlignedFloats odd_;              // kDft: [C, 97]: minus the sine sums (its odd part), 0 at n = 0, 96
};

}  // namespace kboost::dsp

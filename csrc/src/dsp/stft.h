// Streaming STFT analysis and overlap-add synthesis on kboost's chunk grid (training/kboost_train/
// stft.py): window = n_fft = 192 (periodic Hamming), hop = chunk = 128, 97 one-sided bins. Call k
// analyses the frame [128k - 64, 128k + 128) (64 samples kept from the previous call + 128 new)
// and synthesises output samples by overlap-adding with the previous frame's 64-sample tail,
// normalised by the squared-window envelope, so analysis -> synthesis is the identity delayed by
// the 64-sample lookahead. The FFT plan (Eigen's FFT) is built in the constructor; a step
// allocates nothing.
#pragma once

#include <complex>
#include <memory>
#include <vector>

#include "kboost/model.h"

namespace kboost::dsp {

class Fft;  // Eigen::FFT<float> behind a pimpl, so that this header stays light

/// The periodic Hamming window of 192 points, as torch.hamming_window(192) (computed in double).
const std::vector<float>& hamming_window();

class StftAnalyzer {
 public:
  /// n_channels: input channels (2 for binaural).
  explicit StftAnalyzer(int n_channels);
  ~StftAnalyzer();
  void reset();
  /// in [C, 128] (the newest samples of each channel) -> feats [2C, F]: [re_0..re_C-1, im_0..im_C-1].
  void step(const float* in, float* feats);

 private:
  int n_channels_;
  std::unique_ptr<Fft> fft_;
  std::vector<float> hist_;   // [C, 64]
  std::vector<float> frame_;  // [192]
  std::vector<std::complex<float>> spec_;  // [97]
};

class OlaSynthesizer {
 public:
  explicit OlaSynthesizer(int n_channels);
  ~OlaSynthesizer();
  void reset();
  /// spec [F, 2C] bin-major, channel 2o = re, 2o+1 = im of output o -> out [C, 128].
  void step(const float* spec, float* out);

 private:
  int n_channels_;
  std::unique_ptr<Fft> fft_;
  std::vector<float> tail_;   // [C, 64]
  std::vector<float> env_;    // [128]
  std::vector<float> frame_;  // [192]
  std::vector<std::complex<float>> spec_;  // [97]
};

}  // namespace kboost::dsp

#include "dsp/stft.h"

#include <algorithm>
#include <cmath>
#include <unsupported/Eigen/FFT>

namespace kboost::dsp {

namespace {
constexpr int N = kFftSize, F = kNumFreqs, HOP = kChunkSize, OVERLAP = kFftSize - kChunkSize;
}

class Fft {
 public:
  // HalfSpectrum: real transforms read/write the 97 one-sided bins only; inverse scaled by 1/N as
  // torch.fft.irfft (norm "backward"), which also ignores the imaginary part of DC and Nyquist.
  Fft() : fft_(Eigen::FFT<float>::impl_type(), Eigen::FFT<float>::HalfSpectrum) {
    // Build the plans and scratch now, so that steps never allocate.
    std::vector<float> x(N, 0.0f);
    std::vector<std::complex<float>> z(N);  // N, not F: the unused reflect path needs no bound
    fft_.fwd(z.data(), x.data(), N);
    fft_.inv(x.data(), z.data(), N);
  }
  void fwd(std::complex<float>* dst, const float* src) { fft_.fwd(dst, src, N); }
  void inv(float* dst, const std::complex<float>* src) { fft_.inv(dst, src, N); }

 private:
  Eigen::FFT<float> fft_;
};

const std::vector<float>& hamming_window() {
  static const std::vector<float> w = [] {
    std::vector<float> v(N);
    const double pi = 3.14159265358979323846;
    for (int n = 0; n < N; ++n) v[n] = static_cast<float>(0.54 - 0.46 * std::cos(2.0 * pi * n / N));
    return v;
  }();
  return w;
}

StftAnalyzer::StftAnalyzer(int n_channels)
    : n_channels_(n_channels),
      fft_(std::make_unique<Fft>()),
      hist_(static_cast<size_t>(n_channels) * OVERLAP, 0.0f),
      frame_(N),
      spec_(F) {}

StftAnalyzer::~StftAnalyzer() = default;

void StftAnalyzer::reset() { std::fill(hist_.begin(), hist_.end(), 0.0f); }

void StftAnalyzer::step(const float* in, float* feats) {
  const auto& w = hamming_window();
  const int c_n = n_channels_;
  for (int c = 0; c < c_n; ++c) {
    float* hist = hist_.data() + static_cast<size_t>(c) * OVERLAP;
    const float* x = in + static_cast<size_t>(c) * HOP;
    for (int i = 0; i < OVERLAP; ++i) frame_[i] = hist[i] * w[i];
    for (int i = 0; i < HOP; ++i) frame_[OVERLAP + i] = x[i] * w[OVERLAP + i];
    std::copy(x + HOP - OVERLAP, x + HOP, hist);
    fft_->fwd(spec_.data(), frame_.data());
    for (int f = 0; f < F; ++f) {
      feats[static_cast<size_t>(c) * F + f] = spec_[f].real();
      feats[static_cast<size_t>(c_n + c) * F + f] = spec_[f].imag();
    }
  }
}

OlaSynthesizer::OlaSynthesizer(int n_channels)
    : n_channels_(n_channels),
      fft_(std::make_unique<Fft>()),
      tail_(static_cast<size_t>(n_channels) * OVERLAP, 0.0f),
      env_(HOP),
      frame_(N),
      spec_(F) {
  // Same arithmetic as Stft.envelope: squared window in double, summed, then rounded to float.
  const double pi = 3.14159265358979323846;
  auto w2 = [&](int n) {
    const double w = 0.54 - 0.46 * std::cos(2.0 * pi * n / N);
    return w * w;
  };
  for (int i = 0; i < OVERLAP; ++i) env_[i] = static_cast<float>(w2(i) + w2(HOP + i));
  for (int i = OVERLAP; i < HOP; ++i) env_[i] = static_cast<float>(w2(i));
}

OlaSynthesizer::~OlaSynthesizer() = default;

void OlaSynthesizer::reset() { std::fill(tail_.begin(), tail_.end(), 0.0f); }

void OlaSynthesizer::step(const float* spec, float* out) {
  const auto& w = hamming_window();
  const int c_n = n_channels_;
  for (int c = 0; c < c_n; ++c) {
    for (int f = 0; f < F; ++f)
      spec_[f] = {spec[static_cast<size_t>(f) * 2 * c_n + 2 * c], spec[static_cast<size_t>(f) * 2 * c_n + 2 * c + 1]};
    fft_->inv(frame_.data(), spec_.data());
    for (int i = 0; i < N; ++i) frame_[i] *= w[i];
    float* tail = tail_.data() + static_cast<size_t>(c) * OVERLAP;
    float* y = out + static_cast<size_t>(c) * HOP;
    for (int i = 0; i < OVERLAP; ++i) y[i] = (frame_[i] + tail[i]) / env_[i];
    for (int i = OVERLAP; i < HOP; ++i) y[i] = frame_[i] / env_[i];
    std::copy(frame_.begin() + HOP, frame_.end(), tail);
  }
}

}  // namespace kboost::dsp

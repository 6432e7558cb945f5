#include "dsp/stft.h"

#include <algorithm>
#include <cmath>
#include <unsupported/Eigen/FFT>

#include "kernels/kernels.h"

namespace kboost::dsp {

namespace {
constexpr int N = kFftSize, F = kNumFreqs, HOP = kChunkSize, OVERLAP = kFftSize - kChunkSize;
constexpr int H = N / 2;     // 96: the Nyquist bin, and the frame's centre of symmetry
constexpr int NODD = H - 1;  // 95: bins (and samples) with a sine term
}  // namespace

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

// cos(2 pi n k / N) for n, k = 0..96 and -sin(2 pi n k / N) for n = 1..95, k = 0..96, in double
// from n k mod N, rounded to float. Both are symmetric in (n, k) over their common range, so the
// inverse reads them with the roles swapped.
struct DftTables {
  layers::AlignedFloats cos_t;   // [97, 97]
  layers::AlignedFloats nsin_t;  // [95, 97]
  DftTables() : cos_t(static_cast<size_t>(F) * F), nsin_t(static_cast<size_t>(NODD) * F) {
    const double pi = 3.14159265358979323846;
    for (int n = 0; n < F; ++n)
      for (int k = 0; k < F; ++k) {
        const double a = 2.0 * pi * static_cast<double>((n * k) % N) / N;
        cos_t[static_cast<size_t>(n) * F + k] = static_cast<float>(std::cos(a));
        if (n >= 1 && n <= NODD) nsin_t[static_cast<size_t>(n - 1) * F + k] = static_cast<float>(-std::sin(a));
      }
  }
  static const DftTables& get() {
    static const DftTables t;
    return t;
  }
};

Transform resolve(Transform t) {
  if (t != Transform::kAuto) return t;
  return kernels::kernels().vector_bytes >= 64 ? Transform::kDft : Transform::kFft;
}

const std::vector<float>& hamming_window() {
  static const std::vector<float> w = [] {
    std::vector<float> v(N);
    const double pi = 3.14159265358979323846;
    for (int n = 0; n < N; ++n) v[n] = static_cast<float>(0.54 - 0.46 * std::cos(2.0 * pi * n / N));
    return v;
  }();
  return w;
}

StftAnalyzer::StftAnalyzer(int n_channels, Transform transform)
    : n_channels_(n_channels), transform_(resolve(transform)), hist_(static_cast<size_t>(n_channels) * OVERLAP, 0.0f) {
  if (transform_ == Transform::kFft) {
    fft_ = std::make_unique<Fft>();
    frame_.resize(N);
    spec_.resize(F);
  } else {
    dft_ = &DftTables::get();
    even_.resize(static_cast<size_t>(n_channels) * F);
    odd_.resize(static_cast<size_t>(n_channels) * NODD);
  }
}

StftAnalyzer::~StftAnalyzer() = default;

void StftAnalyzer::reset() { std::fill(hist_.begin(), hist_.end(), 0.0f); }

void StftAnalyzer::step(const float* in, float* feats) {
  const auto& w = hamming_window();
  const int c_n = n_channels_;
  for (int c = 0; c < c_n; ++c) {
    float* hist = hist_.data() + static_cast<size_t>(c) * OVERLAP;
    const float* x = in + static_cast<size_t>(c) * HOP;
    // The frame is [hist (64) | x (128)].
    if (transform_ == Transform::kFft) {
      for (int i = 0; i < OVERLAP; ++i) frame_[i] = hist[i] * w[i];
      for (int i = 0; i < HOP; ++i) frame_[OVERLAP + i] = x[i] * w[OVERLAP + i];
      fft_->fwd(spec_.data(), frame_.data());
      for (int f = 0; f < F; ++f) {
        feats[static_cast<size_t>(c) * F + f] = spec_[f].real();
        feats[static_cast<size_t>(c_n + c) * F + f] = spec_[f].imag();
      }
    } else {
      // Sample n is hist[n] for n < 64, x[n - 64] above; x_(N-n) for n = 1..95 is x[128 - n].
      float* e = even_.data() + static_cast<size_t>(c) * F;
      float* o = odd_.data() + static_cast<size_t>(c) * NODD;
      e[0] = w[0] * hist[0];
      e[H] = w[H] * x[H - OVERLAP];
      for (int n = 1; n < OVERLAP; ++n) {
        e[n] = w[n] * (hist[n] + x[HOP - n]);
        o[n - 1] = w[n] * (hist[n] - x[HOP - n]);
      }
      for (int n = OVERLAP; n < H; ++n) {
        e[n] = w[n] * (x[n - OVERLAP] + x[HOP - n]);
        o[n - 1] = w[n] * (x[n - OVERLAP] - x[HOP - n]);
      }
    }
    std::copy(x + HOP - OVERLAP, x + HOP, hist);
  }
  if (transform_ == Transform::kDft) {
    // feats [2C, F]: the real parts (rows 0..C-1), then the imaginary parts.
    const auto& k = kernels::kernels();
    k.linear(c_n, F, F, even_.data(), F, dft_->cos_t.data(), nullptr, feats, F);
    k.linear(c_n, NODD, F, odd_.data(), NODD, dft_->nsin_t.data(), nullptr, feats + static_cast<size_t>(c_n) * F, F);
  }
}

OlaSynthesizer::OlaSynthesizer(int n_channels, Transform transform)
    : n_channels_(n_channels),
      transform_(resolve(transform)),
      tail_(static_cast<size_t>(n_channels) * OVERLAP, 0.0f),
      env_(HOP),
      frame_(N) {
  if (transform_ == Transform::kFft) {
    fft_ = std::make_unique<Fft>();
    spec_.resize(F);
  } else {
    dft_ = &DftTables::get();
    re_.resize(static_cast<size_t>(n_channels) * F);
    im_.resize(static_cast<size_t>(n_channels) * NODD);
    even_.resize(static_cast<size_t>(n_channels) * F);
    odd_.resize(static_cast<size_t>(n_channels) * F);
  }
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

void OlaSynthesizer::inverse_fft(const float* spec, int c) {
  const auto& w = hamming_window();
  const int c_n = n_channels_;
  for (int f = 0; f < F; ++f)
    spec_[f] = {spec[static_cast<size_t>(f) * 2 * c_n + 2 * c], spec[static_cast<size_t>(f) * 2 * c_n + 2 * c + 1]};
  fft_->inv(frame_.data(), spec_.data());
  for (int i = 0; i < N; ++i) frame_[i] *= w[i];
}

void OlaSynthesizer::overlap_add(int c, float* out) {
  const float* fr = frame_.data();
  float* tail = tail_.data() + static_cast<size_t>(c) * OVERLAP;
  float* y = out + static_cast<size_t>(c) * HOP;
  for (int i = 0; i < OVERLAP; ++i) y[i] = (fr[i] + tail[i]) / env_[i];
  for (int i = OVERLAP; i < HOP; ++i) y[i] = fr[i] / env_[i];
  std::copy(fr + HOP, fr + N, tail);
}

void OlaSynthesizer::step(const float* spec, float* out) {
  const int c_n = n_channels_;
  if (transform_ == Transform::kFft) {
    for (int c = 0; c < c_n; ++c) {
      inverse_fft(spec, c);
      overlap_add(c, out);
    }
    return;
  }
  // torch.fft.irfft (norm "backward") of the 97 bins, imaginary parts of DC and Nyquist ignored:
  // x_n = (1/N) [Re X_0 + (-1)^n Re X_96 + 2 sum_(k=1..95) (Re X_k cos - Im X_k sin)(2 pi k n / N)].
  const float inv_n = 1.0f / N, two_inv_n = 2.0f / N;
  for (int c = 0; c < c_n; ++c) {
    float* re = re_.data() + static_cast<size_t>(c) * F;
    float* im = im_.data() + static_cast<size_t>(c) * NODD;
    auto bin = [spec, c, c_n](int f, int part) { return spec[static_cast<size_t>(f) * 2 * c_n + 2 * c + part]; };
    re[0] = inv_n * bin(0, 0);
    re[H] = inv_n * bin(H, 0);
    for (int f = 1; f < H; ++f) {
      re[f] = two_inv_n * bin(f, 0);
      im[f - 1] = two_inv_n * bin(f, 1);
    }
  }
  const auto& k = kernels::kernels();
  k.linear(c_n, F, F, re_.data(), F, dft_->cos_t.data(), nullptr, even_.data(), F);
  k.linear(c_n, NODD, F, im_.data(), NODD, dft_->nsin_t.data(), nullptr, odd_.data(), F);
  const auto& w = hamming_window();
  for (int c = 0; c < c_n; ++c) {
    const float* e = even_.data() + static_cast<size_t>(c) * F;
    const float* o = odd_.data() + static_cast<size_t>(c) * F;
    // The windowed frame: w_n (e_n + o_n) for n <= 96, w_n (e_(N-n) - o_(N-n)) above.
    for (int n = 0; n <= H; ++n) frame_[n] = w[n] * (e[n] + o[n]);
    for (int n = H + 1; n < N; ++n) frame_[n] = w[n] * (e[N - n] - o[N - n]);
    overlap_add(c, out);
  }
}

}  // namespace kboost::dsp

#include "layers/speaker_film.h"

#include "kernels/kernels.h"
#include "layers/tensor_util.h"

namespace kboost::layers {

namespace {
constexpr int F = kNumFreqs;
}

SpeakerFilmWeights SpeakerFilmWeights::bind(TensorSource& src, const std::string& prefix, int d) {
  SpeakerFilmWeights w;
  w.d = d;
  const int n = 2 * d * F;
  w.w = tensor(src, prefix + "conv.weight", {n, kSpeakerDim, 1});
  w.bias = tensor(src, prefix + "conv.bias", {n});
  return w;
}

void speaker_film_compute(const SpeakerFilmWeights& w, const float* emb, float* film) {
  const int d = w.d;
  // Output o of the conv is (s, c, f) = o / (D F), (o / F) % D, o % F, viewed [2, D, F].
  for (int s = 0; s < 2; ++s)
    for (int c = 0; c < d; ++c)
      for (int f = 0; f < F; ++f) {
        const size_t o = (static_cast<size_t>(s) * d + c) * F + f;
        const float* row = w.w.data() + o * kSpeakerDim;
        double acc = w.bias[o];
        for (int i = 0; i < kSpeakerDim; ++i) acc += static_cast<double>(row[i]) * emb[i];
        film[(static_cast<size_t>(s) * F + f) * d + c] = static_cast<float>(acc);
      }
}

void speaker_film_apply(int d, const float* film, float* x) {
  const float* scale = film;
  const float* shift = film + static_cast<size_t>(F) * d;
  kernels::kernels().mul_add(F * d, x, scale, shift, x);
}

}  // namespace kboost::layers

// TSE speaker FiLM (SpeakerFiLM in layers.py): Conv1d(256 -> 2 D F) of the enrollment embedding
// gives a scale and a shift per channel and bin, x * scale + shift. The product is constant per
// enrollment: speaker_film_compute runs once per set_speaker, speaker_film_apply once per frame.
#pragma once

#include <string>
#include <vector>

#include "kboost/model.h"
#include "layers/aligned_vector.h"

namespace kboost::layers {

struct SpeakerFilmWeights {
  int d = 0;
  AlignedFloats w;     // [2 D F, 256]
  AlignedFloats bias;  // [2 D F]
  /// `prefix`conv.weight [2 D F, 256, 1], `prefix`conv.bias [2 D F].
  static SpeakerFilmWeights bind(TensorSource& src, const std::string& prefix, int d);
};

/// emb [256] -> film [2, F, D] (scale, shift; bin-major).
void speaker_film_compute(const SpeakerFilmWeights& w, const float* emb, float* film);
/// x [F, D] in place: x * scale + shift.
void speaker_film_apply(int d, const float* film, float* x);

}  // namespace kboost::layers

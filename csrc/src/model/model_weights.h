// The bound weights of a Model: one struct per layer, built from a TensorSource by name.
#pragma once

#include <optional>
#include <vector>

#include "kboost/model.h"
#include "layers/causal_conv.h"
#include "layers/inter_frame.h"
#include "layers/intra_frame.h"
#include "layers/kb_fusion.h"
#include "layers/local_attention.h"
#include "layers/speaker_film.h"

namespace kboost::detail {

struct BlockWeights {
  layers::IntraFrameWeights intra;
  layers::InterFrameWeights inter;
  std::optional<layers::LocalAttentionWeights> attn;  // large model only
};

struct ModelWeights {
  layers::CausalConvWeights encoder;             // encoder.conv.*: 4 -> D
  layers::AlignedFloats encoder_norm_w, encoder_norm_b;  // encoder_norm.*: [D]
  std::vector<BlockWeights> blocks;              // blocks.{i}.*
  std::vector<layers::SpeakerFilmWeights> speaker_films;  // speaker_films.{i}.* (TSE)
  std::vector<layers::KbFusionWeights> fusions;  // fusions.{i}.* (role device)
  layers::CausalConvWeights decoder;             // decoder.deconv.*: D -> 2 n_out
  std::optional<layers::CausalConvWeights> compressor;  // compress.conv.conv.* (role server)
};

}  // namespace kboost::detail

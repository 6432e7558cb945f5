// Every mutable buffer of one stream, sized from the model at construction.
#pragma once

#include <optional>
#include <vector>

#include "dsp/stft.h"
#include "kboost/model.h"
#include "layers/causal_conv.h"
#include "layers/inter_frame.h"
#include "layers/intra_frame.h"
#include "layers/kb_fusion.h"
#include "layers/local_attention.h"
#include "model/model_weights.h"

namespace kboost::detail {

// What each block carries from frame to frame (the intra-frame BLSTM carries nothing).
struct BlockState {
  explicit BlockState(const BlockWeights& w);
  layers::InterFrameState inter;
  std::optional<layers::LocalAttentionState> attn;
};

struct StreamState {
  explicit StreamState(const Model& model);
  void reset();

  dsp::StftAnalyzer stft;
  dsp::OlaSynthesizer ola;
  layers::CausalConvState encoder;
  std::vector<BlockState> blocks;
  // Working buffers shared by the blocks (every block has the same sizes).
  layers::IntraFrameScratch intra_scratch;
  layers::InterFrameScratch inter_scratch;
  std::vector<layers::KbFusionState> fusions;
  layers::CausalConvState decoder;
  std::optional<layers::CausalConvState> compressor;
  layers::AlignedFloats film;     // [B-1, 2, F, D] speaker FiLM (TSE)
  layers::AlignedFloats feats;    // [4, F]
  layers::AlignedFloats feats_t;  // [F, 4]
  layers::AlignedFloats x;        // [F, D]
  layers::AlignedFloats spec;     // [F, 2 n_out]
  layers::AlignedFloats hint;     // [C_h, F] the hint of this chunk (device)
  layers::AlignedFloats hint_t;   // [F, C_h] compressor output (server)
};

}  // namespace kboost::detail

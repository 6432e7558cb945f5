// Streamer: the per-frame forward of the model as a short composition of layer steps.
#include "kboost/stream.h"

#include <algorithm>

#include "kboost/error.h"
#include "kernels/kernels.h"
#include "layers/speaker_film.h"
#include "stream/hint_ring.h"
#include "stream/stream_state.h"

namespace kboost {

namespace detail {

namespace {
constexpr int F = kNumFreqs;
}

BlockState::BlockState(const BlockWeights& w) : inter(w.inter) {
  if (w.attn) attn.emplace(*w.attn);
}

StreamState::StreamState(const Model& model)
    : stft(kNumInChannels),
      ola(model.config().n_out()),
      encoder(model.weights().encoder),
      intra_scratch(model.weights().blocks.at(0).intra),
      inter_scratch(model.weights().blocks.at(0).inter),
      decoder(model.weights().decoder) {
  const auto& cfg = model.config();
  const auto& w = model.weights();
  for (const auto& b : w.blocks) blocks.emplace_back(b);
  for (const auto& fw : w.fusions) fusions.emplace_back(fw);
  if (w.compressor) compressor.emplace(*w.compressor);
  film.assign(static_cast<size_t>(std::max(0, cfg.n_blocks - 1)) * 2 * F * cfg.d_model, 0.0f);
  feats.resize(static_cast<size_t>(2 * kNumInChannels) * F);
  feats_t.resize(feats.size());
  x.resize(static_cast<size_t>(F) * cfg.d_model);
  spec.resize(static_cast<size_t>(F) * cfg.n_spec_channels());
  hint.resize(static_cast<size_t>(cfg.hint_size()));
  hint_t.resize(static_cast<size_t>(cfg.hint_size()));
}

void StreamState::reset() {
  stft.reset();
  ola.reset();
  encoder.reset();
  for (auto& b : blocks) {
    b.inter.reset();
    if (b.attn) b.attn->reset();
  }
  for (auto& f : fusions) f.reset();
  decoder.reset();
  if (compressor) compressor->reset();
}

}  // namespace detail

const char* kernel_isa() { return kernels::kernels().name; }

Streamer::Streamer(std::shared_ptr<const Model> model, const StreamerOptions& options)
    : model_(std::move(model)) {
  KBOOST_CHECK(model_ != nullptr, "Streamer: the model is null");
  KBOOST_CHECK(options.hint_ring_size >= 1, "Streamer: hint_ring_size must be >= 1 chunk, got ",
               options.hint_ring_size);
  state_ = std::make_unique<detail::StreamState>(*model_);
  if (config().has_fusion()) hints_ = std::make_unique<detail::HintRing>(options.hint_ring_size, config().hint_size());
}

Streamer::~Streamer() = default;

void Streamer::set_speaker(const float* embedding, size_t size) {
  const auto& cfg = config();
  KBOOST_CHECK(cfg.has_speaker(), "set_speaker: a ", to_string(cfg.task), " model takes no speaker embedding");
  KBOOST_CHECK(embedding != nullptr && size == static_cast<size_t>(kSpeakerDim), "set_speaker: expected ",
               kSpeakerDim, " floats, got ", size);
  const size_t per_block = static_cast<size_t>(2) * kNumFreqs * cfg.d_model;
  const auto& films = model_->weights().speaker_films;
  for (size_t i = 0; i < films.size(); ++i)
    layers::speaker_film_compute(films[i], embedding, state_->film.data() + i * per_block);
  speaker_set_ = true;
}

void Streamer::reset() {
  state_->reset();
  if (hints_) hints_->reset();
  chunk_index_.store(0, std::memory_order_release);
  n_chunks_ = n_used_ = n_missing_ = 0;
}

bool Streamer::push_hint(int64_t chunk_index, const float* hint, size_t size) {
  KBOOST_CHECK(hints_ != nullptr, "push_hint: this ", to_string(config().role),
               " model takes no hints (only a device model of a KB config does)");
  return hints_->push(chunk_index, hint, size) == detail::HintRing::PushResult::accepted;
}

StreamStats Streamer::stats() const {
  StreamStats s;
  s.n_chunks = n_chunks_.load(std::memory_order_relaxed);
  s.n_hints_used = n_used_.load(std::memory_order_relaxed);
  s.n_hints_missing = n_missing_.load(std::memory_order_relaxed);
  if (hints_) {
    s.n_hints_accepted = hints_->n_accepted();
    s.n_hints_late = hints_->n_late();
    s.n_hints_duplicate = hints_->n_duplicate();
    s.n_hints_future = hints_->n_future();
    s.n_hints_bad_size = hints_->n_bad_size();
  }
  return s;
}

void Streamer::process_chunk(const float* in, size_t in_size, float* out, size_t out_size, float* hint_out,
                             size_t hint_out_size) {
  const auto& cfg = config();
  KBOOST_CHECK(in != nullptr && in_size == static_cast<size_t>(kNumInChannels * kChunkSize),
               "process_chunk: input must be [2, 128] = 256 floats, got ", in_size);
  KBOOST_CHECK(out != nullptr && out_size == static_cast<size_t>(cfg.n_out() * kChunkSize),
               "process_chunk: output must be [", cfg.n_out(), ", 128] = ", cfg.n_out() * kChunkSize,
               " floats, got ", out_size);
  if (hint_out != nullptr) {
    KBOOST_CHECK(cfg.has_compressor(), "process_chunk: hint_out given but this ", to_string(cfg.role),
                 " model produces no hints (only a server model does)");
    KBOOST_CHECK(hint_out_size == static_cast<size_t>(cfg.hint_size()), "process_chunk: hint_out must be [",
                 cfg.n_hint_channels(), ", 97] = ", cfg.hint_size(), " floats, got ", hint_out_size);
  }
  KBOOST_CHECK(!cfg.has_speaker() || speaker_set_,
               "process_chunk: a TSE model needs the target speaker: call set_speaker(embedding) first");
  forward(in, out, hint_out);
}

void Streamer::forward(const float* in, float* out, float* hint_out) {
  constexpr int F = kNumFreqs;
  const auto& cfg = config();
  const auto& w = model_->weights();
  auto& s = *state_;
  const int d = cfg.d_model, n_feat = 2 * kNumInChannels;
  const int64_t k = chunk_index_.load(std::memory_order_relaxed);

  // STFT analysis -> causal input conv -> channel norm.
  s.stft.step(in, s.feats.data());
  for (int c = 0; c < n_feat; ++c)
    for (int f = 0; f < F; ++f) s.feats_t[static_cast<size_t>(f) * n_feat + c] = s.feats[static_cast<size_t>(c) * F + f];
  layers::causal_conv_step(w.encoder, s.encoder, s.feats_t.data(), s.x.data());
  kernels::layer_norm_rows(F, d, s.x.data(), w.encoder_norm_w.data(), w.encoder_norm_b.data(), s.x.data());

  // The hint of chunk k - d (a device model): used, missing (zeros), or none exists yet (zeros).
  const float* hint = nullptr;
  if (hints_ != nullptr && k >= cfg.kb_delay) {
    if (hints_->take(k - cfg.kb_delay, s.hint.data())) {
      hint = s.hint.data();
      n_used_.fetch_add(1, std::memory_order_relaxed);
    } else {
      n_missing_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  const size_t film_size = static_cast<size_t>(2) * F * d;
  for (size_t i = 0; i < s.blocks.size(); ++i) {
    layers::intra_frame_step(w.blocks[i].intra, s.intra_scratch, s.x.data(), s.x.data());
    layers::inter_frame_step(w.blocks[i].inter, s.blocks[i].inter, s.inter_scratch, s.x.data(), s.x.data());
    if (w.blocks[i].attn) layers::local_attention_step(*w.blocks[i].attn, *s.blocks[i].attn, s.x.data(), s.x.data());
    if (i + 1 < s.blocks.size()) {
      if (cfg.has_speaker()) layers::speaker_film_apply(d, s.film.data() + i * film_size, s.x.data());
      if (cfg.has_fusion()) layers::kb_fusion_step(w.fusions[i], s.fusions[i], s.x.data(), hint, s.x.data());
    }
  }

  // Causal output deconv -> overlap-add synthesis (and, for a server, the compressed hint).
  layers::causal_conv_step(w.decoder, s.decoder, s.x.data(), s.spec.data());
  s.ola.step(s.spec.data(), out);
  if (s.compressor) {
    layers::causal_conv_step(*w.compressor, *s.compressor, s.spec.data(), s.hint_t.data());
    if (hint_out != nullptr) {
      const int ch = cfg.n_hint_channels();
      for (int c = 0; c < ch; ++c)
        for (int f = 0; f < F; ++f) hint_out[static_cast<size_t>(c) * F + f] = s.hint_t[static_cast<size_t>(f) * ch + c];
    }
  }
  n_chunks_.fetch_add(1, std::memory_order_relaxed);
  chunk_index_.store(k + 1, std::memory_order_release);
}

}  // namespace kboost

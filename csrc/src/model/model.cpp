// Model: config validation and binding every layer's weights by its PyTorch state_dict name.
#include "kboost/model.h"

#include <sstream>

#include "kboost/error.h"
#include "layers/tensor_util.h"
#include "model/model_weights.h"

namespace kboost {

const char* to_string(Task task) {
  switch (task) {
    case Task::ss: return "ss";
    case Task::tse: return "tse";
    case Task::se: return "se";
  }
  return "?";
}

const char* to_string(Role role) {
  switch (role) {
    case Role::model: return "model";
    case Role::device: return "device";
    case Role::server: return "server";
  }
  return "?";
}

Task parse_task(const std::string& s) {
  if (s == "ss") return Task::ss;
  if (s == "tse") return Task::tse;
  if (s == "se") return Task::se;
  KBOOST_CHECK(false, "unknown task '", s, "': expected one of ss, tse, se");
  return Task::ss;
}

Role parse_role(const std::string& s) {
  if (s == "model") return Role::model;
  if (s == "device") return Role::device;
  if (s == "server") return Role::server;
  KBOOST_CHECK(false, "unknown role '", s, "': expected one of model, device, server");
  return Role::model;
}

void ModelConfig::validate() const {
  auto positive = [](const char* field, int v) {
    KBOOST_CHECK(v > 0, "model config: ", field, " must be positive, got ", v);
  };
  positive("d_model", d_model);
  positive("n_blocks", n_blocks);
  positive("n_hidden", n_hidden);
  KBOOST_CHECK(n_attn_heads >= 0, "model config: n_attn_heads must be >= 0, got ", n_attn_heads);
  if (n_attn_heads > 0) {
    positive("attn_head_dim", attn_head_dim);
    positive("attn_window", attn_window);
    KBOOST_CHECK(attn_window <= kMaxWindow, "model config: attn_window must be at most ", kMaxWindow,
                 " frames, got ", attn_window);
    KBOOST_CHECK(d_model % n_attn_heads == 0, "model config: d_model ", d_model,
                 " must be divisible by n_attn_heads ", n_attn_heads);
  }
  if (role != Role::model) {
    KBOOST_CHECK(kb_compression == 1 || kb_compression == 2 || kb_compression == 4,
                 "model config: kb_compression must be 1, 2 or 4, got ", kb_compression);
  }
  if (role == Role::device) {
    KBOOST_CHECK(kb_delay >= 0 && kb_delay <= kMaxDelay, "model config: kb_delay must be in 0..", kMaxDelay,
                 " chunks, got ", kb_delay);
    positive("kb_n_heads", kb_n_heads);
    positive("kb_head_dim", kb_head_dim);
    positive("kb_window", kb_window);
    KBOOST_CHECK(kb_window <= kMaxWindow, "model config: kb_window must be at most ", kMaxWindow,
                 " frames, got ", kb_window);
    KBOOST_CHECK(d_model % kb_n_heads == 0, "model config: d_model ", d_model, " must be divisible by kb_n_heads ",
                 kb_n_heads);
  }
}

std::string ModelConfig::to_string() const {
  std::ostringstream s;
  s << kboost::to_string(task) << ' ' << size << ' ' << kboost::to_string(role) << " D=" << d_model
    << " B=" << n_blocks << " H=" << n_hidden;
  if (n_attn_heads > 0) s << " heads=" << n_attn_heads << " E=" << attn_head_dim << " W=" << attn_window;
  if (role != Role::model) s << " d=" << kb_delay << " c=" << kb_compression;
  return s.str();
}

namespace {
/// Counts the floats handed out (the parameter count).
class CountingSource : public TensorSource {
 public:
  explicit CountingSource(TensorSource& inner) : inner_(inner) {}
  std::vector<float> get(const std::string& name, const std::vector<int64_t>& shape) override {
    auto v = inner_.get(name, shape);
    n_ += static_cast<int64_t>(v.size());
    return v;
  }
  int64_t n() const { return n_; }

 private:
  TensorSource& inner_;
  int64_t n_ = 0;
};
}  // namespace

Model::Model(const ModelConfig& config, TensorSource& source) : config_(config) {
  config_.validate();
  CountingSource src(source);
  auto w = std::make_unique<detail::ModelWeights>();
  const int d = config_.d_model, h = config_.n_hidden;
  w->encoder = layers::CausalConvWeights::bind_conv(src, "encoder.conv.", 2 * kNumInChannels, d);
  w->encoder_norm_w = layers::tensor(src, "encoder_norm.weight", {d});
  w->encoder_norm_b = layers::tensor(src, "encoder_norm.bias", {d});
  for (int i = 0; i < config_.n_blocks; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    detail::BlockWeights b{layers::IntraFrameWeights::bind(src, p + "intra.", d, h),
                           layers::InterFrameWeights::bind(src, p + "inter.", d, h), std::nullopt};
    if (config_.n_attn_heads > 0)
      b.attn = layers::LocalAttentionWeights::bind(src, p + "attn.", d, config_.n_attn_heads,
                                                   config_.attn_head_dim, config_.attn_window);
    w->blocks.push_back(std::move(b));
  }
  for (int i = 0; i + 1 < config_.n_blocks; ++i) {
    const std::string idx = std::to_string(i);
    if (config_.has_speaker())
      w->speaker_films.push_back(layers::SpeakerFilmWeights::bind(src, "speaker_films." + idx + ".", d));
    if (config_.has_fusion())
      w->fusions.push_back(layers::KbFusionWeights::bind(src, "fusions." + idx + ".", d,
                                                         config_.n_hint_channels(), config_.kb_delay,
                                                         config_.kb_n_heads, config_.kb_head_dim,
                                                         config_.kb_window));
  }
  w->decoder = layers::CausalConvWeights::bind_deconv(src, "decoder.deconv.", d, config_.n_spec_channels());
  if (config_.has_compressor())
    w->compressor = layers::CausalConvWeights::bind_conv(src, "compress.conv.conv.", config_.n_spec_channels(),
                                                         config_.n_hint_channels());
  n_params_ = src.n();
  weights_ = std::move(w);
}

Model::~Model() = default;

std::shared_ptr<const Model> Model::from_tensors(const ModelConfig& config, TensorSource& source) {
  return std::shared_ptr<const Model>(new Model(config, source));
}

}  // namespace kboost

// ---- loading from a weights file (docs/weights-format.md) ------------------------------------------
#include "kboost/weights.h"

namespace kboost {

namespace {
class WeightsFileSource : public TensorSource {
 public:
  explicit WeightsFileSource(WeightsFile& f) : f_(f) {}
  std::vector<float> get(const std::string& name, const std::vector<int64_t>& shape) override {
    return f_.tensor(name, shape).data;
  }

 private:
  WeightsFile& f_;
};

int get_u(const WeightsFile& f, const char* key, int lo, int hi) {
  return static_cast<int>(f.get_int(key, lo, hi));
}

void check_framing(const WeightsFile& f, const char* key, int expected) {
  const int64_t v = f.get_int(key);
  KBOOST_CHECK(v == expected, f.origin(), ": metadata key '", key, "' is ", v, ", this core supports only ",
               expected);
}
}  // namespace

std::shared_ptr<const Model> Model::from_weights_file(WeightsFile& f) {
  check_framing(f, "kboost.sample_rate", kSampleRate);
  check_framing(f, "kboost.chunk_size", kChunkSize);
  check_framing(f, "kboost.lookahead", kLookahead);
  check_framing(f, "kboost.n_fft", kFftSize);
  check_framing(f, "kboost.n_freq", kNumFreqs);
  check_framing(f, "kboost.n_in_channels", kNumInChannels);
  ModelConfig c;
  c.task = parse_task(f.get_string("kboost.task"));
  c.role = parse_role(f.get_string("kboost.role"));
  c.size = f.get_string("kboost.size");
  c.name = f.get_string("kboost.name");
  c.model_id = f.get_string("kboost.model_id");
  if (c.role == Role::device) c.hint_source_id = f.get_string("kboost.hint_source_id");
  c.d_model = get_u(f, "kboost.d_model", 1, 4096);
  c.n_blocks = get_u(f, "kboost.n_blocks", 1, 64);
  c.n_hidden = get_u(f, "kboost.n_hidden", 1, 4096);
  c.n_attn_heads = get_u(f, "kboost.n_attn_heads", 0, 256);
  c.attn_head_dim = get_u(f, "kboost.attn_head_dim", 0, 4096);
  c.attn_window = get_u(f, "kboost.attn_window", 0, ModelConfig::kMaxWindow);
  if (c.role != Role::model) {
    c.kb_delay = get_u(f, "kboost.kb.delay", 0, ModelConfig::kMaxDelay);
    c.kb_compression = get_u(f, "kboost.kb.compression", 1, 4);
    c.kb_n_heads = get_u(f, "kboost.kb.n_heads", 1, 256);
    c.kb_head_dim = get_u(f, "kboost.kb.head_dim", 1, 4096);
    c.kb_window = get_u(f, "kboost.kb.window", 1, ModelConfig::kMaxWindow);
  }
  const int n_out = get_u(f, "kboost.n_out", 1, 64);
  KBOOST_CHECK(n_out == c.n_out(), f.origin(), ": metadata kboost.n_out is ", n_out, ", expected ", c.n_out(),
               " for task ", to_string(c.task));
  c.validate();
  const int n_hint = get_u(f, "kboost.n_hint_channels", 0, 64);
  KBOOST_CHECK(n_hint == c.n_hint_channels(), f.origin(), ": metadata kboost.n_hint_channels is ", n_hint,
               ", expected ", c.n_hint_channels(), " (role ", to_string(c.role), ", compression ", c.kb_compression,
               ")");
  WeightsFileSource src(f);
  std::shared_ptr<const Model> m(new Model(c, src));
  f.check_all_used();
  return m;
}

std::shared_ptr<const Model> Model::load(const std::string& path) {
  WeightsFile f = WeightsFile::load(path);
  return from_weights_file(f);
}

}  // namespace kboost

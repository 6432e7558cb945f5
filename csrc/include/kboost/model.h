// kboost: the immutable model of the C++ streaming core.
//
// A Model holds one network of the causal streaming TF-GridNet family (see docs/CONTRACTS.md and
// the spec): its hyper-parameters (ModelConfig) and its weights, bound by name from the tensors of
// a weights file (every name is the PyTorch state_dict name). It is loaded once and never mutated:
// any number of Streamers (stream.h), on any threads, may share one Model through a
// std::shared_ptr<const Model>. All per-stream state lives in the Streamer.
//
// Roles (the `kboost.role` of the weights file):
//   model   a plain TF-GridNet (any task, any size);
//   device  the small model of a knowledge-boosting (KB) config, with its fusion layers; it
//           consumes hints (Streamer::push_hint);
//   server  the large model of a KB config plus the hint compression conv; it produces one
//           compressed hint per chunk (Streamer::process_chunk's hint_out).
//
// Units: samples at 16 kHz; a chunk is 128 samples (8 ms); F = 97 frequency bins.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kboost {

class WeightsFile;

/// Framing constants shared by every model (spec section 2).
inline constexpr int kSampleRate = 16000;
inline constexpr int kChunkSize = 128;       ///< samples per chunk (hop), 8 ms
inline constexpr int kLookahead = 64;        ///< samples of lookahead, 4 ms
inline constexpr int kFftSize = 192;         ///< window length = FFT size
inline constexpr int kNumFreqs = 97;         ///< one-sided bins, F
inline constexpr int kNumInChannels = 2;     ///< binaural input
inline constexpr int kSpeakerDim = 256;      ///< TSE speaker embedding length

enum class Task { ss, tse, se };
enum class Role { model, device, server };

/// "ss"/"tse"/"se" and "model"/"device"/"server"; the parsers throw kboost::Error on anything else.
const char* to_string(Task task);
const char* to_string(Role role);
Task parse_task(const std::string& s);
Role parse_role(const std::string& s);

/// Hyper-parameters of one network (spec sections 3 and 4). `n_*` are counts.
struct ModelConfig {
  /// Bounds on the sizes that set stream buffers but no tensor shape (a weights file cannot prove
  /// them by its size): an attention window of at most 1024 frames (8.2 s) and a hint delay of at
  /// most 64 chunks (512 ms). Larger values are refused with an Error, not allocated.
  static constexpr int kMaxWindow = 1024;
  static constexpr int kMaxDelay = 64;

  Task task = Task::ss;
  Role role = Role::model;
  std::string size = "small";  ///< "small", "medium" or "large" (informational)
  int d_model = 16;            ///< D: embedding channels
  int n_blocks = 3;            ///< GridNet blocks
  int n_hidden = 16;           ///< H: LSTM hidden units
  int n_attn_heads = 0;        ///< local self-attention heads (0: none)
  int attn_head_dim = 6;       ///< E: query/key channels per attention head
  int attn_window = 50;        ///< frames attended by the self-attention, the current one included
  // Knowledge boosting; used by role device (fusion layers) and server (compression conv).
  int kb_delay = 0;            ///< d: chunks between a hint's chunk and the chunk that uses it
  int kb_compression = 1;      ///< c: hint channels = 2 n_out / c
  int kb_n_heads = 4;          ///< fusion cross-attention heads
  int kb_head_dim = 3;         ///< E of the fusion cross-attention
  int kb_window = 50;          ///< fused frames attended by the fusion
  // Identity (from the weights file; empty when built from tensors in memory).
  std::string name;            ///< config name, e.g. "ss-small-kb-d3-c1"
  std::string model_id;        ///< kboost.model_id: hash of the file's tensors
  std::string hint_source_id;  ///< device: the model_id of the server file it was trained with

  /// Output waveforms: 4 for SS (s0 L, s0 R, s1 L, s1 R), 2 for TSE/SE (L, R).
  int n_out() const { return task == Task::ss ? 4 : 2; }
  /// Channels of the output spectrogram: re/im per output, 2 n_out.
  int n_spec_channels() const { return 2 * n_out(); }
  /// C_h: channels of one compressed hint (0 for role model).
  int n_hint_channels() const { return role == Role::model ? 0 : n_spec_channels() / kb_compression; }
  /// Floats per hint: C_h x 97, channel-major (index = ch * 97 + f).
  int hint_size() const { return n_hint_channels() * kNumFreqs; }
  bool has_speaker() const { return task == Task::tse; }
  bool has_fusion() const { return role == Role::device; }
  bool has_compressor() const { return role == Role::server; }

  /// Throws kboost::Error naming the first field out of range.
  void validate() const;
  /// One line, e.g. "ss small device D=16 B=3 H=16 d=3 c=1".
  std::string to_string() const;
};

/// Where a Model's tensors come from: the weights file, or (tests, tools) arrays in memory.
/// `get` returns a copy of the named tensor, in PyTorch (row-major, state_dict) order, after
/// checking its shape; it throws kboost::Error naming the tensor, the shape got and expected.
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual std::vector<float> get(const std::string& name, const std::vector<int64_t>& shape) = 0;
};

namespace detail {
struct ModelWeights;  // the bound layer weights (csrc/src/model/model_weights.h)
}

/// The immutable model. Thread-safety: every const member may be called concurrently.
class Model {
 public:
  /// Loads a weights file written by `kboost export` (GGUF): config from its metadata, every
  /// tensor bound by name with its shape checked, and every tensor of the file used. Throws
  /// kboost::Error on any problem, naming the key or tensor, what was got and what was expected.
  static std::shared_ptr<const Model> load(const std::string& path);
  static std::shared_ptr<const Model> from_weights_file(WeightsFile& file);

  /// Builds a model from a config and a tensor source (no file); same checks as load() except
  /// that unused tensors are the source's business.
  static std::shared_ptr<const Model> from_tensors(const ModelConfig& config, TensorSource& source);

  const ModelConfig& config() const { return config_; }
  /// Parameter count (floats) of the bound weights.
  int64_t n_params() const { return n_params_; }
  const detail::ModelWeights& weights() const { return *weights_; }

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

 private:
  Model(const ModelConfig& config, TensorSource& source);
  ModelConfig config_;
  int64_t n_params_ = 0;
  std::unique_ptr<detail::ModelWeights> weights_;
};

}  // namespace kboost

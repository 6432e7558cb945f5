// kboost: the per-stream state of the C++ streaming core.
//
// A Streamer runs one Model (model.h) on one audio stream, one 8 ms chunk per call, exactly as the
// PyTorch step of training/kboost_train/models.py (TFGridNet.step). It owns ALL mutable state of
// the stream (STFT memory, conv histories, LSTM (h, c), attention K/V rings, speaker FiLM, KB
// alignment FIFO and hint ring); every buffer is sized in the constructor, so process_chunk and
// push_hint allocate nothing, take no lock and do no I/O.
//
// Timing. Call k (k = 0, 1, ...) takes input samples [128k, 128k + 128) of each input channel and
// returns 128 samples of each output: the model's output delayed by the 64-sample lookahead
// (output sample n of the stream is sample n - 64 of the ideal output; the first 64 are the
// network's response to silence history). chunk_index() is k, the next chunk to process.
//
// Knowledge boosting (a `device` model). The hint of chunk j (computed by the large model's
// `server` Streamer from the same audio: process_chunk's hint_out) is used when this stream
// processes chunk j + d. push_hint(j, hint) stores it in a fixed ring keyed by chunk index. A hint
// is refused, counted, and never crashes the stream when it is:
//   late       j + d < chunk_index()   (its chunk has already been processed without it);
//   duplicate  a hint for j is already waiting;
//   future     j >= first_needed + hint_ring_size  (beyond the ring);
//   bad size   not C_h x 97 floats.
// A hint not there when its chunk is processed is a missing hint: the chunk uses zeros (as the
// reference does for "no hint"); chunks k < d use zeros and count as neither used nor missing.
// The output therefore depends only on which hints had arrived at each chunk, never on how the
// caller groups its calls.
//
// Threads. One Streamer is used by at most two threads at once: one "audio" thread calling
// process_chunk (and the other non-const members), and one "network" thread calling push_hint.
// The hand-over is a lock-free single-producer single-consumer ring (std::atomic). stats() and
// chunk_index() may be called from any thread. reset() and set_speaker() must not run concurrently
// with process_chunk or push_hint. Different Streamers are independent, even when they share a
// Model.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kboost/model.h"

namespace kboost {

namespace detail {
struct StreamState;  // the layer states (csrc/src/stream/stream_state.h)
class HintRing;      // the SPSC ring of hints (csrc/src/stream/hint_ring.h)
}  // namespace detail

/// The kernel set chosen for this CPU at start-up: "avx512", "avx2+fma" or "ref" (the baseline ISA).
const char* kernel_isa();

struct StreamerOptions {
  /// Slots of the hint ring: how far ahead of need (in chunks) a hint may arrive. >= 1.
  int hint_ring_size = 64;
};

/// Counters since construction or the last reset().
struct StreamStats {
  uint64_t n_chunks = 0;             ///< chunks processed
  uint64_t n_hints_used = 0;         ///< chunks that used a pushed hint
  uint64_t n_hints_missing = 0;      ///< chunks k >= d whose hint had not arrived
  uint64_t n_hints_accepted = 0;     ///< push_hint calls that stored a hint
  uint64_t n_hints_late = 0;         ///< refused: already needed
  uint64_t n_hints_duplicate = 0;    ///< refused: already waiting
  uint64_t n_hints_future = 0;       ///< refused: beyond the ring
  uint64_t n_hints_bad_size = 0;     ///< refused: not C_h x 97 floats
};

class Streamer {
 public:
  /// The model is shared (kept alive by this streamer). Throws kboost::Error on bad options.
  explicit Streamer(std::shared_ptr<const Model> model, const StreamerOptions& options = {});
  ~Streamer();
  Streamer(const Streamer&) = delete;
  Streamer& operator=(const Streamer&) = delete;

  const Model& model() const { return *model_; }
  std::shared_ptr<const Model> shared_model() const { return model_; }
  const ModelConfig& config() const { return model_->config(); }

  /// One chunk. in: [2, 128] float32 (channel-major: left then right), in_size = 256.
  /// out: [n_out, 128], out_size = n_out * 128. hint_out (server models only, else nullptr):
  /// [C_h, 97] channel-major, the compressed hint of this chunk, hint_out_size = C_h * 97.
  /// Throws kboost::Error (before touching any state) on a wrong size, a hint_out for a model
  /// without compressor, or a TSE model without a speaker (set_speaker first).
  void process_chunk(const float* in, size_t in_size, float* out, size_t out_size,
                     float* hint_out = nullptr, size_t hint_out_size = 0);

  /// Offers the hint of chunk `chunk_index` ([C_h, 97] channel-major, size C_h * 97) to a device
  /// model. Returns true if stored, false if refused (late, duplicate, future, bad size; counted in
  /// stats()). Throws kboost::Error only if the model takes no hints (not a device model).
  /// Lock-free; callable from one producer thread concurrently with process_chunk.
  bool push_hint(int64_t chunk_index, const float* hint, size_t size);

  /// TSE: the enrollment embedding [256]; computes the speaker FiLM of every block once. Kept by
  /// reset(). Throws kboost::Error for a non-TSE model or a wrong size.
  void set_speaker(const float* embedding, size_t size);
  bool has_speaker() const { return speaker_set_; }

  /// Back to the state of a fresh stream (chunk 0, zero history, empty hint ring, zero counters);
  /// keeps the model and the speaker.
  void reset();

  StreamStats stats() const;
  /// The next chunk process_chunk will process.
  int64_t chunk_index() const { return chunk_index_.load(std::memory_order_acquire); }

 private:
  void forward(const float* in, float* out, float* hint_out);

  std::shared_ptr<const Model> model_;
  std::unique_ptr<detail::StreamState> state_;
  std::unique_ptr<detail::HintRing> hints_;
  bool speaker_set_ = false;
  std::atomic<int64_t> chunk_index_{0};
  std::atomic<uint64_t> n_chunks_{0}, n_used_{0}, n_missing_{0};
};

}  // namespace kboost

// The hint hand-over between a network thread (producer: push) and the audio thread (consumer:
// take): a fixed ring of hint slots keyed by chunk index, lock-free, single producer, single
// consumer. Slot j % n_slots holds the hint of chunk j; its key (an atomic) says which chunk it
// holds (-1: none).
//
// Protocol. The consumer takes indices 0, 1, 2, ... in order, one per chunk, and publishes the
// next index it may still take (first_needed) after it has finished reading a slot. The producer
// accepts j only in [first_needed, first_needed + n_slots): such a slot is never the one the
// consumer is reading, so the data needs no lock; it writes the data, then publishes the key with
// release order, and the consumer reads the key with acquire order before copying. A hint that
// arrives while its chunk is being processed may be accepted yet found missing (it is then
// stale: never used, and overwritten later).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "layers/aligned_vector.h"

namespace kboost::detail {

class HintRing {
 public:
  enum class PushResult { accepted, late, duplicate, future, bad_size };

  HintRing(int n_slots, int hint_size);

  /// Producer. Never blocks, never allocates.
  PushResult push(int64_t chunk_index, const float* hint, size_t size);
  /// Consumer: copies the hint of `chunk_index` into dst [hint_size] and returns true if it is
  /// there; either way, indices <= chunk_index are no longer accepted afterwards.
  bool take(int64_t chunk_index, float* dst);
  /// Not thread-safe: empties the ring and zeroes the counters.
  void reset();

  int hint_size() const { return hint_size_; }
  uint64_t n_accepted() const { return n_accepted_.load(std::memory_order_relaxed); }
  uint64_t n_late() const { return n_late_.load(std::memory_order_relaxed); }
  uint64_t n_duplicate() const { return n_duplicate_.load(std::memory_order_relaxed); }
  uint64_t n_future() const { return n_future_.load(std::memory_order_relaxed); }
  uint64_t n_bad_size() const { return n_bad_size_.load(std::memory_order_relaxed); }

 private:
  int n_slots_, hint_size_;
  std::unique_ptr<std::atomic<int64_t>[]> keys_;  // [n_slots]
  layers::AlignedFloats data_;  // [n_slots, hint_size]
  std::atomic<int64_t> first_needed_{0};
  std::atomic<uint64_t> n_accepted_{0}, n_late_{0}, n_duplicate_{0}, n_future_{0}, n_bad_size_{0};
};

}  // namespace kboost::detail

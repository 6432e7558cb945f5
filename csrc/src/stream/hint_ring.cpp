#include "stream/hint_ring.h"

#include <algorithm>

#include "kboost/error.h"

namespace kboost::detail {

HintRing::HintRing(int n_slots, int hint_size)
    : n_slots_(n_slots),
      hint_size_(hint_size),
      keys_(new std::atomic<int64_t>[static_cast<size_t>(n_slots)]),
      data_(static_cast<size_t>(n_slots) * hint_size, 0.0f) {
  KBOOST_CHECK(n_slots >= 1, "hint_ring_size must be >= 1 chunk, got ", n_slots);
  reset();
}

void HintRing::reset() {
  for (int i = 0; i < n_slots_; ++i) keys_[i].store(-1, std::memory_order_relaxed);
  first_needed_.store(0, std::memory_order_release);
  n_accepted_ = n_late_ = n_duplicate_ = n_future_ = n_bad_size_ = 0;
}

HintRing::PushResult HintRing::push(int64_t chunk_index, const float* hint, size_t size) {
  auto refuse = [](std::atomic<uint64_t>& counter, PushResult r) {
    counter.fetch_add(1, std::memory_order_relaxed);
    return r;
  };
  if (hint == nullptr || size != static_cast<size_t>(hint_size_)) return refuse(n_bad_size_, PushResult::bad_size);
  const int64_t first = first_needed_.load(std::memory_order_acquire);
  if (chunk_index < first) return refuse(n_late_, PushResult::late);
  if (chunk_index >= first + n_slots_) return refuse(n_future_, PushResult::future);
  const size_t slot = static_cast<size_t>(chunk_index % n_slots_);
  if (keys_[slot].load(std::memory_order_acquire) == chunk_index) return refuse(n_duplicate_, PushResult::duplicate);
  std::copy(hint, hint + hint_size_, data_.data() + slot * static_cast<size_t>(hint_size_));
  keys_[slot].store(chunk_index, std::memory_order_release);
  n_accepted_.fetch_add(1, std::memory_order_relaxed);
  return PushResult::accepted;
}

bool HintRing::take(int64_t chunk_index, float* dst) {
  const size_t slot = static_cast<size_t>(chunk_index % n_slots_);
  const bool found = keys_[slot].load(std::memory_order_acquire) == chunk_index;
  if (found) {
    const float* src = data_.data() + slot * static_cast<size_t>(hint_size_);
    std::copy(src, src + hint_size_, dst);
    keys_[slot].store(-1, std::memory_order_relaxed);
  }
  // Published after the copy: the producer cannot reuse this slot before the read is done.
  first_needed_.store(chunk_index + 1, std::memory_order_release);
  return found;
}

}  // namespace kboost::detail

// A std::vector of floats whose data starts on a 64-byte boundary (a cache line, one AVX-512
// vector): every weight, state and scratch array of the core is one, so that rows whose length is a
// multiple of 16 floats (weight rows, the KB fusion's padded key/value rings) never split a load
// across two lines (glibc's malloc aligns to 16 bytes: docs/perf-notes.md, entry 18).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace kboost::layers {

template <typename T, std::size_t Align>
struct AlignedAllocator {
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = AlignedAllocator<U, Align>;
  };
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U, Align>&) noexcept {}  // NOLINT: implicit, as allocators are
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{Align})); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{Align}); }
  friend bool operator==(const AlignedAllocator&, const AlignedAllocator&) { return true; }
  friend bool operator!=(const AlignedAllocator&, const AlignedAllocator&) { return false; }
};

constexpr std::size_t kCacheLine = 64;
using AlignedFloats = std::vector<float, AlignedAllocator<float, kCacheLine>>;

/// n rounded up to a whole number of cache lines of floats (16).
constexpr int padded_to_line(int n) {
  constexpr int per_line = static_cast<int>(kCacheLine / sizeof(float));
  return (n + per_line - 1) / per_line * per_line;
}

}  // namespace kboost::layers

// Counts heap allocations of the whole test process, for tests that assert the hot path allocates
// nothing (e.g. zero allocations during 1000 process_chunk calls after warm-up).
//
// Include this header in exactly ONE .cpp of a test executable: it defines the replacement
// allocation functions. Then:
//
//   kboost::testing::AllocCount count;        // starts counting (a snapshot of the counters)
//   for (...) streamer.process_chunk(in, out);
//   EXPECT_EQ(count.allocations(), 0);        // allocations since `count` was made, all threads
//
// What is counted depends on the build (alloc_counter_mode() says which):
//   * "malloc+new": glibc without sanitizers: malloc, calloc, realloc, memalign, aligned_alloc,
//     posix_memalign (so Eigen's aligned_malloc and C code are seen) and every operator new
//     (forwarded to glibc's allocator, counted once);
//   * "sanitizer-hooks": ASan builds: the sanitizer's malloc hook sees every malloc and new;
//   * "new-only": elsewhere: the global operator new / new[] replacements (all overloads).
// A realloc that moves or grows counts as one allocation. Counters are process-wide atomics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KBOOST_ALLOC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define KBOOST_ALLOC_ASAN 1
#endif

#if defined(KBOOST_ALLOC_ASAN)
// From <sanitizer/allocator_interface.h> (not shipped with every compiler; the function is in libasan).
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, size_t),
                                                         void (*free_hook)(const volatile void*));
#define KBOOST_ALLOC_MODE_SANITIZER 1
#elif defined(__GLIBC__)
#define KBOOST_ALLOC_MODE_GLIBC 1
#else
#define KBOOST_ALLOC_MODE_NEW_ONLY 1
#endif

namespace kboost {
namespace testing {

namespace alloc_detail {
inline std::atomic<int64_t> n_allocs{0};
inline std::atomic<int64_t> n_frees{0};
inline std::atomic<int64_t> n_bytes{0};
inline void on_alloc(size_t size) {
  n_allocs.fetch_add(1, std::memory_order_relaxed);
  n_bytes.fetch_add(static_cast<int64_t>(size), std::memory_order_relaxed);
}
inline void on_free() { n_frees.fetch_add(1, std::memory_order_relaxed); }
}  // namespace alloc_detail

/// Which allocation functions are counted in this build (see the header comment).
inline const char* alloc_counter_mode() {
#if defined(KBOOST_ALLOC_MODE_SANITIZER)
  return "sanitizer-hooks";
#elif defined(KBOOST_ALLOC_MODE_GLIBC)
  return "malloc+new";
#else
  return "new-only";
#endif
}

/// True when malloc (and so Eigen's allocations), not only operator new, is counted.
inline bool alloc_counter_sees_malloc() {
#if defined(KBOOST_ALLOC_MODE_NEW_ONLY)
  return false;
#else
  return true;
#endif
}

/// Total allocations counted since the process started.
inline int64_t total_allocations() { return alloc_detail::n_allocs.load(std::memory_order_relaxed); }

/// Allocations, frees and bytes since construction.
class AllocCount {
 public:
  AllocCount() { reset(); }
  void reset() {
    allocs0_ = alloc_detail::n_allocs.load(std::memory_order_relaxed);
    frees0_ = alloc_detail::n_frees.load(std::memory_order_relaxed);
    bytes0_ = alloc_detail::n_bytes.load(std::memory_order_relaxed);
  }
  int64_t allocations() const { return alloc_detail::n_allocs.load(std::memory_order_relaxed) - allocs0_; }
  int64_t frees() const { return alloc_detail::n_frees.load(std::memory_order_relaxed) - frees0_; }
  int64_t bytes() const { return alloc_detail::n_bytes.load(std::memory_order_relaxed) - bytes0_; }

 private:
  int64_t allocs0_ = 0, frees0_ = 0, bytes0_ = 0;
};

}  // namespace testing
}  // namespace kboost

// ---- the replacement functions (one definition per executable) ----------------------------------

#if defined(KBOOST_ALLOC_MODE_SANITIZER)

namespace kboost {
namespace testing {
namespace alloc_detail {
inline void malloc_hook(const volatile void*, size_t size) { on_alloc(size); }
inline void free_hook(const volatile void*) { on_free(); }
struct InstallHooks {
  InstallHooks() { __sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook); }
};
inline InstallHooks install_hooks;
}  // namespace alloc_detail
}  // namespace testing
}  // namespace kboost

#else  // glibc or new-only: replace the global operator new / delete

#if defined(KBOOST_ALLOC_MODE_GLIBC)
// glibc's allocator under its internal names: the replacements below forward to it
// (https://www.gnu.org/software/libc/manual/html_node/Replacing-malloc.html).
extern "C" {
void* __libc_malloc(size_t size);
void __libc_free(void* p);
void* __libc_calloc(size_t n, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);

void* malloc(size_t size) {
  kboost::testing::alloc_detail::on_alloc(size);
  return __libc_malloc(size);
}
void free(void* p) {
  if (p) kboost::testing::alloc_detail::on_free();
  __libc_free(p);
}
void* calloc(size_t n, size_t size) {
  kboost::testing::alloc_detail::on_alloc(n * size);
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t size) {
  if (size != 0) kboost::testing::alloc_detail::on_alloc(size);
  if (p && size == 0) kboost::testing::alloc_detail::on_free();
  return __libc_realloc(p, size);
}
void* memalign(size_t alignment, size_t size) {
  kboost::testing::alloc_detail::on_alloc(size);
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) {
  kboost::testing::alloc_detail::on_alloc(size);
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return 22;  // EINVAL
  kboost::testing::alloc_detail::on_alloc(size);
  void* p = __libc_memalign(alignment, size);
  if (!p) return 12;  // ENOMEM
  *out = p;
  return 0;
}
}  // extern "C"

namespace kboost {
namespace testing {
namespace alloc_detail {
inline void* raw_alloc(size_t size) { return __libc_malloc(size ? size : 1); }
inline void* raw_alloc_aligned(size_t size, size_t align) { return __libc_memalign(align, size ? size : 1); }
inline void raw_free(void* p) { __libc_free(p); }
}  // namespace alloc_detail
}  // namespace testing
}  // namespace kboost

#else  // new-only

namespace kboost {
namespace testing {
namespace alloc_detail {
inline void* raw_alloc(size_t size) { return std::malloc(size ? size : 1); }
inline void* raw_alloc_aligned(size_t size, size_t align) {
  void* p = nullptr;
  return ::posix_memalign(&p, align < sizeof(void*) ? sizeof(void*) : align, size ? size : 1) == 0 ? p : nullptr;
}
inline void raw_free(void* p) { std::free(p); }
}  // namespace alloc_detail
}  // namespace testing
}  // namespace kboost

#endif

namespace kboost {
namespace testing {
namespace alloc_detail {
inline void* counted_new(size_t size) {
  on_alloc(size);
  void* p = raw_alloc(size);
  if (!p) throw std::bad_alloc();
  return p;
}
inline void* counted_new_aligned(size_t size, std::align_val_t align) {
  on_alloc(size);
  void* p = raw_alloc_aligned(size, static_cast<size_t>(align));
  if (!p) throw std::bad_alloc();
  return p;
}
inline void counted_delete(void* p) {
  if (!p) return;
  on_free();
  raw_free(p);
}
}  // namespace alloc_detail
}  // namespace testing
}  // namespace kboost

void* operator new(size_t size) { return kboost::testing::alloc_detail::counted_new(size); }
void* operator new[](size_t size) { return kboost::testing::alloc_detail::counted_new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  try {
    return kboost::testing::alloc_detail::counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  try {
    return kboost::testing::alloc_detail::counted_new(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(size_t size, std::align_val_t a) { return kboost::testing::alloc_detail::counted_new_aligned(size, a); }
void* operator new[](size_t size, std::align_val_t a) {
  return kboost::testing::alloc_detail::counted_new_aligned(size, a);
}
void operator delete(void* p) noexcept { kboost::testing::alloc_detail::counted_delete(p); }
void operator delete[](void* p) noexcept { kboost::testing::alloc_detail::counted_delete(p); }
void operator delete(void* p, size_t) noexcept { kboost::testing::alloc_detail::counted_delete(p); }
void operator delete[](void* p, size_t) noexcept { kboost::testing::alloc_detail::counted_delete(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { kboost::testing::alloc_detail::counted_delete(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { kboost::testing::alloc_detail::counted_delete(p); }
void operator delete(void* p, std::align_val_t) noexcept { kboost::testing::alloc_detail::counted_delete(p); }
void operator delete[](void* p, std::align_val_t) noexcept { kboost::testing::alloc_detail::counted_delete(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { kboost::testing::alloc_detail::counted_delete(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { kboost::testing::alloc_detail::counted_delete(p); }

#endif

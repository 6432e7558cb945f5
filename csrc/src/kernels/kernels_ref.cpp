// The reference kernel table: kernels_body.inc compiled with the target's baseline flags, plus the
// helpers that need no variants and the start-up choice of a table.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/kernels.h"
#include "kernels/kernels_body.inc"

namespace kboost::kernels {

const Kernels& kernels_ref() {
  static const Kernels table = body_table("ref");
  return table;
}

bool cpu_supports(const Kernels& table) {
  if (&table == &kernels_ref()) return true;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
  if (&table == kernels_avx2()) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (&table == kernels_avx512())
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
#endif
  return false;
}

const Kernels& kernels() {
  static const Kernels& table = []() -> const Kernels& {
    const char* force = std::getenv("KBOOST_KERNELS");
    const std::string cap = force != nullptr ? force : "";
    if (cap == "ref") return kernels_ref();
    if (cap != "avx2") {
      const Kernels* wide = kernels_avx512();
      if (wide != nullptr && cpu_supports(*wide)) return *wide;
    }
    const Kernels* avx2 = kernels_avx2();
    if (avx2 != nullptr && cpu_supports(*avx2)) return *avx2;
    return kernels_ref();
  }();
  return table;
}

void layer_norm_rows(int m, int n, const float* x, const float* w, const float* b, float* y, float eps) {
  kernels().layer_norm_rows(m, n, x, w, b, y, eps);
}

void prelu(float* x, int n, float alpha) { kernels().prelu(x, n, alpha); }

void softmax(float* x, int n) { kernels().softmax(x, n); }

}  // namespace kboost::kernels

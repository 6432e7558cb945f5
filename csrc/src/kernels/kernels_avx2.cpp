// The AVX2+FMA kernel table: kernels_body.inc compiled with -mavx2 -mfma -ffp-contract=fast (set
// for this file only in CMakeLists.txt); chosen at start-up only on CPUs that have both.
#include "kernels/kernels.h"

#if defined(KBOOST_HAVE_AVX2_KERNELS)
#define KB_VEC_BYTES 32  // 8 floats per vector
#include "kernels/kernels_body.inc"

namespace kboost::kernels {
const Kernels* kernels_avx2() {
  static const Kernels table = body_table("avx2+fma");
  return &table;
}
}  // namespace kboost::kernels
#else
namespace kboost::kernels {
const Kernels* kernels_avx2() { return nullptr; }
}  // namespace kboost::kernels
#endif

// The AVX-512 kernel table: kernels_body.inc compiled with 64-byte vectors and -mavx512f/vl/bw/dq
// -mfma (set for this file only in CMakeLists.txt); chosen at start-up only on CPUs (and OSes) that
// have all of them. 32 vector registers of 16 floats: the GEMM takes 12 x 2-vector blocks, the LSTM
// gates of H = 16 are four vectors.
#include "kernels/kernels.h"

#if defined(KBOOST_HAVE_AVX512_KERNELS)
// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_ps() pass-through operand of
// the masked builtins behind _mm512_max_ps etc.): a false positive, silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define KB_VEC_BYTES 64  // 16 floats per vector
#include "kernels/kernels_body.inc"

namespace kboost::kernels {
const Kernels* kernels_avx512() {
  static const Kernels table = body_table("avx512");
  return &table;
}
}  // namespace kboost::kernels
#else
namespace kboost::kernels {
const Kernels* kernels_avx512() { return nullptr; }
}  // namespace kboost::kernels
#endif

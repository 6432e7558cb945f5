#include "kboost/version.h"

#include <Eigen/Core>

#include <chrono>
#include <cstdint>
#include <sstream>

namespace kboost {

const char* version() { return KBOOST_VERSION; }

std::string build_info() {
  std::ostringstream s;
  s << "kboost " << KBOOST_VERSION;
#if defined(__clang__)
  s << " clang " << __clang_major__ << "." << __clang_minor__;
#elif defined(__GNUC__)
  s << " gcc " << __GNUC__ << "." << __GNUC_MINOR__;
#endif
#if defined(__aarch64__)
  s << " aarch64";
#elif defined(__x86_64__)
  s << " x86_64";
#endif
  s << " eigen " << EIGEN_WORLD_VERSION << "." << EIGEN_MAJOR_VERSION << "." << EIGEN_MINOR_VERSION;
  s << " simd " << Eigen::SimdInstructionSetsInUse();
  return s.str();
}

double measure_clock_ghz(double seconds) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__aarch64__))
  using clock = std::chrono::steady_clock;
  // Blocks of 1,000 dependent register-register adds (50 x 20 in one asm statement, so that the
  // loop's own counter and branch are 1 in 20 instructions: a loop of one add per iteration is
  // bound by the front end on some cores, e.g. at ~1.5 GHz on a 2.6 GHz Raptor Cove). The addend
  // is a register the compiler cannot see the value of: Golden/Raptor Cove execute adds of a small
  // immediate at rename, without a 1-cycle dependency, so an `add $1` chain runs 3-4 per cycle.
  std::uint64_t one = 1;
  asm volatile("" : "+r"(one));
  auto block = [one](std::uint64_t x) {
    for (int i = 0; i < 50; ++i) {
#if defined(__x86_64__)
      asm volatile(".rept 20\n\tadd %1, %0\n\t.endr" : "+r"(x) : "r"(one));
#else
      asm volatile(".rept 20\n\tadd %0, %0, %1\n\t.endr" : "+r"(x) : "r"(one));
#endif
    }
    return x;
  };
  std::uint64_t x = block(0);  // warm-up
  const auto t0 = clock::now();
  std::uint64_t n = 0;
  double ns = 0.0;
  do {
    for (int r = 0; r < 100; ++r) x = block(x);
    n += 100000;
    ns = std::chrono::duration<double, std::nano>(clock::now() - t0).count();
  } while (ns < seconds * 1e9);
  return x == 0 ? 0.0 : static_cast<double>(n) / ns;  // (x is never 0: it counts the adds)
#else
  (void)seconds;
  return 0.0;
#endif
}

}  // namespace kboost

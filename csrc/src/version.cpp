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
  // Blocks of 1,000 dependent adds until `seconds` have passed; the asm keeps the chain.
  auto block = [](std::uint64_t x) {
    for (int i = 0; i < 1000; ++i) {
#if defined(__x86_64__)
      asm volatile("add $1, %0" : "+r"(x));
#else
      asm volatile("add %0, %0, #1" : "+r"(x));
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

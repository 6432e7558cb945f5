#include "kboost/version.h"

#include <Eigen/Core>

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

}  // namespace kboost

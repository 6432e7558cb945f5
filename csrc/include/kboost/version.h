// kboost: version and build information of the C++ core.
#pragma once

#include <string>

namespace kboost {

/// Library version, "MAJOR.MINOR.PATCH".
const char* version();

/// One line describing how the core was built: compiler, target architecture, Eigen version and
/// the SIMD instruction sets Eigen vectorises with. Useful in bug reports and benchmark tables.
std::string build_info();

}  // namespace kboost

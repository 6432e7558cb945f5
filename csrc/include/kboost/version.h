// kboost: version and build information of the C++ core, and the clock of the core it runs on.
#pragma once

#include <string>

namespace kboost {

/// Library version, "MAJOR.MINOR.PATCH".
const char* version();

/// One line describing how the core was built: compiler, target architecture, Eigen version and
/// the SIMD instruction sets Eigen vectorises with. Useful in bug reports and benchmark tables.
std::string build_info();

/// This core's clock in GHz, measured: a chain of dependent register-register integer adds (one
/// cycle each on every x86-64 and AArch64 core; adds of an immediate are not used, as some cores
/// run those at rename) timed over about `seconds`. The clock a scalar chain runs at, turbo
/// included; wide-vector work may run slower. 0 where there is no such chain (other architectures).
double measure_clock_ghz(double seconds = 0.02);

}  // namespace kboost

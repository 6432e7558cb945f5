// The extension module kboost._core. Bindings only: every function lives in the C++ library.
#include <pybind11/pybind11.h>

#include "kboost/version.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "kboost C++ streaming core";
  m.def("version", &kboost::version, "Version of the C++ core.");
  m.def("build_info", &kboost::build_info,
        "Compiler, architecture, Eigen version and SIMD sets the core was built with.");
}

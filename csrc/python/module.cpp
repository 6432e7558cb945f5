// The extension module kboost._core. Bindings only: every function lives in the C++ library.
#include <pybind11/pybind11.h>

#include "kboost/error.h"
#include "kboost/version.h"

namespace py = pybind11;

// One bind_<header>.cpp per public header.
void bind_weights(py::module_& m);
void bind_model(py::module_& m);
void bind_stream(py::module_& m);
void bind_testing(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "kboost C++ streaming core";
  m.def("version", &kboost::version, "Version of the C++ core.");
  m.def("build_info", &kboost::build_info,
        "Compiler, architecture, Eigen version and SIMD sets the core was built with.");
  m.def("measure_clock_ghz", &kboost::measure_clock_ghz, py::arg("seconds") = 0.02,
        "This core's clock in GHz from a timed chain of dependent integer adds (1 cycle each); 0 where "
        "unsupported. The scalar clock, turbo included: wide-vector code may run slower.");

  // kboost::Error -> kboost._core.Error, a subclass of ValueError and RuntimeError, with the message.
  static PyObject* error_type = [] {
    PyObject* bases = PyTuple_Pack(2, PyExc_ValueError, PyExc_RuntimeError);
    PyObject* t = PyErr_NewException("kboost._core.Error", bases, nullptr);
    Py_XDECREF(bases);
    return t;
  }();
  if (error_type == nullptr) throw py::error_already_set();
  m.attr("Error") = py::handle(error_type);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const kboost::Error& e) {
      PyErr_SetString(error_type, e.what());
    }
  });

  bind_weights(m);
  bind_model(m);
  bind_stream(m);
  bind_testing(m);
}

// Python binding of kboost::WeightsFile (weights.h), for tests and tools. No logic here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "kboost/weights.h"

namespace py = pybind11;

namespace {

py::object meta_to_python(const kboost::MetaValue& v) {
  using kboost::GgufType;
  auto is_float = [](GgufType t) { return t == GgufType::kFloat32 || t == GgufType::kFloat64; };
  auto is_unsigned = [](GgufType t) {
    return t == GgufType::kUint8 || t == GgufType::kUint16 || t == GgufType::kUint32 || t == GgufType::kUint64;
  };
  if (v.type == GgufType::kArray) {
    if (is_float(v.elem_type)) {
      if (v.elem_type == GgufType::kFloat32) {
        py::array_t<float> a(static_cast<py::ssize_t>(v.floats.size()));
        float* p = a.mutable_data();
        for (size_t i = 0; i < v.floats.size(); ++i) p[i] = static_cast<float>(v.floats[i]);
        return std::move(a);
      }
      return py::array_t<double>(static_cast<py::ssize_t>(v.floats.size()), v.floats.data());
    }
    if (v.elem_type == GgufType::kString) return py::cast(v.strings);
    if (v.elem_type == GgufType::kBool) {
      py::list l;
      for (int64_t x : v.ints) l.append(py::bool_(x != 0));
      return std::move(l);
    }
    if (is_unsigned(v.elem_type)) return py::cast(v.uints);
    return py::cast(v.ints);
  }
  if (v.type == GgufType::kString) return py::str(v.s);
  if (v.type == GgufType::kBool) return py::bool_(v.b);
  if (is_float(v.type)) return py::float_(v.f);
  if (is_unsigned(v.type)) return py::int_(v.u);
  return py::int_(v.i);
}

py::array_t<float> tensor_to_numpy(const kboost::WeightsTensor& t) {
  std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
  py::array_t<float> a(shape);
  std::copy(t.data.begin(), t.data.end(), a.mutable_data());
  return a;
}

}  // namespace

void bind_weights(py::module_& m) {
  using kboost::WeightsFile;
  py::class_<WeightsFile>(m, "WeightsFile",
                          "A parsed kboost weights file (GGUF). Shapes are in PyTorch order; tensors are "
                          "float32. Every defect of the file raises kboost._core.Error naming it.")
      .def_static("load", &WeightsFile::load, py::arg("path"), "Read and check the file at `path`.")
      .def_static(
          "parse",
          [](py::bytes data, const std::string& origin) {
            const std::string_view bytes = data;
            return WeightsFile::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), origin);
          },
          py::arg("data"), py::arg("origin") = "<bytes>", "Parse a file image held in `data` (bytes).")
      .def_property_readonly("origin", &WeightsFile::origin)
      .def_property_readonly("gguf_version", &WeightsFile::gguf_version)
      .def_property_readonly("alignment", &WeightsFile::alignment)
      .def("keys", &WeightsFile::keys, "Metadata keys in file order.")
      .def("has_key", &WeightsFile::has_key, py::arg("key"))
      .def(
          "get", [](const WeightsFile& w, const std::string& key) { return meta_to_python(w.value(key)); },
          py::arg("key"),
          "A metadata value: int, float, bool, str; float32 arrays as numpy float32, other arrays as lists.")
      .def("get_int", py::overload_cast<const std::string&>(&WeightsFile::get_int, py::const_), py::arg("key"))
      .def("get_float", &WeightsFile::get_float, py::arg("key"))
      .def("get_string", &WeightsFile::get_string, py::arg("key"))
      .def(
          "get_floats",
          [](const WeightsFile& w, const std::string& key) {
            const std::vector<float> v = w.get_floats(key);
            return py::array_t<float>(static_cast<py::ssize_t>(v.size()), v.data());
          },
          py::arg("key"), "An array of floats as a numpy float32 vector.")
      .def("tensor_names", &WeightsFile::tensor_names, "Tensor names in file order.")
      .def(
          "tensor_shapes",
          [](const WeightsFile& w) {
            py::dict d;
            for (const std::string& name : w.tensor_names()) {
              const kboost::WeightsTensor& t = w.tensor(name);
              d[py::str(name)] = py::tuple(py::cast(t.shape));
            }
            return d;
          },
          "{name: shape} in PyTorch order (marks every tensor as used).")
      .def("has_tensor", &WeightsFile::has_tensor, py::arg("name"))
      .def(
          "tensor",
          [](const WeightsFile& w, const std::string& name, py::object shape) {
            if (shape.is_none()) return tensor_to_numpy(w.tensor(name));
            return tensor_to_numpy(w.tensor(name, shape.cast<std::vector<int64_t>>()));
          },
          py::arg("name"), py::arg("shape") = py::none(),
          "A copy of tensor `name` as float32 numpy array; with `shape`, checked to have it. Marks it used.")
      .def("check_all_used", &WeightsFile::check_all_used,
           "Raise naming every tensor that no tensor() call requested.");
}

// Python binding of kboost::Model (model.h). No logic here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kboost/model.h"

namespace py = pybind11;

py::dict config_to_dict(const kboost::ModelConfig& c) {
  py::dict d;
  const bool kb = c.role != kboost::Role::model;
  d["task"] = kboost::to_string(c.task);
  d["role"] = kboost::to_string(c.role);
  d["size"] = c.size;
  d["name"] = c.name;
  d["model_id"] = c.model_id;
  d["hint_source_id"] = c.hint_source_id;
  d["d_model"] = c.d_model;
  d["n_blocks"] = c.n_blocks;
  d["n_hidden"] = c.n_hidden;
  d["n_attn_heads"] = c.n_attn_heads;
  d["attn_head_dim"] = c.attn_head_dim;
  d["attn_window"] = c.attn_window;
  d["delay"] = kb ? py::object(py::int_(c.kb_delay)) : py::object(py::none());
  d["compression"] = kb ? py::object(py::int_(c.kb_compression)) : py::object(py::none());
  d["kb_n_heads"] = c.kb_n_heads;
  d["kb_head_dim"] = c.kb_head_dim;
  d["kb_window"] = c.kb_window;
  d["n_out"] = c.n_out();
  d["n_hint_channels"] = c.n_hint_channels();
  d["hint_size"] = c.hint_size();
  d["sample_rate"] = kboost::kSampleRate;
  d["chunk_size"] = kboost::kChunkSize;
  d["lookahead"] = kboost::kLookahead;
  d["n_fft"] = kboost::kFftSize;
  d["n_freq"] = kboost::kNumFreqs;
  return d;
}

void bind_model(py::module_& m) {
  using kboost::Model;
  py::class_<Model, std::shared_ptr<Model>>(
      m, "Model",
      "An immutable model of the C++ core (weights + config), shared by any number of Streamers on any "
      "threads.")
      .def_static(
          "load", [](const std::string& path) { return std::const_pointer_cast<Model>(Model::load(path)); },
          py::arg("path"), py::call_guard<py::gil_scoped_release>(),
          "Load a weights file written by `kboost export`. Raises kboost._core.Error naming what is wrong.")
      .def_property_readonly(
          "config", [](const Model& self) { return config_to_dict(self.config()); },
          "dict: task, role, size, name, model_id, hint_source_id, d_model, n_blocks, n_hidden, "
          "n_attn_heads, attn_head_dim, attn_window, delay, compression (None for role 'model'), kb_*, "
          "n_out, n_hint_channels, hint_size, sample_rate, chunk_size, lookahead, n_fft, n_freq.")
      .def_property_readonly("n_params", &Model::n_params, "Number of float parameters.")
      .def("__repr__", [](const Model& self) { return "<kboost._core.Model " + self.config().to_string() + ">"; });
}

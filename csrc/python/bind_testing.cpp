// kboost._core._testing: test-only entry points (csrc/src/testing/layer_runner.h) and a model built
// from a dict of numpy arrays, so that tests compare each layer and the streamer with PyTorch
// without going through a weights file. Not a public API. No logic here beyond argument plumbing.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "kboost/error.h"
#include "kboost/model.h"
#include "testing/layer_runner.h"

namespace py = pybind11;

namespace {

using Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

/// Tensors from a dict {name: float32 array}; shapes checked like the weights file's.
class DictSource : public kboost::TensorSource {
 public:
  explicit DictSource(py::dict d) : d_(std::move(d)) {}
  std::vector<float> get(const std::string& name, const std::vector<int64_t>& shape) override {
    auto shape_str = [](const std::vector<int64_t>& s) {
      std::string r = "[";
      for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
      return r + "]";
    };
    if (!d_.contains(name)) throw kboost::Error("missing tensor '" + name + "' (expected shape " + shape_str(shape) + ")");
    Array a = Array::ensure(d_[name.c_str()]);
    std::vector<int64_t> got(a.shape(), a.shape() + a.ndim());
    if (got != shape)
      throw kboost::Error("tensor '" + name + "' has shape " + shape_str(got) + ", expected " + shape_str(shape));
    return std::vector<float>(a.data(), a.data() + a.size());
  }

 private:
  py::dict d_;
};

kboost::ModelConfig config_from_dict(const py::dict& d) {
  kboost::ModelConfig c;
  auto get_int = [&](const char* k, int& v) {
    if (d.contains(k) && !d[k].is_none()) v = d[k].cast<int>();
  };
  c.task = kboost::parse_task(d["task"].cast<std::string>());
  c.role = kboost::parse_role(d.contains("role") ? d["role"].cast<std::string>() : "model");
  if (d.contains("size")) c.size = d["size"].cast<std::string>();
  get_int("d_model", c.d_model);
  get_int("n_blocks", c.n_blocks);
  get_int("n_hidden", c.n_hidden);
  get_int("n_attn_heads", c.n_attn_heads);
  get_int("attn_head_dim", c.attn_head_dim);
  get_int("attn_window", c.attn_window);
  get_int("delay", c.kb_delay);
  get_int("compression", c.kb_compression);
  get_int("kb_n_heads", c.kb_n_heads);
  get_int("kb_head_dim", c.kb_head_dim);
  get_int("kb_window", c.kb_window);
  return c;
}

py::array_t<float> to_numpy(const std::vector<float>& v, std::vector<py::ssize_t> shape) {
  py::array_t<float> a(shape);
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

}  // namespace

void bind_testing(py::module_& m) {
  auto t = m.def_submodule("_testing", "Test-only entry points of the C++ core (not a public API).");
  t.def(
      "model_from_tensors",
      [](const py::dict& config, const py::dict& tensors) {
        DictSource src(tensors);
        return std::const_pointer_cast<kboost::Model>(kboost::Model::from_tensors(config_from_dict(config), src));
      },
      py::arg("config"), py::arg("tensors"),
      "A Model from a config dict (keys of Model.config) and {state_dict name: float32 array}.");
  t.def(
      "stft_analysis",
      [](Array x, int n_frames, const std::string& transform) {
        const int c = static_cast<int>(x.shape(0));
        if (x.ndim() != 2 || x.shape(1) != static_cast<py::ssize_t>(n_frames) * kboost::kChunkSize)
          throw kboost::Error("stft_analysis: expected x [C, n_frames * 128]");
        return to_numpy(kboost::testing::stft_analysis(x.data(), c, n_frames, transform), {n_frames, 2 * c, kboost::kNumFreqs});
      },
      py::arg("x"), py::arg("n_frames"), py::arg("transform") = "auto",
      "x [C, T*128] -> features [T, 2C, 97]; transform: \"auto\" (as the streamer), \"fft\" or \"dft\".");
  t.def(
      "ola_synthesis",
      [](Array spec, const std::string& transform) {
        if (spec.ndim() != 3 || spec.shape(2) != kboost::kNumFreqs || spec.shape(1) % 2)
          throw kboost::Error("ola_synthesis: expected spec [T, 2C, 97]");
        const int n = static_cast<int>(spec.shape(0)), c = static_cast<int>(spec.shape(1) / 2);
        return to_numpy(kboost::testing::ola_synthesis(spec.data(), c, n, transform), {c, n * kboost::kChunkSize});
      },
      py::arg("spec"), py::arg("transform") = "auto",
      "spec [T, 2C, 97] (2o = re, 2o+1 = im) -> [C, T*128]; transform as stft_analysis.");
  t.def(
      "causal_conv",
      [](const py::dict& tensors, bool transposed, int n_in, int n_out, Array x) {
        DictSource src(tensors);
        const int n = static_cast<int>(x.shape(0));
        return to_numpy(kboost::testing::causal_conv(src, transposed, n_in, n_out, x.data(), n),
                        {n, n_out, kboost::kNumFreqs});
      },
      py::arg("tensors"), py::arg("transposed"), py::arg("n_in"), py::arg("n_out"), py::arg("x"));
  t.def(
      "intra_frame",
      [](const py::dict& tensors, int d, int h, Array x) {
        DictSource src(tensors);
        const int n = static_cast<int>(x.shape(0));
        return to_numpy(kboost::testing::intra_frame(src, d, h, x.data(), n), {n, d, kboost::kNumFreqs});
      },
      py::arg("tensors"), py::arg("d"), py::arg("h"), py::arg("x"));
  t.def(
      "inter_frame",
      [](const py::dict& tensors, int d, int h, Array x) {
        DictSource src(tensors);
        const int n = static_cast<int>(x.shape(0));
        return to_numpy(kboost::testing::inter_frame(src, d, h, x.data(), n), {n, d, kboost::kNumFreqs});
      },
      py::arg("tensors"), py::arg("d"), py::arg("h"), py::arg("x"));
  t.def(
      "local_attention",
      [](const py::dict& tensors, int d, int n_heads, int head_dim, int window, Array x) {
        DictSource src(tensors);
        const int n = static_cast<int>(x.shape(0));
        return to_numpy(kboost::testing::local_attention(src, d, n_heads, head_dim, window, x.data(), n),
                        {n, d, kboost::kNumFreqs});
      },
      py::arg("tensors"), py::arg("d"), py::arg("n_heads"), py::arg("head_dim"), py::arg("window"), py::arg("x"));
  t.def(
      "kb_fusion",
      [](const py::dict& tensors, int d, int n_hint, int delay, int n_heads, int head_dim, int window, Array x,
         Array hints, py::array_t<uint8_t, py::array::c_style | py::array::forcecast> present) {
        DictSource src(tensors);
        const int n = static_cast<int>(x.shape(0));
        return to_numpy(kboost::testing::kb_fusion(src, d, n_hint, delay, n_heads, head_dim, window, x.data(),
                                                   hints.data(), present.data(), n),
                        {n, d, kboost::kNumFreqs});
      },
      py::arg("tensors"), py::arg("d"), py::arg("n_hint"), py::arg("delay"), py::arg("n_heads"),
      py::arg("head_dim"), py::arg("window"), py::arg("x"), py::arg("hints"), py::arg("present"));
}

// Python binding of kboost::Streamer (stream.h). Thin: float32 C-contiguous numpy in, optional
// preallocated out, the GIL released around the computation. No logic here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "kboost/error.h"
#include "kboost/stream.h"

namespace py = pybind11;

namespace {

using Array = py::array_t<float, py::array::c_style>;

/// A float32 C-contiguous array of exactly `shape` (no conversion: a copy would hide a mistake and
/// cost an allocation); `what` names it in the error.
const float* checked_in(const py::array& a, std::initializer_list<py::ssize_t> shape, const char* what) {
  // The check first, the message only when it fails (this runs twice per chunk: no allocation).
  const bool ok_type = py::isinstance<Array>(a) && (a.flags() & py::array::c_style);
  bool ok_shape = a.ndim() == static_cast<py::ssize_t>(shape.size());
  py::ssize_t i = 0;
  for (auto s : shape) {
    if (ok_shape && a.shape(i) != s) ok_shape = false;
    ++i;
  }
  if (!ok_type || !ok_shape) {
    std::string want = "[";
    i = 0;
    for (auto s : shape) want += (i++ ? ", " : "") + std::to_string(s);
    want += "]";
    std::string got = "[";
    for (py::ssize_t j = 0; j < a.ndim(); ++j) got += (j ? ", " : "") + std::to_string(a.shape(j));
    got += "] " + std::string(py::str(a.dtype()));
    if (!(a.flags() & py::array::c_style)) got += " (not C-contiguous)";
    throw kboost::Error(std::string(what) + ": expected a float32 C-contiguous array of shape " + want + ", got " + got);
  }
  return static_cast<const float*>(a.data());
}

/// `out` if given (checked like an input, and writeable), else a new array of `shape`.
Array out_array(const py::object& out, std::initializer_list<py::ssize_t> shape, const char* what) {
  if (out.is_none()) return Array(std::vector<py::ssize_t>(shape));
  py::array a = out.cast<py::array>();
  checked_in(a, shape, what);
  if (!a.writeable()) throw kboost::Error(std::string(what) + ": the array is read-only");
  // Checked to be exactly an Array already: a borrowed reference, not a conversion (array_t's
  // converting constructor goes through PyArray_FromAny on every chunk).
  return py::reinterpret_borrow<Array>(a);
}

}  // namespace

void bind_stream(py::module_& m) {
  using kboost::Streamer;
  m.def("kernel_isa", &kboost::kernel_isa, "The kernel set chosen for this CPU at start-up: \"avx512\", \"avx2+fma\" or \"ref\" (KBOOST_KERNELS=ref|avx2|avx512 caps it).");
  py::class_<Streamer>(
      m, "Streamer",
      "One audio stream through a Model, one 8 ms chunk per call (docs/CONTRACTS.md). Owns all stream state. "
      "Threads: one thread calls process_chunk / set_speaker / reset; another may call push_hint "
      "concurrently (a lock-free ring).")
      .def(py::init([](std::shared_ptr<kboost::Model> model, int hint_ring_size) {
             kboost::StreamerOptions o;
             o.hint_ring_size = hint_ring_size;
             return std::make_unique<Streamer>(std::move(model), o);
           }),
           py::arg("model"), py::arg("hint_ring_size") = 64, py::keep_alive<1, 2>())
      .def(
          "process_chunk",
          [](Streamer& s, const py::array& x, const py::object& out) {
            const float* in = checked_in(x, {2, kboost::kChunkSize}, "process_chunk: x");
            const int n_out = s.config().n_out();
            Array y = out_array(out, {n_out, kboost::kChunkSize}, "process_chunk: out");
            float* py_out = y.mutable_data();
            {
              py::gil_scoped_release release;
              s.process_chunk(in, 2 * kboost::kChunkSize, py_out, static_cast<size_t>(n_out) * kboost::kChunkSize);
            }
            return y;
          },
          py::arg("x"), py::arg("out") = py::none(),
          "x: float32 [2, 128] (the 128 newest samples of each ear) -> [n_out, 128] (written into `out` if "
          "given), the output delayed by 64 samples.")
      .def(
          "process_chunk_with_hint",
          [](Streamer& s, const py::array& x, const py::object& out, const py::object& hint_out) {
            const auto& c = s.config();
            const float* in = checked_in(x, {2, kboost::kChunkSize}, "process_chunk_with_hint: x");
            Array y = out_array(out, {c.n_out(), kboost::kChunkSize}, "process_chunk_with_hint: out");
            if (!c.has_compressor())
              throw kboost::Error(std::string("process_chunk_with_hint: this ") + kboost::to_string(c.role) +
                                  " model produces no hints (only a server model does)");
            Array h = out_array(hint_out, {c.n_hint_channels(), kboost::kNumFreqs}, "process_chunk_with_hint: hint_out");
            float* py_out = y.mutable_data();
            float* py_hint = h.mutable_data();
            {
              py::gil_scoped_release release;
              s.process_chunk(in, 2 * kboost::kChunkSize, py_out, static_cast<size_t>(c.n_out()) * kboost::kChunkSize,
                              py_hint, static_cast<size_t>(c.hint_size()));
            }
            return py::make_tuple(y, h);
          },
          py::arg("x"), py::arg("out") = py::none(), py::arg("hint_out") = py::none(),
          "Server models: (out [n_out, 128], hint [C_h, 97]), the compressed hint of this chunk.")
      .def(
          "push_hint",
          [](Streamer& s, int64_t chunk_index, const py::array& hint) {
            // A wrong shape is refused and counted by the core (never raised): pass the size through.
            const bool ok = py::isinstance<Array>(hint) && (hint.flags() & py::array::c_style) && hint.ndim() == 2 &&
                            hint.shape(0) == s.config().n_hint_channels() && hint.shape(1) == kboost::kNumFreqs;
            const float* p = ok ? static_cast<const float*>(hint.data()) : nullptr;
            const size_t n = ok ? static_cast<size_t>(hint.size()) : 0;
            py::gil_scoped_release release;
            return s.push_hint(chunk_index, p, n);
          },
          py::arg("chunk_index"), py::arg("hint"),
          "Device models: the hint float32 [C_h, 97] of chunk `chunk_index`, used at chunk chunk_index + d. "
          "Returns False if refused (late, duplicate, beyond the ring, wrong shape/dtype), counted in stats().")
      .def(
          "set_speaker",
          [](Streamer& s, const py::array& emb) {
            const float* p = checked_in(emb, {kboost::kSpeakerDim}, "set_speaker: embedding");
            s.set_speaker(p, kboost::kSpeakerDim);
          },
          py::arg("embedding"), "TSE: the enrollment embedding float32 [256]; the speaker FiLM is computed once here.")
      .def("reset", &Streamer::reset, "Back to a fresh stream (keeps the model and the speaker).")
      .def(
          "stats",
          [](const Streamer& s) {
            const auto st = s.stats();
            py::dict d;
            d["chunks"] = st.n_chunks;
            d["hints_used"] = st.n_hints_used;
            d["hints_missing"] = st.n_hints_missing;
            d["hints_accepted"] = st.n_hints_accepted;
            d["hints_late"] = st.n_hints_late;
            d["hints_duplicate"] = st.n_hints_duplicate;
            d["hints_future"] = st.n_hints_future;
            d["hints_bad_size"] = st.n_hints_bad_size;
            return d;
          },
          "Counters since construction or reset().")
      .def_property_readonly("chunk_index", &Streamer::chunk_index, "The next chunk process_chunk will process.")
      .def_property_readonly("has_speaker", &Streamer::has_speaker)
      .def_property_readonly(
          "model", [](const Streamer& s) { return std::const_pointer_cast<kboost::Model>(s.shared_model()); });
}

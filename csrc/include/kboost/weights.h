// kboost: the weights-file reader (GGUF, written by `kboost export`; see docs/weights-format.md).
//
// WeightsFile parses a whole GGUF v3 file held in memory and checks every read against its size:
// a truncated file, an offset or a count past the end, an absurd length, an overflowing shape, a
// misaligned tensor, a wrong magic or version, a non-F32 tensor or a NaN/Inf weight each throw a
// kboost::Error that names what is wrong (the tensor or key, what was found, what was expected).
// It knows nothing about the network: kboost::Model asks for each tensor by name and shape, then
// calls check_all_used() so that a tensor the model does not know is an error too.
//
// Shapes are in PyTorch order (outermost first), although GGUF stores its dims innermost first:
// a state_dict tensor of shape [64, 16] is read back as {64, 16}. Data are float32, contiguous,
// row-major (the last dim varies fastest), exactly the bytes of `tensor.numpy()`.
//
// Ownership and threads: a WeightsFile owns copies of everything it parsed; the input buffer may be
// freed after parse(). Metadata getters and tensor() hand out references valid while the WeightsFile
// lives. tensor() records which tensors were requested (for check_all_used), so one WeightsFile must
// not be read from several threads at once; load it, build the Model, and drop it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kboost {

/// Types of GGUF metadata values (the numbers are those of the file format).
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

/// "uint32", "float32", "array of float32", ...: for error messages.
std::string gguf_type_name(GgufType type);

/// One metadata value. Scalars fill exactly one of i / u / f / b / s; arrays fill one of the
/// vectors (integers of any width widen to ints / uints, floats of either width to floats; float32
/// values are exact in a double).
struct MetaValue {
  GgufType type = GgufType::kUint8;
  GgufType elem_type = GgufType::kUint8;  // arrays only
  int64_t i = 0;                          // signed integer scalars
  uint64_t u = 0;                         // unsigned integer scalars
  double f = 0.0;                         // float scalars
  bool b = false;
  std::string s;
  std::vector<int64_t> ints;  // arrays of signed integers (and bool)
  std::vector<uint64_t> uints;  // arrays of unsigned integers
  std::vector<double> floats;
  std::vector<std::string> strings;
};

/// One tensor of the file: a name, a shape in PyTorch order and float32 data, row-major.
struct WeightsTensor {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch order: shape[0] outermost
  std::vector<float> data;     // numel() values, contiguous
  int64_t numel() const { return static_cast<int64_t>(data.size()); }
};

/// "[64, 16]": a shape as text, for error messages.
std::string shape_to_string(const std::vector<int64_t>& shape);

class WeightsFile {
 public:
  /// The GGUF container version this reader understands.
  static constexpr uint32_t kGgufVersion = 3;
  /// The kboost layout version (metadata key kboost.format_version) this reader understands.
  static constexpr uint32_t kFormatVersion = 1;
  /// Largest accepted rank of a tensor (as in ggml).
  static constexpr uint32_t kMaxDims = 4;

  /// Reads and parses a whole file. Throws Error if it cannot be read or is not a valid file.
  static WeightsFile load(const std::string& path);

  /// Parses a file image of `size` bytes. `origin` names it in error messages (a path, "<bytes>").
  /// Checks the GGUF structure, that every tensor is F32 without NaN/Inf, and that the file is a
  /// kboost weights file of a supported format version (general.architecture == "kboost",
  /// kboost.format_version == kFormatVersion).
  static WeightsFile parse(const uint8_t* data, size_t size, const std::string& origin = "<bytes>");

  const std::string& origin() const { return origin_; }
  uint32_t gguf_version() const { return version_; }
  /// Data alignment of the file in bytes (general.alignment, 32 by default).
  uint64_t alignment() const { return alignment_; }

  // ---- metadata --------------------------------------------------------------------------------
  bool has_key(const std::string& key) const;
  /// All keys, in file order.
  const std::vector<std::string>& keys() const { return key_order_; }
  /// The raw value; throws Error naming the key if it is missing.
  const MetaValue& value(const std::string& key) const;
  /// An integer scalar of any width (bool excluded) that fits int64. Error if missing or not an
  /// integer ("metadata key 'kboost.d_model' has type float32, expected an integer").
  int64_t get_int(const std::string& key) const;
  /// get_int, also checked to lie in [lo, hi].
  int64_t get_int(const std::string& key, int64_t lo, int64_t hi) const;
  /// A float32 or float64 scalar.
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  /// An array of float32 (or float64) values, converted to float.
  std::vector<float> get_floats(const std::string& key) const;
  /// An array of integers of any width.
  std::vector<int64_t> get_ints(const std::string& key) const;

  // ---- tensors ---------------------------------------------------------------------------------
  bool has_tensor(const std::string& name) const;
  /// Names in file order.
  const std::vector<std::string>& tensor_names() const { return tensor_order_; }
  /// The tensor `name`, checked to have `expected_shape` (PyTorch order), and marked as used.
  /// Errors: "missing tensor 'x' (expected shape [..])", "tensor 'x' has shape [..], expected [..]".
  const WeightsTensor& tensor(const std::string& name, const std::vector<int64_t>& expected_shape) const;
  /// The tensor without a shape check (marked as used); for tools and tests.
  const WeightsTensor& tensor(const std::string& name) const;
  /// Throws Error naming every tensor of the file that no tensor() call requested.
  void check_all_used() const;

 private:
  WeightsFile() = default;
  const WeightsTensor& find_tensor(const std::string& name, const std::vector<int64_t>* expected) const;

  std::string origin_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, MetaValue> meta_;
  std::vector<std::string> key_order_;
  std::map<std::string, WeightsTensor> tensors_;
  std::vector<std::string> tensor_order_;
  mutable std::map<std::string, bool> used_;

  friend class GgufParser;
};

}  // namespace kboost

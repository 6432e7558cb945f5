// The GGUF reader of kboost (format: docs/weights-format.md; GGUF v3 as written by the gguf package).
//
// Every read goes through Cursor, which checks the bytes left before touching them; every count
// read from the file is bounded by what the remaining bytes could hold before anything is sized
// from it, so a corrupt file costs at most a copy of itself in memory.
#include "kboost/weights.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "kboost/error.h"

namespace kboost {
namespace {

constexpr uint32_t kGgmlTypeF32 = 0;
constexpr uint64_t kDefaultAlignment = 32;
// Smallest encodings, used to bound counts read from the file by the bytes that remain.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;          // key length, type, one-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset

static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559, "kboost needs IEEE float32");

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

const char* ggml_type_name(uint32_t t) {
  switch (t) {
    case 0: return "F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 6: return "Q5_0";
    case 7: return "Q5_1";
    case 8: return "Q8_0";
    case 9: return "Q8_1";
    case 24: return "I8";
    case 25: return "I16";
    case 26: return "I32";
    case 27: return "I64";
    case 28: return "F64";
    case 30: return "BF16";
    default: return "a quantised or unknown type";
  }
}

uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool: return 1;
    case GgufType::kUint16:
    case GgufType::kInt16: return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32: return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64: return 8;
    case GgufType::kString: return 8;  // at least its length field
    case GgufType::kArray: return 12;  // at least its element type and count
  }
  return 1;
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kFloat64); }

bool is_signed_int(GgufType t) {
  return t == GgufType::kInt8 || t == GgufType::kInt16 || t == GgufType::kInt32 || t == GgufType::kInt64;
}
bool is_unsigned_int(GgufType t) {
  return t == GgufType::kUint8 || t == GgufType::kUint16 || t == GgufType::kUint32 || t == GgufType::kUint64;
}
bool is_float(GgufType t) { return t == GgufType::kFloat32 || t == GgufType::kFloat64; }

std::string type_of(const MetaValue& v) {
  if (v.type == GgufType::kArray) return "array of " + gguf_type_name(v.elem_type);
  return gguf_type_name(v.type);
}

/// Bounds-checked little-endian reads over a byte image.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& origin)
      : data_(data), size_(size), origin_(origin) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  uint64_t left() const { return size_ - pos_; }

  void need(uint64_t n, const std::string& what) const {
    KBOOST_CHECK(n <= left(), origin_, ": truncated or corrupt file: reading ", what, " at byte ", pos_,
                 " needs ", n, " bytes, but only ", left(), " of the file's ", size_, " bytes are left");
  }

  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const std::string& what) {
    const uint64_t n = read<uint64_t>("the length of " + what);
    KBOOST_CHECK(n <= left(), origin_, ": truncated or corrupt file: ", what, " at byte ", pos_,
                 " claims a length of ", n, " bytes, but only ", left(), " bytes are left");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }

  const uint8_t* at(size_t offset) const { return data_ + offset; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& origin_;
};

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace

std::string gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "unknown type " + std::to_string(static_cast<uint32_t>(type));
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

/// The parser proper: a friend of WeightsFile that fills it in.
class GgufParser {
 public:
  GgufParser(const uint8_t* data, size_t size, const std::string& origin)
      : cur_(data, size, origin), origin_(origin) {}

  WeightsFile run() {
    WeightsFile w;
    w.origin_ = origin_;
    KBOOST_CHECK(host_is_little_endian(), "kboost weights files are little-endian; this host is not");
    read_header(w);
    read_metadata(w);
    read_tensor_infos(w);
    read_alignment(w);
    read_tensor_data(w);
    check_kboost(w);
    return w;
  }

 private:
  struct Info {
    std::string name;
    std::vector<int64_t> shape;  // PyTorch order
    uint64_t numel = 0;
    uint64_t offset = 0;
  };

  void read_header(WeightsFile& w) {
    cur_.need(4, "the magic");
    const uint8_t* m = cur_.at(0);
    const std::string magic(reinterpret_cast<const char*>(m), 4);
    KBOOST_CHECK(magic == "GGUF", origin_, ": not a GGUF weights file: the magic bytes are '",
                 printable(magic), "', expected 'GGUF' (export a checkpoint with `kboost export`)");
    (void)cur_.read<uint32_t>("the magic");
    const uint32_t version = cur_.read<uint32_t>("the GGUF version");
    const uint32_t swapped = ((version & 0xffu) << 24) | ((version & 0xff00u) << 8) |
                             ((version >> 8) & 0xff00u) | (version >> 24);
    KBOOST_CHECK(!(version != WeightsFile::kGgufVersion && swapped == WeightsFile::kGgufVersion), origin_,
                 ": big-endian GGUF file: kboost reads little-endian files only");
    KBOOST_CHECK(version == WeightsFile::kGgufVersion, origin_, ": unsupported GGUF version ", version,
                 ": this reader supports version ", WeightsFile::kGgufVersion);
    w.version_ = version;
    n_tensors_ = cur_.read<uint64_t>("the tensor count");
    n_kv_ = cur_.read<uint64_t>("the metadata count");
    KBOOST_CHECK(n_kv_ <= cur_.left() / kMinKvBytes, origin_, ": corrupt or truncated file: the header claims ",
                 n_kv_, " metadata entries, but the ", cur_.left(), " bytes left hold at most ",
                 cur_.left() / kMinKvBytes);
    KBOOST_CHECK(n_tensors_ <= cur_.left() / kMinTensorInfoBytes, origin_,
                 ": corrupt or truncated file: the header claims ", n_tensors_, " tensors, but the ",
                 cur_.left(), " bytes left hold at most ", cur_.left() / kMinTensorInfoBytes);
  }

  GgufType read_type(const std::string& key, const char* what) {
    const uint32_t t = cur_.read<uint32_t>(std::string(what) + " of metadata key '" + key + "'");
    KBOOST_CHECK(valid_type(t), origin_, ": metadata key '", printable(key), "' has an unknown ", what, " ", t,
                 " (GGUF value types are 0..12)");
    return static_cast<GgufType>(t);
  }

  // Reads one scalar of type t into v (as a scalar when `into_array` is false, else appended).
  void read_scalar(GgufType t, const std::string& key, MetaValue& v, bool into_array) {
    const std::string what = "the value of metadata key '" + printable(key) + "'";
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0.0;
    switch (t) {
      case GgufType::kUint8: u = cur_.read<uint8_t>(what); break;
      case GgufType::kInt8: i = cur_.read<int8_t>(what); break;
      case GgufType::kUint16: u = cur_.read<uint16_t>(what); break;
      case GgufType::kInt16: i = cur_.read<int16_t>(what); break;
      case GgufType::kUint32: u = cur_.read<uint32_t>(what); break;
      case GgufType::kInt32: i = cur_.read<int32_t>(what); break;
      case GgufType::kUint64: u = cur_.read<uint64_t>(what); break;
      case GgufType::kInt64: i = cur_.read<int64_t>(what); break;
      case GgufType::kFloat32: f = static_cast<double>(cur_.read<float>(what)); break;
      case GgufType::kFloat64: f = cur_.read<double>(what); break;
      case GgufType::kBool: {
        const uint8_t b = cur_.read<uint8_t>(what);
        KBOOST_CHECK(b <= 1, origin_, ": metadata key '", printable(key), "' holds a bool of value ",
                     static_cast<int>(b), ", expected 0 or 1");
        i = b;
        break;
      }
      case GgufType::kString: {
        std::string s = cur_.read_string(what);
        if (into_array) v.strings.push_back(std::move(s));
        else v.s = std::move(s);
        return;
      }
      case GgufType::kArray:
        KBOOST_CHECK(false, origin_, ": metadata key '", printable(key),
                     "' is an array of arrays, which kboost files never hold");
    }
    if (!into_array) {
      v.i = i;
      v.u = u;
      v.f = f;
      v.b = (t == GgufType::kBool) && i != 0;
    } else if (is_float(t)) {
      v.floats.push_back(f);
    } else if (is_unsigned_int(t)) {
      v.uints.push_back(u);
    } else {
      v.ints.push_back(i);
    }
  }

  void read_metadata(WeightsFile& w) {
    for (uint64_t k = 0; k < n_kv_; ++k) {
      std::string key = cur_.read_string("metadata key #" + std::to_string(k));
      KBOOST_CHECK(!key.empty(), origin_, ": metadata key #", k, " is empty");
      KBOOST_CHECK(w.meta_.count(key) == 0, origin_, ": metadata key '", printable(key), "' appears twice");
      MetaValue v;
      v.type = read_type(key, "value type");
      if (v.type == GgufType::kArray) {
        v.elem_type = read_type(key, "array element type");
        KBOOST_CHECK(v.elem_type != GgufType::kArray, origin_, ": metadata key '", printable(key),
                     "' is an array of arrays, which kboost files never hold");
        const uint64_t n = cur_.read<uint64_t>("the length of array '" + printable(key) + "'");
        const uint64_t min_size = scalar_size(v.elem_type);
        KBOOST_CHECK(n <= cur_.left() / min_size, origin_, ": truncated or corrupt file: array '",
                     printable(key), "' claims ", n, " elements of type ", gguf_type_name(v.elem_type),
                     " but only ", cur_.left(), " bytes are left");
        for (uint64_t j = 0; j < n; ++j) read_scalar(v.elem_type, key, v, true);
      } else {
        read_scalar(v.type, key, v, false);
      }
      w.key_order_.push_back(key);
      w.meta_.emplace(std::move(key), std::move(v));
    }
  }

  void read_tensor_infos(WeightsFile& w) {
    // A tensor's bytes can never exceed the file's, which bounds every dim product without overflow.
    const uint64_t max_numel = cur_.size() / sizeof(float);
    infos_.reserve(static_cast<size_t>(n_tensors_));
    for (uint64_t k = 0; k < n_tensors_; ++k) {
      Info info;
      info.name = cur_.read_string("the name of tensor #" + std::to_string(k));
      const std::string name = printable(info.name);
      KBOOST_CHECK(!info.name.empty(), origin_, ": tensor #", k, " has an empty name");
      KBOOST_CHECK(w.tensors_.count(info.name) == 0, origin_, ": tensor '", name, "' appears twice");
      const uint32_t n_dims = cur_.read<uint32_t>("the rank of tensor '" + name + "'");
      KBOOST_CHECK(n_dims >= 1 && n_dims <= WeightsFile::kMaxDims, origin_, ": tensor '", name, "' has ",
                   n_dims, " dims, expected 1 to ", WeightsFile::kMaxDims);
      std::vector<int64_t> ne(n_dims);  // GGUF order: ne[0] innermost
      info.numel = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t n = cur_.read<uint64_t>("dim " + std::to_string(d) + " of tensor '" + name + "'");
        KBOOST_CHECK(n >= 1, origin_, ": tensor '", name, "' has a zero-length dim ", d);
        KBOOST_CHECK(n <= max_numel / info.numel, origin_, ": corrupt file: tensor '", name,
                     "' claims more elements than the whole file of ", cur_.size(), " bytes can hold (dim ",
                     d, " = ", n, ")");
        info.numel *= n;
        ne[d] = static_cast<int64_t>(n);
      }
      info.shape.assign(ne.rbegin(), ne.rend());
      const uint32_t type = cur_.read<uint32_t>("the type of tensor '" + name + "'");
      KBOOST_CHECK(type == kGgmlTypeF32, origin_, ": tensor '", name, "' has type ", ggml_type_name(type), " (",
                   type, "), expected F32 (0): kboost files hold float32 weights only");
      info.offset = cur_.read<uint64_t>("the data offset of tensor '" + name + "'");
      w.tensors_.emplace(info.name, WeightsTensor{info.name, info.shape, {}});
      w.tensor_order_.push_back(info.name);
      infos_.push_back(std::move(info));
    }
  }

  void read_alignment(WeightsFile& w) {
    w.alignment_ = kDefaultAlignment;
    auto it = w.meta_.find("general.alignment");
    if (it == w.meta_.end()) return;
    const MetaValue& v = it->second;
    KBOOST_CHECK(v.type == GgufType::kUint32, origin_, ": metadata key 'general.alignment' has type ",
                 type_of(v), ", expected uint32");
    KBOOST_CHECK(v.u != 0 && (v.u & (v.u - 1)) == 0, origin_, ": general.alignment is ", v.u,
                 ", expected a power of two");
    w.alignment_ = v.u;
  }

  void read_tensor_data(WeightsFile& w) {
    // The data section starts at the first multiple of the alignment after the tensor infos.
    const uint64_t end_of_infos = cur_.pos();
    const uint64_t a = w.alignment_;
    const uint64_t pad = (a - end_of_infos % a) % a;
    if (infos_.empty()) return;
    KBOOST_CHECK(pad <= cur_.left(), origin_, ": truncated file: the tensor data section would start at byte ",
                 end_of_infos + pad, " but the file has ", cur_.size(), " bytes");
    const uint64_t data_start = end_of_infos + pad;
    const uint64_t data_size = cur_.size() - data_start;

    std::vector<const Info*> by_offset;
    for (const Info& info : infos_) {
      const std::string name = printable(info.name);
      const uint64_t n_bytes = info.numel * sizeof(float);  // <= file size: no overflow
      KBOOST_CHECK(info.offset % a == 0, origin_, ": tensor '", name, "' data offset ", info.offset,
                   " is not a multiple of the alignment ", a);
      KBOOST_CHECK(info.offset <= data_size && n_bytes <= data_size - info.offset, origin_,
                   ": truncated or corrupt file: the data of tensor '", name, "' (", n_bytes,
                   " bytes at offset ", info.offset, " of the data section) ends past the end of the file (",
                   data_size, " bytes of data)");
      by_offset.push_back(&info);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const Info* x, const Info* y) { return x->offset < y->offset; });
    for (size_t k = 1; k < by_offset.size(); ++k) {
      const Info& p = *by_offset[k - 1];
      KBOOST_CHECK(p.offset + p.numel * sizeof(float) <= by_offset[k]->offset, origin_,
                   ": corrupt file: the data of tensors '", printable(p.name), "' and '",
                   printable(by_offset[k]->name), "' overlap");
    }

    for (const Info& info : infos_) {
      WeightsTensor& t = w.tensors_.at(info.name);
      t.data.resize(static_cast<size_t>(info.numel));
      std::memcpy(t.data.data(), cur_.at(static_cast<size_t>(data_start + info.offset)),
                  static_cast<size_t>(info.numel) * sizeof(float));
      for (size_t j = 0; j < t.data.size(); ++j) {
        const float x = t.data[j];
        KBOOST_CHECK(std::isfinite(x), origin_, ": tensor '", printable(info.name), "' ",
                     shape_to_string(info.shape), " holds ", (std::isnan(x) ? "NaN" : "Inf"),
                     " at flat index ", j, ": the checkpoint is corrupt or training diverged");
      }
    }
  }

  void check_kboost(const WeightsFile& w) {
    auto arch = w.meta_.find("general.architecture");
    KBOOST_CHECK(arch != w.meta_.end(), origin_,
                 ": not a kboost weights file: metadata key 'general.architecture' is missing");
    KBOOST_CHECK(arch->second.type == GgufType::kString && arch->second.s == "kboost", origin_,
                 ": not a kboost weights file: general.architecture is ",
                 arch->second.type == GgufType::kString ? "'" + printable(arch->second.s) + "'" : type_of(arch->second),
                 ", expected 'kboost'");
    const int64_t fv = w.get_int("kboost.format_version");
    KBOOST_CHECK(fv == WeightsFile::kFormatVersion, origin_, ": unsupported kboost weights format version ", fv,
                 ": this build reads version ", WeightsFile::kFormatVersion,
                 " (re-export the checkpoint with a matching kboost)");
  }

  Cursor cur_;
  const std::string& origin_;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  std::vector<Info> infos_;
};

// ---- WeightsFile --------------------------------------------------------------------------------

WeightsFile WeightsFile::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  KBOOST_CHECK(!ec && fs::exists(st), "cannot open weights file '", path, "': ",
               ec ? ec.message() : std::string("no such file"));
  KBOOST_CHECK(!fs::is_directory(st), "cannot open weights file '", path, "': it is a directory, expected a .gguf file");
  KBOOST_CHECK(fs::is_regular_file(st), "cannot open weights file '", path, "': not a regular file");
  const uintmax_t size = fs::file_size(path, ec);
  KBOOST_CHECK(!ec, "cannot read weights file '", path, "': ", ec.message());
  KBOOST_CHECK(size <= static_cast<uintmax_t>(std::numeric_limits<std::streamsize>::max()) &&
                   size <= static_cast<uintmax_t>(std::numeric_limits<size_t>::max()),
               "cannot read weights file '", path, "': ", size, " bytes is too large");
  std::ifstream f(path, std::ios::binary);
  KBOOST_CHECK(f.is_open(), "cannot open weights file '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0) f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  KBOOST_CHECK(static_cast<uintmax_t>(f.gcount()) == size || size == 0, "cannot read weights file '", path,
               "': read ", f.gcount(), " of its ", size, " bytes");
  return parse(bytes.data(), bytes.size(), path);
}

WeightsFile WeightsFile::parse(const uint8_t* data, size_t size, const std::string& origin) {
  KBOOST_CHECK(data != nullptr || size == 0, origin, ": null buffer");
  static const uint8_t kEmpty = 0;
  return GgufParser(data ? data : &kEmpty, size, origin).run();
}

bool WeightsFile::has_key(const std::string& key) const { return meta_.count(key) != 0; }

const MetaValue& WeightsFile::value(const std::string& key) const {
  auto it = meta_.find(key);
  KBOOST_CHECK(it != meta_.end(), origin_, ": metadata key '", key, "' is missing");
  return it->second;
}

int64_t WeightsFile::get_int(const std::string& key) const {
  const MetaValue& v = value(key);
  if (is_signed_int(v.type)) return v.i;
  KBOOST_CHECK(is_unsigned_int(v.type), origin_, ": metadata key '", key, "' has type ", type_of(v),
               ", expected an integer");
  KBOOST_CHECK(v.u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), origin_, ": metadata key '",
               key, "' = ", v.u, " is out of range");
  return static_cast<int64_t>(v.u);
}

int64_t WeightsFile::get_int(const std::string& key, int64_t lo, int64_t hi) const {
  const int64_t x = get_int(key);
  KBOOST_CHECK(x >= lo && x <= hi, origin_, ": metadata key '", key, "' = ", x, ", expected a value in [", lo,
               ", ", hi, "]");
  return x;
}

double WeightsFile::get_float(const std::string& key) const {
  const MetaValue& v = value(key);
  KBOOST_CHECK(is_float(v.type), origin_, ": metadata key '", key, "' has type ", type_of(v),
               ", expected float32 or float64");
  return v.f;
}

bool WeightsFile::get_bool(const std::string& key) const {
  const MetaValue& v = value(key);
  KBOOST_CHECK(v.type == GgufType::kBool, origin_, ": metadata key '", key, "' has type ", type_of(v),
               ", expected bool");
  return v.b;
}

const std::string& WeightsFile::get_string(const std::string& key) const {
  const MetaValue& v = value(key);
  KBOOST_CHECK(v.type == GgufType::kString, origin_, ": metadata key '", key, "' has type ", type_of(v),
               ", expected string");
  return v.s;
}

std::vector<float> WeightsFile::get_floats(const std::string& key) const {
  const MetaValue& v = value(key);
  KBOOST_CHECK(v.type == GgufType::kArray && is_float(v.elem_type), origin_, ": metadata key '", key,
               "' has type ", type_of(v), ", expected an array of float32");
  return std::vector<float>(v.floats.begin(), v.floats.end());
}

std::vector<int64_t> WeightsFile::get_ints(const std::string& key) const {
  const MetaValue& v = value(key);
  const bool ok = v.type == GgufType::kArray && (is_signed_int(v.elem_type) || is_unsigned_int(v.elem_type));
  KBOOST_CHECK(ok, origin_, ": metadata key '", key, "' has type ", type_of(v), ", expected an array of integers");
  if (is_signed_int(v.elem_type)) return v.ints;
  std::vector<int64_t> out;
  out.reserve(v.uints.size());
  for (uint64_t u : v.uints) {
    KBOOST_CHECK(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), origin_, ": metadata key '", key,
                 "' holds ", u, ", out of range");
    out.push_back(static_cast<int64_t>(u));
  }
  return out;
}

bool WeightsFile::has_tensor(const std::string& name) const { return tensors_.count(name) != 0; }

const WeightsTensor& WeightsFile::find_tensor(const std::string& name, const std::vector<int64_t>* expected) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    std::ostringstream s;
    s << origin_ << ": missing tensor '" << name << "'";
    if (expected) s << " (expected shape " << shape_to_string(*expected) << ")";
    s << ": the file does not match the model its metadata describes";
    throw Error(s.str());
  }
  const WeightsTensor& t = it->second;
  KBOOST_CHECK(expected == nullptr || t.shape == *expected, origin_, ": tensor '", name, "' has shape ",
               shape_to_string(t.shape), ", expected ", shape_to_string(expected ? *expected : t.shape));
  used_[name] = true;
  return t;
}

const WeightsTensor& WeightsFile::tensor(const std::string& name, const std::vector<int64_t>& expected_shape) const {
  return find_tensor(name, &expected_shape);
}

const WeightsTensor& WeightsFile::tensor(const std::string& name) const { return find_tensor(name, nullptr); }

void WeightsFile::check_all_used() const {
  std::vector<std::string> unknown;
  for (const std::string& name : tensor_order_)
    if (!used_.count(name)) unknown.push_back(name);
  if (unknown.empty()) return;
  std::ostringstream s;
  s << origin_ << ": " << unknown.size() << " unknown tensor" << (unknown.size() == 1 ? "" : "s")
    << " not used by the model:";
  for (size_t k = 0; k < unknown.size(); ++k) s << (k ? ", '" : " '") << printable(unknown[k]) << "'";
  s << " (the file was exported for a different model or kboost version)";
  throw Error(s.str());
}

}  // namespace kboost

// Builds GGUF v3 images in memory for the weights-reader tests: valid kboost files and, through the
// raw setters, every kind of broken one. Independent of the reader (it only writes bytes).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace kboost {
namespace testing {

class GgufBuilder {
 public:
  struct TensorSpec {
    std::string name;
    std::vector<int64_t> shape;  // PyTorch order
    std::vector<float> data;
    uint32_t type = 0;          // ggml type, 0 = F32
    int64_t offset_override = -1;
  };

  /// A kboost file: general.architecture = "kboost", kboost.format_version = 1.
  static GgufBuilder kboost() {
    GgufBuilder b;
    b.add_string("general.architecture", "kboost");
    b.add_u32("kboost.format_version", 1);
    return b;
  }

  // ---- metadata (in call order) ----
  void add_u32(const std::string& key, uint32_t v) { kv_header(key, 4); put(v); }
  void add_i32(const std::string& key, int32_t v) { kv_header(key, 5); put(v); }
  void add_f32(const std::string& key, float v) { kv_header(key, 6); put(v); }
  void add_u64(const std::string& key, uint64_t v) { kv_header(key, 10); put(v); }
  void add_bool(const std::string& key, bool v) { kv_header(key, 7); put(static_cast<uint8_t>(v)); }
  void add_string(const std::string& key, const std::string& v) { kv_header(key, 8); put_string(kv_, v); }
  void add_f32s(const std::string& key, const std::vector<float>& v) {
    kv_header(key, 9);
    put(uint32_t{6});
    put(static_cast<uint64_t>(v.size()));
    for (float x : v) put(x);
  }
  void add_i32s(const std::string& key, const std::vector<int32_t>& v) {
    kv_header(key, 9);
    put(uint32_t{5});
    put(static_cast<uint64_t>(v.size()));
    for (int32_t x : v) put(x);
  }
  void set_alignment(uint32_t a) { alignment_ = a; add_u32("general.alignment", a); }

  // ---- tensors ----
  TensorSpec& add_tensor(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& data) {
    tensors_.push_back({name, shape, data});
    return tensors_.back();
  }
  TensorSpec& add_tensor(const std::string& name, const std::vector<int64_t>& shape, float first = 0.5f) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> data(static_cast<size_t>(n));
    for (size_t i = 0; i < data.size(); ++i) data[i] = first + 0.25f * static_cast<float>(i);
    return add_tensor(name, shape, data);
  }

  uint32_t version = 3;
  std::string magic = "GGUF";
  bool pad_end = true;  // pad the last tensor's data to the alignment, as the gguf package does

  /// The whole image.
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out(magic.begin(), magic.end());
    append(out, version);
    append(out, static_cast<uint64_t>(tensors_.size()));
    append(out, n_kv_);
    out.insert(out.end(), kv_.begin(), kv_.end());
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const TensorSpec& t : tensors_) {
      put_string(out, t.name);
      append(out, static_cast<uint32_t>(t.shape.size()));
      for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) append(out, static_cast<uint64_t>(*it));
      append(out, t.type);
      const uint64_t o = t.offset_override >= 0 ? static_cast<uint64_t>(t.offset_override) : offset;
      append(out, o);
      offsets.push_back(o);
      offset += pad(t.data.size() * 4);
    }
    while (out.size() % alignment_) out.push_back(0);
    const size_t data_start = out.size();
    for (size_t k = 0; k < tensors_.size(); ++k) {
      const TensorSpec& t = tensors_[k];
      if (t.offset_override >= 0 || t.data.empty()) continue;  // a broken offset: no data written
      const size_t at = data_start + static_cast<size_t>(offsets[k]);
      if (out.size() < at + t.data.size() * 4) out.resize(at + t.data.size() * 4, 0);
      std::memcpy(out.data() + at, t.data.data(), t.data.size() * 4);
    }
    if (pad_end)
      while (out.size() % alignment_) out.push_back(0);
    return out;
  }

 private:
  template <typename T>
  static void append(std::vector<uint8_t>& v, T x) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &x, sizeof(T));
    v.insert(v.end(), b, b + sizeof(T));
  }
  template <typename T>
  void put(T x) { append(kv_, x); }
  static void put_string(std::vector<uint8_t>& v, const std::string& s) {
    append(v, static_cast<uint64_t>(s.size()));
    v.insert(v.end(), s.begin(), s.end());
  }
  void kv_header(const std::string& key, uint32_t type) {
    put_string(kv_, key);
    put(type);
    ++n_kv_;
  }
  uint64_t pad(uint64_t n) const { return (n + alignment_ - 1) / alignment_ * alignment_; }

  std::vector<uint8_t> kv_;
  uint64_t n_kv_ = 0;
  uint32_t alignment_ = 32;
  std::vector<TensorSpec> tensors_;
};

}  // namespace testing
}  // namespace kboost

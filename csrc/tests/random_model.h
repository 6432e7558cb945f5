// A Model with deterministic pseudo-random weights, built in memory (no file), for the C++ tests of
// the streamer: any config, any role. Norm weights near 1, PReLU slopes near 0.25, the rest small.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kboost/model.h"

namespace kboost {
namespace testing {

class RandomSource : public TensorSource {
 public:
  explicit RandomSource(uint64_t seed) : seed_(seed) {}
  std::vector<float> get(const std::string& name, const std::vector<int64_t>& shape) override {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    uint64_t h = seed_ ^ 0x9E3779B97F4A7C15ull;
    for (char ch : name) h = (h ^ static_cast<uint8_t>(ch)) * 0x100000001B3ull;
    const bool norm_w = name.find("norm") != std::string::npos && name.size() > 6 &&
                        name.compare(name.size() - 6, 6, "weight") == 0;
    const bool slope = name.find("alpha") != std::string::npos || name.find("act.weight") != std::string::npos;
    // Fan-in scale keeps activations bounded: the last dims after the first are the input size.
    double fan_in = 1.0;
    for (size_t i = 1; i < shape.size(); ++i) fan_in *= static_cast<double>(shape[i]);
    const float scale = static_cast<float>(1.0 / std::sqrt(fan_in));
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) {
      h ^= h >> 33;
      h *= 0xff51afd7ed558ccdull;
      h ^= h >> 33;
      const float u = static_cast<float>(h >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f;  // [-1, 1)
      x = norm_w ? 1.0f + 0.2f * u : slope ? 0.25f + 0.1f * u : scale * u;
    }
    return v;
  }

 private:
  uint64_t seed_;
};

/// Config of a named size ("small", "medium", "large", or "tiny-attn": a small model with the
/// large model's self-attention, cheap enough for sanitizers and emulation).
inline ModelConfig test_config(Task task, Role role, const std::string& size, int delay = 0, int compression = 1) {
  ModelConfig c;
  c.task = task;
  c.role = role;
  c.size = size;
  if (size == "medium") {
    c.d_model = 26;
    c.n_hidden = 18;
  } else if (size == "large") {
    c.d_model = 64;
    c.n_hidden = 64;
    c.n_attn_heads = 8;
  } else if (size == "tiny-attn") {
    c.d_model = 8;
    c.n_hidden = 8;
    c.n_attn_heads = 2;
  }
  c.kb_delay = delay;
  c.kb_compression = compression;
  return c;
}

inline std::shared_ptr<const Model> random_model(const ModelConfig& c, uint64_t seed = 1) {
  RandomSource src(seed);
  return Model::from_tensors(c, src);
}

}  // namespace testing
}  // namespace kboost

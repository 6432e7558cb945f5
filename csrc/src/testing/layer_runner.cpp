#include "testing/layer_runner.h"

#include "dsp/stft.h"
#include "kboost/error.h"
#include "layers/causal_conv.h"
#include "layers/inter_frame.h"
#include "layers/intra_frame.h"
#include "layers/kb_fusion.h"
#include "layers/local_attention.h"

namespace kboost::testing {

namespace {
constexpr int F = kNumFreqs;

// [C, F] <-> [F, C]
void to_bin_major(const float* x, int c_n, float* y) {
  for (int c = 0; c < c_n; ++c)
    for (int f = 0; f < F; ++f) y[static_cast<size_t>(f) * c_n + c] = x[static_cast<size_t>(c) * F + f];
}
void to_channel_major(const float* x, int c_n, float* y) {
  for (int c = 0; c < c_n; ++c)
    for (int f = 0; f < F; ++f) y[static_cast<size_t>(c) * F + f] = x[static_cast<size_t>(f) * c_n + c];
}

// Runs step(in [F, C_in] bin-major, out [F, C_out]) over T frames given channel-major [T, C, F].
template <typename Step>
std::vector<float> run_frames(int c_in, int c_out, const float* x, int n_frames, Step step) {
  std::vector<float> y(static_cast<size_t>(n_frames) * c_out * F), a(static_cast<size_t>(F) * c_in),
      b(static_cast<size_t>(F) * c_out);
  for (int t = 0; t < n_frames; ++t) {
    to_bin_major(x + static_cast<size_t>(t) * c_in * F, c_in, a.data());
    step(t, a.data(), b.data());
    to_channel_major(b.data(), c_out, y.data() + static_cast<size_t>(t) * c_out * F);
  }
  return y;
}
dsp::Transform parse_transform(const std::string& name) {
  if (name == "auto") return dsp::Transform::kAuto;
  if (name == "fft") return dsp::Transform::kFft;
  if (name == "dft") return dsp::Transform::kDft;
  throw kboost::Error("transform: expected \"auto\", \"fft\" or \"dft\", got \"" + name + "\"");
}
}  // namespace

std::vector<float> stft_analysis(const float* x, int n_channels, int n_frames, const std::string& transform) {
  dsp::StftAnalyzer a(n_channels, parse_transform(transform));
  std::vector<float> chunk(static_cast<size_t>(n_channels) * kChunkSize);
  std::vector<float> y(static_cast<size_t>(n_frames) * 2 * n_channels * F);
  const size_t n = static_cast<size_t>(n_frames) * kChunkSize;
  for (int t = 0; t < n_frames; ++t) {
    for (int c = 0; c < n_channels; ++c)
      for (int i = 0; i < kChunkSize; ++i)
        chunk[static_cast<size_t>(c) * kChunkSize + i] = x[c * n + static_cast<size_t>(t) * kChunkSize + i];
    a.step(chunk.data(), y.data() + static_cast<size_t>(t) * 2 * n_channels * F);
  }
  return y;
}

std::vector<float> ola_synthesis(const float* spec, int n_channels, int n_frames, const std::string& transform) {
  dsp::OlaSynthesizer s(n_channels, parse_transform(transform));
  const size_t n = static_cast<size_t>(n_frames) * kChunkSize;
  std::vector<float> y(static_cast<size_t>(n_channels) * n), frame(static_cast<size_t>(F) * 2 * n_channels),
      out(static_cast<size_t>(n_channels) * kChunkSize);
  for (int t = 0; t < n_frames; ++t) {
    to_bin_major(spec + static_cast<size_t>(t) * 2 * n_channels * F, 2 * n_channels, frame.data());
    s.step(frame.data(), out.data());
    for (int c = 0; c < n_channels; ++c)
      for (int i = 0; i < kChunkSize; ++i)
        y[c * n + static_cast<size_t>(t) * kChunkSize + i] = out[static_cast<size_t>(c) * kChunkSize + i];
  }
  return y;
}

std::vector<float> causal_conv(TensorSource& src, bool transposed, int n_in, int n_out, const float* x,
                               int n_frames) {
  const auto w = transposed ? layers::CausalConvWeights::bind_deconv(src, "", n_in, n_out)
                            : layers::CausalConvWeights::bind_conv(src, "", n_in, n_out);
  layers::CausalConvState s(w);
  return run_frames(n_in, n_out, x, n_frames,
                    [&](int, const float* a, float* b) { layers::causal_conv_step(w, s, a, b); });
}

std::vector<float> intra_frame(TensorSource& src, int d, int h, const float* x, int n_frames) {
  const auto w = layers::IntraFrameWeights::bind(src, "", d, h);
  layers::IntraFrameScratch s(w);
  return run_frames(d, d, x, n_frames, [&](int, const float* a, float* b) { layers::intra_frame_step(w, s, a, b); });
}

std::vector<float> inter_frame(TensorSource& src, int d, int h, const float* x, int n_frames) {
  const auto w = layers::InterFrameWeights::bind(src, "", d, h);
  layers::InterFrameState s(w);
  layers::InterFrameScratch scratch(w);
  return run_frames(d, d, x, n_frames,
                    [&](int, const float* a, float* b) { layers::inter_frame_step(w, s, scratch, a, b); });
}

std::vector<float> local_attention(TensorSource& src, int d, int n_heads, int head_dim, int window, const float* x,
                                   int n_frames) {
  const auto w = layers::LocalAttentionWeights::bind(src, "", d, n_heads, head_dim, window);
  layers::LocalAttentionState s(w);
  return run_frames(d, d, x, n_frames,
                    [&](int, const float* a, float* b) { layers::local_attention_step(w, s, a, b); });
}

std::vector<float> kb_fusion(TensorSource& src, int d, int n_hint, int delay, int n_heads, int head_dim, int window,
                             const float* x, const float* hints, const uint8_t* present, int n_frames) {
  const auto w = layers::KbFusionWeights::bind(src, "", d, n_hint, delay, n_heads, head_dim, window);
  layers::KbFusionState s(w);
  return run_frames(d, d, x, n_frames, [&](int t, const float* a, float* b) {
    const float* hint = present[t] ? hints + static_cast<size_t>(t) * n_hint * F : nullptr;
    layers::kb_fusion_step(w, s, a, hint, b);
  });
}

}  // namespace kboost::testing

// Test-only entry points: run one layer of the core over a sequence of T frames, in the PyTorch
// layouts, so that tests can compare each layer with its torch module (kboost._core._testing).
// Not part of the public API. Frames are processed one step at a time with state carried over, as
// the streamer does.
//
// Layout legend: T frames, C channels, D model channels, F = 97 bins.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kboost/model.h"

namespace kboost::testing {

/// x [C, T*128] -> features [T, 2C, F] (re of each channel, then im); transform: "auto", "fft", "dft".
std::vector<float> stft_analysis(const float* x, int n_channels, int n_frames, const std::string& transform = "auto");
/// spec [T, 2C, F] (channel 2o = re, 2o+1 = im of output o) -> [C, T*128].
std::vector<float> ola_synthesis(const float* spec, int n_channels, int n_frames,
                                 const std::string& transform = "auto");
/// Causal 3x3 conv (Conv2d names `weight`, `bias`; transposed: ConvTranspose2d): x [T, C_in, F] -> [T, C_out, F].
std::vector<float> causal_conv(TensorSource& src, bool transposed, int n_in, int n_out, const float* x, int n_frames);
/// IntraFrame / InterFrame: x [T, D, F] -> [T, D, F].
std::vector<float> intra_frame(TensorSource& src, int d, int h, const float* x, int n_frames);
std::vector<float> inter_frame(TensorSource& src, int d, int h, const float* x, int n_frames);
/// LocalSelfAttention: x [T, D, F] -> [T, D, F].
std::vector<float> local_attention(TensorSource& src, int d, int n_heads, int head_dim, int window, const float* x,
                                   int n_frames);
/// KBFusion: x [T, D, F], hints [T, C_h, F] (frame t: the hint frame t uses), present [T] (0: missing,
/// i.e. zeros) -> [T, D, F].
std::vector<float> kb_fusion(TensorSource& src, int d, int n_hint, int delay, int n_heads, int head_dim, int window,
                             const float* x, const float* hints, const uint8_t* present, int n_frames);

}  // namespace kboost::testing

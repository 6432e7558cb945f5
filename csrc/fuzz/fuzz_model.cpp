// libFuzzer target for the whole load path: WeightsFile::parse -> Model::from_weights_file ->
// Streamer -> two chunks. Any byte string must either run or be rejected with kboost::Error:
// a metadata value the core cannot honour (a window or delay that would need gigabytes, sizes that
// disagree with the tensors) must be refused at load, never reach an allocation failure, a crash
// or undefined behaviour. Run by scripts/fuzz_weights.sh (FUZZ_TARGET=fuzz_model).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kboost/error.h"
#include "kboost/model.h"
#include "kboost/stream.h"
#include "kboost/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    kboost::WeightsFile w = kboost::WeightsFile::parse(data, size, "fuzz");
    std::shared_ptr<const kboost::Model> model = kboost::Model::from_weights_file(w);
    kboost::Streamer s(model);
    const kboost::ModelConfig& c = model->config();
    if (c.has_speaker()) {
      std::vector<float> emb(kboost::kSpeakerDim, 0.1f);
      s.set_speaker(emb.data(), emb.size());
    }
    std::vector<float> in(2 * kboost::kChunkSize, 0.25f), out(static_cast<size_t>(c.n_out()) * kboost::kChunkSize);
    std::vector<float> hint(static_cast<size_t>(c.hint_size()), 0.5f);
    for (int k = 0; k < 2; ++k) {
      if (c.has_fusion()) s.push_hint(k, hint.data(), hint.size());
      s.process_chunk(in.data(), in.size(), out.data(), out.size(), c.has_compressor() ? hint.data() : nullptr,
                      c.has_compressor() ? hint.size() : 0);
    }
  } catch (const kboost::Error&) {
    // A clean rejection.
  }
  return 0;
}

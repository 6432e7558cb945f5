// libFuzzer target for kboost::WeightsFile::parse (and every getter on what it accepts).
// The contract under test: any byte string either parses or is rejected with kboost::Error. Any
// other exception escapes to libFuzzer (reported as a crash), and ASan/UBSan turn memory errors and
// undefined behaviour into crashes too. Built with KBOOST_FUZZ=ON; run by scripts/fuzz_weights.sh.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kboost/error.h"
#include "kboost/weights.h"

namespace {

// Each getter on each key: a type mismatch must be an Error, never anything else.
void read_every_key(const kboost::WeightsFile& w) {
  for (const std::string& key : w.keys()) {
    try { (void)w.get_int(key); } catch (const kboost::Error&) {}
    try { (void)w.get_int(key, 0, 1 << 20); } catch (const kboost::Error&) {}
    try { (void)w.get_float(key); } catch (const kboost::Error&) {}
    try { (void)w.get_bool(key); } catch (const kboost::Error&) {}
    try { (void)w.get_string(key); } catch (const kboost::Error&) {}
    try { (void)w.get_floats(key); } catch (const kboost::Error&) {}
    try { (void)w.get_ints(key); } catch (const kboost::Error&) {}
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const kboost::WeightsFile w = kboost::WeightsFile::parse(data, size, "fuzz");
    read_every_key(w);
    float sum = 0.0f;
    for (const std::string& name : w.tensor_names()) {
      const kboost::WeightsTensor& t = w.tensor(name);
      try { w.tensor(name, {t.numel()}); } catch (const kboost::Error&) {}
      if (!t.data.empty()) sum += t.data.front() + t.data.back();
    }
    try { w.tensor("no such tensor", {1}); } catch (const kboost::Error&) {}
    w.check_all_used();  // every tensor was requested above: must not throw
    volatile float sink = sum;
    (void)sink;
  } catch (const kboost::Error&) {
    // A clean rejection.
  }
  return 0;
}

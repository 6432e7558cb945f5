// Tests of kboost::WeightsFile (weights.h) on GGUF images built in memory: a valid file reads back
// with PyTorch-order shapes and exact data; every named defect is a kboost::Error naming it; every
// truncation and every single-byte corruption of a valid file is either parsed or a kboost::Error.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "gguf_builder.h"
#include "kboost/error.h"
#include "kboost/weights.h"
#include "testing.h"

using kboost::WeightsFile;
using kboost::testing::GgufBuilder;

namespace {

GgufBuilder valid() {
  GgufBuilder b = GgufBuilder::kboost();
  b.add_string("kboost.task", "ss");
  b.add_u32("kboost.d_model", 16);
  b.add_i32("kboost.offset", -3);
  b.add_u64("kboost.n_params", 1ull << 40);
  b.add_f32("kboost.scale", 0.5f);
  b.add_bool("kboost.flag", true);
  b.add_f32s("kboost.test.input", {1.0f, -2.5f, 3.25f});
  b.add_i32s("kboost.test.hint_mask", {1, 0, 1});
  b.add_tensor("blocks.0.rnn.weight_ih_l0", {8, 3});
  b.add_tensor("encoder.conv.weight", {2, 3, 3, 3}, -1.0f);
  b.add_tensor("encoder.conv.bias", {2});
  return b;
}

WeightsFile parse(const std::vector<uint8_t>& bytes) { return WeightsFile::parse(bytes.data(), bytes.size(), "mem.gguf"); }

void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

/// The index just past the first occurrence of `text` in `b`.
size_t after(const std::vector<uint8_t>& b, const std::string& text) {
  const auto it = std::search(b.begin(), b.end(), text.begin(), text.end());
  if (it == b.end()) throw std::logic_error("test image lacks " + text);
  return static_cast<size_t>(it - b.begin()) + text.size();
}

}  // namespace

KBOOST_TEST(valid_file_reads_back) {
  const WeightsFile w = parse(valid().bytes());
  EXPECT_EQ(w.gguf_version(), 3u);
  EXPECT_EQ(w.alignment(), 32u);
  EXPECT_EQ(w.get_string("kboost.task"), "ss");
  EXPECT_EQ(w.get_int("kboost.d_model"), 16);
  EXPECT_EQ(w.get_int("kboost.d_model", 1, 16), 16);
  EXPECT_EQ(w.get_int("kboost.offset"), -3);
  EXPECT_EQ(w.get_int("kboost.n_params"), int64_t{1} << 40);
  EXPECT_EQ(w.get_float("kboost.scale"), 0.5);
  EXPECT_TRUE(w.get_bool("kboost.flag"));
  EXPECT_TRUE(w.get_floats("kboost.test.input") == (std::vector<float>{1.0f, -2.5f, 3.25f}));
  EXPECT_TRUE(w.get_ints("kboost.test.hint_mask") == (std::vector<int64_t>{1, 0, 1}));
  EXPECT_TRUE(w.has_key("kboost.task") && !w.has_key("kboost.nope"));
  EXPECT_EQ(w.keys().size(), 10u);
  EXPECT_EQ(w.keys().front(), "general.architecture");
  EXPECT_EQ(w.tensor_names().size(), 3u);
  EXPECT_EQ(w.tensor_names()[1], "encoder.conv.weight");

  const kboost::WeightsTensor& t = w.tensor("encoder.conv.weight", {2, 3, 3, 3});
  EXPECT_EQ(t.numel(), 54);
  EXPECT_EQ(t.data[0], -1.0f);
  EXPECT_EQ(t.data[53], -1.0f + 0.25f * 53);
  const kboost::WeightsTensor& r = w.tensor("blocks.0.rnn.weight_ih_l0", {8, 3});  // GGUF stores [3, 8]
  EXPECT_EQ(kboost::shape_to_string(r.shape), "[8, 3]");
  EXPECT_EQ(r.data[23], 0.5f + 0.25f * 23);
  EXPECT_THROWS_WITH(w.check_all_used(), "1 unknown tensor not used by the model: 'encoder.conv.bias'");
  w.tensor("encoder.conv.bias", {2});
  w.check_all_used();
}

KBOOST_TEST(custom_alignment) {
  GgufBuilder b = valid();
  b.set_alignment(64);
  const WeightsFile w = parse(b.bytes());
  EXPECT_EQ(w.alignment(), 64u);
  EXPECT_EQ(w.tensor("encoder.conv.bias", {2}).data[1], 0.75f);

  GgufBuilder bad = valid();
  bad.set_alignment(48);
  EXPECT_THROWS_WITH(parse(bad.bytes()), "general.alignment is 48, expected a power of two");
  GgufBuilder typed = GgufBuilder::kboost();
  typed.add_f32("general.alignment", 32.0f);
  EXPECT_THROWS_WITH(parse(typed.bytes()), "'general.alignment' has type float32, expected uint32");
}

KBOOST_TEST(load_from_disk) {
  const std::vector<uint8_t> bytes = valid().bytes();
  const std::string path = "kboost_test_weights.gguf";
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  const WeightsFile w = WeightsFile::load(path);
  EXPECT_EQ(w.origin(), path);
  EXPECT_EQ(w.tensor("encoder.conv.bias", {2}).data[0], 0.5f);
  std::remove(path.c_str());
  EXPECT_THROWS_WITH(WeightsFile::load(path), "cannot open weights file 'kboost_test_weights.gguf'");
  EXPECT_THROWS_WITH(WeightsFile::load("."), "cannot open weights file '.': it is a directory");
#ifdef __linux__
  EXPECT_THROWS_WITH(WeightsFile::load("/dev/null"), "'/dev/null': not a regular file");
#endif
}

KBOOST_TEST(every_truncation_is_an_error) {
  GgufBuilder b = valid();
  b.pad_end = false;  // the file ends with the last tensor's data: every shorter cut loses something
  const std::vector<uint8_t> bytes = b.bytes();
  parse(bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    bool threw = false;
    try {
      WeightsFile::parse(bytes.data(), n, "cut.gguf");
    } catch (const kboost::Error& e) {
      threw = true;
      const std::string m = e.what();
      if (m.find("truncated") == std::string::npos && m.find("claims") == std::string::npos)
        kboost::testing::fail(__FILE__, __LINE__, "cut at " + std::to_string(n) + ": " + m);
    }
    if (!threw) kboost::testing::fail(__FILE__, __LINE__, "no error for a file cut at byte " + std::to_string(n));
  }
}

KBOOST_TEST(magic_and_versions) {
  GgufBuilder b = valid();
  b.magic = "GGML";
  EXPECT_THROWS_WITH(parse(b.bytes()), "the magic bytes are 'GGML', expected 'GGUF'");
  b.magic = std::string("\x00\x01GG", 4);
  EXPECT_THROWS_WITH(parse(b.bytes()), "magic bytes are '\\x00\\x01GG'");
  GgufBuilder v = valid();
  v.version = 2;
  EXPECT_THROWS_WITH(parse(v.bytes()), "unsupported GGUF version 2: this reader supports version 3");
  v.version = 0x03000000;
  EXPECT_THROWS_WITH(parse(v.bytes()), "big-endian");

  GgufBuilder f;
  f.add_string("general.architecture", "kboost");
  f.add_u32("kboost.format_version", 2);
  EXPECT_THROWS_WITH(parse(f.bytes()), "unsupported kboost weights format version 2: this build reads version 1");
  GgufBuilder g;
  g.add_string("general.architecture", "kboost");
  EXPECT_THROWS_WITH(parse(g.bytes()), "metadata key 'kboost.format_version' is missing");
  GgufBuilder h;
  h.add_string("general.architecture", "llama");
  EXPECT_THROWS_WITH(parse(h.bytes()), "general.architecture is 'llama', expected 'kboost'");
  GgufBuilder i;
  EXPECT_THROWS_WITH(parse(i.bytes()), "'general.architecture' is missing");
}

KBOOST_TEST(metadata_types_are_checked) {
  const WeightsFile w = parse(valid().bytes());
  EXPECT_THROWS_WITH(w.get_int("kboost.task"), "'kboost.task' has type string, expected an integer");
  EXPECT_THROWS_WITH(w.get_int("kboost.scale"), "'kboost.scale' has type float32, expected an integer");
  EXPECT_THROWS_WITH(w.get_int("kboost.flag"), "'kboost.flag' has type bool, expected an integer");
  EXPECT_THROWS_WITH(w.get_string("kboost.d_model"), "'kboost.d_model' has type uint32, expected string");
  EXPECT_THROWS_WITH(w.get_float("kboost.d_model"), "expected float32 or float64");
  EXPECT_THROWS_WITH(w.get_bool("kboost.d_model"), "expected bool");
  EXPECT_THROWS_WITH(w.get_floats("kboost.test.hint_mask"), "has type array of int32, expected an array of float32");
  EXPECT_THROWS_WITH(w.get_ints("kboost.test.input"), "has type array of float32, expected an array of integers");
  EXPECT_THROWS_WITH(w.get_int("kboost.d_model", 17, 64), "'kboost.d_model' = 16, expected a value in [17, 64]");
  EXPECT_THROWS_WITH(w.get_int("kboost.missing"), "metadata key 'kboost.missing' is missing");

  GgufBuilder b;
  b.add_string("general.architecture", "kboost");
  b.add_f32("kboost.format_version", 1.0f);
  EXPECT_THROWS_WITH(parse(b.bytes()), "'kboost.format_version' has type float32, expected an integer");
  GgufBuilder big = GgufBuilder::kboost();
  big.add_u64("kboost.huge", std::numeric_limits<uint64_t>::max());
  EXPECT_THROWS_WITH(parse(big.bytes()).get_int("kboost.huge"), "out of range");
}

KBOOST_TEST(tensor_lookup_errors) {
  const WeightsFile w = parse(valid().bytes());
  EXPECT_THROWS_WITH(w.tensor("decoder.deconv.bias", {8}), "missing tensor 'decoder.deconv.bias' (expected shape [8])");
  EXPECT_THROWS_WITH(w.tensor("encoder.conv.weight", {2, 3, 3}),
                     "tensor 'encoder.conv.weight' has shape [2, 3, 3, 3], expected [2, 3, 3]");
  EXPECT_THROWS_WITH(w.tensor("blocks.0.rnn.weight_ih_l0", {3, 8}),
                     "tensor 'blocks.0.rnn.weight_ih_l0' has shape [8, 3], expected [3, 8]");
  EXPECT_THROWS_WITH(w.check_all_used(), "3 unknown tensors not used by the model: 'blocks.0.rnn.weight_ih_l0', "
                                          "'encoder.conv.weight', 'encoder.conv.bias'");
}

KBOOST_TEST(non_finite_weights) {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (float x : bad) {
    GgufBuilder b = valid();
    std::vector<float> data(6, 1.0f);
    data[4] = x;
    b.add_tensor("blocks.1.attn.proj_norm.bias", {2, 3}, data);
    EXPECT_THROWS_WITH(parse(b.bytes()), std::string("tensor 'blocks.1.attn.proj_norm.bias' [2, 3] holds ") +
                                             (std::isnan(x) ? "NaN" : "Inf") + " at flat index 4");
  }
}

KBOOST_TEST(tensor_info_errors) {
  {
    GgufBuilder b = valid();
    b.add_tensor("half", {4}).type = 1;
    EXPECT_THROWS_WITH(parse(b.bytes()), "tensor 'half' has type F16 (1), expected F32 (0)");
  }
  {
    GgufBuilder b = valid();
    b.add_tensor("q", {32}).type = 2;
    EXPECT_THROWS_WITH(parse(b.bytes()), "tensor 'q' has type Q4_0 (2)");
  }
  {
    GgufBuilder b = valid();
    b.add_tensor("r5", {1, 1, 1, 1, 2});
    EXPECT_THROWS_WITH(parse(b.bytes()), "tensor 'r5' has 5 dims, expected 1 to 4");
  }
  {
    GgufBuilder b = valid();
    b.add_tensor("z", {3, 0}, std::vector<float>{});
    EXPECT_THROWS_WITH(parse(b.bytes()), "tensor 'z' has a zero-length dim 0");
  }
  {
    GgufBuilder b = valid();
    b.add_tensor("encoder.conv.bias", {2});
    EXPECT_THROWS_WITH(parse(b.bytes()), "tensor 'encoder.conv.bias' appears twice");
  }
  {
    GgufBuilder b = valid();
    b.add_tensor("", {2});
    EXPECT_THROWS_WITH(parse(b.bytes()), "tensor #3 has an empty name");
  }
  {
    GgufBuilder b = valid();
    b.add_tensor("misaligned", {2}).offset_override = 4;
    EXPECT_THROWS_WITH(parse(b.bytes()), "tensor 'misaligned' data offset 4 is not a multiple of the alignment 32");
  }
  {
    GgufBuilder b = valid();
    b.add_tensor("overlap", {2}).offset_override = 0;
    EXPECT_THROWS_WITH(parse(b.bytes()), "overlap");
  }
  {
    GgufBuilder b = valid();
    b.add_tensor("far", {2}).offset_override = int64_t{1} << 40;
    EXPECT_THROWS_WITH(parse(b.bytes()), "the data of tensor 'far' (8 bytes at offset 1099511627776");
  }
  {
    GgufBuilder b = valid();
    b.add_tensor("huge", {int64_t{1} << 31, int64_t{1} << 31, 4}, std::vector<float>{});
    EXPECT_THROWS_WITH(parse(b.bytes()), "tensor 'huge' claims more elements than the whole file");
  }
}

KBOOST_TEST(metadata_structure_errors) {
  {
    GgufBuilder b = valid();
    b.add_u32("kboost.d_model", 3);
    EXPECT_THROWS_WITH(parse(b.bytes()), "metadata key 'kboost.d_model' appears twice");
  }
  {
    GgufBuilder b = valid();
    b.add_u32("", 3);
    EXPECT_THROWS_WITH(parse(b.bytes()), "is empty");
  }
  // Raw corruptions of the counts and lengths of a valid image.
  const std::vector<uint8_t> good = GgufBuilder::kboost().bytes();
  {
    std::vector<uint8_t> b = good;
    put_u64(b, 8, uint64_t{1} << 62);
    EXPECT_THROWS_WITH(parse(b), "claims 4611686018427387904 tensors");
  }
  {
    std::vector<uint8_t> b = good;
    put_u64(b, 16, ~uint64_t{0});
    EXPECT_THROWS_WITH(parse(b), "metadata entries");
  }
  {
    std::vector<uint8_t> b = good;
    put_u64(b, 24, ~uint64_t{0});  // length of the first key
    EXPECT_THROWS_WITH(parse(b), "claims a length of 18446744073709551615 bytes");
  }
  {
    std::vector<uint8_t> b = good;
    put_u32(b, 24 + 8 + 20, 13);  // value type of general.architecture
    EXPECT_THROWS_WITH(parse(b), "metadata key 'general.architecture' has an unknown value type 13");
  }
  {
    GgufBuilder a = GgufBuilder::kboost();
    a.add_f32s("kboost.arr", {1.0f, 2.0f});
    std::vector<uint8_t> b = a.bytes();
    const size_t count_at = after(b, "kboost.arr") + 4 + 4;  // after the value type and element type
    std::vector<uint8_t> c = b;
    put_u64(c, count_at, uint64_t{1} << 61);
    EXPECT_THROWS_WITH(parse(c), "array 'kboost.arr' claims 2305843009213693952 elements of type float32");
    std::vector<uint8_t> d = b;
    put_u32(d, count_at - 4, 9);
    EXPECT_THROWS_WITH(parse(d), "'kboost.arr' is an array of arrays");
  }
  {
    GgufBuilder a = GgufBuilder::kboost();
    a.add_bool("kboost.flag", true);
    std::vector<uint8_t> b = a.bytes();
    b[after(b, "kboost.flag") + 4] = 7;
    EXPECT_THROWS_WITH(parse(b), "metadata key 'kboost.flag' holds a bool of value 7, expected 0 or 1");
  }
}

KBOOST_TEST(every_byte_corruption_is_parsed_or_an_error) {
  // A deterministic small-scale fuzz: flip every byte of a valid file in three ways.
  const std::vector<uint8_t> good = valid().bytes();
  int n_errors = 0, n_parsed = 0;
  const uint8_t patterns[] = {0xff, 0x80, 0x01};
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t p : patterns) {
      std::vector<uint8_t> b = good;
      b[i] ^= p;
      try {
        const WeightsFile w = parse(b);
        for (const std::string& name : w.tensor_names()) w.tensor(name);
        ++n_parsed;
      } catch (const kboost::Error&) {
        ++n_errors;
      }
    }
  }
  std::printf("  %zu bytes x 3 flips: %d parsed, %d rejected\n", good.size(), n_parsed, n_errors);
  EXPECT_TRUE(n_errors > 0 && n_parsed > 0);
}

KBOOST_TEST(check_macros) {
  EXPECT_THROWS_WITH(KBOOST_CHECK(1 + 1 == 3, "sum is ", 1 + 1, ", expected ", 3), "sum is 2, expected 3");
  KBOOST_CHECK(true, "never");
#ifndef NDEBUG
  EXPECT_THROWS_WITH(KBOOST_DCHECK(2 < 1), "internal error: check '2 < 1' failed");
#else
  KBOOST_DCHECK(2 < 1);  // compiled out
#endif
}

int main(int argc, char** argv) { return kboost::testing::run_all(argc, argv); }

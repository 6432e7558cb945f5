// Streamer tests: the hot path allocates nothing (1000 chunks after warm-up, with hint pushes),
// the hint ring refuses and counts late/duplicate/future/bad-size hints, a producer thread pushing
// hints while the audio thread processes gives the same output as one thread, reset() restarts the
// stream, and bad arguments throw kboost::Error.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "alloc_counter.h"
#include "kboost/stream.h"
#include "random_model.h"
#include "testing.h"

using kboost::Role;
using kboost::Streamer;
using kboost::Task;
using kboost::testing::AllocCount;
using kboost::testing::random_model;
using kboost::testing::test_config;

namespace {

constexpr int kChunk = kboost::kChunkSize;

std::vector<float> input_chunk(long k) {
  std::vector<float> x(2 * kChunk);
  for (int i = 0; i < 2 * kChunk; ++i) x[i] = 0.3f * std::sin(0.013f * static_cast<float>((k * 2 * kChunk + i) * (1 + i % 3)));
  return x;
}

std::vector<float> hint_of(long j, int size) {
  std::vector<float> h(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i) h[i] = 0.1f * std::cos(0.7f * static_cast<float>(j) + 0.01f * static_cast<float>(i));
  return h;
}

std::vector<float> speaker() {
  std::vector<float> e(kboost::kSpeakerDim);
  for (int i = 0; i < kboost::kSpeakerDim; ++i) e[i] = std::sin(0.1f * static_cast<float>(i));
  return e;
}

// Runs n chunks; a device gets the hint of chunk k (if `push`) before processing chunk k; returns the
// allocations counted over chunks [warmup, n).
int64_t allocations_in_steady_state(Streamer& s, int warmup, int n, bool push) {
  const auto& c = s.config();
  std::vector<float> out(static_cast<size_t>(c.n_out()) * kChunk), hint_out(static_cast<size_t>(c.hint_size()));
  std::vector<std::vector<float>> inputs, hints;  // made before counting
  for (int k = 0; k < n; ++k) {
    inputs.push_back(input_chunk(k));
    hints.push_back(hint_of(k, c.hint_size()));
  }
  AllocCount count;
  for (int k = 0; k < n; ++k) {
    if (k == warmup) count.reset();
    if (push && k % 4 != 1) s.push_hint(k, hints[static_cast<size_t>(k)].data(), hints[static_cast<size_t>(k)].size());
    if (push && k % 9 == 0) s.push_hint(k - 5, hints[0].data(), hints[0].size());  // late: refused
    s.process_chunk(inputs[static_cast<size_t>(k)].data(), inputs[static_cast<size_t>(k)].size(), out.data(),
                    out.size(), c.has_compressor() ? hint_out.data() : nullptr,
                    c.has_compressor() ? hint_out.size() : 0);
  }
  return count.allocations();
}

}  // namespace

KBOOST_TEST(hot_path_allocates_nothing) {
  std::printf("  alloc counter mode: %s\n", kboost::testing::alloc_counter_mode());
  struct Case {
    const char* name;
    kboost::ModelConfig config;
    bool push;
  };
  const Case cases[] = {
      {"ss small device d=3 c=1", test_config(Task::ss, Role::device, "small", 3, 1), true},
      {"tse small device d=0 c=2", test_config(Task::tse, Role::device, "small", 0, 2), true},
      {"se small model", test_config(Task::se, Role::model, "small"), false},
      {"ss tiny-attn server c=4", test_config(Task::ss, Role::server, "tiny-attn", 0, 4), false},
  };
  for (const auto& c : cases) {
    Streamer s(random_model(c.config));
    if (c.config.has_speaker()) {
      const auto e = speaker();
      s.set_speaker(e.data(), e.size());
    }
    const int64_t n = allocations_in_steady_state(s, 20, 1020, c.push);
    std::printf("  %s: %lld allocations in 1000 chunks\n", c.name, static_cast<long long>(n));
    EXPECT_EQ(n, 0);
    EXPECT_EQ(s.stats().n_chunks, 1020u);
    if (c.push) EXPECT_TRUE(s.stats().n_hints_used > 0 && s.stats().n_hints_missing > 0 && s.stats().n_hints_late > 0);
  }
}

KBOOST_TEST(hint_ring_refuses_and_counts) {
  const auto cfg = test_config(Task::ss, Role::device, "small", 2, 2);
  kboost::StreamerOptions opt;
  opt.hint_ring_size = 8;
  Streamer s(random_model(cfg), opt);
  const int n = cfg.hint_size();
  const auto h = hint_of(0, n);
  std::vector<float> out(4 * kChunk);
  const auto x = input_chunk(0);
  EXPECT_TRUE(s.push_hint(0, h.data(), h.size()));
  EXPECT_TRUE(!s.push_hint(0, h.data(), h.size()));      // duplicate
  EXPECT_TRUE(!s.push_hint(8, h.data(), h.size()));      // beyond the ring (first needed is 0)
  EXPECT_TRUE(s.push_hint(7, h.data(), h.size()));       // last slot of the ring
  EXPECT_TRUE(!s.push_hint(1, h.data(), h.size() - 1));  // wrong size
  EXPECT_TRUE(!s.push_hint(1, nullptr, h.size()));       // no data
  EXPECT_TRUE(!s.push_hint(-1, h.data(), h.size()));     // never needed: late
  for (int k = 0; k < 4; ++k) s.process_chunk(x.data(), x.size(), out.data(), out.size());
  // Chunks 2, 3 needed hints 0 (there) and 1 (missing); hint 1 is now late, 9 fits the ring.
  EXPECT_TRUE(!s.push_hint(1, h.data(), h.size()));
  EXPECT_TRUE(s.push_hint(9, h.data(), h.size()));
  const auto st = s.stats();
  EXPECT_EQ(st.n_chunks, 4u);
  EXPECT_EQ(st.n_hints_used, 1u);
  EXPECT_EQ(st.n_hints_missing, 1u);
  EXPECT_EQ(st.n_hints_accepted, 3u);
  EXPECT_EQ(st.n_hints_duplicate, 1u);
  EXPECT_EQ(st.n_hints_future, 1u);
  EXPECT_EQ(st.n_hints_bad_size, 2u);
  EXPECT_EQ(st.n_hints_late, 2u);
  s.reset();
  EXPECT_EQ(s.stats().n_hints_accepted, 0u);
  EXPECT_EQ(s.chunk_index(), 0);
  EXPECT_TRUE(s.push_hint(0, h.data(), h.size()));  // the ring is empty again
}

KBOOST_TEST(producer_thread_gives_the_single_thread_output) {
  const auto cfg = test_config(Task::ss, Role::device, "small", 3, 1);
  const auto model = random_model(cfg);
  const int n_chunks = 300, n = cfg.hint_size();
  std::vector<std::vector<float>> hints;
  for (int j = 0; j < n_chunks; ++j) hints.push_back(hint_of(j, n));
  auto run = [&](bool threaded) {
    kboost::StreamerOptions opt;
    opt.hint_ring_size = 16;
    Streamer s(model, opt);
    std::vector<float> out(4 * kChunk), all;
    std::atomic<int> n_pushed{0};
    auto produce = [&] {
      for (int j = 0; j < n_chunks; ++j) {
        // Wait while j is beyond the ring, then push: every hint is accepted.
        while (j >= s.chunk_index() - cfg.kb_delay + opt.hint_ring_size) std::this_thread::yield();
        if (!s.push_hint(j, hints[static_cast<size_t>(j)].data(), static_cast<size_t>(n))) std::abort();
        n_pushed.store(j + 1, std::memory_order_release);
      }
    };
    std::thread producer;
    if (threaded) producer = std::thread(produce);
    for (int k = 0; k < n_chunks; ++k) {
      if (!threaded) {
        if (k - cfg.kb_delay >= 0) s.push_hint(k - cfg.kb_delay, hints[static_cast<size_t>(k - cfg.kb_delay)].data(), n);
      } else {
        while (n_pushed.load(std::memory_order_acquire) <= k - cfg.kb_delay) std::this_thread::yield();
      }
      const auto x = input_chunk(k);
      s.process_chunk(x.data(), x.size(), out.data(), out.size());
      all.insert(all.end(), out.begin(), out.end());
    }
    if (threaded) producer.join();
    EXPECT_EQ(s.stats().n_hints_used, static_cast<uint64_t>(n_chunks - cfg.kb_delay));
    EXPECT_EQ(s.stats().n_hints_missing, 0u);
    return all;
  };
  const auto single = run(false), threaded = run(true);
  EXPECT_TRUE(single == threaded);
}

KBOOST_TEST(reset_restarts_the_stream) {
  const auto cfg = test_config(Task::tse, Role::model, "small");
  Streamer s(random_model(cfg));
  const auto e = speaker();
  s.set_speaker(e.data(), e.size());
  std::vector<float> out(2 * kChunk), first, again;
  for (int pass = 0; pass < 2; ++pass) {
    for (int k = 0; k < 5; ++k) {
      const auto x = input_chunk(k);
      s.process_chunk(x.data(), x.size(), out.data(), out.size());
      (pass ? again : first).insert((pass ? again : first).end(), out.begin(), out.end());
    }
    s.reset();
  }
  EXPECT_TRUE(first == again);
  bool finite = true;
  for (float v : first) finite = finite && std::isfinite(v);
  EXPECT_TRUE(finite);
}

KBOOST_TEST(bad_arguments_throw) {
  const auto dev = random_model(test_config(Task::ss, Role::device, "small", 1, 1));
  Streamer s(dev);
  std::vector<float> x(2 * kChunk), out(4 * kChunk), hint(8 * 97);
  EXPECT_THROWS_WITH(s.process_chunk(x.data(), 255, out.data(), out.size()), "input must be [2, 128]");
  EXPECT_THROWS_WITH(s.process_chunk(x.data(), x.size(), out.data(), 2 * kChunk), "output must be [4, 128]");
  EXPECT_THROWS_WITH(s.process_chunk(x.data(), x.size(), out.data(), out.size(), hint.data(), hint.size()),
                     "produces no hints");
  EXPECT_THROWS_WITH(s.set_speaker(x.data(), 256), "takes no speaker");
  EXPECT_EQ(s.chunk_index(), 0);  // nothing was processed

  Streamer plain(random_model(test_config(Task::tse, Role::model, "small")));
  EXPECT_THROWS_WITH(plain.push_hint(0, hint.data(), hint.size()), "takes no hints");
  EXPECT_THROWS_WITH(plain.process_chunk(x.data(), x.size(), out.data(), 2 * kChunk), "call set_speaker");
  EXPECT_THROWS_WITH(plain.set_speaker(x.data(), 255), "expected 256 floats");

  auto bad = test_config(Task::ss, Role::device, "small", 1, 3);
  EXPECT_THROWS_WITH(random_model(bad), "kb_compression must be 1, 2 or 4");
  kboost::StreamerOptions opt;
  opt.hint_ring_size = 0;
  EXPECT_THROWS_WITH(Streamer(dev, opt), "hint_ring_size must be >= 1");
}

int main(int argc, char** argv) { return kboost::testing::run_all(argc, argv); }

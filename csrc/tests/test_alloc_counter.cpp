// Self-test of alloc_counter.h: it must see the allocations a hot path could make (operator new,
// std::vector growth, std::string, malloc, Eigen dynamic matrices) and count nothing for work on
// preallocated buffers, so that a zero from it means something.
#include <Eigen/Core>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "testing.h"

using kboost::testing::AllocCount;

namespace {
// Keeps the optimiser from removing allocations whose result is otherwise unused.
volatile float g_sink = 0.0f;
void* volatile g_ptr = nullptr;
}  // namespace

KBOOST_TEST(counts_operator_new_and_containers) {
  std::printf("  mode: %s\n", kboost::testing::alloc_counter_mode());
  AllocCount c;
  auto p = std::make_unique<int[]>(1000);
  g_ptr = p.get();
  EXPECT_EQ(c.allocations(), 1);
  EXPECT_TRUE(c.bytes() >= 4000);
  p.reset();
  EXPECT_EQ(c.frees(), 1);

  AllocCount v;
  std::vector<float> grow;
  for (int i = 0; i < 100; ++i) grow.push_back(static_cast<float>(i));
  g_sink = grow.back();
  EXPECT_TRUE(v.allocations() >= 1);

  AllocCount s;
  std::string long_text(200, 'x');
  g_sink = static_cast<float>(long_text.size());
  EXPECT_TRUE(s.allocations() >= 1);
}

KBOOST_TEST(counts_nothing_on_preallocated_buffers) {
  std::vector<float> buf(4096);
  std::vector<float> grow;
  grow.reserve(100);
  AllocCount c;
  for (int rep = 0; rep < 1000; ++rep) {
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = buf[i] * 0.5f + static_cast<float>(i);
    grow.clear();
    for (int i = 0; i < 100; ++i) grow.push_back(buf[static_cast<size_t>(i)]);
  }
  g_sink = buf[17] + grow[3];
  EXPECT_EQ(c.allocations(), 0);
  EXPECT_EQ(c.frees(), 0);
}

KBOOST_TEST(counts_malloc_and_eigen) {
  if (!kboost::testing::alloc_counter_sees_malloc()) {
    std::printf("  this build counts operator new only: malloc and Eigen are not seen\n");
    return;
  }
  AllocCount c;
  void* m = std::malloc(64);
  g_ptr = m;
  std::free(m);
  EXPECT_EQ(c.allocations(), 1);
  EXPECT_EQ(c.frees(), 1);

  AllocCount e;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(64, 97);  // heap storage
  g_sink = a(3, 5);
  EXPECT_TRUE(e.allocations() >= 1);

  // The patterns a streaming kernel uses: products into preallocated outputs allocate nothing.
  Eigen::MatrixXf w = Eigen::MatrixXf::Random(256, 64);
  Eigen::VectorXf x = Eigen::VectorXf::Random(64), y(256);
  Eigen::MatrixXf b = Eigen::MatrixXf::Random(97, 64), out(64, 64);
  Eigen::Matrix4f f = Eigen::Matrix4f::Identity();
  AllocCount z;
  for (int rep = 0; rep < 100; ++rep) {
    y.noalias() = w * x;
    out.noalias() = a * b;
    f = f * f;
  }
  g_sink = y(7) + out(1, 2) + f(0, 0);
  EXPECT_EQ(z.allocations(), 0);

  AllocCount t;
  Eigen::MatrixXf tmp = a * b;  // a new matrix: allocates
  g_sink = tmp(0, 0);
  EXPECT_TRUE(t.allocations() >= 1);
}

int main(int argc, char** argv) { return kboost::testing::run_all(argc, argv); }

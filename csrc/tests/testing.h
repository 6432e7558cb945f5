// A minimal test harness for kboost's C++ tests (ctest runs one executable per file; no framework
// dependency, so the tests build the same natively, under sanitizers and cross-compiled for aarch64).
//
//   KBOOST_TEST(name) { ... }            defines a test case; main() = kboost::testing::run_all()
//   EXPECT_TRUE(cond), EXPECT_EQ(a, b)   record a failure with file:line and the values; go on
//   EXPECT_THROWS_WITH(stmt, "text")     stmt must throw kboost::Error whose message contains text
//
// A failing case prints every failed expectation; run_all() returns 1 if any case failed.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "kboost/error.h"

namespace kboost {
namespace testing {

struct Case {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

inline int& failures() {
  static int n = 0;
  return n;
}

struct Register {
  Register(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
  ++failures();
}

/// Runs every registered case (or only those whose name contains argv[1]); 0 if all passed.
inline int run_all(int argc = 0, char** argv = nullptr) {
  const std::string filter = argc > 1 ? argv[1] : "";
  int n_failed_cases = 0, n_run = 0;
  for (const Case& c : registry()) {
    if (!filter.empty() && std::string(c.name).find(filter) == std::string::npos) continue;
    ++n_run;
    const int before = failures();
    try {
      c.fn();
    } catch (const std::exception& e) {
      fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    const bool ok = failures() == before;
    n_failed_cases += ok ? 0 : 1;
    std::printf("[%s] %s\n", ok ? "  OK  " : "FAILED", c.name);
  }
  std::printf("%d of %d cases passed\n", n_run - n_failed_cases, n_run);
  return n_failed_cases == 0 && n_run > 0 ? 0 : 1;
}

}  // namespace testing
}  // namespace kboost

#define KBOOST_TEST(name)                                                            \
  static void kboost_test_##name();                                                  \
  static const ::kboost::testing::Register kboost_register_##name(#name, kboost_test_##name); \
  static void kboost_test_##name()

#define EXPECT_TRUE(cond)                                                        \
  do {                                                                           \
    if (!(cond)) ::kboost::testing::fail(__FILE__, __LINE__, "EXPECT_TRUE(" #cond ")"); \
  } while (false)

#define EXPECT_EQ(a, b)                                                                     \
  do {                                                                                      \
    const auto& kboost_a_ = (a);                                                            \
    const auto& kboost_b_ = (b);                                                            \
    if (!(kboost_a_ == kboost_b_)) {                                                        \
      std::ostringstream kboost_s_;                                                         \
      kboost_s_ << "EXPECT_EQ(" #a ", " #b "): " << kboost_a_ << " != " << kboost_b_;       \
      ::kboost::testing::fail(__FILE__, __LINE__, kboost_s_.str());                         \
    }                                                                                       \
  } while (false)

#define EXPECT_THROWS_WITH(stmt, text)                                                              \
  do {                                                                                              \
    bool kboost_threw_ = false;                                                                     \
    try {                                                                                           \
      stmt;                                                                                         \
    } catch (const ::kboost::Error& kboost_e_) {                                                    \
      kboost_threw_ = true;                                                                         \
      if (std::string(kboost_e_.what()).find(text) == std::string::npos)                           \
        ::kboost::testing::fail(__FILE__, __LINE__,                                                 \
                                std::string("message of " #stmt " lacks '") + (text) + "': " + kboost_e_.what()); \
    }                                                                                               \
    if (!kboost_threw_) ::kboost::testing::fail(__FILE__, __LINE__, "no kboost::Error from " #stmt); \
  } while (false)

// kboost: the error type of the library and its checking macros.
//
// Every user error (a bad file, a bad argument, a wrong-size buffer) throws kboost::Error with a
// message that says what was wrong, what was expected and, where it helps, what to do. The library
// never aborts or exits the process. The Python bindings turn kboost::Error into the Python
// exception kboost._core.Error (a subclass of both ValueError and RuntimeError) with the same message.
//
//   KBOOST_CHECK(cond, args...)  always active: if !cond, throws Error whose message is the
//                                streamed args (any type with operator<<), e.g.
//                                KBOOST_CHECK(n == 128, "chunk has ", n, " samples, expected 128");
//   KBOOST_DCHECK(cond)          internal invariant, active only in debug builds (NDEBUG not
//                                defined); for hot paths where a check per call would cost.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace kboost {

/// The one exception type of kboost: a user-visible error with a complete message.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {

/// Streams every argument into one string (the message of a KBOOST_CHECK).
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream s;
  (void)(s << ... << std::forward<Args>(args));
  return s.str();
}

/// Out of line so that the hot path of a passing check holds no string code.
[[noreturn]] inline void throw_error(const std::string& message) { throw Error(message); }

}  // namespace detail
}  // namespace kboost

#define KBOOST_CHECK(cond, ...)                                              \
  do {                                                                       \
    if (!(cond)) ::kboost::detail::throw_error(::kboost::detail::concat(__VA_ARGS__)); \
  } while (false)

#ifdef NDEBUG
#define KBOOST_DCHECK(cond) \
  do {                      \
    (void)sizeof(cond);     \
  } while (false)
#else
#define KBOOST_DCHECK(cond)                                                                 \
  do {                                                                                      \
    if (!(cond))                                                                            \
      ::kboost::detail::throw_error(::kboost::detail::concat(                               \
          "internal error: check '", #cond, "' failed at ", __FILE__, ":", __LINE__,        \
          " (a kboost bug: please report it)"));                                            \
  } while (false)
#endif

// A minimal check macro for the C++ tests: report every failure, exit non-zero at the end.
#pragma once

#include <cstdio>

namespace dtrain_test {
inline int& failures() {
  static int n = 0;
  return n;
}
}  // namespace dtrain_test

#define CHECK(cond, ...)                                                 \
  do {                                                                   \
    if (!(cond)) {                                                       \
      ++dtrain_test::failures();                                         \
      std::fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                 \
      std::fprintf(stderr, "\n");                                        \
    }                                                                    \
  } while (0)

#define TEST_MAIN_RESULT()                                                       \
  (dtrain_test::failures() ? (std::fprintf(stderr, "%d check(s) failed\n",       \
                                           dtrain_test::failures()), 1) : 0)

/// \file
/// MODEL_CHECK_EQ(actual, expected): MODEL_CHECK(actual == expected) for integers, saying both
/// values when it fails (a counter off by one is found faster when the numbers are printed).
#pragma once

#include <cstdio>

#include "model/op_source.hpp"

namespace mempool::test {

[[noreturn]] inline void model_check_eq_failed(const char* expr, unsigned long long actual, unsigned long long expected,
                                               const char* file, int line) noexcept {
  std::fprintf(stderr, "  actual %llu, the model says %llu\n", actual, expected);
  model_check_failed(expr, file, line);
}

}  // namespace mempool::test

#define MODEL_CHECK_EQ(actual, expected)                                                                   \
  do {                                                                                                     \
    const auto model_actual_ = static_cast<unsigned long long>(actual);                                    \
    const auto model_expected_ = static_cast<unsigned long long>(expected);                                \
    if (model_actual_ != model_expected_) {                                                                \
      ::mempool::test::model_check_eq_failed(#actual " == " #expected, model_actual_, model_expected_,     \
                                             __FILE__, __LINE__);                                          \
    }                                                                                                      \
  } while (0)

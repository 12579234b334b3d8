// The config loader under its fuzz harness (tests/model/config_model.hpp): whatever a file holds,
// a config that agrees with itself or a ConfigError at a position inside the file; over seeded
// inputs and the committed corpus, so what the fuzzer once found stays a regression test.
#include <catch2/catch.hpp>

#include "model/config_model.hpp"
#include "model/run_model.hpp"

using mempool::test::run_model_corpus;
using mempool::test::run_model_seeded;
using mempool::test::config_model::config_model;

TEST_CASE("seeded config files keep the config model") { run_model_seeded(config_model, 0xc0f1, 1500, 160); }

TEST_CASE("the committed config corpus keeps the config model") {
  CHECK(run_model_corpus(config_model, "config") > 0);
}

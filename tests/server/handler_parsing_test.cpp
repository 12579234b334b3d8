// The static-file handler's parsers under their fuzz harnesses (tests/model/): request-path
// normalization and resolution against a root with symlinks out of it, and the Range,
// If-None-Match, If-Modified-Since and If-Range fields; over seeded inputs and the committed
// corpora, so what the fuzzer once found stays a regression test.
#include <catch2/catch.hpp>

#include "model/path_resolution_model.hpp"
#include "model/request_conditions_model.hpp"
#include "model/run_model.hpp"

using mempool::test::run_model_corpus;
using mempool::test::run_model_seeded;
using mempool::test::conditions_model::request_conditions_model;
using mempool::test::path_model::path_resolution_model;

// Normalization reads paths as its contract says; nothing opened lies outside the root.
TEST_CASE("seeded paths keep the path resolution model") { run_model_seeded(path_resolution_model, 0x9a7b, 3000, 64); }

TEST_CASE("the committed path_resolution corpus keeps the model") {
  CHECK(run_model_corpus(path_resolution_model, "path_resolution") > 0);
}

// Generated field values are read as what they say; raw ones give sound ranges and dates.
TEST_CASE("seeded fields keep the request conditions model") {
  run_model_seeded(request_conditions_model, 0xc0d1, 20000, 96);
}

TEST_CASE("the committed request_conditions corpus keeps the model") {
  CHECK(run_model_corpus(request_conditions_model, "request_conditions") > 0);
}

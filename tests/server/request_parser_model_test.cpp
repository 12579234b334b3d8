// The request parser harness (tests/model/request_parser_model.hpp) over seeded inputs, half of
// them generated requests checked against what was generated, and over the committed fuzz corpus
// (the smuggling shapes among them), so what the fuzzer once found stays a regression test.
#include <catch2/catch.hpp>

#include "model/request_parser_model.hpp"
#include "model/run_model.hpp"

using mempool::test::parser_model::request_parser_model;

// Cut anywhere, the same bytes give the same messages; generated requests parse to what was
// generated, and each generated fault is refused with its status.
TEST_CASE("seeded inputs keep the request parser's model") {
  mempool::test::run_model_seeded(request_parser_model, 0x9e11a, 5000, 400);
}

// Every committed corpus input keeps the model (the corpus is not empty: it holds the seeds).
TEST_CASE("the committed request_parser corpus keeps the model") {
  CHECK(mempool::test::run_model_corpus(request_parser_model, "request_parser") > 0);
}

// libFuzzer target: the request parser harness (split invariance, round trip, generated faults)
// over the fuzzer's bytes.
#include "model/request_parser_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::parser_model::request_parser_model(in);
  return 0;
}

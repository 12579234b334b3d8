// libFuzzer target: the Range / If-None-Match / If-Modified-Since / If-Range harness over the
// fuzzer's bytes.
#include "model/request_conditions_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::conditions_model::request_conditions_model(in);
  return 0;
}

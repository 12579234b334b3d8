// libFuzzer target: the Pool model harness over the fuzzer's bytes.
#include "model/pool_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::pool_model(in);
  return 0;
}

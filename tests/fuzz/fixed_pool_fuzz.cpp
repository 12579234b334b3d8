// libFuzzer target: the FixedPool model harness over the fuzzer's bytes.
#include "model/fixed_pool_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::fixed_pool_model(in);
  return 0;
}

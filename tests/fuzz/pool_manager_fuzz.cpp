// libFuzzer target: the PoolManager model harness over the fuzzer's bytes. No release on other
// threads (the Catch test does those, under TSan too); deferred mode still runs its own thread.
#include "model/pool_manager_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::pool_manager_model(in, false);
  return 0;
}

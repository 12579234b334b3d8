// libFuzzer target: the BlockAllocator model harness over the fuzzer's bytes.
#include "model/block_allocator_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::block_allocator_model(in);
  return 0;
}

// libFuzzer target: the SmallObjectAllocator model harness over the fuzzer's bytes.
#include "model/small_object_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::small_object_model(in);
  return 0;
}

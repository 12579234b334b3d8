// libFuzzer target: the GlobalArena model harness over the fuzzer's bytes.
#include "model/global_arena_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::global_arena_model(in);
  return 0;
}

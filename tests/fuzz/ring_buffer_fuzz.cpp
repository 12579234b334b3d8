// libFuzzer target: the RingBuffer model harness over the fuzzer's bytes.
#include "model/ring_buffer_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::ring_buffer_model(in);
  return 0;
}

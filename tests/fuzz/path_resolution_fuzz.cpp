// libFuzzer target: the path resolution harness (normalization against its model; whatever opens
// lies beneath the root; openat2 and the walk agree) over the fuzzer's bytes.
#include "model/path_resolution_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::path_model::path_resolution_model(in);
  return 0;
}

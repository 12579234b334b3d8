// libFuzzer target: the config loader harness (a config or a ConfigError with file:line:column,
// never anything else; an accepted config agrees with itself) over the fuzzer's bytes.
#include "model/config_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mempool::test::OpSource in(data, size);
  mempool::test::config_model::config_model(in);
  return 0;
}

// Uses the installed library the way an outside project would; exits non-zero if it misbehaves.
#include <mempool/pool.hpp>

#include <cstdio>
#include <cstring>
#include <memory_resource>
#include <vector>

int main() {
  mempool::Pool pool;
  std::pmr::vector<int> numbers(pool.resource());
  for (int i = 0; i < 1000; ++i) numbers.push_back(i);
  std::string_view greeting = pool.format("hello {} from {}", 42, "a consumer");
  if (numbers[999] != 999 || greeting != "hello 42 from a consumer") return 1;
  std::puts(greeting.data());
  return 0;
}

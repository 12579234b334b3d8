// The handler workload of issue 13 §5 (loadtest/bench/json_workload.hpp): what it computes, and
// that its pool build and its heap build are the same code giving the same answers.
#include <catch2/catch.hpp>

#include <memory_resource>
#include <string>

#include <mempool/pool.hpp>

#include "json_workload.hpp"

namespace json = mempool::bench::json;

namespace {

std::string on_heap(std::string_view body) {
  return std::string(json::answer(body, std::pmr::new_delete_resource()));
}

// The answer built on a pool, with the default resource refusing everything: a container that
// escaped the pool would throw.
std::string on_pool(std::string_view body, mempool::Pool& pool) {
  std::pmr::memory_resource* previous = std::pmr::set_default_resource(std::pmr::null_memory_resource());
  std::string out;
  try {
    out = std::string(json::answer(body, pool.resource()));
  } catch (...) {
    std::pmr::set_default_resource(previous);
    throw;
  }
  std::pmr::set_default_resource(previous);
  pool.reset();
  return out;
}

}  // namespace

TEST_CASE("the handler workload totals lines, drops empty ones, sorts tags and upper-cases attributes") {
  const std::string body =
      R"({"id":7,"tags":["gift","eco","gift"],"items":[)"
      R"({"sku":"A","qty":2,"price":1.5,"attrs":{"c":"red"},"gift":true,"note":null},)"
      R"({"sku":"B","qty":0,"price":9,"attrs":{}},)"
      R"({"sku":"C \"q\"","qty":3,"price":2,"attrs":{"s":"small","b":"blue"}}]})";
  mempool::Pool pool;
  const std::string expected =
      R"({"id":7,"lines":[{"attrs":{"c":"RED"},"sku":"A","total":3},)"
      R"({"attrs":{"b":"BLUE","s":"SMALL"},"sku":"C \"q\"","total":6}],"tags":["ECO","GIFT"],"total":9})";
  CHECK(on_heap(body) == expected);
  CHECK(on_pool(body, pool) == expected);
}

TEST_CASE("the handler workload answers malformed or hostile input with an empty result") {
  mempool::Pool pool;
  const std::string empty = "{}";  // not an object: nothing to transform
  for (const std::string& body : {std::string(""), std::string("{"), std::string(R"({"id":)"), std::string("[1,2"),
                                 std::string(R"({"a":"unterminated)"), std::string(100000, '['),
                                 std::string(R"({"items":[1,2,{"qty":"x"}]} trailing)")}) {
    INFO(body.substr(0, 40));
    CHECK(on_heap(body) == empty);
    CHECK(on_pool(body, pool) == empty);
  }
}

TEST_CASE("the handler workload's bodies are 2-8 KiB and give the same answers on the pool and the heap") {
  mempool::Pool pool;
  const auto bodies = json::make_bodies(64);
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    INFO("body " << i);
    CHECK(bodies[i].size() >= 1024);
    CHECK(bodies[i].size() <= 8192);
    const std::string heap = on_heap(bodies[i]);
    CHECK(heap.size() > 100);
    CHECK(on_pool(bodies[i], pool) == heap);
  }
}

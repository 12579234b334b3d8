#include <mempool/pool.hpp>

#include <catch2/catch.hpp>

#include "support/child_process.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <limits>
#include <list>
#include <optional>
#include <memory_resource>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#if MEMPOOL_HAS_ASAN
#include <sanitizer/asan_interface.h>
#endif

using mempool::BlockAllocator;
using mempool::Pool;

namespace {

constexpr std::size_t page = BlockAllocator::page_size;
// Over the default small limit (a 64 KiB block's capacity): a large allocation.
constexpr std::size_t big = 80 * 1024;

// Records the order in which cleanups ran.
struct Trace {
  std::vector<int> order;
};
struct TraceEntry {
  Trace* trace;
  int id;
};
void record(void* data) {
  auto* e = static_cast<TraceEntry*>(data);
  e->trace->order.push_back(e->id);
}

// A value whose formatter allocates scratch memory from a pool and fills it.
struct PoolUser {
  Pool* pool;
  mutable std::vector<char*> scratch;
};

}  // namespace

template <>
struct fmt::formatter<PoolUser> : fmt::formatter<std::string_view> {
  auto format(const PoolUser& user, fmt::format_context& ctx) const {
    auto* scratch = static_cast<char*>(user.pool->alloc_unaligned(32));
    std::memset(scratch, 'z', 32);
    user.scratch.push_back(scratch);
    return fmt::formatter<std::string_view>::format("value", ctx);
  }
};

// --- allocation ---------------------------------------------------------------------------------

// Every pointer must honour the alignment asked for, on the fast path and the large path alike.
TEST_CASE("alloc returns memory aligned as asked for every alignment from 1 to 4096") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  for (std::size_t align = 1; align <= Pool::max_alignment; align *= 2) {
    for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{1000},
                          std::size_t{4000}, std::size_t{9000}}) {
      auto* p = static_cast<char*>(pool.alloc(n, align));
      REQUIRE(p != nullptr);
      INFO("align " << align << " size " << n);
      CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0);
      std::memset(p, 0x5a, n);  // writable in full (ASan would catch an overrun)
    }
  }
}

// make<T> takes its alignment from the type (STYLE lesson 5).
TEST_CASE("make aligns objects for their type") {
  struct alignas(64) Wide {
    char bytes[64];
  };
  Pool pool;
  (void)pool.alloc_unaligned(3);
  Wide* w = pool.make<Wide>();
  REQUIRE(w != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(w) % 64 == 0);
}

#if !MEMPOOL_DEBUG_ALLOCATIONS  // block layout: MEMPOOL_DEBUG builds have no blocks
// Strings need no alignment: packing them back to back is what alloc_unaligned is for.
TEST_CASE("alloc_unaligned packs allocations back to back") {
  Pool pool;
  auto* a = static_cast<char*>(pool.alloc_unaligned(3));
  auto* b = static_cast<char*>(pool.alloc_unaligned(5));
  CHECK(b == a + 3);
}
#endif

// malloc(0)-like: a valid pointer that is never dereferenced, from a fresh pool too.
TEST_CASE("alloc of zero bytes returns a non-null pointer") {
  Pool pool;
  CHECK(pool.alloc(0) != nullptr);
  (void)pool.alloc(16);
  CHECK(pool.alloc(0) != nullptr);
  CHECK(pool.bytes_used() == 16);
}

// Absurd sizes must fail cleanly, not wrap the arithmetic into a small allocation.
TEST_CASE("impossible sizes return nullptr and leave the pool usable") {
  Pool pool;
  CHECK(pool.alloc(std::numeric_limits<std::size_t>::max()) == nullptr);
  CHECK(pool.alloc(std::numeric_limits<std::size_t>::max() - 8, 4096) == nullptr);
  CHECK(pool.alloc_array<std::uint64_t>(std::numeric_limits<std::size_t>::max() / 4) == nullptr);
  CHECK(pool.alloc(100) != nullptr);
}

// capacity_failures counts refusals of a budget; a pool without one refuses only the impossible.
TEST_CASE("an impossible size is not a capacity failure in a pool without a capacity") {
  Pool pool;
  (void)pool.alloc(100);
  CHECK(pool.alloc(std::numeric_limits<std::size_t>::max() - 100) == nullptr);
  CHECK(pool.stats().capacity_failures == 0);
  pool.set_capacity(1000);
  CHECK(pool.alloc(std::numeric_limits<std::size_t>::max() - 100) == nullptr);
  CHECK(pool.stats().capacity_failures == 1);
}

// calloc must zero even memory that a previous request dirtied before a reset.
TEST_CASE("calloc zeroes reused memory") {
  Pool pool;
  auto* dirty = static_cast<unsigned char*>(pool.alloc(512));
  std::memset(dirty, 0xff, 512);
  pool.reset();
  auto* clean = static_cast<unsigned char*>(pool.calloc(512));
  REQUIRE(clean != nullptr);
  for (int i = 0; i < 512; ++i) REQUIRE(clean[i] == 0);
}

// A request bigger than a block is a large allocation and free() gives its memory back at once.
TEST_CASE("free releases a large allocation at once") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  CHECK(pool.small_limit() < big);
  void* large = pool.alloc(big);
  REQUIRE(large != nullptr);
  CHECK(pool.stats().large_allocations == 1);
  const std::size_t before = blocks.stats().bytes_in_use;
  CHECK(pool.free(large));
  if (!Pool::debug_allocations) CHECK(blocks.stats().bytes_in_use < before);  // else it was malloc's
  CHECK(pool.stats().large_allocations == 0);
  CHECK(pool.bytes_used() == 0);
}

// free of small memory is a defined no-op that says so; a second free of the same large one too.
TEST_CASE("free of a small allocation or of nullptr or a second free returns false") {
  Pool pool;
  void* small = pool.alloc(32);
  void* large = pool.alloc(big);
  CHECK_FALSE(pool.free(small));
  CHECK_FALSE(pool.free(nullptr));
  CHECK(pool.free(large));
  CHECK_FALSE(pool.free(large));
  CHECK_FALSE(pool.free(small));
}

// A large allocation from one pool is not another pool's to free.
TEST_CASE("free of another pool's large allocation returns false") {
  Pool a, b;
  void* large = a.alloc(big);
  (void)b.alloc(big);
  CHECK_FALSE(b.free(large));
  CHECK(a.free(large));
}

// free must stay O(1) with many large allocations (nginx's pfree walks a list; we must not).
TEST_CASE("free of one large allocation among hundreds keeps the others") {
  Pool pool;
  std::vector<char*> bigs;
  for (int i = 0; i < 400; ++i) {
    auto* p = static_cast<char*>(pool.alloc(big));
    std::memset(p, i & 0xff, big);
    bigs.push_back(p);
  }
  for (std::size_t i = 0; i < bigs.size(); i += 2) REQUIRE(pool.free(bigs[i]));
  CHECK(pool.stats().large_allocations == 200);
  for (std::size_t i = 1; i < bigs.size(); i += 2) REQUIRE(static_cast<unsigned char>(bigs[i][big - 1]) == (i & 0xff));
}

// Regression: a large block handed back at reset kept its header, the same pool (same address,
// as a PoolManager or a re-emplaced optional gives) took it back as a small block, and free()
// of a small allocation lying right behind the stale header released the block under it.
TEST_CASE("free of a small allocation behind a dead large allocation's header returns false") {
#if !MEMPOOL_DEBUG_ALLOCATIONS
  BlockAllocator blocks;
  constexpr std::size_t block = 2 * page;
  const Pool::Options options{.allocator = &blocks, .block_size = block, .max_block_size = block};
  std::optional<Pool> pool(std::in_place, options);
  void* large = pool->alloc(block);  // over the small limit: a tracked block of 3 pages
  REQUIRE(large != nullptr);
  pool.reset();  // the pool dies, its block goes back to the allocator's 3-page list
  pool.emplace(Pool::Options{.allocator = &blocks, .block_size = 3 * page, .max_block_size = 3 * page});
  // The first small block is that 3-page block again. The stale header sat right before the
  // old payload; small allocations now line up on it: 16 bytes of bump header, then these.
  (void)pool->alloc(32);  // left unwritten: the old header's check survives in it
  void* behind = pool->alloc(32);
  (void)pool->alloc(pool->small_limit() - 64 - 96);  // fill the block up ...
  (void)pool->alloc(300);                             // ... so that current moves on
  REQUIRE(pool->alloc(8 * page) != nullptr);          // a live large one: free() must look
  CHECK_FALSE(pool->free(behind));
  CHECK(pool->stats().blocks == 2);
  CHECK(pool->stats().large_allocations == 1);
#else
  SUCCEED("MEMPOOL_DEBUG builds keep no blocks: nothing to go stale");
#endif
}

// --- realloc ------------------------------------------------------------------------------------

#if !MEMPOOL_DEBUG_ALLOCATIONS  // block layout: MEMPOOL_DEBUG builds have no blocks
// Growing the newest allocation is the common case (a header line read in pieces): no copy.
TEST_CASE("realloc grows the newest allocation in place") {
  Pool pool;
  auto* p = static_cast<char*>(pool.alloc(16));
  std::memcpy(p, "0123456789abcdef", 16);
  auto* q = static_cast<char*>(pool.realloc(p, 16, 200));
  CHECK(q == p);
  CHECK(std::memcmp(q, "0123456789abcdef", 16) == 0);
  CHECK(pool.bytes_used() == 200);
  auto* r = static_cast<char*>(pool.realloc(q, 200, 8));  // and shrinks in place
  CHECK(r == p);
  CHECK(pool.bytes_used() == 8);
  CHECK(static_cast<char*>(pool.alloc_unaligned(1)) == p + 8);
}
#endif

// An older allocation cannot grow where it is: it moves and keeps its bytes.
TEST_CASE("realloc of an older allocation copies its contents") {
  Pool pool;
  auto* p = static_cast<char*>(pool.alloc(16));
  std::memcpy(p, "0123456789abcdef", 16);
  (void)pool.alloc(8);
  auto* q = static_cast<char*>(pool.realloc(p, 16, 64));
  CHECK(q != p);
  CHECK(std::memcmp(q, "0123456789abcdef", 16) == 0);
}

#if !MEMPOOL_DEBUG_ALLOCATIONS  // block layout: MEMPOOL_DEBUG builds have no blocks
// A large allocation grows inside its own block, and moving out of it frees the old block.
TEST_CASE("realloc of a large allocation grows in place or frees the old block") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  auto* p = static_cast<char*>(pool.alloc(big));  // its block is rounded up to whole pages
  std::memset(p, 7, big);
  auto* q = static_cast<char*>(pool.realloc(p, big, big + 1000));
  CHECK(q == p);
  CHECK(q[big - 1] == 7);
  std::memset(q, 8, big + 1000);
  auto* r = static_cast<char*>(pool.realloc(q, big + 1000, 3 * big));
  REQUIRE(r != nullptr);
  CHECK(r != q);
  CHECK(r[big + 999] == 8);
  CHECK(r[0] == 8);
  CHECK(pool.stats().large_allocations == 1);
  CHECK(pool.bytes_used() == 3 * big);
}
#endif

// realloc(nullptr, ...) behaves like alloc, as with the C library.
TEST_CASE("realloc of nullptr allocates") {
  Pool pool;
  CHECK(pool.realloc(nullptr, 0, 40) != nullptr);
  CHECK(pool.bytes_used() == 40);
}

// --- cleanups -----------------------------------------------------------------------------------

// Objects made later may depend on earlier ones: tear down in reverse.
TEST_CASE("cleanups run last-registered first on reset and on destruction") {
  Trace trace;
  TraceEntry e1{&trace, 1}, e2{&trace, 2}, e3{&trace, 3};
  {
    Pool pool;
    REQUIRE(pool.add_cleanup(record, &e1));
    REQUIRE(pool.add_cleanup(record, &e2));
    pool.reset();
    CHECK(trace.order == std::vector<int>{2, 1});
    REQUIRE(pool.add_cleanup(record, &e3));
    REQUIRE(pool.add_cleanup(record, &e1));
  }
  CHECK(trace.order == std::vector<int>{2, 1, 1, 3});
}

// APR's lesson: a cleanup may register another; it must run in the same reset, not leak.
TEST_CASE("a cleanup registered by a cleanup runs in the same reset") {
  Trace trace;
  struct Ctx {
    Pool* pool;
    Trace* trace;
    TraceEntry later;
  };
  Pool pool;
  Ctx ctx{&pool, &trace, {&trace, 2}};
  REQUIRE(pool.add_cleanup(
      [](void* d) {
        auto* c = static_cast<Ctx*>(d);
        c->trace->order.push_back(1);
        REQUIRE(c->pool->add_cleanup(record, &c->later));
      },
      &ctx));
  pool.reset();
  CHECK(trace.order == std::vector<int>{1, 2});
  CHECK(pool.stats().cleanups == 0);
  pool.reset();
  CHECK(trace.order == std::vector<int>{1, 2});  // forgotten once run
}

// APR's kill-during-run: while a reset runs the cleanups, one that removes or runs a later one
// (an object it owns, closed early) keeps it from running a second time.
TEST_CASE("a cleanup that removes or runs a later one during a reset keeps it from running again") {
  Trace trace;
  struct Killer {
    Pool* pool;
    TraceEntry *remove, *run;
    bool removed = false, ran = false;
  };
  TraceEntry e1{&trace, 1}, e2{&trace, 2}, e3{&trace, 3};
  Pool pool;
  Killer killer{&pool, &e1, &e2};
  REQUIRE(pool.add_cleanup(record, &e1));
  REQUIRE(pool.add_cleanup(record, &e2));
  REQUIRE(pool.add_cleanup(record, &e3));
  REQUIRE(pool.add_cleanup(
      [](void* d) {
        auto* k = static_cast<Killer*>(d);
        k->removed = k->pool->remove_cleanup(record, k->remove);
        k->ran = k->pool->run_cleanup(record, k->run);
      },
      &killer));
  pool.reset();
  CHECK(killer.removed);
  CHECK(killer.ran);
  CHECK(trace.order == std::vector<int>{2, 3});  // 2 run by the killer, then 3; 1 never
  CHECK(pool.stats().cleanups == 0);
}

// LIFO holds for a cleanup registered while cleanups run: it is the newest, so it runs next,
// before the older ones it may depend on (APR's order).
TEST_CASE("a cleanup registered during a reset runs before the older ones") {
  Trace trace;
  struct Registrar {
    Pool* pool;
    TraceEntry* later;
  };
  TraceEntry e1{&trace, 1}, e3{&trace, 3};
  Pool pool;
  Registrar registrar{&pool, &e3};
  REQUIRE(pool.add_cleanup(record, &e1));
  REQUIRE(pool.add_cleanup(
      [](void* d) {
        auto* r = static_cast<Registrar*>(d);
        r->later->trace->order.push_back(2);
        REQUIRE(r->pool->add_cleanup(record, r->later));
      },
      &registrar));
  pool.reset();
  CHECK(trace.order == std::vector<int>{2, 3, 1});
}

// remove_cleanup is for objects destroyed early; run_cleanup for closing them now.
TEST_CASE("remove_cleanup forgets a cleanup and run_cleanup runs it now") {
  Trace trace;
  TraceEntry e1{&trace, 1}, e2{&trace, 2}, e3{&trace, 3};
  Pool pool;
  REQUIRE(pool.add_cleanup(record, &e1));
  REQUIRE(pool.add_cleanup(record, &e2));
  REQUIRE(pool.add_cleanup(record, &e3));
  CHECK(pool.remove_cleanup(record, &e2));
  CHECK_FALSE(pool.remove_cleanup(record, &e2));
  CHECK(pool.run_cleanup(record, &e3));
  CHECK(trace.order == std::vector<int>{3});
  CHECK_FALSE(pool.run_cleanup(record, &e3));
  pool.reset();
  CHECK(trace.order == std::vector<int>{3, 1});
}

// Removed records are reused, so add/remove cycles do not grow the pool.
TEST_CASE("cleanup records removed are reused") {
  Trace trace;
  TraceEntry e{&trace, 1};
  Pool pool;
  REQUIRE(pool.add_cleanup(record, &e));
  pool.remove_cleanup(record, &e);
  const std::size_t used = pool.bytes_used();
  for (int i = 0; i < 100; ++i) {
    REQUIRE(pool.add_cleanup(record, &e));
    REQUIRE(pool.remove_cleanup(record, &e));
  }
  CHECK(pool.bytes_used() == used);
}

// Regression (issue 9): a record removed before a reset stayed on the spare list through the
// single-block fast path, so the next add_cleanup wrote it over memory just handed out again.
TEST_CASE("a cleanup removed or run before a reset leaves no record behind in rewound memory") {
  for (const bool run_it : {false, true}) {
    INFO((run_it ? "run_cleanup" : "remove_cleanup"));
    Trace trace;
    TraceEntry e1{&trace, 1}, e2{&trace, 2}, e3{&trace, 3};
    BlockAllocator blocks;
    Pool pool({.allocator = &blocks});
    REQUIRE(pool.add_cleanup(record, &e1));
    REQUIRE((run_it ? pool.run_cleanup(record, &e1) : pool.remove_cleanup(record, &e1)));
    pool.reset();
    auto* bytes = static_cast<unsigned char*>(pool.alloc(64, 8));
    REQUIRE(bytes != nullptr);
    std::memset(bytes, 0xab, 64);
    REQUIRE(pool.add_cleanup(record, &e2));
    REQUIRE(pool.add_cleanup(record, &e3));
    for (int i = 0; i < 64; ++i) REQUIRE(bytes[i] == 0xab);  // the records went elsewhere
    pool.reset();
    CHECK(trace.order == (run_it ? std::vector<int>{1, 3, 2} : std::vector<int>{3, 2}));
  }
}

// make<T> must pair construction with destruction, and not register trivial types.
TEST_CASE("make registers a destructor only for types that need one") {
  static int destroyed = 0;
  struct Counted {
    std::string name;
    explicit Counted(std::string n) : name(std::move(n)) {}
    ~Counted() { ++destroyed; }
  };
  destroyed = 0;
  Pool pool;
  Counted* c = pool.make<Counted>("a string long enough to live on the heap, not in SSO");
  REQUIRE(c != nullptr);
  CHECK(c->name.size() > 20);
  int* i = pool.make<int>(42);
  REQUIRE(i != nullptr);
  CHECK(*i == 42);
  CHECK(pool.stats().cleanups == 1);
  pool.reset();
  CHECK(destroyed == 1);
}

// --- hierarchy ----------------------------------------------------------------------------------

// Request pools are children of their connection pool: the child must go first.
TEST_CASE("a parent's reset destroys its children first") {
  Trace trace;
  TraceEntry parent_entry{&trace, 1}, child_entry{&trace, 2};
  BlockAllocator blocks;
  Pool parent({.allocator = &blocks});
  Pool child(parent);
  REQUIRE(parent.add_cleanup(record, &parent_entry));
  REQUIRE(child.add_cleanup(record, &child_entry));
  (void)child.alloc(100000);
  CHECK(&child.block_allocator() == &blocks);  // inherited
  CHECK(parent.stats().children == 1);
  parent.reset();
  CHECK(trace.order == std::vector<int>{2, 1});
  CHECK(child.destroyed_by_parent());
  CHECK(child.stats().large_allocations == 0);
  CHECK(child.stats().blocks == 0);
  CHECK(child.alloc(10) == nullptr);  // dead: it allocates nothing more
  CHECK(parent.stats().children == 0);
  CHECK(parent.alloc(10) != nullptr);
}

// APR's subpool: a child made inside its parent dies with it, memory and all.
TEST_CASE("a parent's destruction destroys children made in it") {
  Trace trace;
  TraceEntry child_entry{&trace, 2};
  BlockAllocator blocks;
  {
    Pool parent({.allocator = &blocks});
    Pool* child = parent.make<Pool>(parent);
    REQUIRE(child != nullptr);
    Pool* grandchild = child->make<Pool>(*child);
    REQUIRE(grandchild != nullptr);
    REQUIRE(grandchild->add_cleanup(record, &child_entry));
    (void)grandchild->alloc(50000);
  }
  CHECK(trace.order == std::vector<int>{2});
  CHECK(blocks.stats().bytes_in_use == 0);
}

// A child destroyed before its parent must unlink itself, newest or not.
TEST_CASE("a child destroyed early detaches from its parent") {
  Pool parent;
  auto* first = new Pool(parent);
  Pool second(parent);
  auto* third = new Pool(parent);
  delete first;
  CHECK(parent.stats().children == 2);
  delete third;
  CHECK(parent.stats().children == 1);
  parent.reset();
  CHECK(second.destroyed_by_parent());
}

// A pool its parent destroyed holds nothing and never will: a child made of it is born
// destroyed too (else deleting the dead parent left the child pointing at it).
TEST_CASE("a child of a pool destroyed by its parent is born destroyed") {
  Pool root;
  auto dead = std::make_unique<Pool>(root);
  root.reset();
  REQUIRE(dead->destroyed_by_parent());
  auto child = std::make_unique<Pool>(*dead, Pool::Options{.cascade = true});
  CHECK(child->destroyed_by_parent());
  CHECK(child->alloc(10) == nullptr);
  CHECK(dead->stats().children == 0);
  CHECK(dead->bytes_used() == 0);
  dead.reset();
  child.reset();  // ASan: no use of the deleted parent
}

// Melon's cascading pools: a connection's budget bounds the requests inside it.
TEST_CASE("a cascading child's memory counts against its parent's capacity") {
  BlockAllocator blocks;
  Pool connection({.allocator = &blocks, .capacity = 64 * 1024});
  (void)connection.alloc(1000);
  const std::size_t own = connection.bytes_used();
  std::optional<Pool> request(std::in_place, connection, Pool::Options{.cascade = true});
  CHECK(&request->block_allocator() == &blocks);
  std::size_t got = 0;
  while (request->alloc(1024) != nullptr) got += 1024;  // until the connection's budget is spent
  CHECK(got > 32 * 1024);
  CHECK(got <= 64 * 1024 - own);
  CHECK(request->stats().capacity_failures == 1);
  CHECK(request->available() == connection.available());  // the tighter of the two budgets
  CHECK(connection.bytes_used() == own + request->stats().held_bytes);
  CHECK(connection.alloc(4096) == nullptr);  // the parent's own allocations are bounded too
  request->reset();  // the request's kept block stays charged, the rest comes back
  CHECK(connection.bytes_used() == own + request->stats().held_bytes);
  CHECK(request->alloc(16 * 1024) != nullptr);
  request.reset();  // destroyed: everything comes back
  CHECK(connection.bytes_used() == own);
  CHECK(connection.available() == 64 * 1024 - own);
}

// A large allocation of a cascading child is charged too, and given back by free().
TEST_CASE("a cascading child's large allocations are charged and freed back") {
  Pool connection({.capacity = 300 * 1024});
  Pool request(connection, {.cascade = true});
  void* large = request.alloc(200 * 1024);
  REQUIRE(large != nullptr);
  CHECK(connection.bytes_used() >= 200 * 1024);
  CHECK(request.alloc(200 * 1024) == nullptr);
  CHECK(request.free(large));
  CHECK(connection.bytes_used() == request.stats().held_bytes);
  CHECK(request.alloc(200 * 1024) != nullptr);
}

#if !MEMPOOL_DEBUG_ALLOCATIONS  // block layout: MEMPOOL_DEBUG builds have no blocks
// The allocator's sink may hand out a block larger than asked: the parent is charged what the
// child really holds, and gets exactly that back.
TEST_CASE("a cascading child is charged the block it really got") {
  BlockAllocator blocks;
  blocks.deallocate_block(blocks.allocate_block(60 * page));  // a big block waits in the sink
  Pool connection({.allocator = &blocks, .capacity = 1 << 20});
  Pool request(connection, {.cascade = true});
  void* large = request.alloc(40 * page);  // served from the bigger sink block
  REQUIRE(large != nullptr);
  CHECK(request.stats().held_bytes == 61 * page);
  CHECK(connection.bytes_used() == request.stats().held_bytes);
  CHECK(request.free(large));
  CHECK(connection.bytes_used() == 0);
  CHECK(blocks.stats().bytes_in_use == 0);
}
#endif

// Cascading goes up while the parents cascade: a grandchild spends the root's budget.
TEST_CASE("cascading charges every cascading ancestor and stops at the first that does not") {
  Pool root({.capacity = 40 * 1024});
  Pool middle(root, {.cascade = true});
  Pool leaf(middle, {.cascade = true});
  Pool free_leaf(root);  // not cascading: its memory is its own
  REQUIRE(leaf.alloc(10 * 1024) != nullptr);
  CHECK(middle.bytes_used() == leaf.stats().held_bytes);
  CHECK(root.bytes_used() == leaf.stats().held_bytes);
  REQUIRE(free_leaf.alloc(100 * 1024) != nullptr);
  CHECK(root.bytes_used() == leaf.stats().held_bytes);
  CHECK(leaf.alloc(40 * 1024) == nullptr);
  CHECK(leaf.stats().capacity_failures == 1);  // the refused allocation was the leaf's
  CHECK(middle.stats().capacity_failures == 0);
  CHECK(root.stats().capacity_failures == 0);
  root.reset();  // children first: every charge comes back before the root rewinds
  CHECK(root.bytes_used() == 0);
  CHECK(leaf.destroyed_by_parent());
}

// --- reset and block retention -------------------------------------------------------------------

#if !MEMPOOL_DEBUG_ALLOCATIONS  // block layout: MEMPOOL_DEBUG builds have no blocks
// Keep-alive: the next request reuses the same memory without asking the allocator.
TEST_CASE("reset rewinds to the first block") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  void* first = pool.alloc(100);
  pool.reset();
  CHECK(pool.alloc(100) == first);
  CHECK(pool.stats().resets == 1);
  CHECK(pool.bytes_used() == 100);
}
#endif

#if !MEMPOOL_DEBUG_ALLOCATIONS  // block layout: MEMPOOL_DEBUG builds have no blocks
// Keep-alive: after one reset the pool keeps a single block that fits what the requests need,
// so a steady stream of them never calls the allocator again.
TEST_CASE("reset keeps one block sized to what the pool needed") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks, .block_size = page, .max_block_size = 16 * page, .retain_bytes = 16 * page});
  auto request = [&] {
    for (int i = 0; i < 10; ++i) REQUIRE(pool.alloc(2000) != nullptr);  // ~20 KB: blocks of 4, 8, 16 KiB
  };
  request();
  CHECK(pool.stats().blocks == 3);
  pool.reset();
  CHECK(pool.stats().blocks == 0);  // the 4 KiB first block is too small to keep
  request();
  CHECK(pool.stats().blocks == 1);
  CHECK(pool.stats().block_bytes == 28 * 1024);  // learned: the previous cycle's 4 + 8 + 16 KiB
  const auto os_allocs = blocks.stats().os_allocs;
  const auto reused = blocks.stats().blocks_reused;
  for (int cycle = 0; cycle < 10; ++cycle) {
    pool.reset();
    request();
  }
  CHECK(pool.stats().blocks == 1);
  CHECK(blocks.stats().os_allocs == os_allocs);
  CHECK(blocks.stats().blocks_reused == reused);  // not even the free lists were touched
}

// DESIGN §3.2: one huge request must not pin memory for the rest of a long keep-alive connection.
TEST_CASE("reset keeps no more than retain_bytes of blocks") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks, .block_size = page, .max_block_size = 8 * page, .retain_bytes = 2 * page});
  for (int i = 0; i < 100; ++i) (void)pool.alloc(2000);  // ~200 KB of small allocations
  REQUIRE(pool.stats().block_bytes > 100 * 1024);
  pool.reset();
  CHECK(pool.stats().block_bytes <= 2 * page);
  (void)pool.alloc(10);  // the next cycle's first block: the learned size, capped
  CHECK(pool.stats().blocks == 1);
  CHECK(pool.stats().block_bytes == 2 * page);
  CHECK(blocks.stats().bytes_in_use == 2 * page);
}

// Issue 9: the learned size only ever grew, so one big request pinned its block in that pool
// (and in every reuse of it from a PoolManager) for good. Quieter cycles must let it shrink.
TEST_CASE("the kept block shrinks back after one big request") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks, .block_size = page, .max_block_size = 16 * page, .retain_bytes = 16 * page});
  REQUIRE(pool.alloc(50000) != nullptr);  // one big request: a 52 KiB block
  pool.reset();
  REQUIRE(pool.stats().block_bytes == 52 * 1024);
  std::size_t previous = pool.stats().block_bytes;
  for (int cycle = 0; cycle < 6; ++cycle) {  // then small ones: the block halves at each reset
    REQUIRE(pool.alloc(100) != nullptr);
    CHECK(pool.stats().block_bytes <= previous);
    previous = pool.stats().block_bytes;
    pool.reset();
  }
  CHECK(previous == page);
  CHECK(blocks.stats().bytes_in_use <= page);
  REQUIRE(pool.alloc(50000) != nullptr);  // and a big one again is learned again at once
  pool.reset();
  (void)pool.alloc(100);
  CHECK(pool.stats().block_bytes >= 52 * 1024);
}

// A workload that uses more than half of the kept block keeps it: no block churn per request.
TEST_CASE("the kept block stays while cycles use more than half of it") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks, .block_size = page, .max_block_size = 16 * page, .retain_bytes = 16 * page});
  REQUIRE(pool.alloc(30000) != nullptr);
  pool.reset();
  const std::size_t kept = pool.stats().block_bytes;
  const auto os_allocs = blocks.stats().os_allocs;
  const auto reused = blocks.stats().blocks_reused;
  for (int cycle = 0; cycle < 20; ++cycle) {
    REQUIRE(pool.alloc(cycle % 2 ? 30000 : kept / 2) != nullptr);
    pool.reset();
    CHECK(pool.stats().block_bytes == kept);
  }
  CHECK(blocks.stats().os_allocs == os_allocs);
  CHECK(blocks.stats().blocks_reused == reused);
}
#endif

// small_limit() is a promise: anything larger is a large allocation that free() releases, even
// when the kept block (whose size retain_bytes allows past max_block_size) has room for it.
TEST_CASE("an allocation over the small limit is large even when the kept block could hold it") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks, .block_size = page, .max_block_size = page, .retain_bytes = 8 * page});
  for (int i = 0; i < 20; ++i) REQUIRE(pool.alloc(1000) != nullptr);  // a cycle over several blocks
  pool.reset();
  (void)pool.alloc(16);
  CHECK(pool.stats().block_bytes <= page);  // never a block over max_block_size
  void* p = pool.alloc(pool.small_limit() + 100);
  REQUIRE(p != nullptr);
  CHECK(pool.free(p));
}

// The same for large allocations: a 10 MiB upload leaves nothing behind after its request.
TEST_CASE("a huge request's blocks are not kept after reset") {
  BlockAllocator blocks({.max_free = 2 << 20});
  Pool pool({.allocator = &blocks});
  (void)pool.alloc(100);
  const std::size_t baseline = blocks.stats().bytes_in_use;
  REQUIRE(pool.alloc(10 << 20) != nullptr);
  pool.reset();
  CHECK(blocks.stats().bytes_in_use == baseline);
  CHECK(blocks.stats().bytes_free <= std::size_t{2} << 20);  // and the allocator did not keep it either
}

// An idle connection's pool holds no memory at all.
TEST_CASE("reset with Retain::nothing keeps no block") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  (void)pool.alloc(100);
  pool.reset(Pool::Retain::nothing);
  CHECK(pool.stats().blocks == 0);
  CHECK(blocks.stats().bytes_in_use == 0);
  CHECK(pool.alloc(100) != nullptr);  // and it comes back to life on demand
}

#if !MEMPOOL_DEBUG_ALLOCATIONS  // block layout: MEMPOOL_DEBUG builds have no blocks
// A fresh pool takes no block until it is used.
TEST_CASE("a pool takes its first block lazily") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  CHECK(blocks.stats().bytes_in_use == 0);
  (void)pool.alloc(1);
  CHECK(blocks.stats().bytes_in_use == page);
}
#endif

// Destruction gives everything back: blocks, large allocations, children.
TEST_CASE("destroying a pool returns every block to the allocator") {
  BlockAllocator blocks;
  {
    Pool pool({.allocator = &blocks});
    Pool child(pool);
    for (int i = 0; i < 50; ++i) (void)pool.alloc(static_cast<std::size_t>(i * 300));
    (void)child.alloc(70000);
  }
  CHECK(blocks.stats().bytes_in_use == 0);
}

// Many pools released to an allocator must not grow its retained memory past max_free.
TEST_CASE("max_free holds when many pools give their blocks back") {
  BlockAllocator blocks({.max_free = 16 * page});
  {
    std::vector<std::unique_ptr<Pool>> pools;
    for (int i = 0; i < 64; ++i) {
      pools.push_back(std::make_unique<Pool>(Pool::Options{.allocator = &blocks}));
      for (int j = 0; j < 8; ++j) (void)pools.back()->alloc(3000);
    }
  }
  CHECK(blocks.stats().bytes_free <= 16 * page);
  CHECK(blocks.stats().bytes_in_use == 0);
}

#if !MEMPOOL_DEBUG_ALLOCATIONS  // block layout: MEMPOOL_DEBUG builds have no blocks
// A block that keeps failing stops being where the search starts (nginx's failed counter).
TEST_CASE("small requests still fill earlier blocks after a big one moved on") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  (void)pool.alloc(3000);                                // block 1 has ~1 KiB left
  (void)pool.alloc(3000);                                // block 2
  const std::size_t used_blocks = pool.stats().blocks;
  for (int i = 0; i < 10; ++i) (void)pool.alloc(64);     // fit in what blocks 1 and 2 left
  CHECK(pool.stats().blocks == used_blocks);
}
#endif

// --- capacity -----------------------------------------------------------------------------------

// Melon's capacity: the server caps per-request memory and answers 500, it must not crash.
TEST_CASE("allocations past the capacity return nullptr and the pool stays usable") {
  Pool pool({.capacity = 10000});
  CHECK(pool.capacity() == 10000);
  CHECK(pool.alloc(6000) != nullptr);
  CHECK(pool.available() == 4000);
  CHECK(pool.alloc(5000) == nullptr);
  CHECK(pool.alloc(20000) == nullptr);
  CHECK(pool.strdup(std::string(5000, 'x')).data() == nullptr);
  CHECK(pool.format("{:>5000}", 1).data() == nullptr);
  CHECK(pool.stats().capacity_failures == 4);
  CHECK(pool.alloc(3000) != nullptr);  // what fits still fits
  pool.reset();
  CHECK(pool.alloc(9000) != nullptr);  // and the budget is whole again
}

// Freed large allocations give their bytes back to the budget.
TEST_CASE("freeing a large allocation returns its bytes to the capacity") {
  Pool pool({.capacity = 2 * big});
  void* large = pool.alloc(big + 1000);
  REQUIRE(large != nullptr);
  CHECK(pool.alloc(big) == nullptr);
  pool.free(large);
  CHECK(pool.alloc(big) != nullptr);
}

// The std adaptors cannot return nullptr; they throw, as the standard requires.
TEST_CASE("the pmr resource throws bad_alloc past the capacity") {
  Pool pool({.capacity = 1000});
  std::pmr::vector<char> v(pool.resource());
  CHECK_THROWS_AS(v.resize(5000), std::bad_alloc);
  mempool::PoolAllocator<int> a(pool);
  CHECK_THROWS_AS(a.allocate(1000), std::bad_alloc);
}

// --- tag, user data, strings --------------------------------------------------------------------

TEST_CASE("tag and user data are kept - user data until the next reset") {
  Pool pool({.tag = "request"});
  CHECK(std::string_view(pool.tag()) == "request");
  int a = 1, b = 2;
  REQUIRE(pool.set_user_data("a", &a));
  REQUIRE(pool.set_user_data("b", &b));
  std::string key = "a";
  CHECK(pool.user_data(key) == &a);  // keys compare by content, not by address
  REQUIRE(pool.set_user_data("a", &b));
  CHECK(pool.user_data("a") == &b);
  CHECK(pool.user_data("missing") == nullptr);
  pool.reset();
  CHECK(pool.user_data("a") == nullptr);
  CHECK(std::string_view(pool.tag()) == "request");
}

// A user data entry that does not fit takes nothing: no record left behind its refused key.
TEST_CASE("set_user_data that does not fit the capacity takes no memory") {
  Pool pool({.capacity = 64});
  (void)pool.alloc_unaligned(60);
  int value = 0;
  CHECK_FALSE(pool.set_user_data(std::string(10, 'k'), &value));
  CHECK(pool.bytes_used() == 60);
  CHECK(pool.stats().capacity_failures == 1);
}

// FreeSWITCH's strdup/sprintf into a pool: NUL-terminated, since C APIs will read them.
TEST_CASE("strdup and format write NUL-terminated strings into the pool") {
  Pool pool;
  std::string_view copy = pool.strdup("hello");
  CHECK(copy == "hello");
  CHECK(copy.data()[5] == '\0');
  std::string_view empty = pool.strdup("");
  CHECK(empty.empty());
  CHECK(empty.data() != nullptr);
  std::string_view line = pool.format("{} {} HTTP/1.{}", "GET", "/index.html", 1);
  CHECK(line == "GET /index.html HTTP/1.1");
  CHECK(line.data()[line.size()] == '\0');
  std::string_view longer = pool.format("{:x>10000}", "!");  // bigger than the first block
  CHECK(longer.size() == 10000);
  CHECK(longer.back() == '!');
  CHECK(longer.data()[10000] == '\0');
  CHECK(copy == "hello");  // earlier strings untouched
}

// A formatter that allocates from the pool it formats into (a pool-backed cache, a pmr string)
// must get room of its own, not the bytes the text is being written to.
TEST_CASE("format is safe when a formatter allocates from the same pool") {
  for (const std::size_t pad : {std::size_t{0}, std::size_t{1000}}) {  // short and long texts
    INFO("pad " << pad);
    Pool pool;
    (void)pool.alloc(16);  // a block with room: the text could be written straight into it
    PoolUser user{&pool, {}};
    std::string_view s = pool.format("abc-{}-{:>{}}", user, "def", pad);
    REQUIRE(s.data() != nullptr);
    CHECK(s.substr(0, 10) == "abc-value-");
    CHECK(s.size() == 10 + std::max<std::size_t>(pad, 3));
    CHECK(s.substr(s.size() - 3) == "def");
    for (char* scratch : user.scratch) {
      for (int i = 0; i < 32; ++i) REQUIRE(scratch[i] == 'z');
    }
  }
}

// A format that does not fit the current block's tail must not leave a half string behind.
TEST_CASE("format falls back cleanly when the current block is nearly full") {
  Pool pool;
  (void)pool.alloc(pool.small_limit() - 10);
  std::string_view s = pool.format("{}-{}", std::string(100, 'a'), 42);
  CHECK(s == std::string(100, 'a') + "-42");
}

// --- std integration ----------------------------------------------------------------------------

// Request-scoped containers: the reason resource() exists.
TEST_CASE("pmr vector and string and unordered_map live in a pool") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  {
    std::pmr::vector<int> v(pool.resource());
    for (int i = 0; i < 10000; ++i) v.push_back(i);
    std::pmr::string s("a string that does not fit the small buffer", pool.resource());
    for (int i = 0; i < 100; ++i) s += "more";
    std::pmr::unordered_map<std::pmr::string, int> m(pool.resource());
    for (int i = 0; i < 500; ++i) m[std::pmr::string(std::to_string(i) + " header name", pool.resource())] = i;
    CHECK(v[9999] == 9999);
    CHECK(s.size() == 43 + 400);
    CHECK(m.at("321 header name") == 321);
    CHECK(pool.bytes_used() > 40000);
  }
  CHECK(pool.resource()->is_equal(*pool.resource()));
  Pool other;
  CHECK_FALSE(pool.resource()->is_equal(*other.resource()));
  pool.reset();
  CHECK(blocks.stats().bytes_in_use <= 5 * page);
}

#if !MEMPOOL_DEBUG_ALLOCATIONS  // block layout: MEMPOOL_DEBUG builds have no blocks
// A vector that grows frees its old large buffers, so growth does not pile up memory.
TEST_CASE("a growing pmr vector frees its outgrown large buffers") {
  Pool pool;
  std::pmr::vector<char> v(pool.resource());
  for (int i = 0; i < (1 << 20); ++i) v.push_back('x');
  CHECK(pool.stats().large_allocations == 1);
}
#endif

// The classic allocator, for containers that take an allocator type.
TEST_CASE("PoolAllocator serves std::vector and std::list") {
  Pool pool;
  mempool::PoolAllocator<int> alloc(pool);
  std::vector<int, mempool::PoolAllocator<int>> v(alloc);
  std::list<int, mempool::PoolAllocator<int>> l(alloc);
  for (int i = 0; i < 1000; ++i) {
    v.push_back(i);
    l.push_back(i);
  }
  CHECK(v.back() == 999);
  CHECK(l.size() == 1000);
  CHECK(mempool::PoolAllocator<double>(alloc) == alloc);  // rebinding keeps the pool
  CHECK(pool.bytes_used() >= 1000 * sizeof(int));
}

// --- stats, debugging ---------------------------------------------------------------------------

TEST_CASE("stats count blocks and large allocations and children and cleanups") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks, .capacity = 1 << 20});
  (void)pool.alloc(96);
  (void)pool.alloc(big);
  Pool child(pool);
  REQUIRE(pool.add_cleanup([](void*) {}, nullptr));
  const auto s = pool.stats();
  CHECK(s.bytes_used == 96 + big + 4 * sizeof(void*));  // + the cleanup record (fn, data, child_fn, next)
  CHECK(s.capacity == 1 << 20);
  CHECK(s.large_allocations == (Pool::debug_allocations ? 3 : 1));
  CHECK(s.large_bytes >= big);
  CHECK(s.children == 1);
  CHECK(s.cleanups == 1);
  CHECK(s.blocks == (Pool::debug_allocations ? 0 : 1));
}

// MEMPOOL_DEBUG: every allocation is its own heap allocation, with its call site for reports.
TEST_CASE("report lists live tracked allocations with their call sites") {
  Pool pool({.tag = "reported"});
  (void)pool.alloc(Pool::debug_allocations ? 10 : 100000);
  char* text = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  pool.report(out);
  std::fclose(out);
  const std::string report(text, size);
  std::free(text);
  CHECK(report.find("pool 'reported'") != std::string::npos);
  CHECK(report.find("pool_test.cpp") != std::string::npos);
}

// A leak report must point at the code that made the object, not at pool.hpp.
TEST_CASE("make records its caller as the allocation site") {
  struct Huge {  // over the small limit, so tracked (with its site) in every build
    char bytes[100000];
  };
  struct HugeWithArgs {
    HugeWithArgs(int a, const std::string& b) : n(a + static_cast<int>(b.size())) {}
    int n;
    char bytes[100000];
  };
  Pool pool;
  const unsigned line = __LINE__ + 1;
  REQUIRE(pool.make<Huge>() != nullptr);
  HugeWithArgs* h = pool.make<HugeWithArgs>(1, std::string("two"));
  REQUIRE(h != nullptr);
  CHECK(h->n == 4);
  char* text = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  pool.report(out);
  std::fclose(out);
  const std::string report(text, size);
  std::free(text);
  INFO(report);
  CHECK(report.find("pool_test.cpp:" + std::to_string(line)) != std::string::npos);
  CHECK(report.find("pool_test.cpp:" + std::to_string(line + 1)) != std::string::npos);
  CHECK(report.find("pool.hpp") == std::string::npos);
}

#if MEMPOOL_HAS_ASAN
// After reset every pointer is dead: ASan must flag a read through one.
TEST_CASE("memory rewound by reset is poisoned for AddressSanitizer") {
  Pool pool;
  auto* p = static_cast<char*>(pool.alloc(64));
  auto* big = static_cast<char*>(pool.alloc(100000));
  CHECK_FALSE(__asan_address_is_poisoned(p));
  pool.reset();
  CHECK(__asan_address_is_poisoned(p));
  CHECK(__asan_address_is_poisoned(big));
}
#endif

#if MEMPOOL_CHECKS
// A pool is single-threaded; checked builds stop misuse from another thread loudly, on every
// call that changes the pool, not only alloc (issue 9's review).
TEST_CASE("every mutating call from a thread that does not own the pool aborts in checked builds") {
  const std::vector<std::pair<const char*, void (*)(Pool&)>> calls = {
      {"alloc", [](Pool& p) { (void)p.alloc(8); }},
      {"add_cleanup", [](Pool& p) { (void)p.add_cleanup([](void*) {}, nullptr); }},
      {"remove_cleanup", [](Pool& p) { (void)p.remove_cleanup([](void*) {}, nullptr); }},
      {"run_cleanups", [](Pool& p) { p.run_cleanups(); }},
      {"set_user_data", [](Pool& p) { (void)p.set_user_data("k", nullptr); }},
      {"user_data", [](Pool& p) { (void)p.user_data("k"); }},
      {"set_capacity", [](Pool& p) { p.set_capacity(100); }},
      {"set_tag", [](Pool& p) { p.set_tag("t"); }},
      {"format", [](Pool& p) { (void)p.format("{}", 1); }},
      {"free", [](Pool& p) { (void)p.free(&p); }},
      {"reset", [](Pool& p) { p.reset(); }},
  };
  for (const auto& [name, call] : calls) {
    INFO(name);
    Pool pool;
    const auto out = mempool::test::run_in_child([&] {
      std::thread intruder([&] { call(pool); });
      intruder.join();
    });
    CHECK(WIFSIGNALED(out.status));
    CHECK(out.stderr_text.find("does not own it") != std::string::npos);
  }
}

// adopt_current_thread is how a pool legitimately changes hands.
TEST_CASE("a pool adopted by another thread may be used there") {
  Pool pool;
  std::thread worker([&pool] {
    pool.adopt_current_thread();
    CHECK(pool.alloc(8) != nullptr);
  });
  worker.join();
  pool.adopt_current_thread();
  CHECK(pool.alloc(8) != nullptr);
}
#endif

#if MEMPOOL_DEBUG_ALLOCATIONS
// NGX_DEBUG_PALLOC: each allocation its own heap allocation, so ASan sees every overrun.
TEST_CASE("in MEMPOOL_DEBUG builds every allocation is its own tracked heap allocation") {
  BlockAllocator blocks;
  Pool pool({.allocator = &blocks});
  void* a = pool.alloc(8);
  void* b = pool.alloc(8);
  CHECK(static_cast<char*>(b) != static_cast<char*>(a) + 8);
  CHECK(pool.stats().large_allocations == 2);
  CHECK(pool.stats().blocks == 0);
  CHECK(blocks.stats().bytes_in_use == 0);
  CHECK_FALSE(pool.free(a));  // small allocations still live until reset, as in release builds
  pool.reset();
  CHECK(pool.stats().large_allocations == 0);
}
#endif

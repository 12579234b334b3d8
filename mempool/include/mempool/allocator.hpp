/// \file
/// What every mempool allocator is, said once (STYLE lesson 2). Each allocator header ends with
/// `static_assert(mempool::Allocator<ThatAllocator>)`.
///
/// The uniform verbs are the standard library's: `allocate(n)` and `deallocate(p, n)`, plus a
/// `stats()` snapshot as a plain struct the server can expose. How `allocate` reports failure is
/// part of each allocator's contract and is stated in its header: every allocator returns nullptr
/// ([[nodiscard]]), except SmallObjectAllocator, which follows std::allocator and throws
/// std::bad_alloc after its out-of-memory handler gives up.
#pragma once

#include <concepts>
#include <cstddef>

namespace mempool {

template <class A>
concept Allocator = requires(A& a, const A& ca, void* p, std::size_t n) {
  { a.allocate(n) } -> std::same_as<void*>;
  { a.deallocate(p, n) } -> std::same_as<void>;
  { ca.stats() } -> std::semiregular;
};

}  // namespace mempool

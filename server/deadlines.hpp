/// \file
/// Deadlines: every connection's next deadline, kept in O(1) per change, with no timer object
/// per connection and no timer callback when a wait ends early. A connection waits for one
/// thing at a time and each kind of wait has one fixed timeout (header, body, idle, send), so
/// connections that start the same kind of wait expire in the order they started it: one FIFO
/// per kind, appended at the tail, expired from the head by the reactor's tick.
#pragma once

#include <time.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace mempool::server {

using Clock = std::chrono::steady_clock;

/// steady_clock's time from the kernel's coarse monotonic clock (the same epoch, a few ms
/// behind, no TSC read): deadlines are checked by a tick of at least 10 ms, so this is plenty,
/// and a request sets two or three of them.
inline Clock::time_point coarse_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

enum class Wait : std::uint8_t { header, body, idle, send, linger, none };

/// The links a node (a Connection) carries to be on one deadline list.
template <class Node>
struct DeadlineLinkOf {
  Node* prev = nullptr;
  Node* next = nullptr;
  Clock::time_point deadline{};
  Wait wait = Wait::none;  ///< the list it is on
};

class Connection;
using DeadlineLink = DeadlineLinkOf<Connection>;

/// Node must have a public member `DeadlineLinkOf<Node> deadline_link`.
template <class Node>
class DeadlineLists {
 public:
  /// Moves `node` to the tail of `wait`'s list, due at `deadline` (later than any on it).
  void set(Node& node, Wait wait, Clock::time_point deadline) noexcept {
    clear(node);
    auto& link = node.deadline_link;
    List& list = lists_[index(wait)];
    link.wait = wait;
    link.deadline = deadline;
    link.prev = list.tail;
    link.next = nullptr;
    (list.tail ? list.tail->deadline_link.next : list.head) = &node;
    list.tail = &node;
    ++list.size;
  }

  /// Takes `node` off its list, if any.
  void clear(Node& node) noexcept {
    auto& link = node.deadline_link;
    if (link.wait == Wait::none) return;
    List& list = lists_[index(link.wait)];
    (link.prev ? link.prev->deadline_link.next : list.head) = link.next;
    (link.next ? link.next->deadline_link.prev : list.tail) = link.prev;
    link = {};
    --list.size;
  }

  /// The first node of any list due at or before `now`, taken off its list; nullptr if none.
  Node* pop_expired(Clock::time_point now) noexcept {
    for (List& list : lists_) {
      if (list.head && list.head->deadline_link.deadline <= now) {
        Node* node = list.head;
        clear(*node);
        return node;
      }
    }
    return nullptr;
  }

  /// The first node on `wait`'s list, or nullptr.
  Node* first(Wait wait) const noexcept { return lists_[index(wait)].head; }
  std::size_t size(Wait wait) const noexcept { return lists_[index(wait)].size; }

 private:
  struct List {
    Node* head = nullptr;
    Node* tail = nullptr;
    std::size_t size = 0;
  };
  static std::size_t index(Wait wait) noexcept { return static_cast<std::size_t>(wait); }
  std::array<List, 5> lists_{};  // one per Wait but none
};

}  // namespace mempool::server

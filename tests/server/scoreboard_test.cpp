// The scoreboard across processes (master/worker mode): a worker killed in the middle of
// publish(), holding the shared arena's robust lock with half of a snapshot written, leaves the
// slot as it was before that publish; the next reader takes the lock over (owner_deaths), and
// publishing goes on.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scoreboard.hpp"

using namespace mempool;
using namespace mempool::server;

namespace {

http::ReactorSnapshot snapshot(unsigned reactor, std::uint64_t requests) {
  http::ReactorSnapshot s;
  s.reactor = reactor;
  s.server.requests = requests;
  s.server.accepts = requests;  // a second field, far from the first, written in the same copy
  s.open_files.entries = requests;
  return s;
}

void die() { ::raise(SIGKILL); }

/// Runs `body` in a child process; returns its wait status.
template <class Body>
int in_child(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST_CASE("seats and worker records are shared with processes forked after the scoreboard") {
  Scoreboard board(2, 4);
  const int status = in_child([&] {
    board.publish(3, snapshot(1, 42));
    board.set_worker(3, WorkerRecord{.pid = ::getpid(), .generation = 1, .restarts = 2,
                                     .state = WorkerRecord::State::running});
  });
  REQUIRE(WIFEXITED(status));
  CHECK(board.read(3, 1).server.requests == 42);
  CHECK(board.read(3, 1).published);
  CHECK(board.read(3, 0).server.requests == 0);
  CHECK(board.read(0, 1).server.requests == 0);
  const WorkerRecord w = board.worker(3);
  CHECK(w.generation == 1);
  CHECK(w.restarts == 2);
  CHECK(w.state == WorkerRecord::State::running);
  board.clear(3);
  CHECK(board.read(3, 1).server.requests == 0);
  CHECK_FALSE(board.read(3, 1).published);
}

TEST_CASE("a worker killed in the middle of publish() leaves the slot's last whole snapshot") {
  Scoreboard board(1, 2);
  board.publish(1, snapshot(0, 7));
  const int status = in_child([&] { board.publish(1, snapshot(0, 1000), die); });
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);

  const http::ReactorSnapshot after = board.read(1, 0);  // takes over the dead process's lock
  CHECK(after.server.requests == 7);
  CHECK(after.server.accepts == 7);
  CHECK(after.open_files.entries == 7);
  CHECK(board.arena_stats().owner_deaths == 1);
  CHECK(board.verify());

  // And it goes on: the next publish lands whole, in this process or another.
  board.publish(1, snapshot(0, 8));
  CHECK(board.read(1, 0).server.requests == 8);
  REQUIRE(WIFEXITED(in_child([&] { board.publish(1, snapshot(0, 9)); })));
  const http::ReactorSnapshot last = board.read(1, 0);
  CHECK(last.server.requests == 9);
  CHECK(last.open_files.entries == 9);
}

TEST_CASE("the death also leaves the worker records and the other seats as they were") {
  Scoreboard board(1, 2);
  board.publish(0, snapshot(0, 3));
  board.set_worker(0, WorkerRecord{.pid = 1, .generation = 0, .restarts = 5, .state = WorkerRecord::State::running});
  REQUIRE(WIFSIGNALED(in_child([&] { board.publish(1, snapshot(0, 1000), die); })));
  CHECK(board.worker(0).restarts == 5);
  CHECK(board.read(0, 0).server.requests == 3);
  CHECK(board.read(1, 0).server.requests == 0);
  CHECK(board.arena_stats().owner_deaths == 1);
}

/// \file
/// Runs a piece of a test in a forked child with its stderr captured: how checked-build aborts
/// (double frees, contract violations) are observed without killing the test process.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <csignal>
#include <string>

namespace mempool::test {

struct ChildOutcome {
  int status;
  std::string stderr_text;
};

/// Runs fn in a forked child with stderr captured; its exit status and what it wrote.
template <class Fn>
ChildOutcome run_in_child(Fn fn) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // Catch's handler would report the expected abort as a failure
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    fn();
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[256];
  for (ssize_t got; (got = read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(got));
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return {status, text};
}

}  // namespace mempool::test

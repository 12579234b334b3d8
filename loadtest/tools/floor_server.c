/* floor_server: the least an HTTP/1.1 server can do for GET /hello, as a contender in
 * `loadtest/run.sh` (the "floor" of DESIGN §6): what a request costs in system calls alone.
 *
 *   floor_server --port 8080 [--host 127.0.0.1]
 *
 * One thread, level-triggered epoll. For every complete request head in what one read(2)
 * returned (it counts "\r\n\r\n", carrying a partial match over to the next read), it owes one
 * canned "Hello, World!" response; all responses owed for one read leave in one write(2). No
 * parsing beyond the count, no body handling, no Date header, no allocation per connection or
 * request: the read buffer is one static array, a connection's state is two integers in a table
 * indexed by descriptor, sized from RLIMIT_NOFILE at start, and responses are written straight
 * out of a static run of canned copies. A write that does not take everything arms EPOLLOUT and
 * the rest follows when the socket drains. Keep-alive only: it closes when the client does.
 * Loopback load tests only: it answers anything with 200.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define EVENTS_PER_WAIT 256
#define LISTEN_TAG -1
#define READ_BUFFER_BYTES 65536
#define CANNED_COPIES 256 /* one write carries at most this many responses; more take a loop */

static const char response[] =
    "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
#define RESPONSE_BYTES (sizeof response - 1)

struct slot {       /* indexed by descriptor */
  uint64_t owed;    /* response bytes accepted for writing but not yet written */
  uint8_t matched;  /* how much of "\r\n\r\n" the last read ended with (0-3) */
  uint8_t open;
};

static struct slot *slots;
static size_t slot_count;
static int epoll_fd;
static char read_buffer[READ_BUFFER_BYTES];
static char canned[CANNED_COPIES * RESPONSE_BYTES]; /* CANNED_COPIES responses back to back */

/* Counts request heads in buf, resuming from *matched bytes of "\r\n\r\n" already seen. */
static uint64_t count_heads(const char *buf, size_t n, uint8_t *matched) {
  static const char end[4] = {'\r', '\n', '\r', '\n'};
  uint64_t heads = 0;
  uint8_t m = *matched;
  for (size_t i = 0; i < n; ++i) {
    if (buf[i] == end[m]) {
      if (++m == 4) {
        ++heads;
        m = 0;
      }
    } else {
      m = buf[i] == '\r' ? 1 : 0;
    }
  }
  *matched = m;
  return heads;
}

static void close_connection(int fd) {
  slots[fd].open = 0;
  close(fd);
}

static void watch(int fd, int op, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  epoll_ctl(epoll_fd, op, fd, &ev);
}

/* Writes what fd owes from the canned run. 0 when the connection is to be closed. */
static int flush(int fd) {
  struct slot *s = &slots[fd];
  while (s->owed > 0) {
    /* The stream is responses back to back: resume at the same offset within one response. */
    const size_t phase = (RESPONSE_BYTES - s->owed % RESPONSE_BYTES) % RESPONSE_BYTES;
    size_t chunk = sizeof canned - phase;
    if (chunk > s->owed) chunk = (size_t)s->owed;
    const ssize_t n = write(fd, canned + phase, chunk);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      watch(fd, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
      return 1;
    }
    if (n <= 0) return 0;
    s->owed -= (uint64_t)n;
  }
  return 1;
}

static void on_readable(int fd) {
  struct slot *s = &slots[fd];
  const ssize_t n = read(fd, read_buffer, sizeof read_buffer);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {
    close_connection(fd);
    return;
  }
  const uint64_t heads = count_heads(read_buffer, (size_t)n, &s->matched);
  if (heads == 0) return;
  const int was_waiting = s->owed > 0;  /* EPOLLOUT is armed: the rest goes when it fires */
  s->owed += heads * RESPONSE_BYTES;
  if (!was_waiting && !flush(fd)) close_connection(fd);
}

static void on_writable(int fd) {
  if (!flush(fd)) {
    close_connection(fd);
  } else if (slots[fd].owed == 0) {
    watch(fd, EPOLL_CTL_MOD, EPOLLIN);
  }
}

static void accept_all(int listener) {
  for (;;) {
    const int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if ((size_t)fd >= slot_count) { /* cannot happen below RLIMIT_NOFILE; never index past */
      close(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    slots[fd] = (struct slot){.open = 1};
    watch(fd, EPOLL_CTL_ADD, EPOLLIN);
  }
}

/* --- set-up --------------------------------------------------------------------------------- */

static int listen_on(const char *host, int port) {
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &address.sin_addr) != 1) return -1;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 4096) != 0) {
    perror("floor_server: listen");
    return -1;
  }
  return fd;
}

static int parse_options(int argc, char **argv, const char **host, int *port) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--host") == 0) {
      *host = argv[i + 1];
    } else if (strcmp(argv[i], "--port") == 0) {
      char *end = NULL;
      const long value = strtol(argv[i + 1], &end, 10);
      if (end == argv[i + 1] || *end != '\0' || value < 1 || value > 65535) return 0;
      *port = (int)value;
    } else {
      return 0;
    }
  }
  return argc % 2 == 1 && *port != 0;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0;
  if (!parse_options(argc, argv, &host, &port)) {
    fprintf(stderr, "usage: floor_server --port PORT [--host 127.0.0.1]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  for (size_t i = 0; i < CANNED_COPIES; ++i) memcpy(canned + i * RESPONSE_BYTES, response, RESPONSE_BYTES);
  struct rlimit limit;
  slot_count = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY ? limit.rlim_cur : 1 << 20;
  slots = calloc(slot_count, sizeof *slots);
  const int listener = listen_on(host, port);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (slots == NULL || listener < 0 || epoll_fd < 0) return 1;
  struct epoll_event listening = {.events = EPOLLIN, .data.fd = LISTEN_TAG};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &listening);
  struct epoll_event events[EVENTS_PER_WAIT];
  for (;;) {
    const int n = epoll_wait(epoll_fd, events, EVENTS_PER_WAIT, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == LISTEN_TAG) {
        accept_all(listener);
        continue;
      }
      if (!slots[fd].open) continue; /* closed earlier in this batch */
      if (events[i].events & EPOLLOUT) on_writable(fd);
      if (slots[fd].open && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(fd);
    }
  }
}

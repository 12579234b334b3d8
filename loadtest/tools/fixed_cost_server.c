/* fixed_cost_server: a tiny HTTP/1.1 server whose costs are known in advance, so the runner's
 * measurements can be checked against the right answer (`loadtest/run.sh check`).
 *
 *   fixed_cost_server --port 8080 [--host 127.0.0.1] [--bytes-per-connection 4096]
 *                     [--allocs-per-request 3] [--max-connections 20000]
 *
 * Per connection: exactly one malloc(bytes-per-connection), touched at once and used as the
 * read buffer, so an idle connection costs that block's glibc chunk (bytes + 8, rounded up to
 * 16) of user-space memory. The connection table is preallocated and touched at start-up.
 * Per request: exactly allocs-per-request allocations (malloc, calloc, posix_memalign in turn),
 * freed before the response. Every request gets "Hello, World!" (a body it sent is skipped);
 * "Connection: close" closes after the response. Single thread, epoll, loopback tests only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define EVENTS_PER_WAIT 256
#define LISTEN_TAG -1

static const char keep_alive_response[] =
    "HTTP/1.1 200 OK\r\nServer: fixed-cost\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
static const char closing_response[] =
    "HTTP/1.1 200 OK\r\nServer: fixed-cost\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    "Connection: close\r\n\r\nHello, World!";

struct options {
  const char *host;
  int port;
  long bytes_per_connection;
  long allocs_per_request;
  long max_connections;
};

struct slot {       /* indexed by file descriptor */
  char *buffer;     /* NULL: no connection on this descriptor */
  size_t filled;
};

static struct options opt = {"127.0.0.1", 0, 4096, 3, 20000};
static struct slot *slots;
static int epoll_fd;
static void *volatile sink;  /* keeps the per-request allocations from being optimised away */

static int parse_long(const char *text, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  const long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min || value > max) return 0;
  *out = value;
  return 1;
}

static int parse_options(int argc, char **argv) {
  long port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *flag = argv[i], *value = argv[i + 1];
    if (strcmp(flag, "--host") == 0) {
      opt.host = value;
    } else if (!((strcmp(flag, "--port") == 0 && parse_long(value, 1, 65535, &port)) ||
                 (strcmp(flag, "--bytes-per-connection") == 0 &&
                  parse_long(value, 1024, 1 << 20, &opt.bytes_per_connection)) ||
                 (strcmp(flag, "--allocs-per-request") == 0 && parse_long(value, 0, 1000, &opt.allocs_per_request)) ||
                 (strcmp(flag, "--max-connections") == 0 && parse_long(value, 1, 1000000, &opt.max_connections)))) {
      return 0;
    }
  }
  opt.port = (int)port;
  return argc % 2 == 1 && opt.port != 0;
}

/* --- the known costs ------------------------------------------------------------------------ */

static void allocate_per_request(void) {
  void *blocks[1000];
  for (long i = 0; i < opt.allocs_per_request; ++i) {
    switch (i % 3) {
      case 0: blocks[i] = malloc(64); break;
      case 1: blocks[i] = calloc(1, 64); break;
      default: blocks[i] = posix_memalign(&blocks[i], 64, 64) == 0 ? blocks[i] : NULL; break;
    }
    sink = blocks[i];
  }
  for (long i = 0; i < opt.allocs_per_request; ++i) free(blocks[i]);
}

static void open_connection(int fd) {
  if (fd >= opt.max_connections) {
    close(fd);
    return;
  }
  slots[fd].buffer = malloc((size_t)opt.bytes_per_connection);
  memset(slots[fd].buffer, 1, (size_t)opt.bytes_per_connection);  /* touch every page: it is RSS now */
  slots[fd].filled = 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

static void close_connection(int fd) {
  free(slots[fd].buffer);
  slots[fd].buffer = NULL;
  close(fd);
}

/* --- requests ------------------------------------------------------------------------------- */

/* Length of the first complete request in buf (head and Content-Length body), or 0. */
static size_t complete_request(const char *buf, size_t filled, int *close_after) {
  const char *end = memmem(buf, filled, "\r\n\r\n", 4);
  if (end == NULL) return 0;
  const size_t head = (size_t)(end - buf) + 4;
  long body = 0;
  *close_after = 0;
  for (const char *line = memmem(buf, head, "\r\n", 2); line != NULL && line + 2 < end;
       line = memmem(line + 2, head - (size_t)(line + 2 - buf), "\r\n", 2)) {
    if (strncasecmp(line + 2, "content-length:", 15) == 0) body = strtol(line + 17, NULL, 10);
    if (strncasecmp(line + 2, "connection: close", 17) == 0) *close_after = 1;
  }
  return head + (size_t)body <= filled ? head + (size_t)body : 0;
}

/* Answers every complete request in the buffer. Returns 0 when the connection is to be closed. */
static int answer_requests(int fd) {
  struct slot *s = &slots[fd];
  int close_after = 0;
  size_t length;
  while ((length = complete_request(s->buffer, s->filled, &close_after)) > 0) {
    allocate_per_request();
    const char *response = close_after ? closing_response : keep_alive_response;
    const size_t response_len = strlen(response);
    if (write(fd, response, response_len) != (ssize_t)response_len) return 0;
    memmove(s->buffer, s->buffer + length, s->filled - length);
    s->filled -= length;
    if (close_after) return 0;
  }
  return s->filled < (size_t)opt.bytes_per_connection;  /* a request larger than the buffer: close */
}

static void on_readable(int fd) {
  struct slot *s = &slots[fd];
  const ssize_t n = read(fd, s->buffer + s->filled, (size_t)opt.bytes_per_connection - s->filled);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {
    close_connection(fd);
    return;
  }
  s->filled += (size_t)n;
  if (!answer_requests(fd)) close_connection(fd);
}

static void accept_all(int listener) {
  for (;;) {
    const int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    open_connection(fd);
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
    perror("fixed_cost_server: listen");
    return -1;
  }
  return fd;
}

int main(int argc, char **argv) {
  if (!parse_options(argc, argv)) {
    fprintf(stderr,
            "usage: fixed_cost_server --port PORT [--host 127.0.0.1] [--bytes-per-connection 4096]\n"
            "                         [--allocs-per-request 3] [--max-connections 20000]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  slots = calloc((size_t)opt.max_connections, sizeof *slots);
  memset(slots, 0, (size_t)opt.max_connections * sizeof *slots);  /* touched now, not per connection */
  const int listener = listen_on(opt.host, opt.port);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (slots == NULL || listener < 0 || epoll_fd < 0) return 1;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = LISTEN_TAG};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &ev);
  struct epoll_event events[EVENTS_PER_WAIT];
  for (;;) {
    const int n = epoll_wait(epoll_fd, events, EVENTS_PER_WAIT, -1);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == LISTEN_TAG) {
        accept_all(listener);
      } else {
        on_readable(events[i].data.fd);
      }
    }
  }
}

/* idle_connections: opens N keep-alive connections to an HTTP server, sends one request on each,
 * reads each whole response, then holds every connection idle, so whoever started it can
 * measure what an idle connection costs the server.
 *
 *   idle_connections --port 8080 [--host 127.0.0.1] [--connections 10000] [--path /hello]
 *                    [--hold 120] [--setup-timeout 60] [--in-flight 128]
 *
 * Prints "ready N MS" (N connections idle, set up in MS milliseconds) once every response has
 * arrived, then holds until its standard input gives a line or ends, SIGINT/SIGTERM, or --hold
 * seconds pass. Then closes everything and prints "closed_by_server K" (connections the server
 * closed while they were idle) and "errors E". Exit 0 when all N got a 2xx response and the
 * server closed none; 1 otherwise; 2 for a bad command line or too few file descriptors.
 *
 * Raises its own RLIMIT_NOFILE soft limit as far as N needs (up to the hard limit).
 * Only one request per connection, so responses are small: Content-Length bodies only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 2048          /* a response head longer than this is an error */
#define SPARE_FDS 32           /* stdio, epoll and slack beside the connections */
#define STDIN_TAG UINT32_MAX   /* epoll tag of standard input */
#define EVENTS_PER_WAIT 256

struct options {
  const char *host;
  int port;
  long connections;
  const char *path;
  long hold_seconds;
  long setup_timeout_seconds;
  long in_flight;
};

enum conn_state { CONN_UNUSED, CONN_CONNECTING, CONN_READING, CONN_IDLE, CONN_CLOSED };

struct conn {
  int fd;
  enum conn_state state;
  size_t head_len;       /* bytes of the response head read so far, in head[] */
  int head_done;         /* the head is complete and checked */
  long body_left;        /* body bytes still due once head_done; below 0: more than announced */
  char head[HEAD_MAX];
};

struct run {
  struct options opt;
  struct conn *conns;
  int epoll_fd;
  struct sockaddr_in address;
  char request[512];
  size_t request_len;
  long started;          /* connections begun */
  long pending;          /* begun, response not yet complete */
  long idle;             /* response complete, held idle */
  long errors;
  long closed_by_server;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signal_number) {
  (void)signal_number;
  stop_requested = 1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* --- the command line ------------------------------------------------------------------------ */

static void usage(void) {
  fprintf(stderr,
          "usage: idle_connections --port PORT [--host 127.0.0.1] [--connections 10000] [--path /hello]\n"
          "                        [--hold SECONDS] [--setup-timeout SECONDS] [--in-flight K]\n");
}

static int parse_long(const char *text, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  const long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min || value > max) return 0;
  *out = value;
  return 1;
}

static int parse_options(int argc, char **argv, struct options *opt) {
  *opt = (struct options){"127.0.0.1", 0, 10000, "/hello", 120, 60, 128};
  for (int i = 1; i < argc; ++i) {
    const char *flag = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    long number = 0;
    if (value == NULL) return 0;
    if (strcmp(flag, "--host") == 0) {
      opt->host = value;
    } else if (strcmp(flag, "--path") == 0) {
      opt->path = value;
    } else if (strcmp(flag, "--port") == 0 && parse_long(value, 1, 65535, &number)) {
      opt->port = (int)number;
    } else if (strcmp(flag, "--connections") == 0 && parse_long(value, 1, 1000000, &number)) {
      opt->connections = number;
    } else if (strcmp(flag, "--hold") == 0 && parse_long(value, 0, 86400, &number)) {
      opt->hold_seconds = number;
    } else if (strcmp(flag, "--setup-timeout") == 0 && parse_long(value, 1, 3600, &number)) {
      opt->setup_timeout_seconds = number;
    } else if (strcmp(flag, "--in-flight") == 0 && parse_long(value, 1, 100000, &number)) {
      opt->in_flight = number;
    } else {
      return 0;
    }
    ++i;
  }
  return opt->port != 0;
}

/* --- set-up --------------------------------------------------------------------------------- */

static int raise_fd_limit(long connections) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  const rlim_t wanted = (rlim_t)connections + SPARE_FDS;
  if (limit.rlim_cur >= wanted) return 1;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < wanted) {
    fprintf(stderr, "idle_connections: %ld connections need %lu file descriptors; the hard limit is %lu\n",
            connections, (unsigned long)wanted, (unsigned long)limit.rlim_max);
    return 0;
  }
  limit.rlim_cur = wanted;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

static int prepare(struct run *run) {
  run->address.sin_family = AF_INET;
  run->address.sin_port = htons((uint16_t)run->opt.port);
  if (inet_pton(AF_INET, run->opt.host, &run->address.sin_addr) != 1) {
    fprintf(stderr, "idle_connections: --host must be an IPv4 address, got %s\n", run->opt.host);
    return 0;
  }
  const int n = snprintf(run->request, sizeof run->request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                         run->opt.path, run->opt.host, run->opt.port);
  if (n < 0 || (size_t)n >= sizeof run->request) return 0;
  run->request_len = (size_t)n;
  run->conns = calloc((size_t)run->opt.connections, sizeof(struct conn));
  run->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  return run->conns != NULL && run->epoll_fd >= 0;
}

static void watch(struct run *run, int fd, uint32_t tag, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.u32 = tag};
  if (epoll_ctl(run->epoll_fd, op, fd, &ev) != 0) perror("epoll_ctl");
}

static void fail_conn(struct run *run, struct conn *c) {
  if (c->state == CONN_CONNECTING || c->state == CONN_READING) --run->pending;
  close(c->fd);
  c->state = CONN_CLOSED;
  ++run->errors;
}

/* Begins connection number run->started: a non-blocking connect, watched for writability. */
static void start_conn(struct run *run) {
  const uint32_t index = (uint32_t)run->started++;
  struct conn *c = &run->conns[index];
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  c->state = CONN_CONNECTING;
  ++run->pending;
  if (c->fd < 0) {
    perror("socket");
    c->state = CONN_CLOSED;
    --run->pending;
    ++run->errors;
    return;
  }
  const int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (const struct sockaddr *)&run->address, sizeof run->address) != 0 && errno != EINPROGRESS) {
    fail_conn(run, c);
    return;
  }
  watch(run, c->fd, index, EPOLLOUT, EPOLL_CTL_ADD);
}

/* --- one response ----------------------------------------------------------------------------- */

/* The status code of a head "HTTP/1.1 200 ...", or 0. */
static int status_code(const char *head) {
  if (strncmp(head, "HTTP/1.", 7) != 0 || strlen(head) < 12) return 0;
  return atoi(head + 9);
}

/* The Content-Length of a complete, NUL-terminated head, or -1 when it has none. */
static long content_length(const char *head) {
  for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, "content-length:", 15) == 0) return strtol(line + 17, NULL, 10);
  }
  return -1;
}

/* Called once the head is complete in c->head: checks it and works out the body still due. */
static int finish_head(struct conn *c, size_t head_end) {
  const size_t extra = c->head_len - head_end;  /* body bytes that came with the head */
  c->head[head_end] = '\0';
  const int status = status_code(c->head);
  const long length = content_length(c->head);
  if (status < 200 || status > 299 || length < 0) {
    fprintf(stderr, "idle_connections: unusable response (status %d, content-length %ld)\n", status, length);
    return 0;
  }
  c->body_left = length - (long)extra;
  c->head_done = 1;
  return 1;
}

/* Reads what the socket has. Returns 1 while the response is fine so far, 0 on error. */
static int read_response(struct conn *c) {
  for (;;) {
    char scratch[4096];
    const int head_done = c->head_done;
    char *into = head_done ? scratch : c->head + c->head_len;
    const size_t room = head_done ? sizeof scratch : HEAD_MAX - 1 - c->head_len;
    if (room == 0) return 0;  /* head too long */
    const ssize_t n = read(c->fd, into, room);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0) return 0;  /* closed before the response was complete */
    if (head_done) {
      c->body_left -= n;
      continue;
    }
    c->head_len += (size_t)n;
    c->head[c->head_len] = '\0';
    const char *end = strstr(c->head, "\r\n\r\n");
    if (end != NULL && !finish_head(c, (size_t)(end - c->head) + 4)) return 0;
  }
}

static void on_conn_event(struct run *run, uint32_t index) {
  struct conn *c = &run->conns[index];
  if (c->state == CONN_CONNECTING) {
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0 || write(c->fd, run->request, run->request_len) != (ssize_t)run->request_len) {
      fail_conn(run, c);
      return;
    }
    c->state = CONN_READING;
    watch(run, c->fd, index, EPOLLIN, EPOLL_CTL_MOD);
  } else if (c->state == CONN_READING) {
    if (!read_response(c) || (c->head_done && c->body_left < 0)) {
      fail_conn(run, c);  /* an error, or more body than Content-Length said */
    } else if (c->head_done && c->body_left == 0) {
      c->state = CONN_IDLE;  /* still watched for EPOLLIN: data or EOF now means the server closed it */
      --run->pending;
      ++run->idle;
    }
  } else if (c->state == CONN_IDLE) {
    close(c->fd);
    c->state = CONN_CLOSED;
    --run->idle;
    ++run->closed_by_server;
  }
}

/* --- the two phases ------------------------------------------------------------------------- */

static int set_up_all(struct run *run) {
  const double deadline = now_ms() + (double)run->opt.setup_timeout_seconds * 1000.0;
  struct epoll_event events[EVENTS_PER_WAIT];
  while (!stop_requested && (run->started < run->opt.connections || run->pending > 0)) {
    while (run->started < run->opt.connections && run->pending < run->opt.in_flight) start_conn(run);
    if (now_ms() > deadline) {
      fprintf(stderr, "idle_connections: set-up timed out with %ld connections pending\n", run->pending);
      return 0;
    }
    const int n = epoll_wait(run->epoll_fd, events, EVENTS_PER_WAIT, 100);
    for (int i = 0; i < n; ++i) on_conn_event(run, events[i].data.u32);
  }
  return run->errors == 0 && run->idle == run->opt.connections;
}

/* Holds until stdin gives a line or ends, a stop signal, or the hold time is over. */
static void hold_all(struct run *run) {
  const double deadline = now_ms() + (double)run->opt.hold_seconds * 1000.0;
  struct epoll_event events[EVENTS_PER_WAIT];
  watch(run, STDIN_FILENO, STDIN_TAG, EPOLLIN, EPOLL_CTL_ADD);  /* fails harmlessly for /dev/null */
  while (!stop_requested && now_ms() < deadline) {
    const int n = epoll_wait(run->epoll_fd, events, EVENTS_PER_WAIT, 200);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u32 == STDIN_TAG) return;
      on_conn_event(run, events[i].data.u32);
    }
  }
}

static void close_all(struct run *run) {
  for (long i = 0; i < run->started; ++i) {
    if (run->conns[i].state != CONN_CLOSED) close(run->conns[i].fd);
  }
}

int main(int argc, char **argv) {
  struct run run = {0};
  if (!parse_options(argc, argv, &run.opt)) {
    usage();
    return 2;
  }
  if (!raise_fd_limit(run.opt.connections)) return 2;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_stop_signal);
  signal(SIGTERM, on_stop_signal);
  if (!prepare(&run)) return 2;

  const double began = now_ms();
  const int all_ready = set_up_all(&run);
  if (all_ready) {
    printf("ready %ld %.0f\n", run.idle, now_ms() - began);
    fflush(stdout);
    hold_all(&run);
  } else {
    fprintf(stderr, "idle_connections: %ld of %ld connections idle, %ld errors\n", run.idle, run.opt.connections,
            run.errors);
  }
  close_all(&run);
  printf("closed_by_server %ld\nerrors %ld\n", run.closed_by_server, run.errors);
  return all_ready && run.closed_by_server == 0 ? 0 : 1;
}

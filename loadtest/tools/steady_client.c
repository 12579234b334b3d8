/* steady_client: a normal client at a fixed rate, for `loadtest/run.sh attack`. While an attacker
 * holds thousands of connections, it asks what a user would see: do requests fail, how late are
 * the answers?
 *
 *   steady_client --port P [--host 127.0.0.1] [--path /hello] [--rate 100] [--seconds 30]
 *                 [--timeout-ms 5000] [--csv FILE]
 *
 * Open loop, like wrk2: request k is due at start + k / rate whatever happened to the others, and
 * its latency runs from that due time to the last byte of its answer, so a server that stalls is
 * charged for every request that waited (no coordinated omission). Requests alternate between two
 * kinds: "keep-alive" ones reuse an idle connection of a pool (a new one joins the pool when none
 * is idle) and "new" ones open a connection of their own and send `Connection: close`. A failure
 * is a connect error, a connection closed or reset before the whole answer, no whole answer within
 * --timeout-ms, a status other than 2xx, or an answer the client cannot frame. A kept-alive
 * connection the server closes while idle just leaves the pool; a request written on a reused
 * connection that the server closed at that moment (EOF before any byte of the answer) is sent
 * again once on a new connection, as HTTP clients do for idempotent requests (RFC 9112 §9.3.1),
 * and counted as a retry.
 *
 * At the end it prints one line, "STEADY_JSON {...}": requests due and sent, answered, failures by
 * kind, retries, latency percentiles in ms (answered requests), the same per kind, and the largest
 * lag between a request's due time and its first write (the client's own lateness). --csv writes
 * one line per request: index, kind, due ms, latency ms, outcome.
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
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 4096 /* open at once; past it a request fails as "client" */
#define BUFFER_BYTES 8192    /* an answer's head must fit */
#define EVENTS_PER_WAIT 256
#define MAX_WAIT_US 10000    /* timeouts are checked at least this often */

enum kind { KEEP_ALIVE, NEW, KINDS };
static const char *const kind_names[KINDS] = {"keepalive", "new"};

enum outcome { PENDING, OK, F_CONNECT, F_CLOSED, F_TIMEOUT, F_STATUS, F_MALFORMED, F_CLIENT, OUTCOMES };
static const char *const outcome_names[OUTCOMES] = {"pending", "ok",     "connect",   "closed",
                                                    "timeout", "status", "malformed", "client"};

enum state { FREE, CONNECTING, WRITING, READING, IDLE };

struct request {
  int64_t due_us;     /* from start */
  int64_t sent_us;    /* first write, -1 before */
  int64_t done_us;    /* answer complete or failure, -1 before */
  uint8_t kind;
  uint8_t outcome;
  uint8_t retried;
};

struct connection {
  int fd;
  enum state state;
  enum kind kind;
  long request;       /* index into requests, -1 when idle */
  int served;         /* answers received on this connection */
  size_t written;
  size_t filled;      /* bytes of the answer's head in buffer */
  long body_left;     /* -1: head not complete yet; -2: until EOF */
  int close_after;    /* the answer said Connection: close */
  char buffer[BUFFER_BYTES];
};

static struct {
  const char *host, *path, *csv;
  int port;
  long rate, seconds, timeout_ms;
} opt = {"127.0.0.1", "/hello", NULL, 0, 100, 30, 5000};

static struct connection *connections; /* MAX_CONNECTIONS of them, FREE when unused */
static struct request *requests;
static long request_count;
static int epoll_fd;
static struct sockaddr_in server_address;
static char request_keep_alive[512], request_close[512];
static size_t request_keep_alive_len, request_close_len;
static struct timespec start;
static long retries, idle_closed_by_server, connections_opened;
static int64_t max_send_lag_us;

static int64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)(t.tv_sec - start.tv_sec) * 1000000 + (t.tv_nsec - start.tv_nsec) / 1000;
}

/* --- connections ---------------------------------------------------------------------------- */

static struct connection *free_slot(void) {
  for (int i = 0; i < MAX_CONNECTIONS; ++i)
    if (connections[i].state == FREE) return &connections[i];
  return NULL;
}

static void release(struct connection *c) {
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->state = FREE;
  c->request = -1;
}

static void finish(struct connection *c, enum outcome outcome) {
  struct request *r = &requests[c->request];
  r->outcome = (uint8_t)outcome;
  r->done_us = now_us();
  c->request = -1;
}

static void arm(struct connection *c, uint32_t events) {
  struct epoll_event ev = {.events = events | EPOLLRDHUP, .data.ptr = c};
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void write_request(struct connection *c);

/* Starts request index on a new connection of the given kind. */
static void open_for(long index, enum kind kind) {
  struct connection *c = free_slot();
  if (c == NULL) {
    requests[index].outcome = F_CLIENT;
    requests[index].done_us = now_us();
    return;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    requests[index].outcome = F_CLIENT;
    requests[index].done_us = now_us();
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ++connections_opened;
  *c = (struct connection){.fd = fd, .state = CONNECTING, .kind = kind, .request = index, .body_left = -1};
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  if (connect(fd, (struct sockaddr *)&server_address, sizeof server_address) == 0) {
    write_request(c);
  } else if (errno != EINPROGRESS) {
    finish(c, F_CONNECT);
    release(c);
  }
}

static void start_request(long index) {
  const enum kind kind = requests[index].kind;
  if (kind == KEEP_ALIVE) {
    for (int i = 0; i < MAX_CONNECTIONS; ++i) {
      struct connection *c = &connections[i];
      if (c->state == IDLE) {
        c->request = index;
        c->written = c->filled = 0;
        c->body_left = -1;
        c->close_after = 0;
        write_request(c);
        return;
      }
    }
  }
  open_for(index, kind);
}

static void write_request(struct connection *c) {
  struct request *r = &requests[c->request];
  const char *text = c->kind == NEW ? request_close : request_keep_alive;
  const size_t len = c->kind == NEW ? request_close_len : request_keep_alive_len;
  if (r->sent_us < 0) {
    r->sent_us = now_us();
    if (r->sent_us - r->due_us > max_send_lag_us) max_send_lag_us = r->sent_us - r->due_us;
  }
  c->state = WRITING;
  while (c->written < len) {
    const ssize_t n = send(c->fd, text + c->written, len - c->written, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      arm(c, EPOLLOUT);
      return;
    }
    if (n <= 0) {
      finish(c, F_CLOSED);
      release(c);
      return;
    }
    c->written += (size_t)n;
  }
  c->state = READING;
  arm(c, EPOLLIN);
}

/* --- answers -------------------------------------------------------------------------------- */

/* Whether the header line starting at line (after its name and colon) lists token. */
static int line_has(const char *value, const char *token) {
  const char *end = strstr(value, "\r\n");
  const char *found = strcasestr(value, token);
  return found != NULL && (end == NULL || found < end);
}

/* Parses the head in c->buffer[0, head_len): status, Content-Length, Connection: close, and
 * sets body_left to what is still to come (-2: until EOF). */
static enum outcome parse_head(struct connection *c, size_t head_len) {
  int status = 0;
  if (sscanf(c->buffer, "HTTP/1.%*d %d", &status) != 1) return F_MALFORMED;
  long length = -1;
  for (char *line = strstr(c->buffer, "\r\n"); line != NULL && (size_t)(line - c->buffer) + 4 < head_len;
       line = strstr(line + 2, "\r\n")) {
    if (strncasecmp(line + 2, "content-length:", 15) == 0) length = strtol(line + 17, NULL, 10);
    if (strncasecmp(line + 2, "transfer-encoding:", 18) == 0) return F_MALFORMED; /* not for /hello */
    if (strncasecmp(line + 2, "connection:", 11) == 0 && line_has(line + 13, "close")) c->close_after = 1;
  }
  const long after_head = (long)(c->filled - head_len);
  if (length < 0) {  /* framed by the close */
    c->close_after = 1;
    c->body_left = -2;
  } else if (after_head > length) {
    return F_MALFORMED;  /* bytes past the answer: nothing else was asked for */
  } else {
    c->body_left = length - after_head;
  }
  return status >= 200 && status < 300 ? OK : F_STATUS;
}

/* A reused connection closed under a request before any answer: send it once more, anew. */
static int retry(struct connection *c) {
  struct request *r = &requests[c->request];
  if (c->served == 0 || c->filled != 0 || r->retried) return 0;
  const long index = c->request;
  r->retried = 1;
  ++retries;
  c->request = -1;
  release(c);
  open_for(index, (enum kind)r->kind);
  return 1;
}

static void on_readable(struct connection *c) {
  for (;;) {
    char scratch[16384];
    const int in_head = c->body_left == -1;
    char *into = in_head ? c->buffer + c->filled : scratch;
    const size_t room = in_head ? sizeof c->buffer - 1 - c->filled : sizeof scratch;
    const ssize_t n = recv(c->fd, into, room, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      if (c->body_left == -2) { /* an answer framed by the close: complete now */
        finish(c, OK);
      } else if (retry(c)) {
        return;                 /* c was released, and its slot may serve the retry already */
      } else {
        finish(c, F_CLOSED);
      }
      release(c);
      return;
    }
    enum outcome verdict = OK;
    if (in_head) {
      c->filled += (size_t)n;
      c->buffer[c->filled] = '\0';
      char *end = strstr(c->buffer, "\r\n\r\n");
      if (end == NULL) {
        if (c->filled == sizeof c->buffer - 1) verdict = F_MALFORMED;
        if (verdict == OK) continue;
      } else {
        verdict = parse_head(c, (size_t)(end - c->buffer) + 4);
      }
    } else if (c->body_left >= 0) {
      c->body_left -= n;
      if (c->body_left < 0) verdict = F_MALFORMED;
    }
    if (verdict != OK) {
      finish(c, verdict);
      release(c);
      return;
    }
    if (c->body_left == 0) {
      finish(c, OK);
      ++c->served;
      if (c->kind == NEW || c->close_after) {
        release(c);
      } else {
        c->state = IDLE;
        arm(c, EPOLLIN);
      }
      return;
    }
  }
}

static void on_event(struct connection *c, uint32_t events) {
  if (c->state == IDLE) { /* the server closed (or wrote to) an idle kept-alive connection */
    ++idle_closed_by_server;
    release(c);
    return;
  }
  if (c->state == CONNECTING) {
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0 || (events & (EPOLLERR | EPOLLHUP))) {
      finish(c, F_CONNECT);
      release(c);
      return;
    }
    c->written = 0;
    write_request(c);
    return;
  }
  if (c->state == WRITING) {
    write_request(c);
    return;
  }
  on_readable(c);
}

static void expire(int64_t now) {
  for (int i = 0; i < MAX_CONNECTIONS; ++i) {
    struct connection *c = &connections[i];
    if (c->state != FREE && c->state != IDLE && now - requests[c->request].due_us > opt.timeout_ms * 1000) {
      finish(c, F_TIMEOUT);
      release(c);
    }
  }
}

/* --- the report ----------------------------------------------------------------------------- */

static int compare_i64(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Latency percentiles in ms of answered requests of one kind (KINDS: all). */
static void print_latency(FILE *out, int kind) {
  int64_t *values = malloc(sizeof *values * (size_t)(request_count + 1));
  long n = 0;
  for (long i = 0; i < request_count; ++i)
    if (requests[i].outcome == OK && (kind == KINDS || requests[i].kind == kind))
      values[n++] = requests[i].done_us - requests[i].due_us;
  qsort(values, (size_t)n, sizeof *values, compare_i64);
  const double percentiles[] = {50, 90, 99, 99.9};
  const char *names[] = {"p50", "p90", "p99", "p999"};
  fprintf(out, "{\"answered\":%ld", n);
  for (int i = 0; i < 4; ++i) {
    const long at = n == 0 ? 0 : (long)((percentiles[i] / 100.0) * (double)(n - 1) + 0.5);
    fprintf(out, ",\"%s\":%.3f", names[i], n == 0 ? 0.0 : (double)values[at] / 1000.0);
  }
  fprintf(out, ",\"max\":%.3f}", n == 0 ? 0.0 : (double)values[n - 1] / 1000.0);
  free(values);
}

static void report(long due) {
  long count[OUTCOMES] = {0}, sent = 0;
  for (long i = 0; i < due; ++i) {
    ++count[requests[i].outcome];
    sent += requests[i].sent_us >= 0;
  }
  long failed = 0;
  for (int o = F_CONNECT; o < OUTCOMES; ++o) failed += count[o];
  printf("STEADY_JSON {\"rate\":%ld,\"seconds\":%ld,\"due\":%ld,\"sent\":%ld,\"answered\":%ld,\"failed\":%ld,"
         "\"failures\":{",
         opt.rate, opt.seconds, due, sent, count[OK], failed + count[PENDING]);
  for (int o = F_CONNECT; o < OUTCOMES; ++o) printf("\"%s\":%ld,", outcome_names[o], count[o]);
  printf("\"unfinished\":%ld},\"retries\":%ld,\"idle_closed_by_server\":%ld,\"connections_opened\":%ld,"
         "\"max_send_lag_ms\":%.3f,\"latency_ms\":",
         count[PENDING], retries, idle_closed_by_server, connections_opened, (double)max_send_lag_us / 1000.0);
  print_latency(stdout, KINDS);
  printf(",\"by_kind\":{");
  for (int k = 0; k < KINDS; ++k) {
    printf("%s\"%s\":", k ? "," : "", kind_names[k]);
    print_latency(stdout, k);
  }
  printf("}}\n");
  if (opt.csv != NULL) {
    FILE *f = fopen(opt.csv, "w");
    if (f == NULL) {
      perror("steady_client: --csv");
      return;
    }
    fprintf(f, "index,kind,due_ms,latency_ms,outcome\n");
    for (long i = 0; i < due; ++i) {
      const struct request *r = &requests[i];
      fprintf(f, "%ld,%s,%.3f,%.3f,%s\n", i, kind_names[r->kind], (double)r->due_us / 1000.0,
              r->done_us < 0 ? -1.0 : (double)(r->done_us - r->due_us) / 1000.0, outcome_names[r->outcome]);
    }
    fclose(f);
  }
}

/* --- set-up --------------------------------------------------------------------------------- */

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
    } else if (strcmp(flag, "--path") == 0) {
      opt.path = value;
    } else if (strcmp(flag, "--csv") == 0) {
      opt.csv = value;
    } else if (!((strcmp(flag, "--port") == 0 && parse_long(value, 1, 65535, &port)) ||
                 (strcmp(flag, "--rate") == 0 && parse_long(value, 1, 100000, &opt.rate)) ||
                 (strcmp(flag, "--seconds") == 0 && parse_long(value, 1, 86400, &opt.seconds)) ||
                 (strcmp(flag, "--timeout-ms") == 0 && parse_long(value, 1, 600000, &opt.timeout_ms)))) {
      return 0;
    }
  }
  opt.port = (int)port;
  return argc % 2 == 1 && opt.port != 0 && strlen(opt.path) < 200 && strlen(opt.host) < 200;
}

int main(int argc, char **argv) {
  if (!parse_options(argc, argv)) {
    fprintf(stderr, "usage: steady_client --port PORT [--host 127.0.0.1] [--path /hello] [--rate 100]\n"
                    "                     [--seconds 30] [--timeout-ms 5000] [--csv FILE]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  server_address = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
  if (inet_pton(AF_INET, opt.host, &server_address.sin_addr) != 1) {
    fprintf(stderr, "steady_client: --host must be an IPv4 address\n");
    return 2;
  }
  request_keep_alive_len = (size_t)snprintf(request_keep_alive, sizeof request_keep_alive,
                                            "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: steady_client\r\n\r\n",
                                            opt.path, opt.host, opt.port);
  request_close_len = (size_t)snprintf(request_close, sizeof request_close,
                                       "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: steady_client\r\n"
                                       "Connection: close\r\n\r\n",
                                       opt.path, opt.host, opt.port);
  request_count = opt.rate * opt.seconds;
  requests = calloc((size_t)request_count, sizeof *requests);
  connections = calloc(MAX_CONNECTIONS, sizeof *connections);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (requests == NULL || connections == NULL || epoll_fd < 0) return 1;
  for (long i = 0; i < request_count; ++i) {
    requests[i] = (struct request){.due_us = i * 1000000 / opt.rate, .sent_us = -1, .done_us = -1,
                                   .kind = (uint8_t)(i % 2 == 0 ? KEEP_ALIVE : NEW), .outcome = PENDING};
  }
  clock_gettime(CLOCK_MONOTONIC, &start);
  const int64_t end_us = opt.seconds * 1000000 + opt.timeout_ms * 1000;
  long next = 0;
  struct epoll_event events[EVENTS_PER_WAIT];
  for (;;) {
    int64_t now = now_us();
    while (next < request_count && requests[next].due_us <= now) start_request(next++);
    expire(now);
    int busy = 0;
    for (int i = 0; i < MAX_CONNECTIONS && !busy; ++i)
      busy = connections[i].state != FREE && connections[i].state != IDLE;
    if ((next == request_count && !busy) || now >= end_us) break;
    /* Wake for the next due request to the microsecond (epoll_wait's milliseconds would make
     * every request up to 1 ms late), and at least every 10 ms for the timeouts. */
    int64_t wait_us = (next < request_count ? requests[next].due_us : now + MAX_WAIT_US) - now;
    wait_us = wait_us < 0 ? 0 : wait_us > MAX_WAIT_US ? MAX_WAIT_US : wait_us;
    const struct timespec wait = {.tv_sec = 0, .tv_nsec = (long)wait_us * 1000};
    const int n = epoll_pwait2(epoll_fd, events, EVENTS_PER_WAIT, &wait, NULL);
    for (int i = 0; i < n; ++i) {
      struct connection *c = events[i].data.ptr;
      if (c->state != FREE) on_event(c, events[i].events);
    }
  }
  report(next);
  return 0;
}

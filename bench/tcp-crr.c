/* TCP connect-request-response-close for the data-plane benchmark.
 *
 *   tcp-crr server PORT
 *     Answers every connection's first read with a 41-byte HTTP/1.0 response and closes (the
 *     server closes first, so TIME_WAIT stays on the server side and client ports come back).
 *   tcp-crr client HOST PORT CONCURRENCY SECONDS
 *     Keeps CONCURRENCY connections going: connect, send a GET, read to EOF, close, again.
 *     Prints "CONNS ERRORS SECONDS P50_US P90_US P99_US": the connections completed within SECONDS,
 *     the failed ones (refused, reset, or unanswered 3 s after the end), and the latency
 *     percentiles (connect() to EOF) of all completed ones.
 * Single-threaded, epoll, non-blocking. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char REQ[] = "GET / HTTP/1.0\r\nHost: bench\r\n\r\n";
static const char RESP[] = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nRS\n";

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int server(int port) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) { perror("tcp-crr server"); return 1; }
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls };
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  struct epoll_event evs[256];
  char buf[2048];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r < 0 && errno == EAGAIN) continue;
      if (r > 0 && write(fd, RESP, sizeof RESP - 1) < 0) { /* peer gone: close below */ }
      close(fd);
    }
  }
}

struct conn { int fd; int state; double start; };

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int client(const char *host, int port, int conc, double seconds) {
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) { fprintf(stderr, "tcp-crr: bad host\n"); return 2; }
  int ep = epoll_create1(0);
  struct conn *cs = calloc(conc, sizeof *cs);
  size_t cap = 1 << 22, nlat = 0;
  double *lat = malloc(cap * sizeof *lat);
  long conns = 0, errors = 0;
  double t0 = now(), end = t0 + seconds;
  char buf[2048];
  for (int i = 0; i < conc; i++) cs[i].fd = -1;
  for (;;) {
    double t = now();
    int running = 0;
    for (int i = 0; i < conc; i++) {
      struct conn *c = &cs[i];
      if (c->fd >= 0) { running++; continue; }
      if (t >= end) continue;
      c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      c->start = t;
      c->state = 0;
      int r = connect(c->fd, (struct sockaddr *)&a, sizeof a);
      if (r < 0 && errno != EINPROGRESS) { errors++; close(c->fd); c->fd = -1; continue; }
      struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = i };
      epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
      running++;
    }
    if (!running) break;
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, 100);
    /* A connection that takes more than 3 s (a lost SYN) counts as an error. */
    if (n == 0 && now() > end + 3) {
      for (int i = 0; i < conc; i++) if (cs[i].fd >= 0) { close(cs[i].fd); cs[i].fd = -1; errors++; }
      break;
    }
    for (int k = 0; k < n; k++) {
      struct conn *c = &cs[evs[k].data.u32];
      int done = 0, failed = 0;
      if (c->state == 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || write(c->fd, REQ, sizeof REQ - 1) != (ssize_t)(sizeof REQ - 1)) failed = 1;
        else {
          c->state = 1;
          struct epoll_event ev = { .events = EPOLLIN, .data.u32 = evs[k].data.u32 };
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
      } else {
        ssize_t r;
        while ((r = read(c->fd, buf, sizeof buf)) > 0) {}
        if (r == 0) done = 1;
        else if (errno != EAGAIN) failed = 1;
      }
      if (done || failed) {
        close(c->fd);
        c->fd = -1;
        if (failed) errors++;
        else {
          double t1 = now();
          if (t1 <= end) conns++;
          if (nlat < cap) lat[nlat++] = t1 - c->start;
        }
      }
    }
  }
  qsort(lat, nlat, sizeof *lat, cmp);
  double p50 = nlat ? lat[nlat / 2] : 0, p90 = nlat ? lat[nlat * 9 / 10] : 0, p99 = nlat ? lat[nlat * 99 / 100] : 0;
  printf("%ld %ld %.6f %.1f %.1f %.1f\n", conns, errors, seconds, p50 * 1e6, p90 * 1e6, p99 * 1e6);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "server")) return server(atoi(argv[2]));
  if (argc == 6 && !strcmp(argv[1], "client")) return client(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
  fprintf(stderr, "usage: tcp-crr server PORT | tcp-crr client HOST PORT CONCURRENCY SECONDS\n");
  return 2;
}

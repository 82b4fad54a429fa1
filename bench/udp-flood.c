/* UDP flood generator for the data-plane benchmarks: FLOWS sockets (one source port each) send
 * 18-byte datagrams (60-byte frames) to HOST:PORT with sendmmsg for SECONDS, at RATE packets per
 * second (0 or absent: flat out), then print "SENT ELAPSED_SECONDS". With SPORT_BASE the source
 * ports are SPORT_BASE .. SPORT_BASE+FLOWS-1, so consecutive runs continue the same flows (a
 * director sees established flows, not new ones); without it they are ephemeral.
 * Pacing: batches of BATCH datagrams, each batch waits until sent/RATE seconds have passed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static double since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 5 || argc > 7) {
    fprintf(stderr, "usage: udp-flood HOST PORT FLOWS SECONDS [RATE [SPORT_BASE]]\n");
    return 2;
  }
  int flows = atoi(argv[3]);
  double seconds = atof(argv[4]);
  double rate = argc >= 6 ? atof(argv[5]) : 0;
  int sport = argc == 7 ? atoi(argv[6]) : 0;
  if (sport < 0 || sport + flows > 65536) { fprintf(stderr, "udp-flood: bad source ports\n"); return 2; }
  if (flows < 1 || seconds <= 0 || rate < 0) { fprintf(stderr, "udp-flood: bad arguments\n"); return 2; }
  struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) { fprintf(stderr, "udp-flood: bad host\n"); return 2; }
  int *fds = calloc(flows, sizeof(int));
  for (int i = 0; i < flows; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(sport + i) };
    if (fds[i] < 0 || (sport && bind(fds[i], (struct sockaddr *)&src, sizeof src) < 0) || connect(fds[i], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("udp-flood"); return 1; }
  }
  char payload[18] = "tslvs-dataplane-bn";
  struct iovec iov = { payload, sizeof payload };
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) { msgs[i].msg_hdr.msg_iov = &iov; msgs[i].msg_hdr.msg_iovlen = 1; }
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long sent = 0;
  double elapsed = 0;
  for (long k = 0;; k++) {
    if (rate > 0) {
      /* Wait (spinning: sleeps are too coarse at these rates) until this batch is due. */
      double due = sent / rate;
      while ((elapsed = since(&t0)) < due) {}
      if (elapsed >= seconds) break;
    }
    int n = sendmmsg(fds[k % flows], msgs, BATCH, 0);
    if (n > 0) sent += n;
    if (rate > 0 || (k & 31) == 0) {
      elapsed = since(&t0);
      if (elapsed >= seconds) break;
    }
  }
  printf("%ld %.6f\n", sent, since(&t0));
  return 0;
}

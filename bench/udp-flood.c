/* UDP flood generator for bench/fastpath-udp.ts: FLOWS sockets (one source port each) send
 * 18-byte datagrams to HOST:PORT with sendmmsg for SECONDS, then print the number sent. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: udp-flood HOST PORT FLOWS SECONDS\n"); return 2; }
  int flows = atoi(argv[3]);
  double seconds = atof(argv[4]);
  struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
  inet_pton(AF_INET, argv[1], &dst.sin_addr);
  int *fds = calloc(flows, sizeof(int));
  for (int i = 0; i < flows; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
    if (connect(fds[i], (struct sockaddr *)&dst, sizeof dst) < 0) { perror("connect"); return 1; }
  }
  char payload[18] = "tslvs-fastpath-bnc";
  struct iovec iov = { payload, sizeof payload };
  struct mmsghdr msgs[64];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < 64; i++) { msgs[i].msg_hdr.msg_iov = &iov; msgs[i].msg_hdr.msg_iovlen = 1; }
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long sent = 0;
  for (int k = 0;; k++) {
    int n = sendmmsg(fds[k % flows], msgs, 64, 0);
    if (n > 0) sent += n;
    if ((k & 63) == 0) {
      clock_gettime(CLOCK_MONOTONIC, &t);
      if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) break;
    }
  }
  printf("%ld\n", sent);
  return 0;
}

/* Raw-frame UDP flood for the data-plane benchmark: FLOWS prebuilt 60-byte Ethernet/IPv4/UDP
 * frames (source ports SPORT_BASE.., full IPv4 and UDP checksums) sent on IFNAME through an
 * AF_PACKET socket (PACKET_QDISC_BYPASS, sendmmsg of BATCH frames, flows round-robin) for SECONDS
 * at RATE frames per second (0: flat out). Prints "OFFERED ELAPSED_SECONDS REFUSED": every frame
 * handed to the kernel counts as offered, including those it refused at once (REFUSED).
 *
 *   raw-flood IFNAME SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT FLOWS SPORT_BASE SECONDS RATE
 *
 * Without the host's UDP/IP stack per packet it offers more than a socket generator, and its
 * frames carry full checksums (never CHECKSUM_PARTIAL), as frames from a NIC do. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define FRAME 60

static double since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int parse_mac(const char *s, uint8_t *m) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6;
}

static uint32_t sum16(const uint8_t *p, int len, uint32_t sum) {
  for (int i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len & 1) sum += p[len - 1] << 8;
  return sum;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

int main(int argc, char **argv) {
  if (argc != 11) {
    fprintf(stderr, "usage: raw-flood IFNAME SRC_MAC DST_MAC SRC_IP DST_IP DST_PORT FLOWS SPORT_BASE SECONDS RATE\n");
    return 2;
  }
  uint8_t smac[6], dmac[6];
  struct in_addr sip, dip;
  int dport = atoi(argv[6]), flows = atoi(argv[7]), sport = atoi(argv[8]);
  double seconds = atof(argv[9]), rate = atof(argv[10]);
  if (!parse_mac(argv[2], smac) || !parse_mac(argv[3], dmac) || inet_pton(AF_INET, argv[4], &sip) != 1 ||
      inet_pton(AF_INET, argv[5], &dip) != 1 || flows < 1 || sport < 1 || sport + flows > 65536 ||
      seconds <= 0 || rate < 0) {
    fprintf(stderr, "raw-flood: bad arguments\n");
    return 2;
  }
  int ifindex = if_nametoindex(argv[1]);
  if (!ifindex) { perror("raw-flood: interface"); return 1; }
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) { perror("raw-flood: socket"); return 1; }
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  /* Frames stay charged to the socket until the receiver frees them: with the default send
   * buffer (~300 frames) a slow director would pace the generator. An open-loop generator must
   * not wait, so the buffer is far larger than any queue on the way. */
  int sndbuf = 256 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0) perror("raw-flood: SO_SNDBUFFORCE");
  struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
  memcpy(ll.sll_addr, dmac, 6);

  uint8_t *frames = calloc(flows, FRAME);
  for (int f = 0; f < flows; f++) {
    uint8_t *p = frames + f * FRAME;
    memcpy(p, dmac, 6);
    memcpy(p + 6, smac, 6);
    p[12] = 0x08; p[13] = 0x00;
    uint8_t *ip = p + 14;
    ip[0] = 0x45; ip[2] = 0; ip[3] = 46; /* 20 + 8 + 18 */
    ip[4] = f >> 8; ip[5] = f & 0xff; ip[6] = 0x40; /* DF */
    ip[8] = 64; ip[9] = 17;
    memcpy(ip + 12, &sip, 4);
    memcpy(ip + 16, &dip, 4);
    uint16_t c = fold(sum16(ip, 20, 0));
    ip[10] = c >> 8; ip[11] = c & 0xff;
    uint8_t *udp = ip + 20;
    int sp = sport + f;
    udp[0] = sp >> 8; udp[1] = sp & 0xff; udp[2] = dport >> 8; udp[3] = dport & 0xff;
    udp[4] = 0; udp[5] = 26;
    memcpy(udp + 8, "tslvs-dataplane-bn", 18);
    uint32_t ps = sum16(ip + 12, 8, 0) + 17 + 26;
    c = fold(sum16(udp, 26, ps));
    if (c == 0) c = 0xffff;
    udp[6] = c >> 8; udp[7] = c & 0xff;
  }

  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    msgs[i].msg_hdr.msg_name = &ll;
    msgs[i].msg_hdr.msg_namelen = sizeof ll;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    iov[i].iov_len = FRAME;
  }
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long sent = 0, refused = 0;
  int next = 0;
  double elapsed = 0;
  for (long k = 0;; k++) {
    if (rate > 0) {
      double due = sent / rate;
      while ((elapsed = since(&t0)) < due) {}
      if (elapsed >= seconds) break;
    }
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = frames + next * FRAME;
      if (++next == flows) next = 0;
    }
    /* A frame the kernel refuses (the veth peer's queue or backlog full: the director's drop)
     * was offered all the same; it is skipped, never sent again. */
    for (int off = 0; off < BATCH;) {
      int n = sendmmsg(fd, msgs + off, BATCH - off, 0);
      if (n < 0) n = 0;
      off += n;
      if (off < BATCH) { refused++; off++; }
    }
    sent += BATCH;
    if (rate > 0 || (k & 31) == 0) {
      elapsed = since(&t0);
      if (elapsed >= seconds) break;
    }
  }
  printf("%ld %.6f %ld\n", sent, since(&t0), refused);
  return 0;
}

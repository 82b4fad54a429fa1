/* CPU left over, for the data-plane benchmark's cost-per-packet figure: spins for SECONDS and
 * prints the loop iterations it completed per second. Run at SCHED_IDLE on the director's CPU
 * (`chrt --idle 0 taskset -c 1 cpu-soak S`), it only gets what the director's kernel receive work,
 * interrupts and processes leave, so the drop of its rate under traffic, against its rate with the
 * director idle, is the share of the CPU the traffic costs. Unlike /proc/stat's tick sampling this
 * counts softirq and interrupt time too (the kernel here has no IRQ time accounting).
 *
 *   cpu-soak SECONDS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  double seconds = argc == 2 ? atof(argv[1]) : 0;
  if (seconds <= 0) {
    fprintf(stderr, "usage: cpu-soak SECONDS\n");
    return 2;
  }
  volatile uint64_t n = 0;
  double t0 = now(), t;
  do {
    for (int i = 0; i < 4096; i++) n++;
  } while ((t = now()) - t0 < seconds);
  printf("%.0f\n", n / (t - t0));
  return 0;
}

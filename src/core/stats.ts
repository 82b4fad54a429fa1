/**
 * Counters kept for each real server, each virtual service and in total (kernel `ip_vs_stats`).
 * Plain numbers: exact to 2^53, which is far beyond any counter a director reaches.
 * Zeroing (`-Z`) records a baseline; the listed value is current - baseline, as the kernel does.
 */
export class Counters {
  conns = 0;
  inPkts = 0;
  outPkts = 0;
  inBytes = 0;
  outBytes = 0;
}

export const COUNTER_FIELDS = ["conns", "inPkts", "outPkts", "inBytes", "outBytes"] as const;
export type CounterField = (typeof COUNTER_FIELDS)[number];

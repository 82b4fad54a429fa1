import type { Counters } from "./stats.js";

/** The kernel samples every stats object every 2 seconds. */
export const ESTIMATOR_PERIOD = 2;
/** At most this many missed periods are replayed; after 64 steps of W = 1/4 the old average is gone. */
const MAX_CATCH_UP = 64;

/** Rates as ipvsadm --rate shows them: per second, bytes (not bits) for the bps fields. */
export interface Rates {
  cps: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

/**
 * The kernel's rate estimator (ip_vs_est.c): every 2 s the increase Δ of each counter becomes a
 * sample (Δ·2^9 for conns and packets = Δ/2 per second scaled by 2^10; Δ·2^4 for bytes, scaled by
 * 2^5) and each average moves a quarter of the way to it, rounding down (avg += (sample − avg) >> 2).
 * Reported rates round half up: (avg + 511) >> 10 and (avg + 15) >> 5.
 *
 * Pure: the caller passes the time (seconds) or calls `sample()` itself every 2 s. Arithmetic is
 * on doubles, exact while Δ·512 stays below 2^53 (Δ < 1.7·10^13 per period).
 */
export class RateEstimator {
  private lastConns = 0;
  private lastInPkts = 0;
  private lastOutPkts = 0;
  private lastInBytes = 0;
  private lastOutBytes = 0;
  /** Scaled averages, as the kernel keeps them (cps/pps ×2^10, bps ×2^5). */
  private cpsAvg = 0;
  private inPpsAvg = 0;
  private outPpsAvg = 0;
  private inBpsAvg = 0;
  private outBpsAvg = 0;
  private nextSample = Number.NaN;

  /** `start`: the counters' values when estimation begins (zeros for a new object, as kzalloc). */
  constructor(start?: Counters) {
    if (start) this.rebase(start);
  }

  /** One 2-second period ended with these cumulative counters. */
  sample(c: Counters): void {
    this.step(
      c.conns - this.lastConns,
      c.inPkts - this.lastInPkts,
      c.outPkts - this.lastOutPkts,
      c.inBytes - this.lastInBytes,
      c.outBytes - this.lastOutBytes,
    );
    this.rebase(c);
  }

  /**
   * Sample on the 2-second grid that starts at the first call: returns how many periods were
   * applied (0 if the next boundary is still ahead). When k > 1 periods ended since the last
   * sample, their total increase is spread evenly over them (integer parts, remainder in the last)
   * and the average steps k times, as if the rate had been steady: one sample of the whole increase
   * would claim k times the real rate, and k − 1 empty samples would claim a pause. At most 64
   * periods are replayed; the grid then jumps to `now`.
   */
  maybeSample(now: number, c: Counters): number {
    if (Number.isNaN(this.nextSample)) {
      this.nextSample = now + ESTIMATOR_PERIOD;
      return 0;
    }
    if (now < this.nextSample) return 0;
    const k = Math.floor((now - this.nextSample) / ESTIMATOR_PERIOD) + 1;
    this.nextSample += k * ESTIMATOR_PERIOD;
    if (k === 1) {
      this.sample(c);
      return 1;
    }
    const steps = Math.min(k, MAX_CATCH_UP);
    const d = [
      c.conns - this.lastConns,
      c.inPkts - this.lastInPkts,
      c.outPkts - this.lastOutPkts,
      c.inBytes - this.lastInBytes,
      c.outBytes - this.lastOutBytes,
    ];
    const share = d.map((x) => Math.floor(x / k));
    // The periods beyond the replayed ones had their share too; the last step takes the rest.
    for (let i = 0; i < steps - 1; i++) this.step(share[0]!, share[1]!, share[2]!, share[3]!, share[4]!);
    const rest = d.map((x, i) => x - share[i]! * (k - 1));
    this.step(rest[0]!, rest[1]!, rest[2]!, rest[3]!, rest[4]!);
    this.rebase(c);
    return steps;
  }

  /** Zeroing (ipvsadm -Z): the averages restart from 0 and Δ is counted from these counters. */
  reset(c: Counters): void {
    this.cpsAvg = 0;
    this.inPpsAvg = 0;
    this.outPpsAvg = 0;
    this.inBpsAvg = 0;
    this.outBpsAvg = 0;
    this.rebase(c);
  }

  /** The decoded rates (kernel ip_vs_read_estimator). */
  rates(out: Rates = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 }): Rates {
    out.cps = Math.floor((this.cpsAvg + 0x1ff) / 1024);
    out.inPps = Math.floor((this.inPpsAvg + 0x1ff) / 1024);
    out.outPps = Math.floor((this.outPpsAvg + 0x1ff) / 1024);
    out.inBps = Math.floor((this.inBpsAvg + 0xf) / 32);
    out.outBps = Math.floor((this.outBpsAvg + 0xf) / 32);
    return out;
  }

  get cps(): number {
    return Math.floor((this.cpsAvg + 0x1ff) / 1024);
  }

  get inPps(): number {
    return Math.floor((this.inPpsAvg + 0x1ff) / 1024);
  }

  get outPps(): number {
    return Math.floor((this.outPpsAvg + 0x1ff) / 1024);
  }

  get inBps(): number {
    return Math.floor((this.inBpsAvg + 0xf) / 32);
  }

  get outBps(): number {
    return Math.floor((this.outBpsAvg + 0xf) / 32);
  }

  private step(dConns: number, dInPkts: number, dOutPkts: number, dInBytes: number, dOutBytes: number): void {
    this.cpsAvg = ewma(this.cpsAvg, dConns * 512);
    this.inPpsAvg = ewma(this.inPpsAvg, dInPkts * 512);
    this.outPpsAvg = ewma(this.outPpsAvg, dOutPkts * 512);
    this.inBpsAvg = ewma(this.inBpsAvg, dInBytes * 16);
    this.outBpsAvg = ewma(this.outBpsAvg, dOutBytes * 16);
  }

  private rebase(c: Counters): void {
    this.lastConns = c.conns;
    this.lastInPkts = c.inPkts;
    this.lastOutPkts = c.outPkts;
    this.lastInBytes = c.inBytes;
    this.lastOutBytes = c.outBytes;
  }
}

/** avg += (sample − avg) >> 2, an arithmetic shift: floor division by 4. */
function ewma(avg: number, sample: number): number {
  return avg + Math.floor((sample - avg) / 4);
}

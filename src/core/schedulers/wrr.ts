import { DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { Scheduler, SchedulerDryRun, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";

const HEAD = -1;
const NO_STOP = -2;

/**
 * Weighted round robin (ip_vs_wrr.c): passes over the list with a falling weight threshold cw
 * (mw, mw−di, … down to 1); each pass takes, in list order, the dests with weight ≥ cw.
 */
class WeightedRoundRobin implements Scheduler {
  readonly name = "wrr";
  /** Current list position (kernel `mark->cl`), HEAD = before the first dest. */
  private cl = HEAD;
  /** Current weight threshold, max weight − (di − 1), and the step (gcd of weights > 0). */
  private cw: number;
  private mw: number;
  private di: number;

  constructor(svc: VirtualService) {
    this.di = gcdWeight(svc.dests);
    this.mw = maxWeight(svc.dests) - (this.di - 1);
    this.cw = this.mw;
  }

  schedule(svc: VirtualService): Dest | null {
    const list = svc.dests;
    const n = list.length;
    if (this.mw === 0) return null;
    if (this.cl >= n) this.cl = HEAD;
    const last = this.cl;
    let pos = this.cl;
    let lastPass = false;
    let restarted = false;
    let stop = NO_STOP;
    for (;;) {
      for (let p = pos + 1; p < n; p++) {
        const d = list[p]!;
        if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight >= this.cw) {
          this.cl = p;
          return d;
        }
        if (p === stop) {
          this.cl = p;
          return null; // all overloaded
        }
      }
      pos = HEAD;
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        // A full pass at cw = 1 already happened (or started from the head): nothing is usable.
        if (lastPass || last === HEAD) {
          this.cl = HEAD;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      // The first pass at weight >= 1 covered only the dests after `last`: finish at `last`.
      if (lastPass && restarted && last !== HEAD) stop = last;
    }
  }

  /** The next pick from the current (position, threshold); both are put back, so nothing moves. */
  dryRun(svc: VirtualService): SchedulerDryRun {
    const cl = this.cl;
    const cw = this.cw;
    const dest = this.schedule(svc);
    this.cl = cl;
    this.cw = cw;
    return {
      dest,
      notes: [
        `current weight threshold ${cw} (max ${this.mw}, step ${this.di}), list position ${cl < 0 ? "head" : cl}`,
      ],
    };
  }

  addDest(svc: VirtualService): void {
    this.destsChanged(svc);
  }

  delDest(svc: VirtualService): void {
    this.destsChanged(svc);
  }

  updDest(svc: VirtualService): void {
    this.destsChanged(svc);
  }

  /** Kernel ip_vs_wrr_dest_changed: back to the head, recompute di/mw, keep cw on the new grid. */
  private destsChanged(svc: VirtualService): void {
    this.cl = HEAD;
    this.di = gcdWeight(svc.dests);
    this.mw = maxWeight(svc.dests) - (this.di - 1);
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

function gcdWeight(dests: readonly Dest[]): number {
  let g = 0;
  for (const d of dests) {
    const w = d.weight;
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g > 0 ? g : 1;
}

function maxWeight(dests: readonly Dest[]): number {
  let m = 0;
  for (const d of dests) if (d.weight > m) m = d.weight;
  return m;
}

export const wrr: SchedulerModule = {
  name: "wrr",
  create: (svc) => new WeightedRoundRobin(svc),
};
export default wrr;

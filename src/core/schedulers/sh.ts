import { DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { FlowPacket } from "../flow.js";
import type { Scheduler, SchedulerModule } from "../scheduler.js";
import { SVC_F_SCHED1, SVC_F_SCHED2, type VirtualService } from "../service.js";
import { foldAddr, hash32, hasPorts } from "./hash.js";

/** `sh-fallback`: probe other buckets when the hashed dest is unusable. */
export const SVC_F_SH_FALLBACK = SVC_F_SCHED1;
/** `sh-port`: hash the source port too (TCP, UDP, SCTP). */
export const SVC_F_SH_PORT = SVC_F_SCHED2;

const SH_TAB_BITS = 8;
const SH_TAB_SIZE = 1 << SH_TAB_BITS;
const SH_TAB_MASK = SH_TAB_SIZE - 1;

/**
 * Source hashing (ip_vs_sh.c): 256 buckets, each dest in list order taking `weight` consecutive
 * buckets (weight 0: one), cycling until all are filled; the client's source address (plus its
 * port with sh-port) picks the bucket. A dest with weight 0 or OVERLOAD is unusable: null, or with
 * sh-fallback the first usable dest on the probe sequence (2h + k) mod 256, stopping at an empty bucket.
 */
class SourceHashing implements Scheduler {
  readonly name = "sh";
  private readonly buckets: (Dest | null)[] = new Array<Dest | null>(SH_TAB_SIZE).fill(null);

  constructor(svc: VirtualService) {
    this.reassign(svc);
  }

  schedule(svc: VirtualService, pkt: FlowPacket): Dest | null {
    const port = (svc.flags & SVC_F_SH_PORT) !== 0 && hasPorts(pkt.protocol) ? pkt.sport : 0;
    const key = (port + foldAddr(svc.family, pkt.saddr)) >>> 0;
    const ihash = hash32(key, SH_TAB_BITS);
    const d = this.buckets[ihash]!;
    if ((svc.flags & SVC_F_SH_FALLBACK) === 0) return d === null || unusable(d) ? null : d;
    if (d === null) return null;
    if (!unusable(d)) return d;
    for (let offset = 0; offset < SH_TAB_SIZE; offset++) {
      // Kernel: roffset = (offset + ihash) mod size, then bucket = (roffset + hash) & mask.
      const roffset = (offset + ihash) % SH_TAB_SIZE;
      const c = this.buckets[(roffset + ihash) & SH_TAB_MASK]!;
      if (c === null) break;
      if (!unusable(c)) return c;
    }
    return null;
  }

  addDest(svc: VirtualService): void {
    this.reassign(svc);
  }

  delDest(svc: VirtualService): void {
    this.reassign(svc);
  }

  updDest(svc: VirtualService): void {
    this.reassign(svc);
  }

  getBucket(i: number): Dest | null {
    return this.buckets[i] ?? null;
  }

  private reassign(svc: VirtualService): void {
    const list = svc.dests;
    if (list.length === 0) {
      this.buckets.fill(null);
      return;
    }
    let p = 0;
    let count = 0;
    for (let i = 0; i < SH_TAB_SIZE; i++) {
      const d = list[p]!;
      this.buckets[i] = d;
      // Stay on a dest until it has `weight` buckets (a weight-0 dest still gets one).
      if (++count >= d.weight) {
        p = (p + 1) % list.length;
        count = 0;
      }
    }
  }
}

function unusable(d: Dest): boolean {
  return d.weight <= 0 || (d.flags & DEST_F_OVERLOAD) !== 0;
}

export const sh: SchedulerModule = { name: "sh", create: (svc) => new SourceHashing(svc) };
export default sh;

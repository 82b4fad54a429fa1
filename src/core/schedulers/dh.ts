import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { FlowPacket } from "../flow.js";
import type { Scheduler, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";
import { foldAddr, hash32 } from "./hash.js";

const DH_TAB_BITS = 8;
const DH_TAB_SIZE = 1 << DH_TAB_BITS;

/**
 * Destination hashing (ip_vs_dh.c): 256 buckets filled round-robin with the dests in list order
 * (weights unused); the packet's destination address picks the bucket. The bucket's dest is used
 * only if AVAILABLE, weight > 0 and not OVERLOAD, with no fallback.
 */
class DestinationHashing implements Scheduler {
  readonly name = "dh";
  private readonly buckets: (Dest | null)[] = new Array<Dest | null>(DH_TAB_SIZE).fill(null);

  constructor(svc: VirtualService) {
    this.reassign(svc);
  }

  schedule(svc: VirtualService, pkt: FlowPacket): Dest | null {
    const d = this.buckets[hash32(foldAddr(svc.family, pkt.daddr), DH_TAB_BITS)]!;
    if (d === null) return null;
    const f = d.flags;
    if ((f & DEST_F_AVAILABLE) === 0 || d.weight <= 0 || (f & DEST_F_OVERLOAD) !== 0) return null;
    return d;
  }

  addDest(svc: VirtualService): void {
    this.reassign(svc);
  }

  delDest(svc: VirtualService): void {
    this.reassign(svc);
  }

  /** Bucket i ← the (i mod n)-th dest; weight edits do not rebuild (the kernel has no upd hook). */
  getBucket(i: number): Dest | null {
    return this.buckets[i] ?? null;
  }

  private reassign(svc: VirtualService): void {
    const list = svc.dests;
    for (let i = 0; i < DH_TAB_SIZE; i++) this.buckets[i] = list.length === 0 ? null : list[i % list.length]!;
  }
}

export const dh: SchedulerModule = { name: "dh", create: (svc) => new DestinationHashing(svc) };
export default dh;

import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { FlowPacket } from "../flow.js";
import type { Scheduler, SchedulerContext, SchedulerDryRun, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";
import { DEFAULT_LOCALITY_EXPIRATION } from "./lblc.js";
import { LeastLoadIndex } from "./least-load-index.js";
import { LocalityCache } from "./locality-cache.js";

/**
 * Locality-based least connection with replication (ip_vs_lblcr.c): each destination address
 * maps to a set of dests. The set's weighted-least-loaded usable member serves unless it is
 * "overloaded" (as in lblc); then a wlc pick over the service joins the set. A set that has not
 * changed for `lblcr_expiration` loses its weighted-most-loaded member. Members are kept newest
 * first, as the kernel's list_add does, since ties go to the earlier member.
 */
export class LocalityLeastConnReplicated implements Scheduler {
  readonly name = "lblcr";
  private readonly index = new LeastLoadIndex("wlc");
  private readonly cache: LocalityCache;
  private readonly expiration: () => number;
  private readonly sets: Dest[][] = [];
  private readonly lastmod: number[] = [];

  constructor(private readonly ctx: SchedulerContext) {
    this.expiration = ctx.lblcrExpiration ? () => ctx.lblcrExpiration!() : () => DEFAULT_LOCALITY_EXPIRATION;
    this.cache = new LocalityCache(ctx.now(), this.expiration, (e) => {
      const set = this.sets[e];
      if (set) set.length = 0;
    });
  }

  schedule(svc: VirtualService, pkt: FlowPacket): Dest | null {
    const now = this.ctx.now();
    this.cache.expire(now);
    const family = svc.family;
    const e = this.cache.find(family, pkt.daddr);
    if (e < 0) {
      const d = this.index.best(svc);
      if (d === null) return null;
      const ne = this.cache.insert(family, pkt.daddr, now);
      const set = this.sets[ne];
      if (set) set.push(d);
      else this.sets[ne] = [d];
      this.lastmod[ne] = now;
      return d;
    }
    this.cache.lastuse[e] = now;
    const set = this.sets[e]!;
    const m = setMin(set);
    // A set unchanged for the expiration time sheds its most loaded member (possibly m itself,
    // which the kernel still returns below).
    if (set.length > 1 && now > this.lastmod[e]! + this.expiration()) {
      const most = setMax(set);
      if (most !== null) {
        set.splice(set.indexOf(most), 1);
        this.lastmod[e] = now;
      }
    }
    if (m !== null && !this.overloaded(svc, m)) return m;
    const d = this.index.best(svc);
    if (d === null) return null;
    if (!set.includes(d)) {
      set.unshift(d);
      this.lastmod[e] = now;
    }
    return d;
  }

  /** The pick schedule() would make, without touching the cache or the set (see lblc's dryRun). */
  dryRun(svc: VirtualService, pkt: FlowPacket, now: number): SchedulerDryRun {
    const notes: string[] = [];
    const e = this.cache.find(svc.family, pkt.daddr);
    if (e < 0) {
      notes.push("no cached set for this destination address: a wlc pick starts one");
      return { dest: this.index.best(svc), notes };
    }
    const set = this.sets[e]!;
    const idle = now - this.cache.lastuse[e]!;
    notes.push(
      `cached set: ${set.map((d) => `${d.addr}:${d.port}`).join(", ") || "empty"} (last used ${Math.floor(idle)} s ago)`,
    );
    if (idle > this.expiration())
      notes.push(`idle past lblcr_expiration (${this.expiration()} s): a collector run may drop it first`);
    if (set.length > 1 && now > this.lastmod[e]! + this.expiration())
      notes.push("the set is unchanged past lblcr_expiration: its most loaded member will be shed");
    const m = setMin(set);
    if (m !== null && !this.overloaded(svc, m)) {
      notes.push(`least loaded usable member: ${m.addr}:${m.port}`);
      return { dest: m, notes };
    }
    notes.push(
      m === null
        ? "no usable member: a wlc pick joins the set"
        : "the least loaded member is overloaded: a wlc pick joins the set",
    );
    return { dest: this.index.best(svc), notes };
  }

  /** Run the collector ticks due by `now` (the daemon may call this while there is no traffic). */
  expire(now: number): void {
    this.cache.expire(now);
  }

  /** Entries in the cache. */
  get size(): number {
    return this.cache.live;
  }

  /** The members of the set cached for an address, newest first (tests and listings). */
  members(family: 4 | 6, words: ArrayLike<number>): readonly Dest[] {
    const e = this.cache.find(family, words);
    return e < 0 ? [] : this.sets[e]!.slice();
  }

  addDest(): void {
    this.index.invalidate();
  }

  delDest(_svc: VirtualService, dest: Dest): void {
    this.index.release(dest);
  }

  updDest(_svc: VirtualService, dest: Dest): void {
    this.index.destChanged(dest);
  }

  destChanged(_svc: VirtualService, dest: Dest): void {
    this.index.destChanged(dest);
  }

  done(): void {
    this.cache.flush();
    this.index.release();
  }

  private overloaded(svc: VirtualService, d: Dest): boolean {
    return d.activeConns > d.weight && this.index.someUnderHalfLoad(svc);
  }
}

/** Kernel ip_vs_dest_set_min: weighted least loaded member that is AVAILABLE and not OVERLOAD. */
function setMin(set: readonly Dest[]): Dest | null {
  let least: Dest | null = null;
  let i = 0;
  for (; i < set.length; i++) {
    const d = set[i]!;
    if ((d.flags & DEST_F_OVERLOAD) !== 0) continue;
    if (d.weight > 0 && (d.flags & DEST_F_AVAILABLE) !== 0) {
      least = d;
      break;
    }
  }
  if (least === null) return null;
  let loh = least.overhead;
  for (i++; i < set.length; i++) {
    const d = set[i]!;
    if ((d.flags & DEST_F_OVERLOAD) !== 0) continue;
    const doh = d.overhead;
    if (loh * d.weight > doh * least.weight && (d.flags & DEST_F_AVAILABLE) !== 0) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

/** Kernel ip_vs_dest_set_max: weighted most loaded member with weight > 0 (flags not checked). */
function setMax(set: readonly Dest[]): Dest | null {
  let most: Dest | null = null;
  let i = 0;
  for (; i < set.length; i++) {
    if (set[i]!.weight > 0) {
      most = set[i]!;
      break;
    }
  }
  if (most === null) return null;
  let moh = most.overhead;
  for (i++; i < set.length; i++) {
    const d = set[i]!;
    const doh = d.overhead;
    if (moh * d.weight < doh * most.weight && d.weight > 0) {
      most = d;
      moh = doh;
    }
  }
  return most;
}

export const lblcr: SchedulerModule = {
  name: "lblcr",
  create: (_svc, ctx) => new LocalityLeastConnReplicated(ctx),
};
export default lblcr;

import type { Dest } from "../dest.js";
import type { FlowPacket } from "../flow.js";
import type { Scheduler, SchedulerContext, SchedulerDryRun, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";
import { LeastLoadIndex } from "./least-load-index.js";
import { LocalityCache } from "./locality-cache.js";

/** Default of the `lblc_expiration` / `lblcr_expiration` sysctls: 24 h. */
export const DEFAULT_LOCALITY_EXPIRATION = 24 * 60 * 60;

/**
 * Locality-based least connection (ip_vs_lblc.c): a cache maps each destination address (the
 * cache-cluster use) to the dest that last served it. The cached dest is reused while it is
 * AVAILABLE, has weight > 0 and is not "overloaded" (more active conns than its weight while some
 * dest of the service has under half its weight in active conns); otherwise a wlc pick replaces
 * it. Idle entries are collected by the kernel's timer logic, driven by ctx.now().
 */
export class LocalityLeastConn implements Scheduler {
  readonly name = "lblc";
  private readonly index = new LeastLoadIndex("wlc");
  private readonly cache: LocalityCache;
  private readonly entryDest: (Dest | null)[] = [];

  constructor(private readonly ctx: SchedulerContext) {
    const expiration = ctx.lblcExpiration ? () => ctx.lblcExpiration!() : () => DEFAULT_LOCALITY_EXPIRATION;
    this.cache = new LocalityCache(ctx.now(), expiration, (e) => {
      this.entryDest[e] = null;
    });
  }

  schedule(svc: VirtualService, pkt: FlowPacket): Dest | null {
    const now = this.ctx.now();
    this.cache.expire(now);
    const family = svc.family;
    let e = this.cache.find(family, pkt.daddr);
    if (e >= 0) {
      this.cache.lastuse[e] = now;
      const d = this.entryDest[e]!;
      if (d.available && d.weight > 0 && !this.overloaded(svc, d)) return d;
    }
    const d = this.index.best(svc);
    if (d === null) return null;
    if (e >= 0) {
      if (this.entryDest[e] === d) return d;
      this.cache.removeUncounted(e);
    }
    e = this.cache.insert(family, pkt.daddr, now);
    this.entryDest[e] = d;
    return d;
  }

  /**
   * The pick schedule() would make, without running the collector, refreshing the entry's last
   * use or inserting one. The wlc index only catches up on counts it was told of, as schedule() would.
   */
  dryRun(svc: VirtualService, pkt: FlowPacket, now: number): SchedulerDryRun {
    const notes: string[] = [];
    const e = this.cache.find(svc.family, pkt.daddr);
    if (e >= 0) {
      const d = this.entryDest[e]!;
      const idle = now - this.cache.lastuse[e]!;
      notes.push(
        `cached for this destination address: ${d.addr}:${d.port} (last used ${Math.floor(idle)} s ago)`,
      );
      const expiration = this.ctx.lblcExpiration ? this.ctx.lblcExpiration() : DEFAULT_LOCALITY_EXPIRATION;
      if (idle > expiration)
        notes.push(
          `idle past lblc_expiration (${expiration} s): a collector run may drop it first, then a wlc pick replaces it`,
        );
      if (d.available && d.weight > 0 && !this.overloaded(svc, d)) return { dest: d, notes };
      notes.push(
        !d.available || d.weight <= 0
          ? "the cached dest is unavailable or has weight 0: a wlc pick replaces it"
          : "the cached dest is overloaded (active > weight while another dest is under half): a wlc pick replaces it",
      );
    } else {
      notes.push("no cache entry for this destination address: a wlc pick, then cached");
    }
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

  /** Kernel is_overloaded(): over its weight while another dest is under half of its own. */
  private overloaded(svc: VirtualService, d: Dest): boolean {
    return d.activeConns > d.weight && this.index.someUnderHalfLoad(svc);
  }
}

export const lblc: SchedulerModule = { name: "lblc", create: (_svc, ctx) => new LocalityLeastConn(ctx) };
export default lblc;

/**
 * Test fixture for schedulers: a virtual service whose dests are added, removed and edited the
 * way the kernel does it (new dests at the head of the list, then the scheduler's hook).
 */
import { IpAddr } from "../src/core/address.js";
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, Dest } from "../src/core/dest.js";
import { FlowPacket, IPPROTO_TCP } from "../src/core/flow.js";
import type { Scheduler, SchedulerContext, SchedulerModule } from "../src/core/scheduler.js";
import { getScheduler } from "../src/core/schedulers/registry.js";
import { VirtualService } from "../src/core/service.js";

export function ip(text: string): number {
  return IpAddr.mustParse(text).v4Value;
}

/** A clock the test moves, and a random source that replays given numbers (or a seeded LCG). */
export class TestContext implements SchedulerContext {
  t = 1000;
  draws: number[] = [];
  private seed = 12345;
  lblcExpiration?: () => number;
  lblcrExpiration?: () => number;

  now(): number {
    return this.t;
  }

  randomBelow(n: number): number {
    const next = this.draws.shift();
    if (next !== undefined) {
      if (next >= n) throw new RangeError(`scripted draw ${next} is not below ${n}`);
      return next;
    }
    this.seed = (Math.imul(this.seed, 1103515245) + 12345) >>> 0;
    return this.seed % n;
  }
}

let nextDestId = 1;

export class Fixture {
  readonly svc: VirtualService;
  readonly sched: Scheduler;
  readonly pkt = new FlowPacket();

  constructor(
    mod: string | SchedulerModule,
    readonly ctx: TestContext = new TestContext(),
    opts: { flags?: number; family?: 4 | 6; dests?: [string, number][] } = {},
  ) {
    const m = typeof mod === "string" ? getScheduler(mod) : mod;
    if (!m) throw new Error(`no scheduler ${String(mod)}`);
    const family = opts.family ?? 4;
    this.svc = new VirtualService(1, {
      key: {
        kind: "addr",
        protocol: IPPROTO_TCP,
        addr: family === 4 ? IpAddr.mustParse("198.18.0.1") : IpAddr.mustParse("2001:db8::1"),
        port: 80,
      },
      scheduler: m.name,
      flags: opts.flags ?? 0,
      timeout: 0,
      netmask: 0xffffffff,
      pe: "",
    });
    // Dests that exist before the scheduler is bound (ipvsadm -E -s …): no add hooks.
    for (const [addr, weight] of opts.dests ?? []) this.svc.dests.unshift(newDest(addr, weight));
    this.sched = m.create(this.svc, this.ctx);
    this.svc.scheduler = this.sched;
  }

  /** ipvsadm -a: the dest goes to the head of the list, then add_dest. */
  add(addr: string, weight = 1, port = 80): Dest {
    const d = newDest(addr, weight, port);
    this.svc.dests.unshift(d);
    this.sched.addDest?.(this.svc, d);
    return d;
  }

  /** ipvsadm -d: unlink, clear AVAILABLE, then del_dest. */
  del(d: Dest): void {
    const i = this.svc.dests.indexOf(d);
    if (i < 0) throw new Error("not a dest of the service");
    this.svc.dests.splice(i, 1);
    d.flags &= ~DEST_F_AVAILABLE;
    this.sched.delDest?.(this.svc, d);
  }

  /** ipvsadm -e -w: set the weight, then upd_dest. */
  setWeight(d: Dest, weight: number): void {
    d.weight = weight;
    this.sched.updDest?.(this.svc, d);
  }

  setOverload(d: Dest, on: boolean): void {
    d.flags = on ? d.flags | DEST_F_OVERLOAD : d.flags & ~DEST_F_OVERLOAD;
  }

  /** Schedule a TCP packet from `src` (default 203.0.113.7:40000) to `dst` (default the VIP). */
  pick(src = "203.0.113.7", dst = "198.18.0.1", sport = 40000): Dest | null {
    this.pkt.setV4(IPPROTO_TCP, ip(src), sport, ip(dst), 80);
    return this.sched.schedule(this.svc, this.pkt);
  }

  pickRaw(srcWord: number, dstWord = ip("198.18.0.1"), sport = 40000): Dest | null {
    this.pkt.setV4(IPPROTO_TCP, srcWord, sport, dstWord, 80);
    return this.sched.schedule(this.svc, this.pkt);
  }

  /** Names (the last address octet, e.g. "3" for 10.0.0.3) of n successive picks; "-" for null. */
  picks(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(label(this.pick()));
    return out;
  }
}

export function newDest(addr: string, weight: number, port = 80): Dest {
  return new Dest(nextDestId++, {
    addr: IpAddr.mustParse(addr),
    port,
    method: "route",
    weight,
    uThreshold: 0,
    lThreshold: 0,
    tunType: "ipip",
    tunPort: 0,
    tunCsum: "nocsum",
  });
}

/** A dest's short name: its address text, or "-" for no dest. */
export function label(d: Dest | null): string {
  return d === null ? "-" : d.addr.toString();
}

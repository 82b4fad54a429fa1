/**
 * Scheduler decisions per second, every built-in scheduler at 2, 100 and 1,000 dests.
 * Between decisions the connection counts change the way traffic changes them: the picked dest
 * gains an active conn and a random dest turns one active conn into an inactive one (or drops an
 * inactive one), so lc/wlc/sed/nq's index is updated for real. "wlc-scan" is the kernel's linear
 * wlc loop on the same workload, for comparison.
 *
 * Run: npx tsc -p tsconfig.json && node dist/bench/sched.js [seconds-per-cell]
 */
import { cpus } from "node:os";
import { IpAddr } from "../src/core/address.js";
import { DEST_F_OVERLOAD, Dest } from "../src/core/dest.js";
import { FlowPacket, IPPROTO_TCP } from "../src/core/flow.js";
import type { Scheduler, SchedulerContext, SchedulerModule } from "../src/core/scheduler.js";
import { BUILTIN_SCHEDULERS } from "../src/core/schedulers/registry.js";
import { VirtualService } from "../src/core/service.js";

const SIZES = [2, 100, 1000];
const seconds = Number(process.argv[2] ?? 0.25);

let seed = 0x2545f491;
function rnd(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

const ctx: SchedulerContext = { now: () => clock, randomBelow: rnd };
let clock = 1000;

/** The kernel's wlc loop, as a scheduler, for comparison with the index. */
const wlcScan: SchedulerModule = {
  name: "wlc-scan",
  create: (): Scheduler => ({
    name: "wlc-scan",
    schedule(svc) {
      const list = svc.dests;
      let i = 0;
      let least: Dest | null = null;
      for (; i < list.length; i++) {
        const d = list[i]!;
        if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight > 0) {
          least = d;
          break;
        }
      }
      if (least === null) return null;
      let loh = least.overhead;
      for (i++; i < list.length; i++) {
        const d = list[i]!;
        if ((d.flags & DEST_F_OVERLOAD) !== 0) continue;
        const doh = d.overhead;
        if (loh * d.weight > doh * least.weight) {
          least = d;
          loh = doh;
        }
      }
      return least;
    },
  }),
};

function buildService(mod: SchedulerModule, n: number): VirtualService {
  const svc = new VirtualService(1, {
    key: { kind: "addr", protocol: IPPROTO_TCP, addr: IpAddr.mustParse("198.18.0.1"), port: 80 },
    scheduler: mod.name,
    flags: 0,
    timeout: 0,
    netmask: 0xffffffff,
    pe: "",
  });
  svc.scheduler = mod.create(svc, ctx);
  for (let i = 0; i < n; i++) {
    const d = new Dest(i + 1, {
      addr: IpAddr.v4(0xc6130000 + i),
      port: 80,
      method: "route",
      weight: 1 + (i % 5),
      uThreshold: 0,
      lThreshold: 0,
      tunType: "ipip",
      tunPort: 0,
      tunCsum: "nocsum",
    });
    svc.dests.unshift(d);
    svc.scheduler.addDest?.(svc, d);
  }
  return svc;
}

function measure(mod: SchedulerModule, n: number): number {
  const svc = buildService(mod, n);
  const sched = svc.scheduler!;
  const pkt = new FlowPacket();
  const sources = new Uint32Array(4096);
  for (let i = 0; i < sources.length; i++) sources[i] = (0xcb000000 + rnd(1 << 24)) >>> 0;
  const dests = svc.dests;
  let k = 0;
  const step = (): void => {
    const src = sources[k++ & 4095]!;
    pkt.setV4(IPPROTO_TCP, src, 1024 + (k & 0x7fff), 0xc0000200 + (src & 1023), 80);
    const d = sched.schedule(svc, pkt);
    if (d !== null) d.activeConns++;
    // Some connection somewhere moves on: active → inactive, or an inactive one expires.
    const o = dests[rnd(dests.length)]!;
    if (o.activeConns > 0) {
      o.activeConns--;
      o.inactConns++;
    } else if (o.inactConns > 0) {
      o.inactConns--;
    }
  };
  for (let i = 0; i < 20000; i++) step();
  let done = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 2000; i++) step();
    done += 2000;
    clock += 0.01;
    elapsed = process.hrtime.bigint() - start;
  }
  sched.done?.(svc);
  return done / (Number(elapsed) / 1e9);
}

const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(0)} k`);
console.log(
  `Scheduler decisions per second (incl. one conn-count update per decision), ${seconds} s per cell`,
);
console.log(`node ${process.version}, ${cpus()[0]?.model ?? "unknown cpu"} × ${cpus().length}`);
console.log("");
console.log(`| scheduler | ${SIZES.map((n) => `${n} dests`).join(" | ")} |`);
console.log(`|---|${SIZES.map(() => "---:").join("|")}|`);
for (const mod of [...BUILTIN_SCHEDULERS, wlcScan]) {
  const cells = SIZES.map((n) => fmt(measure(mod, n)));
  console.log(`| ${mod.name} | ${cells.join(" | ")} |`);
}

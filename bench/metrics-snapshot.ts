/**
 * What a /metrics render costs the packet loop's thread now that the text is made on the HTTP
 * thread: the packed snapshot of a table of S services of 10 real servers (metrics-snapshot.ts,
 * number stores; the layout's strings only when the shape changed), against what that thread did
 * before in the same run — the table mapped to entries and the node_ipvs_* and tslvs_* text
 * rendered (in slices, summed). Same core tables, same run.
 *
 *   node dist/bench/metrics-snapshot.js [services...]     (default 1000 10000)
 */
import { serviceToEntry, ZERO_RATES } from "../src/control/api-mapping.js";
import { renderIpvsMetrics } from "../src/control/ipvs-metrics.js";
import { MetricsSnapshotter } from "../src/control/metrics-snapshot.js";
import { type DirectorSample, tslvsMetricsSlices } from "../src/control/tslvs-metrics.js";
import { IpAddr } from "../src/core/address.js";
import { Director } from "../src/core/director.js";
import { IPPROTO_TCP } from "../src/core/flow.js";

const sample = (): DirectorSample => ({
  version: "bench",
  routerId: "bench",
  fill: { entries: 1, capacity: 2, refusedFull: 0 },
  live: null,
  eventLoop: { p50: 0, p99: 0, max: 0 },
});

function director(n: number): Director {
  const d = new Director({ connCapacity: 4096 });
  for (let i = 0; i < n; i++) {
    const key = {
      kind: "addr" as const,
      protocol: IPPROTO_TCP,
      addr: IpAddr.parse(`198.18.${i >> 8}.${i & 255}`)!,
      port: 80,
    };
    d.addService({ key, scheduler: "wrr", flags: 0, timeout: 0, netmask: 0xffffffff, pe: "" });
    for (let j = 0; j < 10; j++) {
      const k = i * 10 + j;
      d.addDest(key, {
        addr: IpAddr.parse(`198.19.${(k >> 8) & 255}.${k & 255}`)!,
        port: 80 + (k >> 16),
        method: "masq",
        weight: 1 + (k % 5),
        uThreshold: 0,
        lThreshold: 0,
        tunType: "ipip",
        tunPort: 0,
        tunCsum: "nocsum",
      });
    }
  }
  return d;
}

function median(f: () => unknown, rounds = 7): number {
  f();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    f();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[rounds >> 1]!;
}

const sizes = process.argv.slice(2).map(Number);
console.log("services x10  snapshot ms  first (layout) ms  main-thread render before ms  before/snapshot");
for (const n of sizes.length ? sizes : [1000, 10000]) {
  const d = director(n);
  const totals = { conns: 1, inPkts: 2, outPkts: 3, inBytes: 4, outBytes: 5 };
  const firstAt = performance.now();
  const snapshots = new MetricsSnapshotter();
  snapshots.take(d.services(), totals);
  const first = performance.now() - firstAt;
  const snap = median(() => snapshots.take(d.services(), totals));
  const before = median(() => {
    const entries = d
      .services()
      .map((s) => ({ ...serviceToEntry(s, ZERO_RATES, true), noDestination: s.noDestination }));
    renderIpvsMetrics(entries, totals);
    const g = tslvsMetricsSlices([entries], sample);
    while (!g.next().done);
  }, 3);
  console.log(
    `${String(n).padStart(12)}  ${snap.toFixed(2).padStart(11)}  ${first.toFixed(1).padStart(17)}  ${before.toFixed(0).padStart(28)}  ${(before / snap).toFixed(0).padStart(15)}`,
  );
}

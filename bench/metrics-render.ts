/**
 * /metrics at scale: the time to render node_exporter's eight node_ipvs_* families for S services of
 * 10 real servers, tslvs's renderer (in slices) against prom-client (the ecosystem's library: one
 * Gauge per family, a label set per real server) rendering the same samples, in the same run; and
 * the longest slice, which is what the packet loop, sharing the thread, waits at most.
 *
 *   node dist/bench/metrics-render.js [services...]     (default 1000 10000)
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { ServiceEntry } from "../src/control/api.js";
import { BACKEND_LABELS, ipvsMetricsSlices, renderIpvsMetrics } from "../src/control/ipvs-metrics.js";
import { type DirectorSample, tslvsMetricsSlices } from "../src/control/tslvs-metrics.js";

const sample = (): DirectorSample => ({
  version: "bench",
  routerId: "bench",
  fill: { entries: 1, capacity: 2, refusedFull: 0 },
  live: null,
  eventLoop: { p50: 0, p99: 0, max: 0 },
});

/** node_ipvs_* and tslvs_* together, as the daemon serves them; the longest slice. */
function wholeBody(services: ServiceEntry[]): { ms: number; longest: number } {
  const chunks: ServiceEntry[][] = [];
  for (let i = 0; i < services.length; i += 100) chunks.push(services.slice(i, i + 100));
  function* render(): Generator<undefined, string[], undefined> {
    const a = yield* ipvsMetricsSlices(chunks, () => totals);
    const b = yield* tslvsMetricsSlices(chunks, sample);
    return [...a, ...b];
  }
  const g = render();
  let longest = 0;
  const t0 = performance.now();
  for (;;) {
    const t = performance.now();
    const step = g.next();
    longest = Math.max(longest, performance.now() - t);
    if (step.done) break;
  }
  return { ms: performance.now() - t0, longest };
}

function table(n: number): ServiceEntry[] {
  const services: ServiceEntry[] = [];
  for (let i = 0; i < n; i++) {
    const dests = [];
    for (let j = 0; j < 10; j++) {
      const k = i * 10 + j;
      dests.push({
        addr: `198.19.${(k >> 8) & 255}.${k & 255}`,
        port: 80 + (k >> 16),
        weight: 1 + (k % 5),
        activeConns: k % 7,
        inactConns: k % 11,
        persistConns: k % 3,
        stats: { conns: k * 3, inPkts: k * 30, outPkts: k * 20, inBytes: k * 3000, outBytes: k * 90000 },
      });
    }
    services.push({
      id: { protocol: "tcp", addr: `198.18.${i >> 8}.${i & 255}`, port: 80 },
      af: 4,
      stats: { conns: i * 30, inPkts: i * 300, outPkts: i * 200, inBytes: i * 30000, outBytes: i * 900000 },
      dests,
    } as unknown as ServiceEntry);
  }
  return services;
}

const totals = { conns: 1, inPkts: 2, outPkts: 3, inBytes: 4, outBytes: 5 };

function timeIt(f: () => unknown, rounds = 3): number {
  f();
  const t = performance.now();
  for (let r = 0; r < rounds; r++) f();
  return (performance.now() - t) / rounds;
}

async function promClientMs(services: ServiceEntry[]): Promise<number> {
  const registry = new Registry();
  for (const [name, help] of [
    ["node_ipvs_connections_total", "The total number of connections made."],
  ] as const)
    new Counter({ name, help, registers: [registry] }).inc(totals.conns);
  const gauges = ["active", "inactive", "weight"].map(
    (g) =>
      new Gauge({
        name: `node_ipvs_backend_${g}`,
        help: g,
        labelNames: [...BACKEND_LABELS],
        registers: [registry],
      }),
  );
  // The values are set once (a collector would set them per scrape: that cost is left out).
  for (const s of services)
    for (const d of s.dests) {
      const labels = {
        local_address: s.id.addr!,
        local_port: String(s.id.port),
        remote_address: d.addr,
        remote_port: String(d.port),
        proto: "TCP",
        local_mark: "",
      };
      gauges[0]!.set(labels, d.activeConns);
      gauges[1]!.set(labels, d.inactConns);
      gauges[2]!.set(labels, d.weight);
    }
  await registry.metrics();
  const t = performance.now();
  for (let r = 0; r < 3; r++) await registry.metrics();
  return (performance.now() - t) / 3;
}

const sizes = process.argv.slice(2).map(Number);
console.log(
  "services x10  tslvs ms  longest slice ms  prom-client ms  prom-client/tslvs  with tslvs_* ms  its longest slice ms",
);
for (const n of sizes.length ? sizes : [1000, 10000]) {
  const services = table(n);
  const ours = timeIt(() => renderIpvsMetrics(services, totals));
  let longest = 0;
  const chunks = function* () {
    for (let i = 0; i < services.length; i += 100) yield services.slice(i, i + 100);
  };
  const slices = ipvsMetricsSlices(chunks(), () => totals);
  for (;;) {
    const t = performance.now();
    const step = slices.next();
    longest = Math.max(longest, performance.now() - t);
    if (step.done) break;
  }
  const theirs = await promClientMs(services);
  wholeBody(services);
  const whole = wholeBody(services);
  console.log(
    `${String(n).padStart(12)}  ${ours.toFixed(0).padStart(8)}  ${longest.toFixed(1).padStart(16)}  ${theirs.toFixed(0).padStart(14)}  ${(theirs / ours).toFixed(2).padStart(17)}  ${whole.ms.toFixed(0).padStart(15)}  ${whole.longest.toFixed(1).padStart(20)}`,
  );
}

/**
 * The /metrics families' text, byte for byte, for a mixed table (IPv4, IPv6 written in a
 * non-canonical spelling, SCTP, an IPv4 and an IPv6 fwmark service with the same mark whose real
 * servers give equal labels, a service without real servers, one with a no-destination count),
 * against golden texts: node_ipvs_* with all backend labels and narrowed ones, and tslvs_*, each
 * rendered from one chunk and from chunks of two services. METRICS_GOLDEN_WRITE=1 rewrites them.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import type { ServiceEntry } from "../src/control/api.js";
import { ipvsMetricsSlices, parseBackendLabels } from "../src/control/ipvs-metrics.js";
import { type DirectorSample, tslvsMetricsSlices } from "../src/control/tslvs-metrics.js";

const dir = new URL("../../test/fixtures/metrics-render/", import.meta.url);

let k = 0;
function dest(addr: string, port: number, af: 4 | 6 = addr.includes(":") ? 6 : 4) {
  k++;
  return {
    addr,
    port,
    af,
    weight: k % 4,
    activeConns: k * 2,
    inactConns: k * 3,
    persistConns: k % 3,
    stats: { conns: k * 5, inPkts: k * 50, outPkts: k * 40, inBytes: k * 5000, outBytes: k * 4000 },
  };
}

function service(
  id: ServiceEntry["id"],
  af: 4 | 6,
  dests: ReturnType<typeof dest>[],
  noDestination?: number,
) {
  k++;
  const s = {
    id,
    af,
    stats: { conns: k, inPkts: k * 10, outPkts: k * 9, inBytes: k * 1000, outBytes: k * 900 },
    dests,
  } as unknown as ServiceEntry;
  if (noDestination !== undefined) s.noDestination = noDestination;
  return s;
}

const services: ServiceEntry[] = [
  service(
    { protocol: "tcp", addr: "198.18.0.1", port: 80 },
    4,
    [dest("198.19.0.1", 80), dest("198.19.0.2", 8080)],
    3,
  ),
  service({ protocol: "udp", addr: "2001:DB8:0:0::53", port: 53 }, 6, [
    dest("2001:db8::10", 53),
    dest("2001:0db8:0000:0000:0000:0000:0000:0011", 5353),
    dest("::ffff:198.19.0.9", 53),
  ]),
  service({ protocol: "sctp", addr: "10.0.0.1", port: 3868 }, 4, [dest("10.0.0.2", 3868)], 0),
  service({ fwmark: 0x1234abcd, af: 4 }, 4, [dest("198.19.0.1", 0), dest("198.19.0.3", 0)]),
  service({ fwmark: 0x1234abcd, af: 6 }, 6, [dest("198.19.0.1", 0, 4), dest("2001:db8::10", 0)]),
  service({ fwmark: 7, af: 4 }, 4, []),
  service({ protocol: "tcp", addr: "198.18.0.1", port: 443 }, 4, [
    dest("198.19.0.1", 443),
    dest("198.19.0.2", 443),
  ]),
  service({ protocol: "udp", addr: "198.18.0.1", port: 53 }, 4, [dest("198.19.0.1", 53)]),
];

const totals = { conns: 10, inPkts: 60, outPkts: 40, inBytes: 3950, outBytes: 3860 };

const sample = (): DirectorSample => ({
  version: "1.0.0",
  routerId: "lb1",
  fill: { entries: 12, capacity: 1024, refusedFull: 1 },
  live: null,
  eventLoop: { p50: 0.001, p99: 0.004, max: 0.02 },
  states: { byState: { ESTABLISHED: 3, TIME_WAIT: 2 }, templates: 1 },
  process: { cpuSeconds: 1.5, residentBytes: 1048576, startTimeSeconds: 1700000000, openFds: 12 },
});

function drain(g: Generator<undefined, string[], undefined>): string {
  for (;;) {
    const step = g.next();
    if (step.done) return step.value.join("");
  }
}

const chunkings: [string, ServiceEntry[][]][] = [
  ["one chunk", [services]],
  ["chunks of 2", [0, 2, 4, 6].map((i) => services.slice(i, i + 2))],
];

function check(name: string, render: (chunks: ServiceEntry[][]) => string) {
  const file = new URL(`${name}.txt`, dir);
  if (process.env.METRICS_GOLDEN_WRITE === "1") writeFileSync(file, render([services]));
  const golden = readFileSync(file, "utf8");
  for (const [how, chunks] of chunkings) assert.equal(render(chunks), golden, `${name}, ${how}`);
}

test("node_ipvs_* with every backend label and narrowed ones match the golden texts", () => {
  for (const [name, list] of [
    ["ipvs-all", undefined],
    ["ipvs-proto", "proto"],
    ["ipvs-addresses", "remote_address,local_address"],
    ["ipvs-mark-remote", "local_mark,remote_address,remote_port"],
    ["ipvs-none", ""],
  ] as const) {
    const labels = list === undefined ? undefined : parseBackendLabels(list);
    check(name, (chunks) => drain(ipvsMetricsSlices(chunks, () => totals, labels)));
  }
});

test("tslvs_* match the golden text", () => {
  check("tslvs", (chunks) => drain(tslvsMetricsSlices(chunks, sample)));
});

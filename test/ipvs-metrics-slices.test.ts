/**
 * The /metrics renderer's slicing: the body rendered in slices (a turn of the event loop between
 * them, the packet loop's) is the body rendered at once, whatever the chunking of the services,
 * and a large table is cut into slices of at most ROWS_PER_SLICE rows, not rendered in one go.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServiceEntry } from "../src/control/api.js";
import {
  ipvsMetricsSlices,
  parseBackendLabels,
  ROWS_PER_SLICE,
  renderIpvsMetrics,
  renderIpvsMetricsInSlices,
} from "../src/control/ipvs-metrics.js";

function table(n: number): ServiceEntry[] {
  const out: ServiceEntry[] = [];
  for (let i = 0; i < n; i++) {
    const dests = [];
    for (let j = 0; j < 10; j++)
      dests.push({
        addr: `198.19.${(i * 10 + j) >> 8}.${(i * 10 + j) & 255}`,
        port: 80,
        weight: j,
        activeConns: i,
        inactConns: j,
      });
    out.push({
      id: { protocol: i % 2 ? "udp" : "tcp", addr: `198.18.${i >> 8}.${i & 255}`, port: 53 },
      dests,
    } as unknown as ServiceEntry);
  }
  return out;
}

const totals = { conns: 10, inPkts: 60, outPkts: 40, inBytes: 3950, outBytes: 3860 };

test("sliced and at once give the same body, for any chunking and label narrowing", async () => {
  const services = table(700);
  for (const labels of [undefined, parseBackendLabels("proto"), parseBackendLabels("")]) {
    const whole = renderIpvsMetrics(services, totals, labels);
    for (const size of [1, 7, 100, 700]) {
      const chunks = function* () {
        for (let i = 0; i < services.length; i += size) yield services.slice(i, i + size);
      };
      const parts = await renderIpvsMetricsInSlices(ipvsMetricsSlices(chunks(), () => totals, labels));
      assert.equal(parts.join(""), whole, `chunks of ${size}`);
    }
  }
});

test("a 10,000-row table is rendered in slices of at most ROWS_PER_SLICE rows", () => {
  const services = table(1000);
  const chunks = function* () {
    for (let i = 0; i < services.length; i += 100) yield services.slice(i, i + 100);
  };
  const slices = ipvsMetricsSlices(chunks(), () => totals);
  let pauses = 0;
  for (let step = slices.next(); !step.done; step = slices.next()) pauses++;
  // Summing 10,000 rows, then 3 families x 10,000 lines: at least (10,000 + 30,000) / slice pauses.
  assert.ok(pauses >= Math.floor(40000 / ROWS_PER_SLICE) - 1, `${pauses} pauses`);
});

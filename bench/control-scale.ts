/**
 * Control-plane figures at scale: 10,000 services x 10 real servers. Measures the listing through
 * the socket (what `tslvsadm -Ln` waits for), the state file dump and parse, and a reconcile from
 * nothing and of an unchanged state. Prints milliseconds; run with `node dist/bench/control-scale.js`.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SysctlValue } from "../src/control/api.js";
import { ApiHandler } from "../src/control/api-handler.js";
import { connect } from "../src/control/client.js";
import { dumpConfig, parseConfig } from "../src/control/config.js";
import { snapshot } from "../src/control/desired-state.js";
import { reconcile } from "../src/control/reconcile.js";
import { ControlServer } from "../src/control/server.js";
import { SyncDaemons } from "../src/control/sync-daemons.js";
import { IpAddr } from "../src/core/address.js";
import { IPPROTO_TCP } from "../src/core/flow.js";
import { RealDirector } from "../test/support/real-director.js";

const SERVICES = Number(process.env.SERVICES ?? 10000);
const DESTS = Number(process.env.DESTS ?? 10);

function time<T>(label: string, fn: () => T): T {
  const t0 = performance.now();
  const r = fn();
  console.log(`${label.padEnd(44)} ${(performance.now() - t0).toFixed(0).padStart(7)} ms`);
  return r;
}

async function timeAsync<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const r = await fn();
  console.log(`${label.padEnd(44)} ${(performance.now() - t0).toFixed(0).padStart(7)} ms`);
  return r;
}

const director = new RealDirector();
const sync = new SyncDaemons(() => 1500);
const defaults: Record<string, SysctlValue> = {};
for (const n of director.sysctls.names()) defaults[n] = director.sysctls.get(n);
time(`build ${SERVICES} services x ${DESTS} dests`, () => {
  for (let s = 0; s < SERVICES; s++) {
    const key = { kind: "addr" as const, protocol: IPPROTO_TCP, addr: IpAddr.v4(0x0a000000 + s), port: 80 };
    director.addService({ key, scheduler: "wrr", flags: 0, timeout: 0, netmask: 0xffffffff, pe: "" });
    for (let d = 0; d < DESTS; d++)
      director.addDest(key, {
        addr: IpAddr.v4(0xc0a80000 + d),
        port: 80,
        method: "masq",
        weight: 1,
        uThreshold: 0,
        lThreshold: 0,
        tunType: "ipip",
        tunPort: 0,
        tunCsum: "nocsum",
      });
  }
});

const handler = new ApiHandler(director, { now: () => 0, syncDaemons: sync });
const dir = mkdtempSync(join(tmpdir(), "tslvs-bench-"));
const server = await ControlServer.listen({
  socketPath: join(dir, "s.sock"),
  handle: (r) => handler.handle(r),
  log: { debug() {}, info() {}, warn() {}, error() {} },
});
const client = await connect(join(dir, "s.sock"));
const list = await timeAsync("getServices through the socket", () => client.call({ op: "getServices" }));
console.log(`  reply size ${(JSON.stringify(list).length / 1e6).toFixed(1)} MB`);
client.close();
await server.close();
rmSync(dir, { recursive: true });

const state = time("snapshot", () => snapshot(director, sync, defaults));
const text = time("dump state file (YAML)", () => dumpConfig(state));
console.log(`  state file size ${(text.length / 1e6).toFixed(1)} MB`);
const parsed = time("parse state file", () => parseConfig(text, "state.yaml"));
const fresh = new RealDirector();
time("reconcile from nothing", () => reconcile(fresh, new SyncDaemons(() => 1500), parsed, defaults));
time("reconcile, nothing changed", () => reconcile(director, sync, parsed, defaults));

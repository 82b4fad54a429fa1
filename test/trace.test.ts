import assert from "node:assert/strict";
import { test } from "node:test";
import { traceRequest } from "../src/cli/tslvs-trace.js";
import { ApiHandler } from "../src/control/api-handler.js";
import { CoreDirectorPort } from "../src/control/core-director-port.js";
import type { Director, TraceResult } from "../src/core/director.js";
import { FlowPacket, IPPROTO_ICMP, IPPROTO_TCP, TCP_SYN } from "../src/core/flow.js";
import type { SchedulerModule } from "../src/core/scheduler.js";
import { BUILTIN_SCHEDULERS } from "../src/core/schedulers/registry.js";
import { type ServiceSpec, SVC_F_PERSISTENT } from "../src/core/service.js";
import { Verdict } from "../src/core/verdict.js";
import { destSpec, ip, makeDirector, packet, svcSpec, tcpKey } from "./director-fixtures.js";

const VIP = "198.18.0.10:80";
const KEY = tcpKey("198.18.0.10", 80);

function setup(
  sched: string,
  weights: number[],
  o: Partial<Omit<ServiceSpec, "key">> = {},
  mods: SchedulerModule[] = [...BUILTIN_SCHEDULERS],
) {
  let draws = 0;
  let seed = 7;
  // A counted pseudo-random source: a trace must not draw from it.
  const random = () => {
    draws++;
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 0x100000000;
  };
  const d = makeDirector({ random }, mods);
  d.addService(svcSpec(KEY, { scheduler: sched, ...o }));
  for (const [k, w] of weights.entries())
    d.addDest(KEY, destSpec(`198.19.0.${k + 1}`, 8080, "masq", { weight: w }));
  return { d, draws: () => draws, p: new FlowPacket(), v: new Verdict() };
}

function traceOf(d: Director, client: string, cport: number, now: number): TraceResult {
  return d.trace(
    { protocol: IPPROTO_TCP, caddr: ip(client), cport, vaddr: ip("198.18.0.10"), vport: 80 },
    now,
  );
}

/** Everything a trace must leave alone. */
function observable(d: Director) {
  return {
    conns: d.connCount,
    totals: { ...d.displayed(d.totals) },
    dests: d.findService(KEY)!.dests.map((x) => [x.activeConns, x.inactConns, x.persistConns, x.stats.conns]),
  };
}

for (const [sched, weights] of [
  ["rr", [1, 1, 1]],
  ["wrr", [3, 1, 2]],
  ["wlc", [2, 1, 3]],
  ["sh", [1, 2, 1]],
  ["lblc", [1, 1, 1]],
  ["lc", [1, 1]],
  ["sed", [1, 3]],
  ["nq", [1, 2]],
  ["fo", [1, 5]],
  ["ovf", [8, 5]],
  ["dh", [1, 1]],
  ["mh", [1, 1]],
  ["lblcr", [1, 2]],
] as const) {
  test(`trace ${sched}: the dry run names what the next real schedule picks, and changes nothing`, () => {
    const { d, draws, p, v } = setup(sched, [...weights]);
    for (let k = 0; k < 12; k++) {
      const client = `198.18.1.${1 + ((k * 37) % 200)}`;
      const before = observable(d);
      const r1 = traceOf(d, client, 40000 + k, k);
      const r2 = traceOf(d, client, 40000 + k, k);
      assert.deepEqual(r2, r1, "tracing twice gives the same answer");
      assert.deepEqual(observable(d), before, "no conn, no count, no counter");
      assert.equal(r1.outcome, "scheduler");
      assert.equal(r1.service, "TCP 198.18.0.10:80");
      assert.equal(r1.dests?.length, weights.length);
      const n = draws();
      d.inbound(packet(p, IPPROTO_TCP, `${client}:${40000 + k}`, VIP, TCP_SYN), k, v);
      assert.equal(draws(), n + 0, "no random draw for a deterministic scheduler");
      assert.equal(r1.dest, `${v.dest!.addr}:${v.dest!.port}`, `pick ${k}`);
    }
  });
}

test("trace twos: candidates and odds, no draw made; the real pick is a candidate", () => {
  const { d, draws, p, v } = setup("twos", [1, 2, 3]);
  for (let k = 0; k < 6; k++) d.inbound(packet(p, IPPROTO_TCP, `198.18.1.1:${5000 + k}`, VIP, TCP_SYN), k, v);
  const before = observable(d);
  const n = draws();
  const r = traceOf(d, "198.18.1.2", 6000, 10);
  assert.deepEqual(traceOf(d, "198.18.1.2", 6000, 10), r);
  assert.equal(draws(), n, "the trace draws nothing");
  assert.deepEqual(observable(d), before);
  assert.equal(r.outcome, "scheduler");
  assert.equal(r.dest, null);
  const odds = r.odds!;
  assert.equal(odds.length, 3);
  assert.ok(Math.abs(odds.reduce((s, o) => s + o.p, 0) - 1) < 1e-9);
  d.inbound(packet(p, IPPROTO_TCP, "198.18.1.2:6000", VIP, TCP_SYN), 10, v);
  const picked = `${v.dest!.addr}:${v.dest!.port}`;
  assert.ok(odds.some((o) => o.dest === picked && o.p > 0));
});

test("trace an existing connection: its state, timeout and real server, and stop", () => {
  const { d, p, v } = setup("rr", [1, 1]);
  d.inbound(packet(p, IPPROTO_TCP, "198.18.1.5:43512", VIP, TCP_SYN), 100, v);
  const rs = `${v.dest!.addr}:${v.dest!.port}`;
  const r = traceOf(d, "198.18.1.5", 43512, 110);
  assert.equal(r.outcome, "connection");
  assert.equal(r.dest, rs);
  assert.equal(r.connection?.state, "SYN_RECV");
  assert.equal(r.connection?.method, "masq");
  assert.ok(r.connection!.expires > 0 && r.connection!.expires <= 60);
  assert.equal(r.dests, undefined, "no scheduler inputs after a conn");
});

test("trace a persistent service: the template for the client's network decides", () => {
  const { d, p, v } = setup("rr", [1, 1, 1], { flags: SVC_F_PERSISTENT, timeout: 300, netmask: 0xffffff00 });
  const fresh = traceOf(d, "198.18.1.5", 1000, 1);
  assert.equal(fresh.outcome, "scheduler");
  assert.match(fresh.notes.join(" "), /no persistence template/);
  d.inbound(packet(p, IPPROTO_TCP, "198.18.1.5:1000", VIP, TCP_SYN), 1, v);
  assert.equal(fresh.dest, `${v.dest!.addr}:${v.dest!.port}`);
  const before = observable(d);
  // Another host of the same /24: the template, not rr's next pick.
  const r = traceOf(d, "198.18.1.77", 2000, 5);
  assert.equal(r.outcome, "template");
  assert.equal(r.dest, fresh.dest);
  assert.equal(r.template?.client, "198.18.1.0");
  assert.ok(r.template!.expires > 290);
  assert.deepEqual(observable(d), before);
  // Outside the /24: no template, the scheduler's next pick.
  assert.equal(traceOf(d, "198.18.2.1", 2000, 5).outcome, "scheduler");
});

test("trace: a port-0 service and an fwmark service named with -f", () => {
  const d = makeDirector({}, [...BUILTIN_SCHEDULERS]);
  const k0 = tcpKey("198.18.0.20", 0);
  d.addService(svcSpec(k0, { scheduler: "wlc", flags: SVC_F_PERSISTENT, timeout: 60 }));
  d.addDest(k0, destSpec("198.19.0.1", 0, "route"));
  const r0 = d.trace(
    { protocol: IPPROTO_TCP, caddr: ip("198.18.1.1"), cport: 1234, vaddr: ip("198.18.0.20"), vport: 443 },
    0,
  );
  assert.match(r0.match, /port-0 service/);
  assert.equal(r0.dest, "198.19.0.1:443");
  const fk = { kind: "fwmark" as const, family: 4 as const, fwmark: 7 };
  d.addService(svcSpec(fk, { scheduler: "rr" }));
  d.addDest(fk, destSpec("198.19.0.9", 80, "route"));
  const rf = d.trace(
    {
      protocol: IPPROTO_TCP,
      caddr: ip("198.18.1.1"),
      cport: 1234,
      vaddr: ip("198.18.0.99"),
      vport: 80,
      fwmark: 7,
    },
    0,
  );
  assert.equal(rf.service, "FWM 7");
  assert.equal(rf.dest, "198.19.0.9:80");
});

test("trace: errors for an unknown service or a malformed tuple; a plugin without a dry run", () => {
  const { d } = setup("rr", [1]);
  const q = { protocol: IPPROTO_TCP, caddr: ip("198.18.1.1"), cport: 1, vaddr: ip("198.18.0.10"), vport: 80 };
  assert.throws(() => d.trace({ ...q, vport: 81 }, 0), { errno: "ESRCH" });
  assert.throws(() => d.trace({ ...q, fwmark: 9 }, 0), { errno: "ESRCH" });
  assert.throws(() => d.trace({ ...q, cport: 0 }, 0), { errno: "EINVAL" });
  assert.throws(() => d.trace({ ...q, protocol: IPPROTO_ICMP }, 0), { errno: "EINVAL" });
  assert.throws(() => d.trace({ ...q, caddr: ip("2001:db8::1") }, 0), { errno: "EINVAL" });
  const plugin: SchedulerModule = {
    name: "first",
    create: () => ({ name: "first", schedule: (svc) => svc.dests[0] ?? null }),
  };
  const { d: d2 } = setup("first", [1], {}, [plugin]);
  const r = traceOf(d2, "198.18.1.1", 1, 0);
  assert.equal(r.outcome, "untraceable");
  assert.match(r.notes.join(" "), /cannot be traced without side effects/);
});

test("trace through the control op: arguments checked, fast path unknown unless told", () => {
  const { d, p, v } = setup("rr", [1]);
  d.inbound(packet(p, IPPROTO_TCP, "198.18.1.5:43512", VIP, TCP_SYN), 1, v);
  const h = new ApiHandler(new CoreDirectorPort(d), { now: () => 2 });
  const req = {
    op: "trace",
    protocol: "tcp",
    client: "198.18.1.5",
    cport: 43512,
    vaddr: "198.18.0.10",
    vport: 80,
  };
  const r = h.handle(req) as { connection: { fastPath: boolean | null; state: string } };
  assert.equal(r.connection.fastPath, null);
  assert.equal(r.connection.state, "SYN_RECV");
  const h2 = new ApiHandler(new CoreDirectorPort(d), { now: () => 2, fastPathHolds: () => true });
  assert.equal((h2.handle(req) as typeof r).connection.fastPath, true);
  assert.throws(() => h.handle({ ...req, protocol: "icmp" }), { errno: "EINVAL" });
  assert.throws(() => h.handle({ ...req, client: "nope" }), { errno: "EINVAL" });
  assert.throws(() => h.handle({ ...req, vport: 81 }), { errno: "ESRCH" });
});

test("tslvs trace arguments", () => {
  const o = (e: [string, string][]) => new Map(e.map(([k, val]) => [k, [val]]));
  assert.deepEqual(
    traceRequest(
      o([
        ["tcp-service", VIP],
        ["client", "198.18.0.100:43512"],
      ]),
    ),
    {
      op: "trace",
      protocol: "tcp",
      client: "198.18.0.100",
      cport: 43512,
      vaddr: "198.18.0.10",
      vport: 80,
    },
  );
  const f = traceRequest(
    o([
      ["fwmark-service", "7"],
      ["dest", "[2001:db8::1]:53"],
      ["proto", "udp"],
      ["client", "[2001:db8::9]:999"],
    ]),
  );
  assert.equal(typeof f === "object" && f.fwmark, 7);
  assert.equal(typeof traceRequest(o([["tcp-service", VIP]])), "string");
  assert.equal(
    typeof traceRequest(
      o([
        ["tcp-service", "198.18.0.10"],
        ["client", "1.2.3.4:5"],
      ]),
    ),
    "string",
  );
  assert.equal(
    typeof traceRequest(
      o([
        ["fwmark-service", "7"],
        ["client", "1.2.3.4:5"],
      ]),
    ),
    "string",
  );
});

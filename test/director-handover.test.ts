import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { Director } from "../src/core/director.js";
import { IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../src/core/flow.js";
import { PortRing } from "../src/core/laddr-pool.js";
import { SVC_F_PERSISTENT } from "../src/core/service.js";
import { ACTION_FORWARD, Verdict } from "../src/core/verdict.js";
import {
  destSpec,
  FlowPacket,
  ip,
  makeDirector,
  packet,
  svcSpec,
  tcpKey,
  udpKey,
  words,
} from "./director-fixtures.js";

const VIP = "10.0.0.1";
const RS1 = "192.168.1.2";
const RS2 = "192.168.1.3";

/** The rules a restarted daemon re-creates from its state file before taking the conns over. */
function rules(persistent = false): Director {
  const d = makeDirector();
  const key = tcpKey(VIP, 80);
  d.addService(svcSpec(key, persistent ? { flags: SVC_F_PERSISTENT, timeout: 300 } : {}));
  d.addDest(key, destSpec(RS1, 8080));
  d.addDest(key, destSpec(RS2, 8080));
  d.addService(svcSpec(udpKey(VIP, 53)));
  d.addDest(udpKey(VIP, 53), destSpec(RS1, 53));
  return d;
}

/** Listing without the volatile order: entries sorted, expiry in whole seconds left. */
function listing(d: Director, now: number): string[] {
  return d
    .connections(now)
    .map(
      (c) =>
        `${c.protocol} ${c.caddr}:${c.cport} ${c.vaddr}:${c.vport} ${c.daddr}:${c.dport} ${c.state} ${c.expires} ${c.template}`,
    )
    .sort();
}

function destCounts(d: Director): string[] {
  return d
    .services()
    .flatMap((s) =>
      s.dests.map((x) => `${x.addr}:${x.port} ${x.activeConns}/${x.inactConns}/${x.persistConns}`),
    );
}

test("round trip: state, time left, dest binding and active/inactive counts survive; the clocks may differ", () => {
  const a = rules();
  const p = new FlowPacket();
  const v = new Verdict();
  // Three TCP conns: established, closed (TIME_WAIT after FIN both ways), only a SYN seen.
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.1:1000", `${VIP}:80`, TCP_SYN), 1000, v);
  a.outbound(
    packet(p, IPPROTO_TCP, `${words(v.dstAddr, 4)}:8080`, "1.1.1.1:1000", TCP_SYN | TCP_ACK),
    1000,
    v,
  );
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.1:1000", `${VIP}:80`, TCP_ACK), 1000, v);
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.2:1000", `${VIP}:80`, TCP_SYN), 1001, v);
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.2:1000", `${VIP}:80`, TCP_RST), 1001, v);
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.3:1000", `${VIP}:80`, TCP_SYN), 1002, v);
  a.inbound(packet(p, IPPROTO_UDP, "1.1.1.4:5353", `${VIP}:53`), 1003, v);
  const snap = JSON.parse(JSON.stringify(a.exportConnections(1010)));

  const b = rules();
  const r = b.importConnections(snap, 7);
  assert.deepEqual(r, { imported: 4, noDest: 0, refused: 0, invalid: 0 });
  assert.deepEqual(listing(b, 7), listing(a, 1010));
  assert.deepEqual(destCounts(b), destCounts(a));
  // The listed counters came along too.
  assert.deepEqual(b.displayed(b.totals), a.displayed(a.totals));
  const svcB = b.findService(tcpKey(VIP, 80))!;
  const svcA = a.findService(tcpKey(VIP, 80))!;
  assert.deepEqual(b.displayed(svcB.stats), a.displayed(svcA.stats));
  // The established conn goes on to the same real server, both ways, and ends as usual.
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.1:1000", `${VIP}:80`, TCP_ACK), 1010, v);
  const rsOfA = words(v.dstAddr, 4);
  b.inbound(packet(p, IPPROTO_TCP, "1.1.1.1:1000", `${VIP}:80`, TCP_ACK), 7, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(v.isNew, false);
  assert.equal(words(v.dstAddr, 4), rsOfA);
  assert.equal(v.dstPort, 8080);
  b.outbound(packet(p, IPPROTO_TCP, `${rsOfA}:8080`, "1.1.1.1:1000", TCP_ACK), 7, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(words(v.srcAddr, 4), VIP);
  // Timers run on from the new clock: everything is gone once the longest timeout passed.
  b.tick(7 + 15 * 60 + 1);
  assert.equal(b.connCount, 0);
  assert.deepEqual(destCounts(b), [`${RS2}:8080 0/0/0`, `${RS1}:8080 0/0/0`, `${RS1}:53 0/0/0`]);
});

test("entries whose real server is gone are left out; so are bad records", () => {
  const a = rules();
  const p = new FlowPacket();
  const v = new Verdict();
  for (let k = 0; k < 4; k++)
    a.inbound(packet(p, IPPROTO_TCP, `1.1.1.${k + 1}:1000`, `${VIP}:80`, TCP_SYN), 1, v);
  const snap = a.exportConnections(1);
  const b = rules();
  b.delDest(tcpKey(VIP, 80), ip(RS2), 8080);
  snap.conns.push({ ...snap.conns[0]!, caddr: "not an address" });
  snap.conns.push({ ...snap.conns[0]!, cport: 70000 });
  const r = b.importConnections(snap, 1);
  assert.deepEqual(r, { imported: 2, noDest: 2, refused: 0, invalid: 2 });
  assert.ok(b.connections(1).every((c) => c.daddr === RS1));
  // Importing the same snapshot again adds nothing twice.
  assert.equal(b.importConnections(snap, 1).refused, 2);
  assert.throws(() => b.importConnections({ version: 2, conns: [] }, 1), { errno: "EINVAL" });
  assert.throws(() => b.importConnections(null, 1), { errno: "EINVAL" });
});

test("persistence templates come along, keep controlling their conns and keep a client on its real server", () => {
  const a = rules(true);
  const p = new FlowPacket();
  const v = new Verdict();
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.1:1000", `${VIP}:80`, TCP_SYN), 0, v);
  const first = words(v.dstAddr, 4);
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.1:1001", `${VIP}:80`, TCP_SYN), 0, v);
  const b = rules(true);
  assert.equal(b.importConnections(a.exportConnections(10), 0).imported, 3);
  assert.deepEqual(destCounts(b), destCounts(a));
  // rr in b would pick the other RS first; the template keeps the client where it was.
  b.inbound(packet(p, IPPROTO_TCP, "1.1.1.1:1002", `${VIP}:80`, TCP_SYN), 1, v);
  assert.equal(words(v.dstAddr, 4), first);
  b.inbound(packet(p, IPPROTO_TCP, "9.9.9.9:1000", `${VIP}:80`, TCP_SYN), 1, v);
  // The template is held by its conns: it outlives its own 300 s while they live.
  b.tick(295);
  assert.ok(b.connections(295).some((c) => c.template && c.caddr === "1.1.1.1"));
});

test("FULLNAT conns keep their local port, which is not handed out again", () => {
  const mk = () => {
    const d = makeDirector({ localPorts: { min: 2000, max: 2002 } });
    const key = tcpKey(VIP, 80);
    d.addService(svcSpec(key));
    d.addDest(key, destSpec(RS1, 80, "fullnat"));
    d.addLaddr(key, ip("192.168.1.100"), "eth1");
    return d;
  };
  const a = mk();
  const p = new FlowPacket();
  const v = new Verdict();
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.1:1000", `${VIP}:80`, TCP_SYN), 0, v);
  a.inbound(packet(p, IPPROTO_TCP, "1.1.1.2:1000", `${VIP}:80`, TCP_SYN), 0, v);
  const taken = a
    .connections(0)
    .map((c) => c.lport)
    .sort();
  const b = mk();
  assert.equal(b.importConnections(a.exportConnections(0), 0).imported, 2);
  assert.deepEqual(
    b
      .connections(0)
      .map((c) => c.lport)
      .sort(),
    taken,
  );
  b.inbound(packet(p, IPPROTO_TCP, "1.1.1.3:1000", `${VIP}:80`, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.ok(!taken.includes(v.srcPort), `port ${v.srcPort} was handed out twice`);
  b.inbound(packet(p, IPPROTO_TCP, "1.1.1.4:1000", `${VIP}:80`, TCP_SYN), 0, v);
  assert.notEqual(v.action, ACTION_FORWARD, "all three ports are in use");
});

test("PortRing.reserve: a reserved port is never taken; given back, it is free again exactly once", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom("take", "reserve", "give"), fc.integer({ min: 9, max: 21 })), {
        maxLength: 60,
      }),
      (ops) => {
        const ring = new PortRing({ min: 10, max: 20 });
        const inUse = new Set<number>();
        for (const [op, port] of ops) {
          if (op === "take") {
            const p = ring.take();
            if (p < 0) assert.equal(inUse.size, 11);
            else {
              assert.ok(!inUse.has(p), `port ${p} taken twice`);
              inUse.add(p);
            }
          } else if (op === "reserve") {
            const ok = ring.reserve(port);
            assert.equal(ok, port >= 10 && port <= 20 && !inUse.has(port));
            if (ok) inUse.add(port);
          } else if (inUse.has(port)) {
            ring.give(port);
            inUse.delete(port);
          }
          assert.equal(ring.free, 11 - inUse.size);
          assert.equal(ring.inUse, inUse.size);
        }
      },
    ),
  );
});

test("property: after random traffic, a round trip lists the same entries and counts", () => {
  const flags = [TCP_SYN, TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST, TCP_SYN | TCP_ACK];
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          client: fc.integer({ min: 1, max: 6 }),
          udp: fc.boolean(),
          out: fc.boolean(),
          flag: fc.integer({ min: 0, max: flags.length - 1 }),
          dt: fc.integer({ min: 0, max: 30 }),
        }),
        { maxLength: 80 },
      ),
      fc.boolean(),
      (steps, persistent) => {
        const a = rules(persistent);
        const p = new FlowPacket();
        const v = new Verdict();
        let now = 0;
        for (const s of steps) {
          now += s.dt;
          a.tick(now);
          const client = `1.1.1.${s.client}:1000`;
          if (s.udp) a.inbound(packet(p, IPPROTO_UDP, client, `${VIP}:53`), now, v);
          else if (s.out) {
            for (const rs of [RS1, RS2])
              a.outbound(packet(p, IPPROTO_TCP, `${rs}:8080`, client, flags[s.flag]!), now, v);
          } else a.inbound(packet(p, IPPROTO_TCP, client, `${VIP}:80`, flags[s.flag]!), now, v);
        }
        const b = rules(persistent);
        const r = b.importConnections(JSON.parse(JSON.stringify(a.exportConnections(now))), 50);
        assert.equal(r.imported, a.connCount);
        assert.deepEqual(listing(b, 50), listing(a, now));
        assert.deepEqual(destCounts(b), destCounts(a));
      },
    ),
  );
});

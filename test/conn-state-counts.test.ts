/**
 * The connection table's running counts by state (tslvs_connections, tslvs_persistence_templates)
 * agree with a walk of the table after any mix of packets, expiries and a handover; and a service
 * that finds no real server counts it (tslvs_scheduler_no_destination_total).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { Director } from "../src/core/director.js";
import { IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../src/core/flow.js";
import { SVC_F_PERSISTENT } from "../src/core/service.js";
import { Verdict } from "../src/core/verdict.js";
import { destSpec, FlowPacket, makeDirector, packet, svcSpec, tcpKey, udpKey } from "./director-fixtures.js";

/** The counts a full walk gives: by `-Lnc` state name, templates apart. */
function walked(d: Director, now: number): { byState: Record<string, number>; templates: number } {
  const byState: Record<string, number> = {};
  let templates = 0;
  for (const c of d.connections(now)) {
    if (c.template) templates++;
    else byState[c.state] = (byState[c.state] ?? 0) + 1;
  }
  return { byState, templates };
}

function counted(d: Director): { byState: Record<string, number>; templates: number } {
  const { byState, templates } = d.connStates();
  return { byState: Object.fromEntries(Object.entries(byState).filter(([, n]) => n !== 0)), templates };
}

function lab(): Director {
  const d = makeDirector();
  const web = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(web));
  d.addDest(web, destSpec("192.168.1.2", 8080));
  d.addDest(web, destSpec("192.168.1.3", 8080));
  const sticky = tcpKey("10.0.0.1", 443);
  d.addService(svcSpec(sticky, { flags: SVC_F_PERSISTENT, timeout: 300 }));
  d.addDest(sticky, destSpec("192.168.1.2", 443));
  const dns = udpKey("10.0.0.1", 53);
  d.addService(svcSpec(dns));
  d.addDest(dns, destSpec("192.168.1.4", 53));
  return d;
}

const FLAGS = [TCP_SYN, TCP_ACK, TCP_FIN | TCP_ACK, TCP_RST, TCP_SYN | TCP_ACK, 0];
const PORTS = [80, 443, 53];

test("counts by state equal a walk of the table, through packets, expiries and a handover", () => {
  const step = fc.record({
    client: fc.integer({ min: 1, max: 6 }),
    port: fc.constantFrom(...PORTS),
    flags: fc.constantFrom(...FLAGS),
    reply: fc.boolean(),
    wait: fc.constantFrom(0, 1, 30, 200),
  });
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const d = lab();
      const p = new FlowPacket();
      const v = new Verdict();
      let now = 0;
      for (const s of steps) {
        now += s.wait;
        d.tick(now);
        const proto = s.port === 53 ? IPPROTO_UDP : IPPROTO_TCP;
        const client = `1.2.3.${s.client}:${5000 + s.client}`;
        if (s.reply) {
          const rs =
            s.port === 53 ? "192.168.1.4:53" : s.port === 443 ? "192.168.1.2:443" : "192.168.1.2:8080";
          d.outbound(packet(p, proto, rs, client, s.flags), now, v);
        } else d.inbound(packet(p, proto, client, `10.0.0.1:${s.port}`, s.flags), now, v);
        assert.deepEqual(counted(d), walked(d, now));
      }
      const next = lab();
      next.importConnections(JSON.parse(JSON.stringify(d.exportConnections(now))), now);
      assert.deepEqual(counted(next), walked(next, now));
      // Everything expires: a template whose timer fires while its connections still live is re-armed
      // (as the kernel does), so a second sweep, a template timeout later, takes it.
      d.tick(now + 100_000);
      assert.deepEqual(counted(d), walked(d, now + 100_000));
      d.tick(now + 200_000);
      assert.deepEqual(counted(d), { byState: {}, templates: 0 });
    }),
    { numRuns: 150 },
  );
});

test("every state name is present, zero or not", () => {
  const { byState, templates } = makeDirector().connStates();
  assert.deepEqual(Object.keys(byState).sort(), [
    "CLOSE",
    "CLOSE_WAIT",
    "ESTABLISHED",
    "FIN_WAIT",
    "LAST_ACK",
    "LISTEN",
    "NONE",
    "SYNACK",
    "SYN_RECV",
    "SYN_SENT",
    "TIME_WAIT",
    "UDP",
  ]);
  assert.ok(Object.values(byState).every((n) => n === 0));
  assert.equal(templates, 0);
});

test("a service without a real server counts each new connection it cannot place", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.9", 80);
  d.addService(svcSpec(key));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", "10.0.0.9:80", TCP_SYN), 0, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.5:5000", "10.0.0.9:80", TCP_SYN), 0, v);
  const svc = d.findService(key)!;
  assert.equal(svc.noDestination, 2);
  assert.equal(svc.stats.conns, 0);
  d.addDest(key, destSpec("192.168.1.2", 80));
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.6:5000", "10.0.0.9:80", TCP_SYN), 0, v);
  assert.equal(svc.noDestination, 2);
  assert.equal(svc.stats.conns, 1);
});

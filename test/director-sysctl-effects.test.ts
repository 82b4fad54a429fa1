/**
 * Kernel behaviours the Director must show through its real management and packet paths (the
 * registry's schedulers, not a fixture): last_weight set on every add (mh), and the lblc/lblcr
 * expiration sysctls read by the schedulers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Director } from "../src/core/director.js";
import { FlowPacket, IPPROTO_TCP, TCP_ACK, TCP_SYN } from "../src/core/flow.js";
import { ACTION_FORWARD, Verdict } from "../src/core/verdict.js";
import { destSpec, ip, packet, svcSpec, tcpKey } from "./director-fixtures.js";

const VIP = "198.18.0.10";
const KEY = tcpKey(VIP, 80);

function director(): Director {
  let seed = 7;
  return new Director({
    connCapacity: 1 << 16,
    random: () => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    },
  });
}

test("mh: a real server deleted and added again with weight 0 gets no share of the table (last_weight set on add)", () => {
  const d = director();
  d.addService(svcSpec(KEY, { scheduler: "mh" }));
  for (const n of [20, 30, 40]) d.addDest(KEY, destSpec(`198.19.10.${n}`, 80));
  d.delDest(KEY, ip("198.19.10.40"), 80);
  // Back from the trash at weight 0: the kernel gives it last_weight 0, so no slot of mh's table.
  d.addDest(KEY, destSpec("198.19.10.40", 80, "masq", { weight: 0 }));
  const pkt = new FlowPacket();
  const v = new Verdict();
  let unscheduled = 0;
  for (let i = 0; i < 3000; i++) {
    d.inbound(
      packet(pkt, IPPROTO_TCP, `198.18.${(i >> 8) & 255}.${i & 255}:${1024 + i}`, `${VIP}:80`, TCP_SYN),
      1,
      v,
    );
    if (v.action !== ACTION_FORWARD) unscheduled++;
    else assert.notEqual(v.dest?.addr.toString(), "198.19.10.40");
  }
  assert.equal(unscheduled, 0, "every flow finds a real server (a weight-0 slot would have none)");
});

test("lblc and lblcr: their expiration sysctls decide when an idle locality entry goes", () => {
  for (const sched of ["lblc", "lblcr"] as const) {
    const picks: string[] = [];
    for (const expiration of [60, 86400]) {
      const d = director();
      d.sysctls.set(`${sched}_expiration`, expiration);
      d.addService(svcSpec(KEY, { scheduler: sched }));
      d.addDest(KEY, destSpec("198.19.10.20", 80, "masq", { weight: 4 }));
      d.addDest(KEY, destSpec("198.19.10.30", 80, "masq", { weight: 4 }));
      const pkt = new FlowPacket();
      const v = new Verdict();
      // The first connection caches the VIP's locality entry on one real server and stays
      // established (an ACK every 480 s keeps it from its 900 s timeout).
      const client = "198.18.1.1:1000";
      d.inbound(packet(pkt, IPPROTO_TCP, client, `${VIP}:80`, TCP_SYN), 1, v);
      const first = v.dest!.addr.toString();
      d.inbound(packet(pkt, IPPROTO_TCP, client, `${VIP}:80`, TCP_ACK), 2, v);
      // 40 minutes without a new connection: past a 30-minute sweep, past 60 s, short of 24 h.
      for (let t = 60; t <= 2400; t += 60) {
        if (t % 480 === 0) d.inbound(packet(pkt, IPPROTO_TCP, client, `${VIP}:80`, TCP_ACK), t, v);
        d.tick(t);
      }
      d.inbound(packet(pkt, IPPROTO_TCP, "198.18.1.2:1001", `${VIP}:80`, TCP_SYN), 2400, v);
      picks.push(`${expiration}: ${v.dest!.addr.toString() === first ? "cached" : "rescheduled"}`);
    }
    // Expired, the entry is made again by weighted least-connection: the other, idle server; kept,
    // it still names the first (one active connection is within its weight).
    assert.deepEqual(picks, ["60: rescheduled", "86400: cached"], sched);
  }
});

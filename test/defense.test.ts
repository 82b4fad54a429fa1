/**
 * The kernel's memory defence (src/core/defense.ts) through the Director's real packet path and
 * tick: drop_entry's once-a-second pass drops what a SYN flood leaves (half-open connections)
 * and never a busy established one, and its automatic mode moves the sysctl 1 -> 2 -> 1 as room
 * runs short and returns; drop_packet refuses 1 new connection in am_droprate (always) or in
 * amemthresh / (amemthresh - free) (automatic); secure_tcp's table keeps a client's bare ACK from
 * establishing a connection; an idle UDP flow with few packets goes only after a minute idle.
 * "Available memory" is the table's free entries.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Director } from "../src/core/director.js";
import { FlowPacket, IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_SYN } from "../src/core/flow.js";
import { ACTION_DROP, ACTION_FORWARD, Verdict } from "../src/core/verdict.js";
import { destSpec, packet, svcSpec, tcpKey, udpKey } from "./director-fixtures.js";

const VIP = "198.18.0.10";
const CAPACITY = 4096;

function director(): Director {
  let seed = 11;
  const d = new Director({
    connCapacity: CAPACITY,
    random: () => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    },
  });
  for (const key of [tcpKey(VIP, 80), udpKey(VIP, 53)]) {
    d.addService(svcSpec(key, { scheduler: "rr" }));
    d.addDest(key, destSpec("198.19.0.1", key.kind === "addr" ? key.port : 0));
    d.addDest(key, destSpec("198.19.0.2", key.kind === "addr" ? key.port : 0));
  }
  return d;
}

const pkt = new FlowPacket();
const v = new Verdict();
/** A client address per index, all in 198.18.0.0/15. */
const client = (i: number) => `198.18.${1 + ((i >> 8) & 127)}.${i & 255}:${1024 + (i % 60000)}`;

function syn(d: Director, i: number, now: number): Verdict {
  return d.inbound(packet(pkt, IPPROTO_TCP, client(i), `${VIP}:80`, TCP_SYN), now, v);
}

function ack(d: Director, i: number, now: number): Verdict {
  return d.inbound(packet(pkt, IPPROTO_TCP, client(i), `${VIP}:80`, TCP_ACK), now, v);
}

function states(d: Director, now: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of d.connections(now)) m.set(c.state, (m.get(c.state) ?? 0) + 1);
  return m;
}

test("drop_entry (automatic): a SYN flood's half-open entries dropped, busy established ones kept, the sysctl 1 -> 2 -> 1", () => {
  const d = director();
  d.sysctls.set("drop_entry", 1);
  // 500 established connections with more than 8 packets in (never candidates), then a flood.
  for (let i = 0; i < 500; i++) {
    syn(d, i, 1);
    for (let k = 0; k < 10; k++) ack(d, i, 1);
  }
  for (let i = 500; i < 3500; i++) syn(d, i, 1);
  assert.equal(d.tableFill().entries, 3500);
  d.tick(1);
  // 596 free entries < amemthresh 1024: in force, and the sysctl reads 2 as the kernel's does.
  assert.equal(d.sysctls.get("drop_entry"), 2);
  assert.equal(d.tableFill().defense.dropEntry, true);
  let t = 1;
  while (d.sysctls.get("drop_entry") === 2 && t < 50) d.tick(++t);
  assert.equal(d.sysctls.get("drop_entry"), 1, "back to automatic once 1,024 entries are free");
  assert.equal(d.tableFill().defense.dropEntry, false);
  assert.ok(t < 50, `the pass freed room in ${t - 1} s, before the SYN_RECV timeout`);
  const s = states(d, t);
  assert.equal(s.get("ESTABLISHED"), 500, "no established connection with >8 packets in was dropped");
  const dropped = d.tableFill().defense.entriesDropped;
  assert.equal(s.get("SYN_RECV"), 3000 - dropped, "what was dropped was half-open");
  assert.ok(CAPACITY - d.tableFill().entries >= 1024);
  // A second of the pass looks at 1/32 of the table: it cannot have emptied it at once.
  assert.ok(t - 1 >= 3, `${t - 1} passes`);
});

test("drop_entry off: nothing dropped however full", () => {
  const d = director();
  for (let i = 0; i < 4000; i++) syn(d, i, 1);
  for (let t = 2; t < 30; t++) d.tick(t);
  assert.equal(d.tableFill().entries, 4000);
  assert.equal(d.tableFill().defense.entriesDropped, 0);
});

test("drop_packet: always (3) refuses 1 new connection in am_droprate; automatic (1) 1 in amemthresh/(amemthresh-free)", () => {
  const d = director();
  d.sysctls.set("am_droprate", 10);
  d.sysctls.set("drop_packet", 3);
  let refused = 0;
  for (let i = 0; i < 100; i++) {
    const r = syn(d, i, 1);
    if (r.action === ACTION_DROP) {
      assert.equal(r.reason, "defense-drop");
      refused++;
    } else assert.equal(r.action, ACTION_FORWARD);
  }
  assert.equal(refused, 10);
  assert.equal(d.tableFill().defense.packetsDropped, 10);
  // Packets of existing connections are never refused.
  for (let i = 0; i < 100; i++) if (d.tableFill().entries > 0) ack(d, i, 1);

  const e = director();
  e.sysctls.set("drop_packet", 1);
  for (let i = 0; i < 3500; i++) syn(e, i, 1);
  assert.equal(e.tableFill().defense.packetsDropped, 0, "room enough: nothing refused");
  e.tick(1);
  assert.equal(e.sysctls.get("drop_packet"), 2);
  // 596 free: 1024 / (1024 - 596) = 2, one in two.
  assert.equal(e.tableFill().defense.dropRate, 2);
  let dropped = 0;
  for (let i = 3500; i < 3600; i++) if (syn(e, i, 2).action === ACTION_DROP) dropped++;
  assert.equal(dropped, 50);
  // Room again (the flood's entries expire): off, and the sysctl back to 1.
  e.tick(200);
  assert.equal(e.sysctls.get("drop_packet"), 1);
  assert.equal(e.tableFill().defense.dropRate, 0);
});

test("secure_tcp: the defensive table keeps a bare ACK from establishing; automatic follows the room", () => {
  for (const [mode, expected] of [
    [0, "ESTABLISHED"],
    [3, "SYN_RECV"],
    [1, "ESTABLISHED"],
  ] as const) {
    const d = director();
    d.sysctls.set("secure_tcp", mode);
    syn(d, 1, 1);
    ack(d, 1, 1);
    assert.equal(d.connections(1)[0]?.state, expected, `secure_tcp ${mode}`);
    assert.equal(d.sysctls.get("secure_tcp"), mode, "room enough: the mode as set");
  }
  const d = director();
  d.sysctls.set("secure_tcp", 1);
  for (let i = 0; i < 3500; i++) syn(d, i, 1);
  d.tick(1);
  assert.equal(d.sysctls.get("secure_tcp"), 2);
  assert.equal(d.tableFill().defense.secureTcp, true);
  syn(d, 5000, 2);
  ack(d, 5000, 2);
  assert.equal(
    d.connections(2).find((c) => c.cport === 1024 + 5000)?.state,
    "SYN_RECV",
    "short of room: the defensive table",
  );
});

test("drop_entry always (3): a UDP flow with few packets goes only after a minute idle", () => {
  const d = director();
  d.sysctls.set("drop_entry", 3);
  for (let i = 0; i < 2000; i++) d.inbound(packet(pkt, IPPROTO_UDP, client(i), `${VIP}:53`, 0), 1, v);
  for (let t = 2; t <= 55; t++) d.tick(t);
  assert.equal(d.tableFill().defense.entriesDropped, 0, "refreshed less than 60 s ago: kept");
  for (let t = 62; t <= 90; t++) d.tick(t);
  const dropped = d.tableFill().defense.entriesDropped;
  assert.ok(dropped > 0, "idle a minute with one packet in: candidates");
  assert.equal(d.tableFill().entries, 2000 - dropped);
});

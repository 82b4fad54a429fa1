import assert from "node:assert/strict";
import { test } from "node:test";
import { IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_SYN } from "../src/core/flow.js";
import { SVC_F_ONEPACKET, SVC_F_PERSISTENT } from "../src/core/service.js";
import { ACTION_FORWARD, ACTION_ICMP_UNREACH, Verdict } from "../src/core/verdict.js";
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

const VIP = "10.0.0.1:80";

function persistentSetup(timeout = 360, netmask = 0xffffffff) {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key, { flags: SVC_F_PERSISTENT, timeout, netmask }));
  d.addDest(key, destSpec("192.168.1.2", 80));
  d.addDest(key, destSpec("192.168.1.3", 80));
  return { d, key, p: new FlowPacket(), v: new Verdict() };
}

test("persistence: the same client gets the same dest across conns; the template lists as NONE then ASSURED", () => {
  const { d, key, p, v } = persistentSetup();
  const picks = new Set<string>();
  for (let k = 0; k < 6; k++) {
    d.inbound(packet(p, IPPROTO_TCP, `1.2.3.4:${5000 + k}`, VIP, TCP_SYN), k, v);
    picks.add(words(v.dstAddr, 4));
  }
  assert.equal(picks.size, 1);
  // Another client is scheduled afresh (rr moves on).
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.5:5000", VIP, TCP_SYN), 6, v);
  assert.notEqual(words(v.dstAddr, 4), [...picks][0]);
  const tpl = d.connections(6).filter((c) => c.template);
  assert.equal(tpl.length, 2);
  assert.equal(tpl[0]!.state, "NONE");
  assert.equal(tpl[0]!.cport, 0);
  assert.equal(tpl[0]!.expires, 360 - 1, "re-armed by the last new conn (t=5)");
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 7, v);
  assert.equal(d.connections(7).find((c) => c.template && c.caddr === "1.2.3.4")!.state, "ASSURED");
  const dest = d.findService(key)!.dests.find((x) => x.addr.toString() === [...picks][0])!;
  assert.equal(dest.persistConns, 1);
  assert.equal(dest.stats.conns, 6);
});

test("persistence netmask groups clients of one /24", () => {
  const { d, p, v } = persistentSetup(360, 0xffffff00);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  const first = words(v.dstAddr, 4);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.200:5000", VIP, TCP_SYN), 0, v);
  assert.equal(words(v.dstAddr, 4), first);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.4.1:5000", VIP, TCP_SYN), 0, v);
  assert.notEqual(words(v.dstAddr, 4), first);
  const tpl = d.connections(0).filter((c) => c.template);
  assert.deepEqual(tpl.map((c) => c.caddr).sort(), ["1.2.3.0", "1.2.4.0"]);
});

test("template expiry: lives while it controls conns (60 s retries), and the 60 s quirk sticks", () => {
  const { d, p, v } = persistentSetup(100);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 0, v);
  const dest1 = words(v.dstAddr, 4);
  // ESTABLISHED lasts 900 s; the template is due at 100 but still controls the conn.
  d.tick(100);
  let tpl = d.connections(100).find((c) => c.template)!;
  assert.equal(tpl.expires, 60);
  d.tick(160);
  assert.equal(d.connections(160).find((c) => c.template)!.expires, 60);
  // A new conn through the template re-arms it with its stored timeout, now 60 s (not 100).
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN), 170, v);
  assert.equal(words(v.dstAddr, 4), dest1);
  tpl = d.connections(170).find((c) => c.template)!;
  assert.equal(tpl.expires, 60);
  // RST: the established conn goes to CLOSE (10 s); the half-open one stays SYN_RECV (RST on SR).
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, 0x04), 171, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, 0x04), 171, v);
  assert.deepEqual(
    d
      .connections(171)
      .filter((c) => !c.template)
      .map((c) => c.state),
    ["CLOSE", "SYN_RECV"],
  );
  d.tick(181);
  assert.equal(d.connections(181).filter((c) => !c.template).length, 1);
  // At 230 the template is due but still controls the SYN_RECV conn (due at 231): another 60 s.
  d.tick(230);
  assert.equal(d.connections(230).find((c) => c.template)!.expires, 60);
  d.tick(231);
  assert.equal(d.connCount, 1);
  d.tick(289);
  assert.equal(d.connCount, 1);
  d.tick(290);
  assert.equal(d.connCount, 0);
});

test("quiescent dest keeps its template unless expire_quiescent_template", () => {
  for (const eqt of [0, 1]) {
    const { d, key, p, v } = persistentSetup();
    d.sysctls.set("expire_quiescent_template", eqt);
    d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
    const first = v.dest!;
    d.editDest(key, destSpec(first.addr.toString(), 80, "masq", { weight: 0 }));
    d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN), 1, v);
    if (eqt === 0) assert.equal(v.dest, first);
    else assert.notEqual(v.dest, first);
  }
});

test("a template whose dest was deleted is neutralised and the client rescheduled", () => {
  const { d, key, p, v } = persistentSetup();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  const first = v.dest!;
  d.delDest(key, first.addr, 80);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN), 1, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.notEqual(v.dest, first);
  const old = d.connections(1).find((c) => c.template && c.vport === 0xffff);
  assert.ok(old, "old template rehashed with vport 65535");
  assert.equal(old.dport, 0xffff);
});

test("fwmark services match by mark first; persistent fwmark templates list as protocol IP", () => {
  const d = makeDirector();
  const fkey = { kind: "fwmark" as const, family: 4 as const, fwmark: 7 };
  d.addService(svcSpec(fkey, { flags: SVC_F_PERSISTENT, timeout: 120 }));
  d.addDest(fkey, destSpec("192.168.1.9", 0));
  const akey = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(akey));
  d.addDest(akey, destSpec("192.168.1.2", 80));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN, 60, 7), 0, v);
  assert.equal(words(v.dstAddr, 4), "192.168.1.9");
  assert.equal(v.dstPort, 80, "port-0 dest keeps the packet's port");
  d.inbound(packet(p, IPPROTO_UDP, "1.2.3.4:5000", "10.9.9.9:53", 0, 60, 7), 0, v);
  assert.equal(words(v.dstAddr, 4), "192.168.1.9");
  const tpl = d.connections(0).filter((c) => c.template);
  assert.equal(tpl.length, 1, "one template for both protocols and addresses");
  assert.equal(tpl[0]!.protocol, "IP");
  assert.equal(tpl[0]!.vaddr, "0.0.0.7");
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN, 60, 0), 0, v);
  assert.equal(words(v.dstAddr, 4), "192.168.1.2");
});

test("port-0 persistent service catches every port of its VIP", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.3", 0);
  d.addService(svcSpec(key, { flags: SVC_F_PERSISTENT, timeout: 300 }));
  d.addDest(key, destSpec("192.168.1.2", 0));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", "10.0.0.3:443", TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(v.dstPort, 443);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", "10.0.0.3:22", TCP_SYN), 0, v);
  assert.equal(v.dstPort, 22);
  assert.equal(d.connections(0).filter((c) => c.template).length, 1);
  // Non-persistent port-0 services cannot schedule (the kernel insists on persistence).
  const k2 = tcpKey("10.0.0.4", 0);
  d.addService(svcSpec(k2));
  d.addDest(k2, destSpec("192.168.1.2", 0));
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", "10.0.0.4:443", TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_ICMP_UNREACH);
});

test("one-packet scheduling: every UDP datagram is scheduled alone and leaves no conn", () => {
  const d = makeDirector();
  const key = udpKey("10.0.0.53", 53);
  d.addService(svcSpec(key, { flags: SVC_F_ONEPACKET }));
  d.addDest(key, destSpec("192.168.1.2", 53));
  d.addDest(key, destSpec("192.168.1.3", 53));
  const p = new FlowPacket();
  const v = new Verdict();
  const seen: string[] = [];
  for (let k = 0; k < 4; k++) {
    d.inbound(packet(p, IPPROTO_UDP, "1.2.3.4:5000", "10.0.0.53:53"), k, v);
    assert.equal(v.action, ACTION_FORWARD);
    assert.equal(v.conn, -1);
    seen.push(words(v.dstAddr, 4));
  }
  assert.deepEqual(seen, ["192.168.1.3", "192.168.1.2", "192.168.1.3", "192.168.1.2"]);
  assert.equal(d.connCount, 0);
  for (const dest of d.findService(key)!.dests) {
    assert.equal(dest.inactConns, 0);
    assert.equal(dest.stats.conns, 2);
    assert.equal(dest.stats.inPkts, 2);
  }
  void ip;
});

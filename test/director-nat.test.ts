import assert from "node:assert/strict";
import { test } from "node:test";
import { CONN_F_DROUTE, CONN_F_MASQ } from "../src/core/conn-table.js";
import { IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_FIN, TCP_SYN } from "../src/core/flow.js";
import { ACTION_FORWARD, ACTION_ICMP_UNREACH, ACTION_PASS, Verdict } from "../src/core/verdict.js";
import {
  destSpec,
  FlowPacket,
  makeDirector,
  packet,
  svcSpec,
  tcpKey,
  udpKey,
  words,
} from "./director-fixtures.js";

const VIP = "10.0.0.1:80";

test("NAT handshake: rewrite to the real server, reply restored to the VIP, states as the kernel's", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  d.addDest(key, destSpec("192.168.1.2", 8080));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(v.fwd, CONN_F_MASQ);
  assert.equal(v.isNew, true);
  assert.equal(words(v.dstAddr, 4), "192.168.1.2");
  assert.equal(v.dstPort, 8080);
  assert.equal(words(v.srcAddr, 4), "1.2.3.4");
  assert.equal(v.rewriteDst, true);
  assert.equal(v.rewriteSrc, false);
  let c = d.connections(0)[0]!;
  assert.equal(c.state, "SYN_RECV");
  assert.equal(c.expires, 60);

  d.outbound(packet(p, IPPROTO_TCP, "192.168.1.2:8080", "1.2.3.4:5000", TCP_SYN | TCP_ACK), 1, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(words(v.srcAddr, 4), "10.0.0.1");
  assert.equal(v.srcPort, 80);
  assert.equal(words(v.dstAddr, 4), "1.2.3.4");
  assert.equal(d.connections(1)[0]!.state, "SYN_RECV");

  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 2, v);
  assert.equal(v.isNew, false);
  c = d.connections(2)[0]!;
  assert.equal(c.state, "ESTABLISHED");
  assert.equal(c.expires, 900);
  const dest = d.findService(key)!.dests[0]!;
  assert.equal(dest.activeConns, 1);
  assert.equal(dest.inactConns, 0);

  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_FIN | TCP_ACK), 3, v);
  assert.equal(d.connections(3)[0]!.state, "CLOSE_WAIT");
  d.outbound(packet(p, IPPROTO_TCP, "192.168.1.2:8080", "1.2.3.4:5000", TCP_FIN | TCP_ACK), 4, v);
  assert.equal(d.connections(4)[0]!.state, "TIME_WAIT");
  assert.equal(dest.activeConns, 0);
  assert.equal(dest.inactConns, 1);
  // Counters: 3 packets in, 2 out, 1 conn, on dest, service and totals.
  for (const s of [dest.stats, d.findService(key)!.stats, d.totals]) {
    assert.equal(s.conns, 1);
    assert.equal(s.inPkts, 3);
    assert.equal(s.outPkts, 2);
    assert.equal(s.inBytes, 180);
  }
  // TIME_WAIT lasts 120 s of idleness.
  d.tick(4 + 119);
  assert.equal(d.connCount, 1);
  d.tick(4 + 120);
  assert.equal(d.connCount, 0);
  assert.equal(dest.inactConns, 0);
});

test("ten closed NAT conns over two dests: 0 active and 5 inactive each", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  d.addDest(key, destSpec("192.168.1.2", 80));
  d.addDest(key, destSpec("192.168.1.3", 80));
  const p = new FlowPacket();
  const v = new Verdict();
  for (let k = 0; k < 10; k++) {
    const c = `1.2.3.4:${10000 + k}`;
    d.inbound(packet(p, IPPROTO_TCP, c, VIP, TCP_SYN), k, v);
    const rs = `${words(v.dstAddr, 4)}:80`;
    d.outbound(packet(p, IPPROTO_TCP, rs, c, TCP_SYN | TCP_ACK), k, v);
    d.inbound(packet(p, IPPROTO_TCP, c, VIP, TCP_ACK), k, v);
    d.inbound(packet(p, IPPROTO_TCP, c, VIP, TCP_FIN | TCP_ACK), k, v);
    d.outbound(packet(p, IPPROTO_TCP, rs, c, TCP_FIN | TCP_ACK), k, v);
    d.inbound(packet(p, IPPROTO_TCP, c, VIP, TCP_ACK), k, v);
  }
  for (const dest of d.findService(key)!.dests) {
    assert.equal(dest.activeConns, 0);
    assert.equal(dest.inactConns, 5);
    assert.equal(dest.stats.conns, 5);
  }
});

test("DR conns use INPUT_ONLY: client FIN moves ESTABLISHED to FIN_WAIT", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  d.addDest(key, destSpec("192.168.1.2", 80, "route"));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.fwd, CONN_F_DROUTE);
  assert.equal(v.rewriteDst, false);
  assert.equal(words(v.dstAddr, 4), "10.0.0.1");
  assert.equal(v.dest?.addr.toString(), "192.168.1.2");
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 1, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_FIN | TCP_ACK), 2, v);
  const c = d.connections(2)[0]!;
  assert.equal(c.state, "FIN_WAIT");
  assert.equal(c.expires, 120);
  // A DR conn is not in the reply index: a packet from the RS is not ours.
  d.outbound(packet(p, IPPROTO_TCP, "192.168.1.2:80", "1.2.3.4:5000", TCP_ACK), 3, v);
  assert.equal(v.action, ACTION_PASS);
});

test("UDP conns always count as inactive and idle out after 300 s", () => {
  const d = makeDirector();
  const key = udpKey("10.0.0.1", 53);
  d.addService(svcSpec(key));
  d.addDest(key, destSpec("192.168.1.2", 53));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_UDP, "1.2.3.4:5000", "10.0.0.1:53"), 0, v);
  d.outbound(packet(p, IPPROTO_UDP, "192.168.1.2:53", "1.2.3.4:5000"), 1, v);
  assert.equal(v.action, ACTION_FORWARD);
  const dest = d.findService(key)!.dests[0]!;
  assert.equal(dest.activeConns, 0);
  assert.equal(dest.inactConns, 1);
  const c = d.connections(1)[0]!;
  assert.equal(c.state, "UDP");
  assert.equal(c.expires, 300);
  d.tick(300);
  assert.equal(d.connCount, 1);
  d.tick(301);
  assert.equal(d.connCount, 0);
});

test("no service passes, no dest answers port unreachable, TCP non-SYN without conn passes", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", "10.0.0.2:80", TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_PASS);
  assert.equal(v.reason, "no-service");
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_ICMP_UNREACH);
  d.addDest(key, destSpec("192.168.1.2", 80));
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_ACK), 0, v);
  assert.equal(v.action, ACTION_PASS);
  assert.equal(v.reason, "not-schedulable");
  d.sysctls.set("sloppy_tcp", 1);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_ACK), 0, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(d.connections(0)[0]!.state, "ESTABLISHED");
});

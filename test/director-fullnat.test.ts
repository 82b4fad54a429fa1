import assert from "node:assert/strict";
import { test } from "node:test";
import { CONN_F_FULLNAT } from "../src/core/conn-table.js";
import { IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_SYN } from "../src/core/flow.js";
import { ACTION_DROP, ACTION_FORWARD, Verdict } from "../src/core/verdict.js";
import {
  destSpec,
  FlowPacket,
  ip,
  makeDirector,
  packet,
  svcSpec,
  tcpKey,
  words,
} from "./director-fixtures.js";

const VIP = "10.0.0.1:80";

function setup(ports = { min: 2000, max: 2002 }) {
  const d = makeDirector({ localPorts: ports });
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key, { scheduler: "rr" }));
  d.addDest(key, destSpec("192.168.1.2", 8080, "fullnat"));
  return { d, key, p: new FlowPacket(), v: new Verdict() };
}

test("FULLNAT rewrites both ends; the reply is found by (RS, LIP:lport) and restored to VIP -> client", () => {
  const { d, key, p, v } = setup();
  d.addLaddr(key, ip("192.168.1.100"), "eth1");
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(v.fwd, CONN_F_FULLNAT);
  assert.equal(words(v.srcAddr, 4), "192.168.1.100");
  assert.equal(v.srcPort, 2000);
  assert.equal(words(v.dstAddr, 4), "192.168.1.2");
  assert.equal(v.dstPort, 8080);
  assert.ok(v.rewriteSrc && v.rewriteDst);
  d.outbound(packet(p, IPPROTO_TCP, "192.168.1.2:8080", "192.168.1.100:2000", TCP_SYN | TCP_ACK), 0, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(words(v.srcAddr, 4), "10.0.0.1");
  assert.equal(v.srcPort, 80);
  assert.equal(words(v.dstAddr, 4), "1.2.3.4");
  assert.equal(v.dstPort, 5000);
  const c = d.connections(0)[0]!;
  assert.equal(c.laddr, "192.168.1.100");
  assert.equal(c.lport, 2000);
  assert.equal(c.method, "fullnat");
  assert.equal(d.getLaddrs(key)[0]!.portsInUse, 1);
});

test("FULLNAT local ports: no collisions, round robin over LIPs, freed on expiry, FIFO reuse, exhaustion refused", () => {
  const { d, key, p, v } = setup();
  d.addLaddr(key, ip("192.168.1.100"), "eth1");
  d.addLaddr(key, ip("192.168.1.101"), "eth1");
  const used: string[] = [];
  for (let k = 0; k < 6; k++) {
    d.inbound(packet(p, IPPROTO_TCP, `1.2.3.4:${5000 + k}`, VIP, TCP_SYN), 0, v);
    assert.equal(v.action, ACTION_FORWARD);
    used.push(`${words(v.srcAddr, 4)}:${v.srcPort}`);
  }
  assert.equal(new Set(used).size, 6);
  assert.deepEqual(used.slice(0, 4), [
    "192.168.1.100:2000",
    "192.168.1.101:2000",
    "192.168.1.100:2001",
    "192.168.1.101:2001",
  ]);
  // 2 LIPs x 3 ports: the seventh conn cannot get a local port.
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5999", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_DROP);
  assert.equal(v.reason, "no-local-port");
  assert.equal(d.noLocalPort, 1);
  assert.equal(d.findService(key)!.dests[0]!.activeConns + d.findService(key)!.dests[0]!.inactConns, 6);
  // A conn moved to CLOSE (10 s) frees its port on expiry; a freed port goes to the back of the queue.
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, 0), 1, v);
  d.tick(11);
  assert.equal(d.connCount, 5);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:6000", VIP, TCP_SYN), 12, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(`${words(v.srcAddr, 4)}:${v.srcPort}`, "192.168.1.100:2000");
});

test("FULLNAT ports are per protocol and the host's ephemeral range can be excluded", () => {
  const d = makeDirector({ localPorts: { min: 1025, max: 1030, exclude: [1026, 1029] } });
  const tkey = tcpKey("10.0.0.1", 80);
  const ukey = { kind: "addr" as const, protocol: IPPROTO_UDP, addr: ip("10.0.0.1"), port: 80 };
  for (const key of [tkey, ukey]) {
    d.addService(svcSpec(key));
    d.addDest(key, destSpec("192.168.1.2", 80, "fullnat"));
    d.addLaddr(key, ip("192.168.1.100"), "eth1");
  }
  const p = new FlowPacket();
  const v = new Verdict();
  const got: number[] = [];
  for (let k = 0; k < 3; k++) {
    d.inbound(packet(p, IPPROTO_TCP, `1.2.3.4:${5000 + k}`, VIP, TCP_SYN), 0, v);
    got.push(v.action === ACTION_FORWARD ? v.srcPort : -1);
  }
  assert.deepEqual(got, [1025, 1030, -1]);
  d.inbound(packet(p, IPPROTO_UDP, "1.2.3.4:5000", VIP), 0, v);
  assert.equal(v.srcPort, 1025, "UDP has its own ports");
});

test("FULLNAT without local addresses refuses new conns; laddr management errnos", () => {
  const { d, key, p, v } = setup();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.reason, "no-local-port");
  assert.equal(d.connCount, 0);
  assert.throws(() => d.addLaddr(tcpKey("10.9.9.9", 80), ip("192.168.1.100"), "eth1"), { errno: "ESRCH" });
  d.addLaddr(key, ip("192.168.1.100"), "eth1");
  assert.throws(() => d.addLaddr(key, ip("192.168.1.100"), "eth1"), { errno: "EEXIST" });
  assert.throws(() => d.delLaddr(key, ip("192.168.1.101")), { errno: "ENOENT" });
  assert.throws(() => d.addLaddr(key, ip("2001:db8::1"), "eth1"), { errno: "EINVAL" });
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_FORWARD);
  // Removing the LIP stops new use; the conn keeps its port until it ends.
  d.delLaddr(key, ip("192.168.1.100"));
  assert.deepEqual(d.getLaddrs(key), []);
  d.outbound(packet(p, IPPROTO_TCP, "192.168.1.2:8080", "192.168.1.100:2000", TCP_ACK), 1, v);
  assert.equal(v.action, ACTION_FORWARD);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN), 1, v);
  assert.equal(v.reason, "no-local-port");
});

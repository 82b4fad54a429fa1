import assert from "node:assert/strict";
import { test } from "node:test";
import { IPPROTO_TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../src/core/flow.js";
import { ACTION_FORWARD, Verdict } from "../src/core/verdict.js";
import { destSpec, FlowPacket, ip, makeDirector, packet, svcSpec, tcpKey } from "./director-fixtures.js";

const VIP = "10.0.0.1:80";
const key = tcpKey("10.0.0.1", 80);

/** Two real servers of one service; rr gives the first conn to A (the newest-first list's head). */
function setup(method: "masq" | "route" | "fullnat" = "masq") {
  const d = makeDirector();
  d.addService(svcSpec(key));
  d.addDest(key, destSpec("192.168.1.2", 8080, method));
  d.addDest(key, destSpec("192.168.1.3", 8080, method));
  if (method === "fullnat") d.addLaddr(key, ip("192.168.1.100"), "eth1");
  const dests = d.findService(key)!.dests;
  return { d, dests, p: new FlowPacket(), v: new Verdict() };
}

test("a client SYN again while the conn is in SYN_RECV counts as a retransmit on that conn's dest", () => {
  const { d, dests, p, v } = setup();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  const picked = v.dest!;
  const other = dests.find((x) => x !== picked)!;
  assert.equal(picked.synRetransmits, 0, "the first SYN is the director's, not a retransmit");
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 1, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 3, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(v.dest, picked, "a retransmit goes to the same real server");
  assert.equal(picked.synRetransmits, 2);
  assert.equal(other.synRetransmits, 0);
  assert.equal(picked.rstReplies + other.rstReplies, 0);
  // A SYN-ACK leaves the conn in SYN_RECV: a SYN after it (the SYN-ACK was lost) still counts.
  d.outbound(packet(p, IPPROTO_TCP, "192.168.1.2:8080", "1.2.3.4:5000", TCP_SYN | TCP_ACK), 3, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 4, v);
  assert.equal(picked.synRetransmits, 3);
  // Once ESTABLISHED, nothing counts: not a SYN (a reused tuple), not the client's ACKs or FIN.
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 5, v);
  assert.equal(d.connections(5)[0]!.state, "ESTABLISHED");
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 6, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_FIN | TCP_ACK), 7, v);
  assert.equal(picked.synRetransmits, 3);
});

test("the client's SYN|ACK or RST during the handshake is not a retransmit", () => {
  const { d, p, v } = setup();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN), 0, v);
  const picked = v.dest!;
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN | TCP_ACK), 1, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_RST), 2, v);
  assert.equal(picked.synRetransmits, 0);
  assert.equal(picked.rstReplies, 0, "a client's RST is not the real server refusing");
});

test("a NAT real server answering the SYN with RST counts once on its dest; a RST after ESTABLISHED does not", () => {
  const { d, dests, p, v } = setup();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  const a = v.dest!;
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN), 0, v);
  const b = v.dest!;
  assert.notEqual(a, b);
  const rsA = `${a.addr}:8080`;
  d.outbound(packet(p, IPPROTO_TCP, rsA, "1.2.3.4:5000", TCP_RST | TCP_ACK), 1, v);
  assert.equal(v.action, ACTION_FORWARD, "the RST still reaches the client");
  assert.equal(a.rstReplies, 1);
  assert.equal(b.rstReplies, 0);
  assert.equal(d.connections(1).find((c) => c.cport === 5000)!.state, "CLOSE");
  // b's conn completes, then its real server resets it: a reset of a live conn is no refusal.
  const rsB = `${b.addr}:8080`;
  d.outbound(packet(p, IPPROTO_TCP, rsB, "1.2.3.4:5001", TCP_SYN | TCP_ACK), 1, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_ACK), 1, v);
  d.outbound(packet(p, IPPROTO_TCP, rsB, "1.2.3.4:5001", TCP_RST), 2, v);
  assert.equal(b.rstReplies, 0);
  assert.equal(
    dests.reduce((n, x) => n + x.synRetransmits, 0),
    0,
  );
});

test("FULLNAT: the real server's RST to the local address counts on its dest", () => {
  const { d, p, v } = setup("fullnat");
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  const a = v.dest!;
  const lip = `192.168.1.100:${v.srcPort}`;
  d.outbound(packet(p, IPPROTO_TCP, `${a.addr}:8080`, lip, TCP_RST | TCP_ACK), 1, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(a.rstReplies, 1);
});

test("DR: the director sees only the client; its SYN retransmits count on the dest", () => {
  const { d, dests, p, v } = setup("route");
  for (let k = 0; k < 4; k++) d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:6000", VIP, TCP_SYN), k, v);
  const picked = v.dest!;
  assert.equal(picked.synRetransmits, 3);
  assert.equal(dests.find((x) => x !== picked)!.synRetransmits, 0);
  // The handshake completes (the client's ACK): later SYNs on the tuple are not counted.
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:6000", VIP, TCP_ACK), 5, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:6000", VIP, TCP_SYN), 6, v);
  assert.equal(picked.synRetransmits, 3);
});

test("secure_tcp: a SYN while the conn waits in SYNACK counts too", () => {
  const { d, p, v } = setup();
  d.sysctls.set("secure_tcp", 3);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:7000", VIP, TCP_SYN), 0, v);
  const a = v.dest!;
  d.outbound(packet(p, IPPROTO_TCP, `${a.addr}:8080`, "1.2.3.4:7000", TCP_SYN | TCP_ACK), 1, v);
  assert.equal(d.connections(1)[0]!.state, "SYNACK");
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:7000", VIP, TCP_SYN), 2, v);
  assert.equal(a.synRetransmits, 1);
});

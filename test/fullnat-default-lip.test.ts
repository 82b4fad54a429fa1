import assert from "node:assert/strict";
import { test } from "node:test";
import { hostLocalPortRange, parseLocalPortRange } from "../src/control/director-factory.js";
import { IPPROTO_TCP, TCP_SYN } from "../src/core/flow.js";
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

function setup() {
  const d = makeDirector({ localPorts: { min: 2000, max: 2001 } });
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key, { scheduler: "rr" }));
  d.addDest(key, destSpec("192.168.1.2", 80, "fullnat"));
  return { d, key, p: new FlowPacket(), v: new Verdict() };
}

test("FULLNAT without a pool and without a default-LIP supplier refuses and counts", () => {
  const { d, p, v } = setup();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_DROP);
  assert.equal(v.reason, "no-local-port");
  assert.equal(d.noLocalPort, 1);
});

test("FULLNAT without a pool takes the supplied default LIP, keeps it pinned, reuses its ports FIFO", () => {
  const { d, key, p, v } = setup();
  const asked: string[] = [];
  d.setDefaultLocalAddress((dest) => {
    asked.push(dest.addr.toString());
    return ip("192.168.1.1");
  });
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(`${words(v.srcAddr, 4)}:${v.srcPort}`, "192.168.1.1:2000");
  assert.deepEqual(asked, ["192.168.1.2"]);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN), 5, v);
  assert.equal(v.srcPort, 2001);
  // Two ports only: the third connection is refused, counted, never sent from a wrong address.
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5002", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_DROP);
  assert.equal(d.noLocalPort, 1);
  assert.deepEqual(
    d.localAddresses().map((a) => a.toString()),
    ["192.168.1.1"],
  );
  // The first conn expires (the second, 5 s younger, not yet): its port is the one free again.
  const conns = d.connections(0);
  const firstExpiry = Math.min(...conns.map((c) => c.expires));
  d.tick(firstExpiry + 1);
  assert.equal(d.connections(firstExpiry + 1).length, 1);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:6000", VIP, TCP_SYN), firstExpiry + 1, v);
  assert.equal(`${words(v.srcAddr, 4)}:${v.srcPort}`, "192.168.1.1:2000");
  // When every conn has expired the pinned LIP stays, with nothing in use.
  d.tick(10_000);
  assert.equal(d.connections(10_000).length, 0);
  assert.equal(d.getLaddrs(key).length, 0, "the default LIP is not part of the service's pool");
});

test("FULLNAT local ports stay clear of the host's ephemeral range (one contiguous block)", () => {
  assert.deepEqual(hostLocalPortRange("32768\t60999\n"), { min: 1025, max: 32767 });
  assert.deepEqual(hostLocalPortRange("1024 20000"), { min: 20001, max: 65535 });
  assert.deepEqual(hostLocalPortRange("1024 65535"), { min: 1025, max: 65535 });
  assert.deepEqual(hostLocalPortRange(null), { min: 1025, max: 65535 });
  assert.deepEqual(hostLocalPortRange("garbage"), { min: 1025, max: 65535 });
  assert.deepEqual(parseLocalPortRange("20000-20049"), { min: 20000, max: 20049 });
  for (const bad of ["0-10", "10-5", "1-70000", "abc", "5"])
    assert.throws(() => parseLocalPortRange(bad), RangeError);
});

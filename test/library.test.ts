// Uses the library the way docs/library.md shows: only the public entry point.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CONN_F_DROUTE,
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_MASQ,
  CONN_F_TUNNEL,
  Director,
  describeVerdict,
  destSpec,
  FlowPacket,
  flow,
  type SchedulerModule,
  serviceKey,
  serviceSpec,
  TCP_ACK,
  TCP_S_ESTABLISHED,
  TCP_STATE_NAMES,
  TCP_SYN,
  Verdict,
} from "../src/index.js";

// A scheduler plugin: always the first real server with weight > 0.
const first: SchedulerModule = {
  name: "first",
  create: () => ({
    name: "first",
    schedule: (svc) => svc.dests.find((d) => d.weight > 0 && !d.overloaded) ?? null,
  }),
};

test("library: a NAT service, a client's packets, time passing, counters", () => {
  const director = new Director({ schedulers: (name) => (name === "first" ? first : undefined) });
  const web = serviceKey("tcp", "10.0.0.1:80");
  director.addService(serviceSpec(web, { scheduler: "first" }));
  director.addDest(web, destSpec("192.168.1.2:8080", { method: "masq" }));

  const pkt = new FlowPacket();
  const verdict = new Verdict();
  director.inbound(flow(pkt, "tcp", "1.2.3.4:5000", "10.0.0.1:80", TCP_SYN), 0, verdict);
  assert.equal(describeVerdict(verdict), "FORWARD masq 1.2.3.4:5000 -> 192.168.1.2:8080");
  director.outbound(flow(pkt, "tcp", "192.168.1.2:8080", "1.2.3.4:5000", TCP_SYN | TCP_ACK), 0.1, verdict);
  assert.equal(describeVerdict(verdict), "FORWARD masq 10.0.0.1:80 -> 1.2.3.4:5000");
  director.inbound(flow(pkt, "tcp", "1.2.3.4:5000", "10.0.0.1:80", TCP_ACK), 0.2, verdict);

  const [conn] = director.connections(0.2);
  assert.equal(conn?.state, "ESTABLISHED");
  const svc = director.findService(web)!;
  assert.deepEqual(director.displayed(svc.stats), {
    conns: 1,
    inPkts: 2,
    outPkts: 1,
    inBytes: 120,
    outBytes: 60,
  });
  assert.equal(svc.dests[0]!.activeConns, 1);

  director.tick(900.2);
  assert.equal(director.connections(900.2).length, 0);
  assert.equal(svc.dests[0]!.activeConns, 0);

  // Nobody listens on port 81: the client gets a port unreachable.
  director.inbound(flow(pkt, "tcp", "1.2.3.4:5001", "10.0.0.1:81", TCP_SYN), 901, verdict);
  assert.equal(describeVerdict(verdict), "PASS (no-service)");
});

test("library: bad input gets a clear error", () => {
  assert.throws(() => destSpec("192.168.1.2"), /address:port/);
  assert.throws(() => serviceKey("tcp", "[2001:db8::1]:99999"), /address:port/);
  assert.throws(() => flow(new FlowPacket(), "tcp", "1.2.3.4:1", "[2001:db8::1]:80"), /families/);
  const d = new Director({ schedulers: () => undefined });
  assert.throws(() => d.addService(serviceSpec(serviceKey("tcp", "10.0.0.1:80"))), { errno: "ENOENT" });
});

test("library: the constants docs/library.md compares against are exported, with the kernel's values", () => {
  // include/uapi/linux/ip_vs.h: IP_VS_CONN_F_MASQ 0, TUNNEL 2, DROUTE 3, FWD_MASK 7; FULLNAT is DPVS's 5.
  assert.deepEqual(
    [CONN_F_MASQ, CONN_F_TUNNEL, CONN_F_DROUTE, CONN_F_FULLNAT, CONN_F_FWD_MASK],
    [0, 2, 3, 5, 7],
  );
  assert.equal(TCP_STATE_NAMES[TCP_S_ESTABLISHED], "ESTABLISHED");
});

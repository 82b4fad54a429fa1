import assert from "node:assert/strict";
import { test } from "node:test";
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_FIN, TCP_SYN } from "../src/core/flow.js";
import { Verdict } from "../src/core/verdict.js";
import { FastPath } from "../src/dataplane/fastpath/fast-path.js";
import { encodeFlowKey, FLOW_KEY_SIZE, FLOW_VALUE_SIZE } from "../src/dataplane/fastpath/flow-layout.js";
import {
  encodeFlow6Key,
  FLOW6_KEY_SIZE,
  FLOW6_VALUE_SIZE,
} from "../src/dataplane/fastpath/flow-layout-ipv6.js";
import { FastPathMaps } from "../src/dataplane/fastpath/flow-maps.js";
import { FlowOffload } from "../src/dataplane/fastpath/flow-offload.js";
import { SteeringMaps } from "../src/dataplane/xdp/steering-maps.js";
import { loadSteeringProgram } from "../src/dataplane/xdp/steering-program.js";
import { closeFd, mapLookup, progTestRun } from "../src/platform/bpf.js";
import {
  destSpec,
  FlowPacket,
  ip,
  makeDirector,
  packet,
  svcSpec,
  tcpKey,
  udpKey,
} from "./director-fixtures.js";
import { buildFrame } from "./net-frames.js";
import { haveRoot } from "./support/privileged.js";

// FlowOffload between the real director (the IPVS core) and the real BPF maps and program: the
// program's forwarding is exercised with BPF_PROG_TEST_RUN on frames (loopback = ifindex 1).
const XDP_DROP = 1;
const XDP_REDIRECT = 4;
const OUR_MAC = 0x020000000002;
const HOP = { ifindex: 1, dstMac: 0x02aabbccdd20, srcMac: 0x020000000003, srcV4: 0, mtu: 1500 };
const CLIENT = "198.18.0.100";
const VIP = "198.18.0.10";
const RIP = "198.19.10.20";

function rig() {
  const d = makeDirector();
  const steering = SteeringMaps.create();
  const fast = FastPathMaps.create(1024);
  const prog = loadSteeringProgram(steering.fds, { missAction: "drop", fastPath: fast.fds });
  steering.setInterfaceMac(1, Uint8Array.from([2, 0, 0, 0, 0, 2]));
  steering.addService(IPPROTO_TCP, ip(VIP), 80);
  steering.addService(IPPROTO_UDP, ip(VIP), 53);
  steering.addReplySource(IPPROTO_TCP, ip(RIP), 8080);
  let clock = 100;
  const offload = new FlowOffload(d, fast, { now: () => clock, canRedirect: () => true });
  d.connEvents = offload;
  const close = () => {
    offload.close();
    closeFd(prog);
    fast.close();
    steering.close();
  };
  return { d, fast, prog, offload, close, setClock: (t: number) => (clock = t) };
}

const frame = (
  src: string,
  sport: number,
  dst: string,
  dport: number,
  flags = 0x18,
  protocol = IPPROTO_TCP,
) =>
  buildFrame({
    family: 4,
    protocol,
    src: ip(src).words,
    dst: ip(dst).words,
    sport,
    dport,
    tcpFlags: flags,
    payload: new Array(100).fill(1),
    dstMac: [2, 0, 0, 0, 0, 2],
  });

function inMap(fast: FastPathMaps, proto: number, s: string, sp: number, d: string, dp: number): boolean {
  const key = new Uint8Array(FLOW_KEY_SIZE);
  encodeFlowKey(key, 0, proto, ip(s).v4Value, ip(d).v4Value, sp, dp);
  return mapLookup(fast.fds.flows, key, new Uint8Array(FLOW_VALUE_SIZE));
}

test("an ESTABLISHED NAT conn is offloaded both ways, credited, and handed back on FIN", (t) => {
  if (!haveRoot(t)) return;
  const r = rig();
  try {
    const key = tcpKey(VIP, 80);
    r.d.addService(svcSpec(key));
    r.d.addDest(key, destSpec(RIP, 8080));
    const p = new FlowPacket();
    const v = new Verdict();
    const offer = (inbound: boolean) => r.offload.offer(p, v, inbound, HOP, 1, OUR_MAC, 1500);

    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_SYN), 100, v);
    offer(true);
    r.d.outbound(packet(p, IPPROTO_TCP, `${RIP}:8080`, `${CLIENT}:40000`, TCP_SYN | TCP_ACK), 100, v);
    offer(false);
    r.offload.flush();
    assert.equal(r.offload.counters.installed, 0, "nothing before ESTABLISHED");

    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_ACK), 100, v);
    offer(true);
    offer(true); // once per flow
    r.d.outbound(packet(p, IPPROTO_TCP, `${RIP}:8080`, `${CLIENT}:40000`, TCP_ACK), 100, v);
    offer(false);
    assert.equal(inMap(r.fast, IPPROTO_TCP, CLIENT, 40000, VIP, 80), false, "staged until the round ends");
    r.offload.flush();
    assert.equal(r.offload.counters.installed, 2);
    assert.ok(inMap(r.fast, IPPROTO_TCP, CLIENT, 40000, VIP, 80));
    assert.ok(inMap(r.fast, IPPROTO_TCP, RIP, 8080, CLIENT, 40000));

    // XDP forwards 3 packets in and 2 out; the director credits them on its next tick.
    const fin = frame(CLIENT, 40000, VIP, 80);
    const fout = frame(RIP, 8080, CLIENT, 40000);
    for (let k = 0; k < 3; k++) assert.equal(progTestRun(r.prog, fin).retval, XDP_REDIRECT);
    for (let k = 0; k < 2; k++) assert.equal(progTestRun(r.prog, fout).retval, XDP_REDIRECT);
    const before = { ...r.d.totals };
    r.setClock(700);
    r.d.tick(700);
    const ipLen = fin.length - 14;
    assert.equal(r.d.totals.inPkts - before.inPkts, 3);
    assert.equal(r.d.totals.outPkts - before.outPkts, 2);
    assert.equal(r.d.totals.inBytes - before.inBytes, 3 * ipLen);
    const svc = r.d.findService(key)!;
    assert.equal(svc.dests[0]!.stats.outPkts, 2 + 2); // two slow-path replies, two from XDP
    // The idle timer follows the XDP traffic: ESTABLISHED (900 s) from the last forwarded packet.
    // (The packets were forwarded a few microseconds before the tick: 899.99... s, listed as 899.)
    assert.equal(r.d.connections(700)[0]!.expires, 899);
    r.d.tick(701);
    assert.equal(r.offload.counters.creditedPackets, 5, "credited once");

    // FIN goes to the slow path; the director's state machine takes the conn back.
    assert.equal(progTestRun(r.prog, frame(CLIENT, 40000, VIP, 80, TCP_FIN | TCP_ACK)).retval, XDP_DROP);
    progTestRun(r.prog, fin); // one more packet before the FIN is processed: credited on removal
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_FIN | TCP_ACK), 701, v);
    assert.equal(r.d.connections(701)[0]!.state, "CLOSE_WAIT");
    assert.equal(inMap(r.fast, IPPROTO_TCP, CLIENT, 40000, VIP, 80), false);
    assert.equal(inMap(r.fast, IPPROTO_TCP, RIP, 8080, CLIENT, 40000), false);
    assert.equal(r.offload.counters.creditedPackets, 6);
    assert.equal(progTestRun(r.prog, fin).retval, XDP_DROP, "back on the slow path");
    offer(true);
    r.offload.flush();
    assert.equal(r.offload.counters.installed, 2, "not offloaded again outside ESTABLISHED");
  } finally {
    r.close();
  }
});

test("a freed conn's entries go at once; a deleted real server's flows return to the slow path", (t) => {
  if (!haveRoot(t)) return;
  const r = rig();
  try {
    const key = udpKey(VIP, 53);
    r.d.addService(svcSpec(key));
    r.d.addDest(key, destSpec(RIP, 53));
    const p = new FlowPacket();
    const v = new Verdict();
    r.d.inbound(packet(p, IPPROTO_UDP, `${CLIENT}:5000`, `${VIP}:53`), 100, v);
    r.offload.offer(p, v, true, HOP, 1, OUR_MAC, 1500);
    r.offload.flush();
    assert.ok(inMap(r.fast, IPPROTO_UDP, CLIENT, 5000, VIP, 53), "UDP is offloaded on its first packet");
    // Idle past the UDP timeout (300 s): expires, and the entry goes with it.
    r.setClock(500);
    r.d.tick(500);
    assert.equal(r.d.connCount, 0);
    assert.equal(inMap(r.fast, IPPROTO_UDP, CLIENT, 5000, VIP, 53), false);

    r.d.inbound(packet(p, IPPROTO_UDP, `${CLIENT}:5001`, `${VIP}:53`), 500, v);
    r.offload.offer(p, v, true, HOP, 1, OUR_MAC, 1500);
    r.offload.flush();
    assert.ok(inMap(r.fast, IPPROTO_UDP, CLIENT, 5001, VIP, 53));
    r.d.delDest(key, ip(RIP), 53);
    r.offload.revalidate();
    assert.equal(inMap(r.fast, IPPROTO_UDP, CLIENT, 5001, VIP, 53), false);
    assert.equal(r.d.connCount, 1, "the conn stays for the director to decide (expire_nodest_conn)");
  } finally {
    r.close();
  }
});

test("a conn staged and withdrawn in the same round is never written", (t) => {
  if (!haveRoot(t)) return;
  const r = rig();
  try {
    const key = udpKey(VIP, 53);
    r.d.addService(svcSpec(key));
    r.d.addDest(key, destSpec(RIP, 53));
    const p = new FlowPacket();
    const v = new Verdict();
    for (let port = 6000; port < 6003; port++) {
      r.d.inbound(packet(p, IPPROTO_UDP, `${CLIENT}:${port}`, `${VIP}:53`), 100, v);
      r.offload.offer(p, v, true, HOP, 1, OUR_MAC, 1500);
    }
    r.d.delDest(key, ip(RIP), 53);
    r.offload.revalidate();
    r.offload.flush();
    assert.equal(r.offload.counters.installed, 0);
    for (let port = 6000; port < 6003; port++)
      assert.equal(inMap(r.fast, IPPROTO_UDP, CLIENT, port, VIP, 53), false);
  } finally {
    r.close();
  }
});

test("FULLNAT: both directions installed under their own keys (the reply's is RIP -> LIP:lport), withdrawn on FIN", (t) => {
  if (!haveRoot(t)) return;
  const r = rig();
  try {
    const LIP = "198.19.10.1";
    const key = tcpKey(VIP, 80);
    r.d.addService(svcSpec(key));
    r.d.addDest(key, destSpec(RIP, 8080, "fullnat"));
    r.d.addLaddr(key, ip(LIP), "eth1");
    const p = new FlowPacket();
    const v = new Verdict();
    const offer = (inbound: boolean) => r.offload.offer(p, v, inbound, HOP, 1, OUR_MAC, 1500);
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_SYN), 100, v);
    const lport = v.srcPort;
    r.d.outbound(packet(p, IPPROTO_TCP, `${RIP}:8080`, `${LIP}:${lport}`, TCP_SYN | TCP_ACK), 100, v);
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_ACK), 100, v);
    offer(true);
    r.d.outbound(packet(p, IPPROTO_TCP, `${RIP}:8080`, `${LIP}:${lport}`, TCP_ACK), 100, v);
    offer(false);
    r.offload.flush();
    assert.equal(r.offload.counters.installed, 2);
    assert.ok(inMap(r.fast, IPPROTO_TCP, CLIENT, 40000, VIP, 80));
    assert.ok(inMap(r.fast, IPPROTO_TCP, RIP, 8080, LIP, lport));

    // Two replies forwarded in XDP, credited to the conn's outbound counters on withdrawal.
    const reply = frame(RIP, 8080, LIP, lport);
    for (let k = 0; k < 2; k++) assert.equal(progTestRun(r.prog, reply).retval, XDP_REDIRECT);
    const before = r.d.totals.outPkts;
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_FIN | TCP_ACK), 101, v);
    assert.equal(inMap(r.fast, IPPROTO_TCP, CLIENT, 40000, VIP, 80), false);
    assert.equal(inMap(r.fast, IPPROTO_TCP, RIP, 8080, LIP, lport), false);
    assert.equal(r.offload.counters.removed, 2);
    assert.equal(r.d.totals.outPkts - before, 2);
  } finally {
    r.close();
  }
});

test("TUN: the inbound direction only, encapsulated toward the RS from the route's source", (t) => {
  if (!haveRoot(t)) return;
  const r = rig();
  try {
    const key = tcpKey(VIP, 80);
    r.d.addService(svcSpec(key));
    r.d.addDest(key, destSpec(RIP, 80, "tunnel"));
    const hop = { ...HOP, srcV4: ip("198.19.10.1").v4Value };
    const p = new FlowPacket();
    const v = new Verdict();
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_SYN), 100, v);
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_ACK), 100, v);
    r.offload.offer(p, v, true, HOP, 1, OUR_MAC, 1500);
    r.offload.flush();
    assert.equal(r.offload.counters.installed, 0, "no outer source toward the RS: not offloaded");
    r.offload.offer(p, v, true, hop, 1, OUR_MAC, 1500);
    r.offload.flush();
    assert.equal(r.offload.counters.installed, 1);
    const res = progTestRun(r.prog, frame(CLIENT, 40000, VIP, 80));
    assert.equal(res.retval, XDP_REDIRECT);
    assert.equal(res.data[23], 4, "IPIP");
    assert.deepEqual([...res.data.subarray(26, 34)], [198, 19, 10, 1, 198, 19, 10, 20]);
    // A route change of the outer source withdraws the flow.
    r.offload.nextHopsChanged(() => ({ ...hop, srcV4: ip("198.19.10.2").v4Value }));
    assert.equal(inMap(r.fast, IPPROTO_TCP, CLIENT, 40000, VIP, 80), false);
  } finally {
    r.close();
  }
});

test("TUN: a real server's tunnel type changed (-e) withdraws its flows; offered again, GUE; with a checksum, not offloaded", (t) => {
  if (!haveRoot(t)) return;
  const r = rig();
  try {
    const key = tcpKey(VIP, 80);
    r.d.addService(svcSpec(key));
    r.d.addDest(key, destSpec(RIP, 80, "tunnel"));
    const hop = { ...HOP, srcV4: ip("198.19.10.1").v4Value };
    const p = new FlowPacket();
    const v = new Verdict();
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_SYN), 100, v);
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_ACK), 100, v);
    r.offload.offer(p, v, true, hop, 1, OUR_MAC, 1500);
    r.offload.flush();
    assert.equal(progTestRun(r.prog, frame(CLIENT, 40000, VIP, 80)).data[23], 4, "IPIP");
    r.d.editDest(key, destSpec(RIP, 80, "tunnel", { tunType: "gue", tunPort: 6080 }));
    r.offload.revalidate();
    assert.equal(inMap(r.fast, IPPROTO_TCP, CLIENT, 40000, VIP, 80), false, "withdrawn");
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_ACK), 101, v);
    r.offload.offer(p, v, true, hop, 1, OUR_MAC, 1500);
    r.offload.flush();
    const res = progTestRun(r.prog, frame(CLIENT, 40000, VIP, 80));
    assert.equal(res.data[23], 17, "UDP");
    assert.deepEqual([...res.data.subarray(36, 38)], [6080 >>> 8, 6080 & 0xff], "to the tun-port");
    r.d.editDest(key, destSpec(RIP, 80, "tunnel", { tunType: "gue", tunPort: 6080, tunCsum: "csum" }));
    r.offload.revalidate();
    assert.equal(inMap(r.fast, IPPROTO_TCP, CLIENT, 40000, VIP, 80), false, "withdrawn again");
    r.d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_ACK), 102, v);
    r.offload.offer(p, v, true, hop, 1, OUR_MAC, 1500);
    r.offload.flush();
    assert.equal(
      inMap(r.fast, IPPROTO_TCP, CLIENT, 40000, VIP, 80),
      false,
      "GUE with a checksum stays on the slow path",
    );
  } finally {
    r.close();
  }
});

test("NAT: the reply direction is installed with the inbound one, toward the client's next hop, before the real server sends", (t) => {
  if (!haveRoot(t)) return;
  const d = makeDirector();
  const key = tcpKey(VIP, 80);
  d.addService(svcSpec(key));
  d.addDest(key, destSpec(RIP, 8080));
  const CLIENT_MAC = 0x02aabbccdd01;
  const TO_CLIENT = { ifindex: 1, dstMac: CLIENT_MAC, srcMac: OUR_MAC, srcV4: 0, mtu: 1500 };
  const fp = FastPath.start(
    d,
    () => 100,
    () => ({ mode: "tc", mtu: 1500 }),
    (addr) => (addr === ip(CLIENT).v4Value ? TO_CLIENT : null),
  );
  const steering = SteeringMaps.create();
  const prog = loadSteeringProgram(steering.fds, { missAction: "drop", fastPath: fp.maps.fds });
  try {
    steering.setInterfaceMac(1, Uint8Array.from([2, 0, 0, 0, 0, 2]));
    const p = new FlowPacket();
    const v = new Verdict();
    d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_SYN), 100, v);
    fp.offer(p, v, true, HOP, 1, OUR_MAC);
    d.outbound(packet(p, IPPROTO_TCP, `${RIP}:8080`, `${CLIENT}:40000`, TCP_SYN | TCP_ACK), 100, v);
    fp.offer(p, v, false, TO_CLIENT, 1, HOP.srcMac);
    fp.offload.flush();
    assert.equal(fp.offload.counters.installed, 0, "nothing before ESTABLISHED");
    d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40000`, `${VIP}:80`, TCP_ACK), 100, v);
    fp.offer(p, v, true, HOP, 1, OUR_MAC);
    fp.offload.flush();
    assert.equal(fp.offload.counters.installed, 2, "both directions on the client's ACK");
    assert.ok(inMap(fp.maps, IPPROTO_TCP, RIP, 8080, CLIENT, 40000));
    // The real server's first data: sent to the director's MAC on its side, forwarded at once,
    // from VIP:80 to the client's MAC.
    const reply = frame(RIP, 8080, CLIENT, 40000);
    reply.set([2, 0, 0, 0, 0, 3], 0);
    const r = progTestRun(prog, reply);
    assert.equal(r.retval, XDP_REDIRECT);
    assert.deepEqual([...r.data.subarray(0, 6)], [2, 0xaa, 0xbb, 0xcc, 0xdd, 1]);
    assert.deepEqual([...r.data.subarray(26, 30)], [198, 18, 0, 10]);
    assert.equal((r.data[34]! << 8) | r.data[35]!, 80);
    // A DR conn has no reply direction through the director: nothing more is installed for it.
    const drKey = tcpKey(VIP, 81);
    d.addService(svcSpec(drKey));
    d.addDest(drKey, destSpec(RIP, 81, "route"));
    d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40001`, `${VIP}:81`, TCP_SYN), 100, v);
    d.inbound(packet(p, IPPROTO_TCP, `${CLIENT}:40001`, `${VIP}:81`, TCP_ACK), 100, v);
    fp.offer(p, v, true, HOP, 1, OUR_MAC);
    fp.offload.flush();
    assert.equal(fp.offload.counters.installed, 3, "DR: the inbound direction only");
  } finally {
    closeFd(prog);
    steering.close();
    fp.stop({ info: () => {}, warn: () => {} });
  }
});

test("SCTP: a DR association is offloaded once ESTABLISHED and handed back on SHUTDOWN; NAT never", (t) => {
  if (!haveRoot(t)) return;
  const r = rig();
  try {
    const p = new FlowPacket();
    const v = new Verdict();
    const chunk = (type: number) => {
      p.sctpChunk = type;
      p.sctpNextChunk = -1;
      return p;
    };
    const sctp = (vip: string, method: "route" | "masq") => {
      const key = { kind: "addr" as const, protocol: IPPROTO_SCTP, addr: ip(vip), port: 3868 };
      r.d.addService(svcSpec(key));
      r.d.addDest(key, destSpec(RIP, 3868, method));
    };
    sctp(VIP, "route");
    sctp("198.18.0.11", "masq");
    for (const [vip, cport] of [
      [VIP, 40000],
      ["198.18.0.11", 40001],
    ] as const) {
      const send = (type: number) => {
        packet(p, IPPROTO_SCTP, `${CLIENT}:${cport}`, `${vip}:3868`);
        r.d.inbound(chunk(type), 100, v);
        r.offload.offer(p, v, true, HOP, 1, OUR_MAC, 1500);
        r.offload.flush();
      };
      const reply = (type: number) => {
        packet(p, IPPROTO_SCTP, `${RIP}:3868`, `${CLIENT}:${cport}`);
        r.d.outbound(chunk(type), 100, v);
      };
      send(1); // INIT
      assert.equal(inMap(r.fast, IPPROTO_SCTP, CLIENT, cport, vip, 3868), false, "not before ESTABLISHED");
      if (vip === VIP) {
        send(10); // COOKIE ECHO: DR's INPUT_ONLY table makes it ESTABLISHED
        send(0); // DATA
        assert.ok(inMap(r.fast, IPPROTO_SCTP, CLIENT, cport, vip, 3868), "DR, ESTABLISHED: offloaded");
        send(7); // SHUTDOWN leaves ESTABLISHED: the flow goes back to the slow path
        assert.equal(inMap(r.fast, IPPROTO_SCTP, CLIENT, cport, vip, 3868), false);
      } else {
        reply(2);
        send(10);
        reply(11);
        send(0);
        assert.equal(r.d.connections(100).find((c) => c.cport === cport)?.state, "ESTABLISHED");
        assert.equal(inMap(r.fast, IPPROTO_SCTP, CLIENT, cport, vip, 3868), false, "NAT SCTP stays slow");
      }
    }
  } finally {
    r.close();
  }
});

test("SCTP over IPv6: a DR association is offloaded once ESTABLISHED, NAT never", (t) => {
  if (!haveRoot(t)) return;
  const r = rig();
  try {
    const p = new FlowPacket();
    const v = new Verdict();
    const client6 = "2001:2::100";
    const key6 = new Uint8Array(FLOW6_KEY_SIZE);
    const inMap6 = (vip: string, cport: number) => {
      encodeFlow6Key(key6, 0, IPPROTO_SCTP, ip(client6).words, ip(vip).words, cport, 3868);
      return mapLookup(r.fast.fds.flows6, key6, new Uint8Array(FLOW6_VALUE_SIZE));
    };
    for (const [vip, method] of [
      ["2001:2::10", "route"],
      ["2001:2::11", "masq"],
    ] as const) {
      const key = { kind: "addr" as const, protocol: IPPROTO_SCTP, addr: ip(vip), port: 3868 };
      r.d.addService(svcSpec(key));
      r.d.addDest(key, destSpec("2001:2:0:1::20", 3868, method));
      const send = (type: number) => {
        packet(p, IPPROTO_SCTP, `[${client6}]:40000`, `[${vip}]:3868`);
        p.sctpChunk = type;
        r.d.inbound(p, 100, v);
        r.offload.offer(p, v, true, HOP, 1, OUR_MAC, 1500);
        r.offload.flush();
      };
      const reply = (type: number) => {
        packet(p, IPPROTO_SCTP, "[2001:2:0:1::20]:3868", `[${client6}]:40000`);
        p.sctpChunk = type;
        r.d.outbound(p, 100, v);
      };
      send(1);
      if (method === "masq") {
        reply(2);
        send(10);
        reply(11);
      } else send(10);
      send(0);
      assert.equal(r.d.connections(100).find((c) => c.vaddr === vip)?.state, "ESTABLISHED");
      assert.equal(inMap6(vip, 40000), method === "route", `${method}: offloaded only for DR`);
    }
  } finally {
    r.close();
  }
});

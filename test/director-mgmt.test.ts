import assert from "node:assert/strict";
import { test } from "node:test";
import { DEST_F_OVERLOAD } from "../src/core/dest.js";
import { IPPROTO_TCP, TCP_ACK, TCP_FIN, TCP_SYN } from "../src/core/flow.js";
import { SVC_F_PERSISTENT } from "../src/core/service.js";
import { Sysctls } from "../src/core/sysctls.js";
import { ACTION_DROP, ACTION_FORWARD, Verdict } from "../src/core/verdict.js";
import {
  destSpec,
  FlowPacket,
  ip,
  makeDirector,
  packet,
  recordingModule,
  rr,
  svcSpec,
  tcpKey,
  words,
} from "./director-fixtures.js";

const VIP = "10.0.0.1:80";

test("management refusals carry the kernel's errno", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  const errno = (f: () => unknown, e: string) => assert.throws(f, { errno: e });
  errno(() => d.editService(svcSpec(key)), "ESRCH");
  errno(() => d.delService(key), "ESRCH");
  errno(() => d.zero(key), "ESRCH");
  errno(() => d.addDest(key, destSpec("192.168.1.2", 80)), "ESRCH");
  errno(() => d.addService(svcSpec(key, { scheduler: "nope" })), "ENOENT");
  errno(() => d.addService(svcSpec(key, { pe: "nope" })), "ENOENT");
  errno(() => d.addService(svcSpec(tcpKey("2001:db8::1", 80), { netmask: 129 })), "EINVAL");
  d.addService(svcSpec(key));
  errno(() => d.addService(svcSpec(key)), "EEXIST");
  // EEXIST is checked before the scheduler name, as in the kernel.
  errno(() => d.addService(svcSpec(key, { scheduler: "nope" })), "EEXIST");
  d.addService(svcSpec(tcpKey("10.0.0.2", 80), { scheduler: "none", pe: "sip" }));
  d.addDest(key, destSpec("192.168.1.2", 80));
  errno(() => d.addDest(key, destSpec("192.168.1.2", 80)), "EEXIST");
  errno(() => d.editDest(key, destSpec("192.168.1.3", 80)), "ENOENT");
  errno(() => d.delDest(key, ip("192.168.1.3"), 80), "ENOENT");
  errno(
    () => d.addDest(key, destSpec("192.168.1.4", 80, "masq", { uThreshold: 5, lThreshold: 6 })),
    "ERANGE",
  );
  errno(() => d.addDest(key, destSpec("192.168.1.4", 80, "masq", { weight: -1 })), "ERANGE");
  errno(
    () => d.addDest(key, destSpec("192.168.1.4", 80, "tunnel", { tunType: "gue", tunPort: 0 })),
    "EINVAL",
  );
  errno(() => d.addDest(key, destSpec("2001:db8::4", 80, "masq")), "EINVAL");
  d.addDest(key, destSpec("2001:db8::4", 80, "tunnel"));
  for (const bad of ["0.0.0.0", "255.255.255.255", "224.0.0.1", "0.1.2.3"])
    errno(() => d.addDest(key, destSpec(bad, 80)), "EINVAL");
  errno(() => d.addDest(key, destSpec("1.2.3.4", 70000)), "EINVAL");
});

test("a service with scheduler none exists but never schedules", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key, { scheduler: "none" }));
  d.addDest(key, destSpec("192.168.1.2", 80));
  const v = new Verdict();
  d.inbound(packet(new FlowPacket(), IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.reason, "no-dest");
  assert.equal(d.findService(key)!.schedName, "none");
});

test("edit service replaces everything and rebinds the scheduler only when the name changes", () => {
  const log: string[] = [];
  const d = makeDirector({}, [recordingModule("a", log), recordingModule("b", log)]);
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key, { scheduler: "a", flags: SVC_F_PERSISTENT, timeout: 300 }));
  d.addDest(key, destSpec("192.168.1.2", 80));
  d.editService(svcSpec(key, { scheduler: "a" }));
  const svc = d.findService(key)!;
  assert.equal(svc.flags, 0);
  assert.equal(svc.timeout, 0);
  d.editService(svcSpec(key, { scheduler: "b" }));
  d.editService(svcSpec(key, { scheduler: "none" }));
  assert.equal(svc.scheduler, null);
  assert.deepEqual(log, ["create a 0", "add a 192.168.1.2:80", "done a", "create b 1", "done b"]);
});

test("dests go to the head of the list; add/upd/del hooks and destChanged are called", () => {
  const log: string[] = [];
  const d = makeDirector({}, [recordingModule("a", log)]);
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key, { scheduler: "a" }));
  d.addDest(key, destSpec("192.168.1.2", 80));
  d.addDest(key, destSpec("192.168.1.3", 80));
  assert.deepEqual(
    d.findService(key)!.dests.map((x) => x.addr.toString()),
    ["192.168.1.3", "192.168.1.2"],
  );
  const v = new Verdict();
  d.inbound(packet(new FlowPacket(), IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  d.editDest(key, destSpec("192.168.1.3", 80, "masq", { weight: 3 }));
  d.delDest(key, ip("192.168.1.2"), 80);
  assert.deepEqual(log, [
    "create a 0",
    "add a 192.168.1.2:80",
    "add a 192.168.1.3:80",
    // Bound as inactive, then SYN_RECV makes it active.
    "changed a 192.168.1.3:80 0/1",
    "changed a 192.168.1.3:80 1/0",
    "upd a 192.168.1.3:80",
    "del a 192.168.1.2:80",
  ]);
});

test("a deleted dest re-added from the trash is the same object with its conns and counters", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  const first = d.addDest(key, destSpec("192.168.1.2", 80));
  const v = new Verdict();
  d.inbound(packet(new FlowPacket(), IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  d.delDest(key, ip("192.168.1.2"), 80);
  assert.equal(first.available, false);
  assert.deepEqual(d.trashedDests(), [first]);
  const again = d.addDest(key, destSpec("192.168.1.2", 80, "masq", { weight: 4 }));
  assert.equal(again, first);
  assert.equal(again.available, true);
  assert.equal(again.activeConns, 1);
  assert.equal(again.stats.conns, 1);
  assert.equal(again.weight, 4);
  assert.equal(d.trashedDests().length, 0);
});

test("an unreferenced trashed dest is freed after 120 s and its id reused", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  const a = d.addDest(key, destSpec("192.168.1.2", 80));
  d.delDest(key, ip("192.168.1.2"), 80);
  d.tick(1);
  d.tick(120);
  assert.equal(d.trashedDests().length, 1);
  d.tick(121);
  assert.equal(d.trashedDests().length, 0);
  const b = d.addDest(key, destSpec("192.168.1.9", 80));
  assert.notEqual(b, a);
  assert.equal(b.id, a.id);
});

test("thresholds: OVERLOAD at >= upper, cleared below 75 % (or below lower), and by raising upper", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  const dest = d.addDest(key, destSpec("192.168.1.2", 80, "masq", { uThreshold: 4 }));
  const p = new FlowPacket();
  const v = new Verdict();
  const open = (k: number, at = 0) =>
    d.inbound(packet(p, IPPROTO_TCP, `1.2.3.4:${6000 + k}`, VIP, TCP_SYN), at, v);
  // A packet with none of SYN/FIN/ACK/RST moves a conn to CLOSE (10 s).
  const close = (k: number, at: number) =>
    d.inbound(packet(p, IPPROTO_TCP, `1.2.3.4:${6000 + k}`, VIP, 0), at, v);
  for (let k = 0; k < 3; k++) open(k);
  assert.equal(dest.overloaded, false);
  open(3);
  assert.equal(v.action, ACTION_FORWARD, "the conn reaching the threshold is accepted");
  assert.equal(dest.overloaded, true);
  open(4);
  assert.equal(v.reason, "no-dest", "rr skips an overloaded dest");
  // Existing conns keep flowing.
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:6000", VIP, TCP_ACK), 1, v);
  assert.equal(v.action, ACTION_FORWARD);
  // At 3 of 4 (75 %) it stays overloaded, at 2 it clears.
  close(1, 2);
  d.tick(12);
  assert.equal(dest.inactConns + dest.activeConns, 3);
  assert.equal(dest.overloaded, true);
  close(2, 13);
  d.tick(23);
  assert.equal(dest.activeConns + dest.inactConns, 2);
  assert.equal(dest.overloaded, false);
  // With a lower threshold it clears only below the lower one.
  d.editDest(key, destSpec("192.168.1.2", 80, "masq", { uThreshold: 3, lThreshold: 2 }));
  open(5, 24);
  assert.equal(dest.overloaded, true);
  close(5, 25);
  d.tick(35);
  assert.equal(dest.activeConns + dest.inactConns, 2);
  assert.equal(dest.overloaded, true, "2 is not below the lower threshold 2");
  close(3, 36);
  d.tick(46);
  assert.equal(dest.overloaded, false);
  // Lowering the upper threshold does not clear OVERLOAD; raising it (or 0) does.
  open(6, 47);
  open(7, 47);
  assert.equal(dest.activeConns + dest.inactConns, 3);
  assert.equal(dest.overloaded, true);
  d.editDest(key, destSpec("192.168.1.2", 80, "masq", { uThreshold: 2, lThreshold: 2 }));
  assert.equal(dest.overloaded, true);
  d.editDest(key, destSpec("192.168.1.2", 80, "masq", { uThreshold: 9, lThreshold: 2 }));
  assert.equal(dest.overloaded, false);
  assert.equal(dest.flags & DEST_F_OVERLOAD, 0);
});

test("weight 0: no new conns, existing ones go on", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  d.addDest(key, destSpec("192.168.1.2", 80));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  d.editDest(key, destSpec("192.168.1.2", 80, "masq", { weight: 0 }));
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 1, v);
  assert.equal(v.action, ACTION_FORWARD);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5001", VIP, TCP_SYN), 1, v);
  assert.equal(v.reason, "no-dest");
});

test("dest delete with expire_nodest_conn 0: packets dropped, the conn hangs until its timeout", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  d.addDest(key, destSpec("192.168.1.2", 80));
  d.addDest(key, destSpec("192.168.1.3", 80));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 0, v);
  const gone = v.dest!;
  d.delDest(key, gone.addr, 80);
  d.tick(1);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 1, v);
  assert.equal(v.action, ACTION_DROP);
  assert.equal(v.reason, "dest-unavailable");
  assert.equal(gone.stats.inPkts, 2, "dropped packets are not counted");
  // The dropped packets do not refresh the idle timer: ESTABLISHED from t=0 ends at 900.
  d.tick(899);
  assert.equal(d.connCount, 1);
  d.tick(900);
  assert.equal(d.connCount, 0);
  assert.equal(gone.activeConns, 0);
});

test("dest delete with expire_nodest_conn 1: the sweep expires conns, a new packet is rescheduled", () => {
  const d = makeDirector();
  d.sysctls.set("expire_nodest_conn", 1);
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  d.addDest(key, destSpec("192.168.1.2", 80));
  d.addDest(key, destSpec("192.168.1.3", 80));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.5:5000", VIP, TCP_SYN), 0, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 0, v);
  const gone = v.dest!;
  d.delDest(key, gone.addr, 80);
  // On the next packet (before any sweep) the conn is expired and the packet rescheduled.
  d.sysctls.set("sloppy_tcp", 1);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_ACK), 1, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.notEqual(v.dest, gone);
  assert.equal(gone.activeConns + gone.inactConns, 0);
  // The sweep at the next tick removes whatever else pointed at the deleted dest.
  d.delDest(key, v.dest!.addr, 80);
  assert.equal(d.connCount, 2);
  d.tick(2);
  assert.equal(d.connCount, 0);
});

test("conn_reuse_mode: a SYN on a TIME_WAIT conn makes a new conn (rescheduled); mode 0 reuses it", () => {
  for (const mode of [1, 0]) {
    const d = makeDirector();
    d.sysctls.set("conn_reuse_mode", mode);
    const key = tcpKey("10.0.0.1", 80);
    d.addService(svcSpec(key));
    d.addDest(key, destSpec("192.168.1.2", 80));
    d.addDest(key, destSpec("192.168.1.3", 80));
    const p = new FlowPacket();
    const v = new Verdict();
    const c = "1.2.3.4:5000";
    d.inbound(packet(p, IPPROTO_TCP, c, VIP, TCP_SYN), 0, v);
    const rs = `${words(v.dstAddr, 4)}:80`;
    d.outbound(packet(p, IPPROTO_TCP, rs, c, TCP_SYN | TCP_ACK), 0, v);
    d.inbound(packet(p, IPPROTO_TCP, c, VIP, TCP_ACK), 0, v);
    d.inbound(packet(p, IPPROTO_TCP, c, VIP, TCP_FIN | TCP_ACK), 0, v);
    d.outbound(packet(p, IPPROTO_TCP, rs, c, TCP_FIN | TCP_ACK), 0, v);
    assert.equal(d.connections(0)[0]!.state, "TIME_WAIT");
    d.inbound(packet(p, IPPROTO_TCP, c, VIP, TCP_SYN), 1, v);
    const conns = d.connections(1);
    assert.equal(conns.length, 1);
    assert.equal(conns[0]!.state, "SYN_RECV");
    if (mode === 1) {
      assert.equal(v.isNew, true);
      assert.notEqual(`${words(v.dstAddr, 4)}:80`, rs, "rr picked the other dest");
    } else {
      assert.equal(v.isNew, false);
      assert.equal(`${words(v.dstAddr, 4)}:80`, rs);
    }
  }
});

test("table full: new conns are refused and counted, existing ones keep working", () => {
  const d = makeDirector({ connCapacity: 2 });
  const key = tcpKey("10.0.0.1", 80);
  d.addService(svcSpec(key));
  d.addDest(key, destSpec("192.168.1.2", 80));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:1", VIP, TCP_SYN), 0, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:2", VIP, TCP_SYN), 0, v);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:3", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_DROP);
  assert.equal(v.reason, "table-full");
  assert.equal(d.conns.refusedFull, 1);
  assert.equal(d.findService(key)!.dests[0]!.inactConns + d.findService(key)!.dests[0]!.activeConns, 2);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:1", VIP, TCP_ACK), 0, v);
  assert.equal(v.action, ACTION_FORWARD);
});

test("zero: listed counters are current minus the baseline, per service or everything", () => {
  const zeroed: unknown[] = [];
  const d = makeDirector({ statsHooks: { zeroed: (c) => zeroed.push(c) } });
  const key = tcpKey("10.0.0.1", 80);
  const svc = d.addService(svcSpec(key));
  const dest = d.addDest(key, destSpec("192.168.1.2", 80));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:1", VIP, TCP_SYN, 100), 0, v);
  d.zero(key);
  assert.deepEqual(zeroed, [svc.stats, dest.stats]);
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:1", VIP, TCP_ACK, 40), 0, v);
  assert.deepEqual(d.displayed(dest.stats), { conns: 0, inPkts: 1, outPkts: 0, inBytes: 40, outBytes: 0 });
  assert.equal(dest.stats.inPkts, 2, "raw counters keep counting");
  assert.deepEqual(d.displayed(d.totals), { conns: 1, inPkts: 2, outPkts: 0, inBytes: 140, outBytes: 0 });
  d.zero();
  assert.deepEqual(d.displayed(d.totals), { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
});

test("the rate hook runs every 2 s of passed time", () => {
  const ticks: number[] = [];
  const d = makeDirector({ statsHooks: { tick: (t) => ticks.push(t) } });
  d.tick(0);
  d.tick(1);
  d.tick(2);
  d.tick(7);
  assert.deepEqual(ticks, [2, 4, 6]);
  assert.deepEqual([...d.statsObjects()], [d.totals]);
});

test("sysctls: every kernel name with its default, validated sets", () => {
  const s = new Sysctls();
  assert.equal(Sysctls.names().length, 27);
  assert.equal(s.get("conn_reuse_mode"), 1);
  assert.equal(s.get("amemthresh"), 1024);
  assert.deepEqual(s.get("sync_threshold"), [3, 50]);
  assert.equal(s.get("lblc_expiration"), 86400);
  s.set("expire_nodest_conn", 1);
  assert.equal(s.expire_nodest_conn, 1);
  assert.throws(() => s.set("nope", 1), { errno: "ENOENT" });
  assert.throws(() => s.set("secure_tcp", 4), { errno: "EINVAL" });
  assert.throws(() => s.set("sync_ports", 3), { errno: "EINVAL" });
  assert.throws(() => s.set("sync_threshold", [50, 3]), { errno: "EINVAL" });
  assert.throws(() => s.set("sloppy_tcp", 1.5), { errno: "EINVAL" });
  s.set("sync_threshold", [5, 100]);
  assert.deepEqual(s.all().sync_threshold, [5, 100]);
  void rr;
});

test("connTabBits sets the real bucket count shown as size=", () => {
  assert.equal(makeDirector().bucketCount, 4096);
  assert.equal(makeDirector({ connTabBits: 16 }).bucketCount, 65536);
  assert.throws(() => makeDirector({ connTabBits: 7 }), RangeError);
});

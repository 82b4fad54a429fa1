/**
 * Connection sync, the table's side (src/core/sync.ts), through two real Directors and the real
 * wire format: the master's connections pass ip_vs_sync_conn_needed's checks at the kernel's
 * moments (sync_threshold 3 of sync_period 50, TCP states worth sending, at once on a closing
 * state), are written as v1 messages (src/net/ipvs-sync.ts), read back, and put in the backup's
 * table as ip_vs_proc_conn does; the backup then forwards the next packet of the connection to
 * the same real server without scheduling. The backup's rules: a replaced connection, a stale
 * INACTIVE word, the active/inactive move, bad states, FULLNAT.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IpAddr } from "../src/core/address.js";
import { CONN_F_INACTIVE, CONN_F_SYNC } from "../src/core/conn-table.js";
import type { Director } from "../src/core/director.js";
import { FlowPacket, IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_FIN, TCP_SYN } from "../src/core/flow.js";
import { type SyncedConn, SyncMasterState } from "../src/core/sync.js";
import { ACTION_FORWARD, Verdict } from "../src/core/verdict.js";
import { decodeSyncMessage, type SyncConn, SyncMessageWriter } from "../src/net/ipvs-sync.js";
import { destSpec, makeDirector, packet, svcSpec, tcpKey, udpKey } from "./director-fixtures.js";

const VIP = "198.18.0.10";

function director(): Director {
  const d = makeDirector();
  for (const key of [tcpKey(VIP, 80), udpKey(VIP, 53)]) {
    d.addService(svcSpec(key));
    const port = key.kind === "addr" ? key.port : 0;
    d.addDest(key, destSpec("198.19.0.1", port));
    d.addDest(key, destSpec("198.19.0.2", port));
    d.addDest(key, destSpec("198.19.0.3", port));
  }
  return d;
}

const pkt = new FlowPacket();

/** The TCP service's real server at `addr`. */
function destOf(d: Director, addr: string) {
  return d
    .services()
    .find((s) => s.key.kind === "addr" && s.key.protocol === IPPROTO_TCP)!
    .dests.find((x) => x.addr.toString() === addr)!;
}
const v = new Verdict();

/** Core words <-> the message's network-order bytes. */
const toBytes = (family: 4 | 6, w: ArrayLike<number>) => IpAddr.fromWords(family, w).toBytes();
const toWords = (_family: 4 | 6, b: Uint8Array) => IpAddr.fromBytes(b).words;

function wire(records: SyncedConn[]): SyncedConn[] {
  const w = new SyncMessageWriter(9, 1472);
  for (const r of records) {
    const c: SyncConn = {
      ...r,
      caddr: toBytes(r.family, r.caddr),
      vaddr: toBytes(r.family, r.vaddr),
      daddr: toBytes(r.family, r.daddr),
    };
    assert.ok(w.add(c));
  }
  const d = decodeSyncMessage(w.finish()!, 9);
  assert.equal(d.refused, null);
  return d.conns.map((c) => ({
    ...c,
    caddr: toWords(c.family, c.caddr),
    vaddr: toWords(c.family, c.vaddr),
    daddr: toWords(c.family, c.daddr),
  }));
}

/** Sends what syncNeeded says after each packet the master sees; returns the records. */
function masterSees(d: Director, m: SyncMasterState, verdict: Verdict, out: SyncedConn[]): void {
  const i = verdict.conn;
  if (i >= 0 && d.syncNeeded(m, i)) out.push(d.syncRecord(i));
}

test("a TCP connection synced at the kernel's moments continues on the backup without rescheduling", () => {
  const a = director();
  const b = director();
  const m = new SyncMasterState(4096);
  const sent: SyncedConn[] = [];
  const client = "198.18.5.7:40000";
  masterSees(a, m, a.inbound(packet(pkt, IPPROTO_TCP, client, `${VIP}:80`, TCP_SYN), 1, v), sent);
  const rs = v.dest!.addr.toString();
  assert.equal(sent.length, 0, "SYN_RECV is not worth sending");
  masterSees(a, m, a.inbound(packet(pkt, IPPROTO_TCP, client, `${VIP}:80`, TCP_ACK), 1, v), sent);
  assert.equal(sent.length, 0, "ESTABLISHED waits for the threshold's packet");
  masterSees(a, m, a.inbound(packet(pkt, IPPROTO_TCP, client, `${VIP}:80`, TCP_ACK), 1, v), sent);
  assert.equal(sent.length, 1, "the third packet in (sync_threshold 3)");
  for (let k = 4; k <= 53; k++)
    masterSees(a, m, a.inbound(packet(pkt, IPPROTO_TCP, client, `${VIP}:80`, TCP_ACK), 2, v), sent);
  assert.equal(sent.length, 2, "then every sync_period (50) packets: the 53rd");

  // The backup takes it from the wire; a failover later, the next packet finds it.
  for (const c of wire(sent)) assert.match(b.applySynced(c, 3), /added|updated/);
  const listed = b.connections(3);
  assert.equal(listed.length, 1);
  assert.equal(listed[0]!.state, "ESTABLISHED");
  assert.equal(listed[0]!.daddr, rs);
  assert.equal(destOf(b, rs).activeConns, 1, "bound to the backup's own real server, counted active");
  b.inbound(packet(pkt, IPPROTO_TCP, client, `${VIP}:80`, TCP_ACK), 4, v);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(v.isNew, false, "no new connection: not rescheduled");
  assert.equal(v.dest?.addr.toString(), rs);
  assert.ok(b.syncRecord(v.conn).flags & CONN_F_SYNC, "marked as synced");

  // A FIN moves the master to a closing state: sent at once, and the backup follows.
  masterSees(a, m, a.inbound(packet(pkt, IPPROTO_TCP, client, `${VIP}:80`, TCP_FIN | TCP_ACK), 5, v), sent);
  assert.equal(sent.length, 3, "a new closing state is sent at once");
  b.applySynced(wire([sent[2]!])[0]!, 5);
  assert.equal(b.connections(5)[0]!.state, a.connections(5)[0]!.state);
  assert.notEqual(a.connections(5)[0]!.state, "ESTABLISHED");
});

test("UDP: sent on packets 3, 53, 103 with sync_threshold 3 50; other thresholds as set", () => {
  const a = director();
  const m = new SyncMasterState(4096);
  const at: number[] = [];
  for (let k = 1; k <= 110; k++) {
    const r = a.inbound(packet(pkt, IPPROTO_UDP, "198.18.5.8:5000", `${VIP}:53`, 0), 1, v);
    const before = at.length;
    const sent: SyncedConn[] = [];
    masterSees(a, m, r, sent);
    if (sent.length > 0 && at.length === before) at.push(k);
  }
  assert.deepEqual(at, [3, 53, 103]);
  a.sysctls.set("sync_threshold", [2, 0]);
  const b = director();
  b.sysctls.set("sync_threshold", [2, 0]);
  const at2: number[] = [];
  for (let k = 1; k <= 20; k++) {
    const sent: SyncedConn[] = [];
    masterSees(
      b,
      new SyncMasterState(4096),
      b.inbound(packet(pkt, IPPROTO_UDP, "198.18.5.9:5000", `${VIP}:53`, 0), 1, v),
      sent,
    );
    if (sent.length) at2.push(k);
  }
  assert.deepEqual(at2, [2], "period 0: once, at the threshold");
});

test("backup rules: replaced, stale, inactive move, bad state, FULLNAT, unknown service", () => {
  const b = director();
  const w = (s: string) => IpAddr.mustParse(s).words;
  const base: SyncedConn = {
    family: 4,
    protocol: IPPROTO_TCP,
    flags: 0,
    state: 1,
    caddr: w("198.18.6.1"),
    cport: 41000,
    vaddr: w(VIP),
    vport: 80,
    daddr: w("198.19.0.1"),
    dport: 80,
    fwmark: 0,
    timeout: 900,
  };
  assert.equal(b.applySynced(base, 1), "added");
  assert.equal(destOf(b, "198.19.0.1").activeConns, 1);
  assert.equal(b.applySynced({ ...base, flags: CONN_F_INACTIVE }, 2), "updated");
  assert.equal(destOf(b, "198.19.0.1").activeConns, 0);
  assert.equal(destOf(b, "198.19.0.1").inactConns, 1, "INACTIVE moves it between the counts");
  // Another real server for the same client tuple: the master replaced it; the backup too.
  assert.equal(b.applySynced({ ...base, daddr: w("198.19.0.2") }, 3), "added");
  assert.equal(b.connections(3).length, 1);
  assert.equal(b.connections(3)[0]!.daddr, "198.19.0.2");
  // ...unless the message is the old connection's last word (INACTIVE): ignored.
  assert.equal(b.applySynced({ ...base, flags: CONN_F_INACTIVE }, 4), "stale");
  assert.equal(b.connections(4)[0]!.daddr, "198.19.0.2");
  assert.equal(b.applySynced({ ...base, cport: 41001, state: 99 }, 4), "bad-state");
  assert.equal(b.applySynced({ ...base, cport: 41002, protocol: 47 }, 4), "unsupported-protocol");
  // SCTP: the kernel's 14 states (ESTABLISHED is 8); beyond them, refused.
  assert.equal(b.applySynced({ ...base, cport: 41005, protocol: 132, state: 14 }, 4), "bad-state");
  assert.equal(b.applySynced({ ...base, cport: 41005, protocol: 132, state: 8, vport: 3868 }, 4), "added");
  assert.equal(b.connections(4).find((c) => c.cport === 41005)?.state, "ESTABLISHED");
  assert.equal(b.applySynced({ ...base, cport: 41003, flags: 0x0005 }, 4), "fullnat");
  // A service the backup does not have: kept unbound, as the kernel keeps it.
  assert.equal(b.applySynced({ ...base, cport: 41004, vaddr: w("198.18.0.99") }, 4), "added");
  assert.ok(b.connections(4).some((c) => c.cport === 41004));
  const counts = b.services().flatMap((svc) => svc.dests.map((d) => d.activeConns + d.inactConns));
  assert.equal(
    counts.reduce((x, y) => x + y, 0),
    1,
    "only the replaced connection is counted on a real server",
  );
  // The timeout is the message's.
  assert.equal(b.connections(4).find((c) => c.cport === 41000)!.expires, 900 - 1);
});

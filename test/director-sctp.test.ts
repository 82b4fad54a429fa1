/**
 * SCTP in the core, as the kernel's ip_vs_proto_sctp.c: an association starts with an INIT only
 * (sctp_conn_schedule), its state follows the chunks seen in each direction (sctp_states), each state
 * has its timeout (sctp_timeouts) and `-Lc` name, only ESTABLISHED is active, and a CLOSED
 * association is replaced by a new INIT (is_new_conn_expected).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IpAddr } from "../src/core/address.js";
import type { Director } from "../src/core/director.js";
import { IPPROTO_SCTP } from "../src/core/flow.js";
import type { ServiceKey } from "../src/core/service.js";
import { ACTION_FORWARD, ACTION_ICMP_UNREACH, ACTION_PASS, Verdict } from "../src/core/verdict.js";
import { destSpec, FlowPacket, makeDirector, packet, svcSpec, words } from "./director-fixtures.js";

// RFC 9260 chunk type numbers, written here on their own.
const DATA = 0;
const INIT = 1;
const INIT_ACK = 2;
const SACK = 3;
const HEARTBEAT = 4;
const ABORT = 6;
const SHUTDOWN = 7;
const SHUTDOWN_ACK = 8;
const COOKIE_ECHO = 10;
const COOKIE_ACK = 11;
const SHUTDOWN_COMPLETE = 14;

const VIP = "10.0.0.1:3868";
const CLIENT = "1.2.3.4:40000";
const sctpKey: ServiceKey = {
  kind: "addr",
  protocol: IPPROTO_SCTP,
  addr: IpAddr.mustParse("10.0.0.1"),
  port: 3868,
};

function chunk(p: FlowPacket, first: number, next = -1): FlowPacket {
  p.sctpChunk = first;
  p.sctpNextChunk = next;
  return p;
}

interface Setup {
  d: Director;
  p: FlowPacket;
  v: Verdict;
  /** The real server the last new association went to, "addr:port". */
  rs: string;
}

function setup(method: "masq" | "route" = "masq"): Setup {
  const d = makeDirector();
  d.addService(svcSpec(sctpKey));
  d.addDest(sctpKey, destSpec("192.168.1.2", 3868, method));
  d.addDest(sctpKey, destSpec("192.168.1.3", 3868, method));
  return { d, p: new FlowPacket(), v: new Verdict(), rs: "" };
}

/** Client -> VIP with chunk `first` (and a bundled `next`) at time `now`. */
function fromClient(s: Setup, now: number, first: number, next = -1): Verdict {
  const v = s.d.inbound(chunk(packet(s.p, IPPROTO_SCTP, CLIENT, VIP), first, next), now, s.v);
  if (v.isNew && v.dest) s.rs = `${v.dest.addr}:${v.dest.port}`;
  return v;
}

/** The real server (of the last new association) -> client. */
function fromServer(s: Setup, now: number, first: number): Verdict {
  return s.d.outbound(chunk(packet(s.p, IPPROTO_SCTP, s.rs, CLIENT), first), now, s.v);
}

function stateAt(s: Setup, now: number): [string, number] {
  const c = s.d.connections(now)[0]!;
  return [c.state, c.expires];
}

test("NAT association: INIT .. SHUTDOWN COMPLETE walks the kernel's states with their timeouts", () => {
  const s = setup();
  let v = fromClient(s, 0, INIT);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(v.isNew, true);
  const dest = v.dest!;
  assert.equal(`${words(v.dstAddr, 4)}:${v.dstPort}`, s.rs);
  assert.deepEqual(stateAt(s, 0), ["INIT1", 4]);
  assert.deepEqual([dest.activeConns, dest.inactConns], [0, 1]);
  // A retransmitted INIT.
  fromClient(s, 1, INIT);
  assert.deepEqual(stateAt(s, 1), ["INIT", 61]);
  v = fromServer(s, 1, INIT_ACK);
  assert.equal(v.action, ACTION_FORWARD);
  assert.equal(words(v.srcAddr, 4), "10.0.0.1");
  assert.deepEqual(stateAt(s, 1), ["C-SENT", 61]);
  fromClient(s, 2, COOKIE_ECHO);
  assert.deepEqual(stateAt(s, 2), ["C-REPLIED", 61]);
  fromServer(s, 2, COOKIE_ACK);
  assert.deepEqual(stateAt(s, 2), ["ESTABLISHED", 900]);
  assert.deepEqual([dest.activeConns, dest.inactConns], [1, 0]);
  for (const c of [DATA, SACK, HEARTBEAT]) {
    fromClient(s, 3, c);
    fromServer(s, 3, c);
    assert.equal(stateAt(s, 3)[0], "ESTABLISHED");
  }
  fromClient(s, 4, SHUTDOWN);
  assert.deepEqual(stateAt(s, 4), ["S-RECEIVED", 61]);
  assert.deepEqual([dest.activeConns, dest.inactConns], [0, 1]);
  fromServer(s, 4, SHUTDOWN_ACK);
  assert.deepEqual(stateAt(s, 4), ["S-ACK-SENT", 61]);
  fromClient(s, 5, SHUTDOWN_COMPLETE);
  assert.deepEqual(stateAt(s, 5), ["CLOSED", 61]);
  assert.equal(s.d.connections(5).length, 1);
  assert.equal(s.d.connStates().byState["SCTP CLOSED"], 1);
});

test("the real server's SHUTDOWN: S-SENT; an ABORT closes; a packet without a chunk changes nothing", () => {
  const s = setup();
  fromClient(s, 0, INIT);
  fromServer(s, 0, INIT_ACK);
  fromClient(s, 0, COOKIE_ECHO);
  fromServer(s, 0, COOKIE_ACK);
  fromServer(s, 1, SHUTDOWN);
  assert.deepEqual(stateAt(s, 1), ["S-SENT", 61]);
  fromClient(s, 2, -1);
  assert.deepEqual(stateAt(s, 2), ["S-SENT", 61], "state kept, the timer re-armed with its timeout");
  fromClient(s, 3, ABORT);
  assert.deepEqual(stateAt(s, 3), ["CLOSED", 61]);
});

test("only an INIT opens an association; sloppy_sctp opens on any chunk but ABORT", () => {
  const s = setup();
  for (const c of [DATA, COOKIE_ECHO, ABORT, SHUTDOWN, -1]) {
    const v = fromClient(s, 0, c);
    assert.equal(v.action, ACTION_PASS, `chunk ${c}`);
    assert.equal(v.reason, "not-schedulable");
  }
  assert.equal(s.d.connections(0).length, 0);
  s.d.sysctls.set("sloppy_sctp", 1);
  assert.equal(fromClient(s, 0, ABORT).action, ACTION_PASS);
  const v = fromClient(s, 0, DATA);
  assert.equal(v.action, ACTION_FORWARD);
  assert.deepEqual(stateAt(s, 0), ["ESTABLISHED", 900], "NONE + data = ESTABLISHED, as the kernel's table");
});

test("an INIT answered by ABORT: REJECTED; an ABORT bundled after a COOKIE ECHO counts as the ABORT", () => {
  const s = setup();
  fromClient(s, 0, INIT);
  fromServer(s, 0, ABORT);
  assert.deepEqual(stateAt(s, 0), ["REJECTED", 4]);
  const t = setup();
  fromClient(t, 0, INIT);
  fromServer(t, 0, INIT_ACK);
  fromClient(t, 0, COOKIE_ECHO, ABORT);
  assert.deepEqual(stateAt(t, 0), ["CLOSED", 61]);
});

test("a new INIT on a CLOSED association is scheduled afresh (conn_reuse_mode)", () => {
  const s = setup();
  fromClient(s, 0, INIT);
  fromServer(s, 0, ABORT);
  fromClient(s, 1, INIT);
  // REJECTED + INIT = INIT: the same association continues.
  assert.equal(s.d.connections(1).length, 1);
  assert.deepEqual(stateAt(s, 1), ["INIT", 61]);
  fromClient(s, 1, ABORT);
  assert.equal(stateAt(s, 1)[0], "CLOSED");
  const first = s.rs;
  const v = fromClient(s, 2, INIT);
  assert.equal(v.isNew, true);
  assert.notEqual(s.rs, first, "rr's next real server");
  const conns = s.d.connections(2);
  assert.equal(conns.length, 1);
  assert.equal(conns[0]!.state, "INIT1");
});

test("DR: the client's side only (INPUT_ONLY table): COOKIE ECHO makes it ESTABLISHED", () => {
  const s = setup("route");
  fromClient(s, 0, INIT);
  assert.equal(stateAt(s, 0)[0], "INIT1");
  fromClient(s, 1, COOKIE_ECHO);
  assert.deepEqual(stateAt(s, 1), ["ESTABLISHED", 900]);
  fromClient(s, 2, SHUTDOWN_ACK);
  assert.equal(stateAt(s, 2)[0], "CLOSED");
});

test("a stray reply from a NAT real server gets ICMP unless it is an ABORT", () => {
  const s = setup();
  s.d.sysctls.set("nat_icmp_send", 1);
  s.rs = "192.168.1.2:3868";
  assert.equal(fromServer(s, 0, DATA).action, ACTION_ICMP_UNREACH);
  assert.equal(fromServer(s, 0, ABORT).action, ACTION_PASS);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { IpAddr } from "../src/core/address.js";
import { TxDecision } from "../src/dataplane/slow-path.js";
import { readMac } from "../src/net/ethernet.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { buildFrame, guardIntact, inGuardedBuffer, refChecksum, V4 } from "./net-frames.js";
import {
  CLIENT,
  IF_IN,
  IF_OUT,
  MAC_CLIENT,
  MAC_DIRECTOR_OUT,
  MAC_RS,
  makeRig,
  RS,
  VIP,
  VIP2,
} from "./support/slow-path-rig.js";

const w = (s: string) => {
  const a = IpAddr.mustParse(s).v4Value;
  return [a, 0, 0, 0];
};
/** An IPv4 TCP frame between two of the rig's addresses. */
const tcp4 = (src: string, dst: string, sport: number, dport: number, tcpFlags?: number) =>
  buildFrame({
    family: 4,
    protocol: 6,
    src: w(src),
    dst: w(dst),
    sport,
    dport,
    ...(tcpFlags === undefined ? {} : { tcpFlags }),
  });
const SLOT = 2048;
const OFF = 256;
const ingressOut = { ifindex: IF_OUT, mac: MAC_DIRECTOR_OUT };

function slotWith(frame: Uint8Array): Uint8Array {
  return inGuardedBuffer(frame, OFF, SLOT - OFF - frame.length);
}

function parsed(buf: Uint8Array, d: TxDecision): ParsedFrame {
  const f = new ParsedFrame();
  assert.equal(parseFrame(buf, d.offset, d.length, f), PARSE_OK);
  return f;
}

test("NAT: a SYN to the VIP leaves toward the real server rewritten; its reply leaves toward the client as the VIP", () => {
  const { path, director } = makeRig();
  const syn = tcp4(CLIENT, VIP, 40000, 80, 0x02);
  const buf = slotWith(syn);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, syn.length, SLOT - OFF, ingressOut, 100, d), true);
  assert.equal(d.ifindex, IF_IN);
  assert.equal(readMac(buf, d.offset), MAC_RS);
  const f = parsed(buf, d);
  assert.equal(IpAddr.fromWords(4, f.daddr).toString(), RS);
  assert.equal(f.dport, 8080);
  assert.equal(director.connections(100).length, 1);
  assert.ok(guardIntact(buf, OFF, syn.length));

  const synack = tcp4(RS, CLIENT, 8080, 40000, 0x12);
  const buf2 = slotWith(synack);
  assert.equal(path.process(buf2, OFF, synack.length, SLOT - OFF, { ifindex: IF_IN, mac: 1 }, 100, d), true);
  assert.equal(d.ifindex, IF_OUT);
  assert.equal(readMac(buf2, d.offset), MAC_CLIENT);
  const g = parsed(buf2, d);
  assert.equal(IpAddr.fromWords(4, g.saddr).toString(), VIP);
  assert.equal(g.sport, 80);
});

test("DR: the frame keeps its addresses and goes to the real server's MAC", () => {
  const { path } = makeRig();
  const syn = tcp4(CLIENT, VIP2, 1, 80, 2);
  const buf = slotWith(syn);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, syn.length, SLOT - OFF, ingressOut, 1, d), true);
  assert.equal(readMac(buf, d.offset), MAC_RS);
  assert.equal(IpAddr.fromWords(4, parsed(buf, d).daddr).toString(), VIP2);
});

test("no real server: ICMP port unreachable is built in the frame's own slot, back out of its port", () => {
  const { path, director } = makeRig();
  director.delDest(
    { kind: "addr", protocol: 17, addr: IpAddr.mustParse(VIP), port: 53 },
    IpAddr.mustParse(RS),
    53,
  );
  const q = buildFrame({
    family: 4,
    protocol: 17,
    src: w(CLIENT),
    dst: w(VIP),
    sport: 5353,
    dport: 53,
    payload: [1, 2, 3],
    srcMac: [2, 0, 0, 0, 0xcc, 1],
  });
  const buf = slotWith(q);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, q.length, SLOT - OFF, ingressOut, 1, d), true);
  assert.equal(d.ifindex, IF_OUT);
  assert.equal(d.offset, OFF);
  assert.equal(readMac(buf, d.offset), MAC_CLIENT);
  const f = parsed(buf, d);
  assert.equal(f.protocol, 1);
  assert.equal(f.icmpType, 3);
  assert.equal(f.icmpCode, 3);
  assert.equal(IpAddr.fromWords(4, f.daddr).toString(), CLIENT);
  assert.ok(guardIntact(buf, OFF, d.length));
  assert.equal(path.counters.icmpSent, 1);
});

test("a frame that is no packet of ours is dropped and counted", () => {
  const { path } = makeRig();
  const d = new TxDecision();
  const junk = new Uint8Array(SLOT);
  assert.equal(path.process(junk, OFF, 40, SLOT - OFF, ingressOut, 1, d), false);
  assert.equal(path.counters.malformed, 1);
  const other = buildFrame({
    family: 4,
    protocol: 6,
    src: V4(198, 18, 0, 5),
    dst: V4(198, 18, 0, 6),
    sport: 1,
    dport: 2,
  });
  assert.equal(path.process(slotWith(other), OFF, other.length, SLOT - OFF, ingressOut, 1, d), false);
  assert.equal(path.counters.passedAndDropped, 1);
});

/** An ICMP error frame from `src` to `dst` quoting the first 28 bytes of `quoted`'s IP packet. */
function icmpErrorFrame(
  src: string,
  dst: string,
  type: number,
  code: number,
  quoted: Uint8Array,
): Uint8Array {
  const quote = Array.from(quoted.subarray(14, 14 + 28));
  const msg = [type, code, 0, 0, 0, 0, 0, 0, ...quote];
  const c = refChecksum(msg);
  msg[2] = c >>> 8;
  msg[3] = c & 255;
  return buildFrame({ family: 4, protocol: 1, src: w(src), dst: w(dst), payload: msg });
}

function checkIcmp(
  buf: Uint8Array,
  f: ParsedFrame,
): { qsrc: string; qdst: string; qsport: number; qdport: number } {
  const icmp = Array.from(buf.subarray(f.l4Off, f.l3Off + f.ipLen));
  assert.equal(refChecksum(icmp), 0, "the ICMP checksum is valid");
  const q = f.l4Off + 8;
  assert.equal(
    refChecksum(Array.from(buf.subarray(q, q + 20))),
    0,
    "the quoted IPv4 header checksum is valid",
  );
  const dv = new DataView(buf.buffer, buf.byteOffset);
  return {
    qsrc: IpAddr.v4(dv.getUint32(q + 12)).toString(),
    qdst: IpAddr.v4(dv.getUint32(q + 16)).toString(),
    qsport: dv.getUint16(q + 20),
    qdport: dv.getUint16(q + 22),
  };
}

test("NAT: an ICMP error from the real server about a conn reaches the client as the VIP's, quoting VIP:vport", () => {
  const { path } = makeRig();
  const d = new TxDecision();
  const req = buildFrame({
    family: 4,
    protocol: 17,
    src: w(CLIENT),
    dst: w(VIP),
    sport: 5000,
    dport: 53,
    payload: [1],
  });
  const b0 = slotWith(req);
  assert.equal(path.process(b0, OFF, req.length, SLOT - OFF, ingressOut, 1, d), true);
  // What the RS received (client -> RS:53), which its stack answers with port unreachable.
  const err = icmpErrorFrame(RS, CLIENT, 3, 3, b0.subarray(d.offset, d.offset + d.length));
  const buf = slotWith(err);
  assert.equal(path.process(buf, OFF, err.length, SLOT - OFF, { ifindex: IF_IN, mac: 1 }, 2, d), true);
  assert.equal(d.ifindex, IF_OUT);
  assert.equal(readMac(buf, d.offset), MAC_CLIENT);
  const f = parsed(buf, d);
  assert.equal(IpAddr.fromWords(4, f.saddr).toString(), VIP);
  assert.equal(IpAddr.fromWords(4, f.daddr).toString(), CLIENT);
  assert.deepEqual(checkIcmp(buf, f), { qsrc: CLIENT, qdst: VIP, qsport: 5000, qdport: 53 });
  assert.equal(path.counters.icmpForwarded, 1);
  assert.ok(guardIntact(buf, OFF, err.length));
});

test("NAT: an ICMP error from the client side about VIP:vport -> client reaches the real server about RS:rport", () => {
  const { path } = makeRig();
  const d = new TxDecision();
  const syn = tcp4(CLIENT, VIP, 40000, 80, 2);
  assert.equal(path.process(slotWith(syn), OFF, syn.length, SLOT - OFF, ingressOut, 1, d), true);
  // A packet the client received from the VIP, and an error about it (e.g. from a router).
  const fromVip = tcp4(VIP, CLIENT, 80, 40000, 0x12);
  const err = icmpErrorFrame(CLIENT, VIP, 3, 4, fromVip);
  const buf = slotWith(err);
  assert.equal(path.process(buf, OFF, err.length, SLOT - OFF, ingressOut, 2, d), true);
  assert.equal(d.ifindex, IF_IN);
  assert.equal(readMac(buf, d.offset), MAC_RS);
  const f = parsed(buf, d);
  assert.equal(IpAddr.fromWords(4, f.saddr).toString(), CLIENT);
  assert.equal(IpAddr.fromWords(4, f.daddr).toString(), RS);
  assert.deepEqual(checkIcmp(buf, f), { qsrc: RS, qdst: CLIENT, qsport: 8080, qdport: 40000 });
});

test("DR: an ICMP error to the VIP about a conn goes to its real server's MAC unchanged; unrelated errors are dropped", () => {
  const { path } = makeRig();
  const d = new TxDecision();
  const syn = tcp4(CLIENT, VIP2, 40001, 80, 2);
  assert.equal(path.process(slotWith(syn), OFF, syn.length, SLOT - OFF, ingressOut, 1, d), true);
  const fromVip = tcp4(VIP2, CLIENT, 80, 40001);
  const err = icmpErrorFrame(CLIENT, VIP2, 11, 0, fromVip);
  const buf = slotWith(err);
  assert.equal(path.process(buf, OFF, err.length, SLOT - OFF, ingressOut, 2, d), true);
  assert.equal(readMac(buf, d.offset), MAC_RS);
  const f = parsed(buf, d);
  assert.equal(IpAddr.fromWords(4, f.daddr).toString(), VIP2);
  assert.deepEqual(checkIcmp(buf, f), { qsrc: VIP2, qdst: CLIENT, qsport: 80, qdport: 40001 });
  // About a connection the director does not have: dropped and counted.
  const other = buildFrame({ family: 4, protocol: 6, src: w(VIP2), dst: w(CLIENT), sport: 80, dport: 1 });
  const stray = icmpErrorFrame(CLIENT, VIP2, 3, 3, other);
  assert.equal(path.process(slotWith(stray), OFF, stray.length, SLOT - OFF, ingressOut, 2, d), false);
  assert.equal(path.counters.icmpUnrelated, 1);
});

test("IPv4 fragments, first or later, are dropped and counted before the director sees them", () => {
  const { path, director } = makeRig();
  const d = new TxDecision();
  const first = buildFrame({
    family: 4,
    protocol: 17,
    src: w(CLIENT),
    dst: w(VIP),
    sport: 5000,
    dport: 53,
    payload: new Array(64).fill(7),
    frag: 0x2000,
  });
  const later = buildFrame({
    family: 4,
    protocol: 17,
    src: w(CLIENT),
    dst: w(VIP),
    payload: new Array(64).fill(7),
    frag: 0x0009,
  });
  assert.equal(path.process(slotWith(first), OFF, first.length, SLOT - OFF, ingressOut, 1, d), false);
  assert.equal(path.process(slotWith(later), OFF, later.length, SLOT - OFF, ingressOut, 1, d), false);
  assert.equal(path.counters.fragmentsDropped, 2);
  assert.equal(director.connCount, 0, "no conn was opened for a datagram that is not whole");
});

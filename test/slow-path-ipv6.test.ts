/**
 * The frame path over IPv6, with a real Director and fake next hops (test/support/frame-path-rig.ts):
 * NAT both ways with valid checksums and the hop limit decremented, DR to the real server's MAC,
 * ICMPv6 port unreachable for a service without a real server, ICMPv6 errors about a connection
 * translated, partial checksums completed over the IPv6 pseudo-header, and LVS-TUN left to its
 * transmitter (test/xmit-tunnel.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IpAddr } from "../src/core/address.js";
import { TxDecision } from "../src/dataplane/slow-path.js";
import { readMac } from "../src/net/ethernet.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { destSpec, tcpKey } from "./director-fixtures.js";
import { buildFrame, guardIntact, inGuardedBuffer, pseudoHeader, refChecksum } from "./net-frames.js";
import {
  CLIENT6,
  DR_RS6,
  IF_IN,
  IF_OUT,
  MAC_CLIENT,
  MAC_DIRECTOR_IN,
  MAC_DIRECTOR_OUT,
  MAC_RS,
  makeRig,
  RS6,
  VIP6,
  VIP6_2,
} from "./support/slow-path-rig.js";

const w = (s: string) => Array.from(IpAddr.mustParse(s).words);
const SLOT = 2048;
const OFF = 256;
const ingressOut = { ifindex: IF_OUT, mac: MAC_DIRECTOR_OUT };
const ingressIn = { ifindex: IF_IN, mac: MAC_DIRECTOR_IN };

function slotWith(frame: Uint8Array): Uint8Array {
  return inGuardedBuffer(frame, OFF, SLOT - OFF - frame.length);
}

function parsed(buf: Uint8Array, d: TxDecision): ParsedFrame {
  const f = new ParsedFrame();
  assert.equal(parseFrame(buf, d.offset, d.length, f), PARSE_OK);
  assert.equal(f.family, 6);
  return f;
}

const text = (words: Uint32Array) => IpAddr.fromWords(6, words).toString();

/** The L4 checksum of a parsed frame verifies over the IPv6 pseudo-header (reference computation). */
function l4ChecksumValid(buf: Uint8Array, f: ParsedFrame): boolean {
  const seg = Array.from(buf.subarray(f.l4Off, f.l4Off + f.l4Len));
  return refChecksum([...pseudoHeader(6, f.saddr, f.daddr, f.protocol, f.l4Len), ...seg]) === 0;
}

test("IPv6 NAT: a SYN to [VIP]:80 leaves toward [RS]:8080 and its answer leaves as [VIP]:80, checksums valid, hop limit decremented", () => {
  const { path, director } = makeRig();
  const syn = buildFrame({
    family: 6,
    protocol: 6,
    src: w(CLIENT6),
    dst: w(VIP6),
    sport: 40000,
    dport: 80,
    tcpFlags: 0x02,
    ttl: 64,
  });
  const buf = slotWith(syn);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, syn.length, SLOT - OFF, ingressOut, 100, d), true);
  assert.equal(d.ifindex, IF_IN);
  assert.equal(readMac(buf, d.offset), MAC_RS);
  assert.equal(readMac(buf, d.offset + 6), MAC_DIRECTOR_IN);
  const f = parsed(buf, d);
  assert.equal(text(f.saddr), CLIENT6, "the real server sees the client's address");
  assert.equal(text(f.daddr), RS6);
  assert.equal(f.dport, 8080);
  assert.equal(f.ttl, 63);
  assert.ok(l4ChecksumValid(buf, f), "TCP checksum valid after the rewrite");
  assert.ok(guardIntact(buf, OFF, syn.length));
  const conns = director.connections(100);
  assert.equal(conns.length, 1);

  const synack = buildFrame({
    family: 6,
    protocol: 6,
    src: w(RS6),
    dst: w(CLIENT6),
    sport: 8080,
    dport: 40000,
    tcpFlags: 0x12,
  });
  const buf2 = slotWith(synack);
  assert.equal(path.process(buf2, OFF, synack.length, SLOT - OFF, ingressIn, 100, d), true);
  assert.equal(d.ifindex, IF_OUT);
  assert.equal(readMac(buf2, d.offset), MAC_CLIENT);
  const g = parsed(buf2, d);
  assert.equal(text(g.saddr), VIP6);
  assert.equal(g.sport, 80);
  assert.equal(text(g.daddr), CLIENT6);
  assert.ok(l4ChecksumValid(buf2, g));
});

test("IPv6 NAT over UDP: payload intact, checksum valid both ways", () => {
  const { path } = makeRig();
  const payload = Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 255);
  const q = buildFrame({
    family: 6,
    protocol: 17,
    src: w(CLIENT6),
    dst: w(VIP6),
    sport: 5353,
    dport: 80,
    payload,
  });
  const buf = slotWith(q);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, q.length, SLOT - OFF, ingressOut, 1, d), true);
  const f = parsed(buf, d);
  assert.equal(text(f.daddr), RS6);
  assert.deepEqual(Array.from(buf.subarray(f.payloadOff, f.payloadOff + f.payloadLen)), payload);
  assert.ok(l4ChecksumValid(buf, f));
  const a = buildFrame({
    family: 6,
    protocol: 17,
    src: w(RS6),
    dst: w(CLIENT6),
    sport: 8080,
    dport: 5353,
    payload,
  });
  const buf2 = slotWith(a);
  assert.equal(path.process(buf2, OFF, a.length, SLOT - OFF, ingressIn, 1, d), true);
  const g = parsed(buf2, d);
  assert.equal(text(g.saddr), VIP6);
  assert.equal(g.sport, 80);
  assert.ok(l4ChecksumValid(buf2, g));
});

test("IPv6 DR: the packet keeps its addresses and goes to the real server's MAC, hop limit decremented", () => {
  const { path } = makeRig();
  const syn = buildFrame({
    family: 6,
    protocol: 6,
    src: w(CLIENT6),
    dst: w(VIP6_2),
    sport: 1,
    dport: 80,
    tcpFlags: 2,
  });
  const buf = slotWith(syn);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, syn.length, SLOT - OFF, ingressOut, 1, d), true);
  assert.equal(readMac(buf, d.offset), MAC_RS);
  assert.equal(d.ifindex, IF_OUT);
  const f = parsed(buf, d);
  assert.equal(text(f.daddr), VIP6_2);
  assert.equal(text(f.saddr), CLIENT6);
  assert.equal(f.ttl, 63);
  assert.ok(l4ChecksumValid(buf, f));
});

test("IPv6: a service with no real server answers ICMPv6 port unreachable from the VIP, in the frame's slot", () => {
  const { path } = makeRig();
  const q = buildFrame({
    family: 6,
    protocol: 17,
    src: w(CLIENT6),
    dst: w(VIP6),
    sport: 5353,
    dport: 54,
    payload: [1, 2, 3],
    srcMac: [2, 0, 0, 0, 0xcc, 1],
  });
  const buf = slotWith(q);
  const original = Array.from(buf.subarray(OFF + 14, OFF + q.length));
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, q.length, SLOT - OFF, ingressOut, 1, d), true);
  assert.equal(d.ifindex, IF_OUT);
  assert.equal(d.offset, OFF);
  assert.equal(readMac(buf, d.offset), MAC_CLIENT);
  assert.equal(readMac(buf, d.offset + 6), MAC_DIRECTOR_OUT);
  const f = parsed(buf, d);
  assert.equal(f.protocol, 58);
  assert.equal(f.icmpType, 1);
  assert.equal(f.icmpCode, 4);
  assert.equal(text(f.saddr), VIP6);
  assert.equal(text(f.daddr), CLIENT6);
  assert.ok(l4ChecksumValid(buf, f), "ICMPv6 checksum valid");
  assert.deepEqual(
    Array.from(buf.subarray(f.l4Off + 8, f.l3Off + f.ipLen)),
    original,
    "the packet is quoted whole",
  );
  assert.ok(guardIntact(buf, OFF, d.length));
  assert.equal(path.counters.icmpSent, 1);
});

test("IPv6 NAT: a Packet Too Big from the real server about a conn reaches the client as the VIP's", () => {
  const { path } = makeRig();
  const d = new TxDecision();
  const req = buildFrame({
    family: 6,
    protocol: 6,
    src: w(CLIENT6),
    dst: w(VIP6),
    sport: 5000,
    dport: 80,
    tcpFlags: 2,
  });
  const b0 = slotWith(req);
  assert.equal(path.process(b0, OFF, req.length, SLOT - OFF, ingressOut, 1, d), true);
  // The RS's answer is about what it received from the director: client -> RS:8080.
  const quoted = Array.from(b0.subarray(d.offset + 14, d.offset + d.length));
  const msg = [2, 0, 0, 0, 0, 0, 0x05, 0x00, ...quoted];
  const ck = refChecksum([...pseudoHeader(6, w(RS6), w(CLIENT6), 58, msg.length), ...msg]);
  msg[2] = ck >>> 8;
  msg[3] = ck & 255;
  const err = buildFrame({ family: 6, protocol: 58, src: w(RS6), dst: w(CLIENT6), payload: msg });
  const b1 = slotWith(err);
  assert.equal(path.process(b1, OFF, err.length, SLOT - OFF, ingressIn, 1, d), true);
  assert.equal(d.ifindex, IF_OUT);
  assert.equal(readMac(b1, d.offset), MAC_CLIENT);
  const f = parsed(b1, d);
  assert.equal(f.icmpType, 2);
  assert.equal(text(f.saddr), VIP6, "the error comes from the VIP");
  assert.ok(l4ChecksumValid(b1, f), "ICMPv6 checksum valid after translation");
  const dv = new DataView(b1.buffer, b1.byteOffset);
  const q = f.l4Off + 8;
  const innerDst = IpAddr.v6(
    dv.getUint32(q + 24),
    dv.getUint32(q + 28),
    dv.getUint32(q + 32),
    dv.getUint32(q + 36),
  );
  assert.equal(innerDst.toString(), VIP6, "the quoted packet is the client's, to the VIP");
  assert.equal(dv.getUint16(q + 40 + 2), 80, "quoted destination port is the virtual port");
  assert.equal(path.counters.icmpForwarded, 1);
});

test("IPv6: a partial TCP checksum (pseudo-header sum only) is completed before the NAT rewrite", () => {
  const { path } = makeRig();
  const syn = buildFrame({
    family: 6,
    protocol: 6,
    src: w(CLIENT6),
    dst: w(VIP6),
    sport: 41000,
    dport: 80,
    tcpFlags: 2,
  });
  // What a sender with checksum offload hands over: the folded pseudo-header sum, not complemented.
  const f0 = new ParsedFrame();
  assert.equal(parseFrame(syn, 0, syn.length, f0), PARSE_OK);
  const pseudo = pseudoHeader(6, w(CLIENT6), w(VIP6), 6, f0.l4Len);
  const partial = ~refChecksum(pseudo) & 0xffff;
  syn[f0.l4Off + 16] = partial >>> 8;
  syn[f0.l4Off + 17] = partial & 255;
  const buf = slotWith(syn);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, syn.length, SLOT - OFF, ingressOut, 1, d), true);
  assert.equal(path.counters.partialChecksums, 1);
  assert.ok(l4ChecksumValid(buf, parsed(buf, d)), "the forwarded segment carries a full, valid checksum");
});

test("IPv6 LVS-TUN without a tunnel transmitter is counted, never mis-sent", () => {
  const { path, director } = makeRig();
  director.addDest(tcpKey(VIP6_2, 80), destSpec("2001:2::31", 80, "tunnel"));
  director.delDest(tcpKey(VIP6_2, 80), IpAddr.mustParse(DR_RS6), 80);
  const syn = buildFrame({
    family: 6,
    protocol: 6,
    src: w(CLIENT6),
    dst: w(VIP6_2),
    sport: 7,
    dport: 80,
    tcpFlags: 2,
  });
  const d = new TxDecision();
  assert.equal(path.process(slotWith(syn), OFF, syn.length, SLOT - OFF, ingressOut, 1, d), false);
  assert.equal(d.held, false);
  assert.equal(path.counters.rewriteFailed, 1);
});

test("IPv6 traffic to no virtual service and from no real server is dropped and counted", () => {
  const { path } = makeRig();
  const other = buildFrame({
    family: 6,
    protocol: 6,
    src: w("2001:2::5"),
    dst: w("2001:2::6"),
    sport: 1,
    dport: 2,
  });
  const d = new TxDecision();
  assert.equal(path.process(slotWith(other), OFF, other.length, SLOT - OFF, ingressOut, 1, d), false);
  assert.equal(path.counters.passedAndDropped, 1);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ArpMessage,
  buildArpReply,
  buildArpRequest,
  parseArp,
} from "../src/net/arp.js";
import { transportChecksumValid } from "../src/net/checksum.js";
import { MAC_BROADCAST, readMac } from "../src/net/ethernet.js";
import {
  buildIcmpError,
  echoRequestToReply,
  ICMP_DEST_UNREACH,
  ICMP_FRAG_NEEDED,
  ICMP_PORT_UNREACH,
  ICMP_TIME_EXCEEDED,
  icmpErrorAllowed,
  icmpNextHopMtu,
} from "../src/net/icmp.js";
import { IcmpQuote, parseIcmpQuote } from "../src/net/icmp-quote.js";
import {
  buildIcmpv6Error,
  buildNeighborAdvertisement,
  buildNeighborSolicitation,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_PACKET_TOO_BIG,
  icmpv6ErrorAllowed,
  icmpv6Mtu,
  ND_NA_SOLICITED,
  NdMessage,
  parseNeighborMessage,
} from "../src/net/icmpv6.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { RW_NOT_REWRITABLE, RW_OK } from "../src/net/rewrite.js";
import { fullnatOutboundIcmp, natInboundIcmp, natOutboundIcmp } from "../src/net/rewrite-icmp.js";
import { buildFrame, refChecksum, V4 } from "./net-frames.js";

const C = V4(198, 18, 0, 10);
const VIP = V4(198, 18, 1, 1);
const RS = V4(198, 18, 2, 5);
const R = V4(198, 18, 0, 254);
const C6 = [0x20010db8, 0, 0, 0x10];
const VIP6 = [0x20010db8, 0, 1, 1];
const RS6 = [0x20010db8, 0, 2, 5];

/** Ethernet header + an IP packet built by the code under test, parsed. */
function frameOfIp(ip: Uint8Array, len: number, family: 4 | 6): { frame: Uint8Array; f: ParsedFrame } {
  const frame = new Uint8Array(14 + len);
  frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, family === 4 ? 0x08 : 0x86, family === 4 ? 0x00 : 0xdd]);
  frame.set(ip.subarray(0, len), 14);
  const f = new ParsedFrame();
  parseFrame(frame, 0, frame.length, f);
  return { frame, f };
}

function ipv4HeaderValid(b: Uint8Array, off: number): boolean {
  return refChecksum(b.subarray(off, off + (b[off]! & 15) * 4)) === 0;
}

test("ARP request and reply build and parse back", () => {
  const buf = new Uint8Array(60);
  assert.equal(buildArpRequest(buf, 0, 0x0200000000aa, C[0]!, VIP[0]!), 42);
  assert.equal(readMac(buf, 0), MAC_BROADCAST);
  const f = new ParsedFrame();
  parseFrame(buf, 0, 60, f);
  assert.equal(f.etherType, 0x0806);
  const m = new ArpMessage();
  assert.ok(parseArp(buf, 14, 46, m));
  assert.deepEqual(
    [m.op, m.senderMac, m.senderIp, m.targetMac, m.targetIp],
    [ARP_OP_REQUEST, 0x0200000000aa, C[0], 0, VIP[0]],
  );
  buildArpReply(buf, 0, 0x0200000000bb, VIP[0]!, 0x0200000000aa, C[0]!);
  assert.equal(readMac(buf, 0), 0x0200000000aa);
  assert.ok(parseArp(buf, 14, 28, m));
  assert.deepEqual(
    [m.op, m.senderMac, m.senderIp, m.targetMac, m.targetIp],
    [ARP_OP_REPLY, 0x0200000000bb, VIP[0], 0x0200000000aa, C[0]],
  );
  assert.equal(parseArp(buf, 14, 27, m), false);
  buf[14 + 5] = 16; // IPv6-sized protocol address: not ours
  assert.equal(parseArp(buf, 14, 28, m), false);
});

test("ICMP frag-needed quotes the packet within 576 bytes and re-parses", () => {
  const orig = buildFrame({
    family: 4,
    protocol: 6,
    src: C,
    dst: RS,
    sport: 40000,
    dport: 80,
    payload: new Uint8Array(1400),
  });
  const o = new ParsedFrame();
  parseFrame(orig, 0, orig.length, o);
  assert.ok(icmpErrorAllowed(orig, o.l3Off, o.ipLen));
  const out = new Uint8Array(2000);
  const n = buildIcmpError(
    out,
    0,
    out.length,
    orig,
    o.l3Off,
    o.ipLen,
    ICMP_DEST_UNREACH,
    ICMP_FRAG_NEEDED,
    1400,
    VIP[0]!,
    7,
  );
  assert.equal(n, 576);
  const { frame, f } = frameOfIp(out, n, 4);
  assert.equal(f.reason, PARSE_OK);
  assert.equal(f.protocol, 1);
  assert.equal(f.icmpType, 3);
  assert.equal(f.icmpCode, 4);
  assert.equal(f.saddr[0], VIP[0]);
  assert.equal(f.daddr[0], C[0]);
  assert.equal(icmpNextHopMtu(frame, f.l4Off), 1400);
  assert.ok(transportChecksumValid(frame, f.l3Off, false, 1, f.l4Off, f.l4Len, false));
  const q = new IcmpQuote();
  assert.equal(parseIcmpQuote(frame, f.payloadOff, f.l3Off + f.ipLen, 4, q), PARSE_OK);
  assert.deepEqual(
    [q.saddr[0], q.daddr[0], q.sport, q.dport, q.protocol, q.hasPorts],
    [C[0], RS[0], 40000, 80, 6, true],
  );
  assert.deepEqual(frame.subarray(f.payloadOff, f.l3Off + f.ipLen), orig.subarray(14, 14 + 548));
  // A small packet is quoted whole; no room means no error.
  const small = buildFrame({ family: 4, protocol: 17, src: C, dst: RS, sport: 1, dport: 2 });
  assert.equal(buildIcmpError(out, 0, 2000, small, 14, 28, ICMP_TIME_EXCEEDED, 0, 0, R[0]!, 1), 20 + 8 + 28);
  assert.equal(buildIcmpError(out, 0, 50, small, 14, 28, ICMP_TIME_EXCEEDED, 0, 0, R[0]!, 1), 50);
  assert.equal(buildIcmpError(out, 0, 47, small, 14, 28, ICMP_TIME_EXCEEDED, 0, 0, R[0]!, 1), 0);
});

test("no ICMP error about an ICMP error, a later fragment, or to a non-unicast source", () => {
  const out = new Uint8Array(600);
  const orig = buildFrame({ family: 4, protocol: 17, src: C, dst: RS, sport: 1, dport: 2 });
  const n = buildIcmpError(out, 0, 600, orig, 14, 28, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0, RS[0]!, 1);
  assert.equal(icmpErrorAllowed(out, 0, n), false);
  const echo = buildFrame({ family: 4, protocol: 1, src: C, dst: RS, payload: [8, 0, 0, 0, 0, 1, 0, 1] });
  assert.equal(icmpErrorAllowed(echo, 14, echo.length - 14), true);
  const later = buildFrame({ family: 4, protocol: 17, src: C, dst: RS, frag: 5, udpNoChecksum: true });
  assert.equal(icmpErrorAllowed(later, 14, later.length - 14), false);
  const zeroSrc = buildFrame({ family: 4, protocol: 17, src: [0, 0, 0, 0], dst: RS });
  assert.equal(icmpErrorAllowed(zeroSrc, 14, zeroSrc.length - 14), false);
  const mcast = buildFrame({ family: 4, protocol: 17, src: C, dst: V4(224, 0, 0, 1) });
  assert.equal(icmpErrorAllowed(mcast, 14, mcast.length - 14), false);
});

test("echo request turns into a valid reply", () => {
  const echo = buildFrame({
    family: 4,
    protocol: 1,
    src: C,
    dst: VIP,
    payload: [8, 0, 0, 0, 0x12, 0x34, 0, 9, 1, 2, 3],
  });
  // give the ICMP message its checksum
  const c = refChecksum(echo.subarray(34));
  echo[36] = c >>> 8;
  echo[37] = c & 255;
  echoRequestToReply(echo, 14, 34);
  const f = new ParsedFrame();
  assert.equal(parseFrame(echo, 0, echo.length, f), PARSE_OK);
  assert.equal(f.icmpType, 0);
  assert.equal(f.saddr[0], VIP[0]);
  assert.equal(f.daddr[0], C[0]);
  assert.equal(refChecksum(echo.subarray(34)), 0);
});

test("ICMPv6 Packet Too Big stays within 1280 bytes and re-parses", () => {
  const orig = buildFrame({
    family: 6,
    protocol: 6,
    src: C6,
    dst: RS6,
    sport: 5,
    dport: 443,
    payload: new Uint8Array(1400),
  });
  const o = new ParsedFrame();
  parseFrame(orig, 0, orig.length, o);
  assert.ok(icmpv6ErrorAllowed(orig, o.l3Off, o.protocol, o.l4Off, o.l3Off + o.ipLen, ICMPV6_PACKET_TOO_BIG));
  const out = new Uint8Array(2000);
  const scratch = new Uint32Array(4);
  const n = buildIcmpv6Error(
    out,
    0,
    2000,
    orig,
    o.l3Off,
    o.ipLen,
    ICMPV6_PACKET_TOO_BIG,
    0,
    1400,
    Uint32Array.from(VIP6),
    0,
    scratch,
  );
  assert.equal(n, 1280);
  const { frame, f } = frameOfIp(out, n, 6);
  assert.equal(f.reason, PARSE_OK);
  assert.equal(f.icmpType, 2);
  assert.deepEqual([...f.daddr], C6);
  assert.equal(icmpv6Mtu(frame, f.l4Off), 1400);
  assert.ok(transportChecksumValid(frame, f.l3Off, true, 58, f.l4Off, f.l4Len));
  const q = new IcmpQuote();
  assert.equal(parseIcmpQuote(frame, f.payloadOff, f.l3Off + f.ipLen, 6, q), PARSE_OK);
  assert.deepEqual([[...q.saddr], [...q.daddr], q.sport, q.dport], [C6, RS6, 5, 443]);
  assert.equal(icmpv6ErrorAllowed(frame, f.l3Off, f.protocol, f.l4Off, f.l3Off + f.ipLen, 1), false);
});

test("neighbour solicitation and advertisement build and parse back", () => {
  const buf = new Uint8Array(100);
  const scratch = new Uint32Array(4);
  const me = Uint32Array.from(VIP6);
  const target = Uint32Array.from([0x20010db8, 0, 2, 0xabcdef12]);
  const n = buildNeighborSolicitation(buf, 0, 0x0200000000aa, me, 0, target, 0, scratch);
  assert.equal(n, 86);
  assert.equal(readMac(buf, 0), 0x3333ffcdef12);
  const f = new ParsedFrame();
  assert.equal(parseFrame(buf, 0, n, f), PARSE_OK);
  assert.deepEqual([...f.daddr], [0xff020000, 0, 1, 0xffcdef12]);
  assert.equal(f.ttl, 255);
  const m = new NdMessage();
  assert.ok(parseNeighborMessage(buf, f.l3Off, f.l4Off, f.l4Len, m));
  assert.equal(m.type, ICMPV6_NEIGHBOR_SOLICIT);
  assert.deepEqual([...m.target], [...target]);
  assert.equal(m.linkAddr, 0x0200000000aa);

  const a = buildNeighborAdvertisement(
    buf,
    0,
    0x0200000000bb,
    0x0200000000aa,
    target,
    0,
    me,
    0,
    target,
    0,
    ND_NA_SOLICITED,
  );
  parseFrame(buf, 0, a, f);
  assert.ok(parseNeighborMessage(buf, f.l3Off, f.l4Off, f.l4Len, m));
  assert.equal(m.type, ICMPV6_NEIGHBOR_ADVERT);
  assert.equal(m.flags, ND_NA_SOLICITED);
  assert.equal(m.linkAddr, 0x0200000000bb);
  buf[f.l3Off + 7] = 64; // not 255: off-link, refused
  assert.equal(parseNeighborMessage(buf, f.l3Off, f.l4Off, f.l4Len, m), false);
  buf[f.l3Off + 7] = 255;
  buf[f.l4Off + 25] = 0; // zero-length option
  assert.equal(parseNeighborMessage(buf, f.l3Off, f.l4Off, f.l4Len, m), false);
});

/** An ICMP error frame from `from` to `to` about `inner` (a frame), built and parsed. */
function errorAbout(family: 4 | 6, inner: Uint8Array, from: number[], type: number, code: number) {
  const o = new ParsedFrame();
  parseFrame(inner, 0, inner.length, o);
  const out = new Uint8Array(1500);
  const n =
    family === 4
      ? buildIcmpError(out, 0, 1500, inner, o.l3Off, o.ipLen, type, code, 0, from[0]!, 1)
      : buildIcmpv6Error(
          out,
          0,
          1500,
          inner,
          o.l3Off,
          o.ipLen,
          type,
          code,
          0,
          Uint32Array.from(from),
          0,
          new Uint32Array(4),
        );
  const { frame, f } = frameOfIp(out, n, family);
  const q = new IcmpQuote();
  parseIcmpQuote(frame, f.payloadOff, f.l3Off + f.ipLen, family, q);
  return { frame, f, q };
}

function checkErrorValid(frame: Uint8Array, f: ParsedFrame, q: IcmpQuote): void {
  const again = new ParsedFrame();
  assert.equal(parseFrame(frame, 0, frame.length, again), PARSE_OK);
  if (f.family === 4) {
    assert.ok(ipv4HeaderValid(frame, f.l3Off));
    assert.ok(ipv4HeaderValid(frame, q.l3Off));
    assert.ok(transportChecksumValid(frame, f.l3Off, false, 1, f.l4Off, f.l4Len, false));
  } else {
    assert.ok(transportChecksumValid(frame, f.l3Off, true, 58, f.l4Off, f.l4Len));
  }
}

test("NAT: an error from the client side about VIP -> client reaches the RS about RS -> client", () => {
  for (const family of [4, 6] as const) {
    const [c, vip, rs, r] = family === 4 ? [C, VIP, RS, R] : [C6, VIP6, RS6, [0x20010db8, 0, 0, 0xfe]];
    // the director's reply VIP:80 -> C:5000 bounced by a router near the client
    const reply = buildFrame({
      family,
      protocol: 6,
      src: vip!,
      dst: c!,
      sport: 80,
      dport: 5000,
      payload: new Uint8Array(40),
    });
    const { frame, f, q } = errorAbout(family, reply, r!, family === 4 ? 3 : 1, family === 4 ? 1 : 3);
    const ttl = f.ttl;
    assert.equal(natInboundIcmp(frame, f, q, Uint32Array.from(rs!), 0, 8080), RW_OK);
    assert.deepEqual([...f.saddr], [...r!]);
    assert.deepEqual([...f.daddr], [...rs!]);
    assert.equal(f.ttl, ttl - 1);
    const q2 = new IcmpQuote();
    parseIcmpQuote(frame, f.payloadOff, f.l3Off + f.ipLen, family, q2);
    assert.deepEqual([[...q2.saddr], [...q2.daddr], q2.sport, q2.dport], [[...rs!], [...c!], 8080, 5000]);
    checkErrorValid(frame, f, q2);
  }
});

test("NAT: an error from the RS side about client -> RS reaches the client from the VIP", () => {
  for (const family of [4, 6] as const) {
    const [c, vip, rs] = family === 4 ? [C, VIP, RS] : [C6, VIP6, RS6];
    const req = buildFrame({
      family,
      protocol: 17,
      src: c!,
      dst: rs!,
      sport: 5000,
      dport: 8080,
      payload: [1, 2, 3],
    });
    const { frame, f, q } = errorAbout(family, req, rs!, family === 4 ? 3 : 1, family === 4 ? 3 : 4);
    assert.equal(natOutboundIcmp(frame, f, q, Uint32Array.from(vip!), 0, 53), RW_OK);
    const q2 = new IcmpQuote();
    parseIcmpQuote(frame, f.payloadOff, f.l3Off + f.ipLen, family, q2);
    assert.deepEqual([...f.saddr], [...vip!]);
    assert.deepEqual([[...q2.saddr], [...q2.daddr], q2.sport, q2.dport], [[...c!], [...vip!], 5000, 53]);
    checkErrorValid(frame, f, q2);
  }
});

test("FULLNAT: an error from the RS about LIP -> RS reaches the client about client -> VIP", () => {
  const lip = V4(198, 18, 3, 1);
  const req = buildFrame({ family: 4, protocol: 6, src: lip, dst: RS, sport: 1025, dport: 8080 });
  const { frame, f, q } = errorAbout(4, req, RS, 3, 3);
  assert.equal(
    fullnatOutboundIcmp(frame, f, q, Uint32Array.from(VIP), 0, 80, Uint32Array.from(C), 0, 5000),
    RW_OK,
  );
  const q2 = new IcmpQuote();
  parseIcmpQuote(frame, f.payloadOff, f.l3Off + f.ipLen, 4, q2);
  assert.deepEqual([f.saddr[0], f.daddr[0]], [VIP[0], C[0]]);
  assert.deepEqual([q2.saddr[0], q2.daddr[0], q2.sport, q2.dport], [C[0], VIP[0], 5000, 80]);
  checkErrorValid(frame, f, q2);
});

test("ICMP translation refuses non-errors and mismatched quotes", () => {
  const echo = buildFrame({ family: 4, protocol: 1, src: C, dst: VIP, payload: [8, 0, 0, 0, 0, 1, 0, 1] });
  const f = new ParsedFrame();
  parseFrame(echo, 0, echo.length, f);
  const q = new IcmpQuote();
  parseIcmpQuote(echo, f.payloadOff, f.l3Off + f.ipLen, 4, q);
  assert.equal(natInboundIcmp(echo, f, q, Uint32Array.from(RS), 0, 1), RW_NOT_REWRITABLE);
});

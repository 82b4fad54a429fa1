import assert from "node:assert/strict";
import { test } from "node:test";
import { FRAG_FIRST, FRAG_LATER, FRAG_NONE } from "../src/net/ip.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import {
  PARSE_ETH_TRUNCATED,
  PARSE_ICMP_TRUNCATED,
  PARSE_IP_BAD_CHECKSUM,
  PARSE_IP_BAD_FRAGMENT,
  PARSE_IP_BAD_IHL,
  PARSE_IP_BAD_TOTAL_LENGTH,
  PARSE_IP_BAD_VERSION,
  PARSE_IP_TRUNCATED,
  PARSE_IP6_BAD_EXTENSION,
  PARSE_IP6_BAD_PAYLOAD_LENGTH,
  PARSE_L4_TRUNCATED,
  PARSE_NOT_IP,
  PARSE_OK,
  PARSE_TCP_BAD_DATA_OFFSET,
  PARSE_UDP_BAD_LENGTH,
  PARSE_VLAN_TRUNCATED,
  parseReasonName,
} from "../src/net/reason.js";
import { buildFrame, refChecksum, V4 } from "./net-frames.js";

const CIP = V4(198, 18, 0, 10);
const VIP = V4(198, 18, 1, 1);
const C6 = [0x20010db8, 0, 0, 0x10];
const V6 = [0x20010db8, 0, 1, 1];

function parse(f: Uint8Array, off = 0, len = f.length): ParsedFrame {
  const p = new ParsedFrame();
  parseFrame(f, off, len, p);
  return p;
}

/** Re-fixes the IPv4 header checksum after a test edits the header. */
function fixIpv4(f: Uint8Array, l3 = 14): void {
  const hl = (f[l3]! & 15) * 4;
  f[l3 + 10] = f[l3 + 11] = 0;
  const c = refChecksum(f.subarray(l3, l3 + hl));
  f[l3 + 10] = c >>> 8;
  f[l3 + 11] = c & 255;
}

test("IPv4 TCP frame: every field", () => {
  const f = buildFrame({
    family: 4,
    protocol: 6,
    src: CIP,
    dst: VIP,
    sport: 40000,
    dport: 80,
    tcpFlags: 0x02,
    tcpOptions: [2, 4, 5, 0xb4],
    payload: [1, 2, 3],
    ttl: 33,
    tos: 0x10,
  });
  const p = parse(f);
  assert.equal(p.reason, PARSE_OK);
  assert.equal(p.family, 4);
  assert.equal(p.etherType, 0x0800);
  assert.equal(p.vlanId, -1);
  assert.equal(p.l3Off, 14);
  assert.equal(p.l4Off, 34);
  assert.equal(p.ipLen, 20 + 24 + 3);
  assert.equal(p.l4Len, 27);
  assert.equal(p.protocol, 6);
  assert.equal(p.saddr[0], CIP[0]);
  assert.equal(p.daddr[0], VIP[0]);
  assert.deepEqual([...p.saddr.subarray(1)], [0, 0, 0]);
  assert.equal(p.sport, 40000);
  assert.equal(p.dport, 80);
  assert.equal(p.tcpFlags, 0x02);
  assert.equal(p.l4HeaderLen, 24);
  assert.equal(p.payloadOff, 34 + 24);
  assert.equal(p.payloadLen, 3);
  assert.equal(p.ttl, 33);
  assert.equal(p.tos, 0x10);
  assert.equal(p.dontFragment, true);
  assert.equal(p.fragment, FRAG_NONE);
  assert.equal(p.ipOptions, false);
  assert.equal(p.icmpType, -1);
});

test("IPv4 UDP with IP options, VLAN and Ethernet padding", () => {
  const inner = buildFrame({
    family: 4,
    protocol: 17,
    src: CIP,
    dst: VIP,
    sport: 53000,
    dport: 53,
    payload: [9],
    ipOptions: [1, 1, 1, 1],
    vlans: [100],
  });
  const f = new Uint8Array(80);
  f.set(inner);
  const p = parse(f);
  assert.equal(p.reason, PARSE_OK);
  assert.equal(p.vlanId, 100);
  assert.equal(p.l3Off, 18);
  assert.equal(p.ipOptions, true);
  assert.equal(p.l4Off, 18 + 24);
  assert.equal(p.ipLen, 24 + 9);
  assert.equal(p.payloadLen, 1);
  assert.equal(p.sport, 53000);
  assert.equal(p.dport, 53);
});

test("QinQ: two tags skipped, three refused", () => {
  const f = buildFrame({ family: 4, protocol: 17, src: CIP, dst: VIP, sport: 1, dport: 2, vlans: [7, 8] });
  f[12] = 0x88;
  f[13] = 0xa8;
  const p = parse(f);
  assert.equal(p.reason, PARSE_OK);
  assert.equal(p.vlanId, 7);
  assert.equal(p.l3Off, 22);
  const g = buildFrame({ family: 4, protocol: 17, src: CIP, dst: VIP, vlans: [1, 2, 3] });
  assert.equal(parse(g).reason, PARSE_VLAN_TRUNCATED);
  assert.equal(parse(f.subarray(0, 17)).reason, PARSE_VLAN_TRUNCATED);
});

test("ARP and other EtherTypes are not IP", () => {
  const f = new Uint8Array(60);
  f[12] = 0x08;
  f[13] = 0x06;
  const p = parse(f);
  assert.equal(p.reason, PARSE_NOT_IP);
  assert.equal(p.etherType, 0x0806);
  assert.equal(parseReasonName(p.reason), "not-ip");
});

test("IPv4 malformations each get their reason", () => {
  const good = () =>
    buildFrame({ family: 4, protocol: 6, src: CIP, dst: VIP, sport: 1, dport: 2, payload: [1, 2, 3, 4] });
  assert.equal(parse(good().subarray(0, 13)).reason, PARSE_ETH_TRUNCATED);
  assert.equal(parse(good().subarray(0, 30)).reason, PARSE_IP_TRUNCATED);
  let f = good();
  f[14] = 0x65;
  assert.equal(parse(f).reason, PARSE_IP_BAD_VERSION);
  f = good();
  f[14] = 0x44;
  fixIpv4(f);
  assert.equal(parse(f).reason, PARSE_IP_BAD_IHL);
  f = good();
  f[14] = 0x4f; // 60-byte header in a 20-byte IP packet area
  assert.equal(parse(f.subarray(0, 14 + 40)).reason, PARSE_IP_TRUNCATED);
  f = good();
  f[17] += 1; // total length one past the frame
  fixIpv4(f);
  assert.equal(parse(f).reason, PARSE_IP_BAD_TOTAL_LENGTH);
  f = good();
  f[16] = 0;
  f[17] = 19; // below the header length
  fixIpv4(f);
  assert.equal(parse(f).reason, PARSE_IP_BAD_TOTAL_LENGTH);
  f = good();
  f[24] ^= 1; // header checksum
  assert.equal(parse(f).reason, PARSE_IP_BAD_CHECKSUM);
  f = good();
  f[14 + 6] = 0x3f; // MF + offset 0x1fff*8: past 65535
  f[14 + 7] = 0xff;
  fixIpv4(f);
  assert.equal(parse(f).reason, PARSE_IP_BAD_FRAGMENT);
  f = buildFrame({ family: 4, protocol: 6, src: CIP, dst: VIP, payload: [1, 2, 3, 4, 5] });
  f[14 + 6] = 0x20; // MF with a 25-byte payload: not a multiple of 8
  f[14 + 7] = 0;
  fixIpv4(f);
  assert.equal(parse(f).reason, PARSE_IP_BAD_FRAGMENT);
});

test("IPv4 fragments: first has ports, later has none", () => {
  const first = buildFrame({
    family: 4,
    protocol: 17,
    src: CIP,
    dst: VIP,
    sport: 7,
    dport: 9,
    payload: new Array(16).fill(1),
    frag: 0x2000,
  });
  let p = parse(first);
  assert.equal(p.reason, PARSE_OK);
  assert.equal(p.fragment, FRAG_FIRST);
  assert.equal(p.sport, 7);
  const later = buildFrame({ family: 4, protocol: 17, src: CIP, dst: VIP, payload: [1, 2, 3], frag: 3 });
  p = parse(later);
  assert.equal(p.reason, PARSE_OK);
  assert.equal(p.fragment, FRAG_LATER);
  assert.equal(p.sport, 0);
  assert.equal(p.payloadOff, p.l4Off);
  assert.equal(p.dontFragment, false);
});

test("L4 malformations", () => {
  let f = buildFrame({ family: 4, protocol: 6, src: CIP, dst: VIP, payload: [] });
  assert.equal(parse(f).reason, PARSE_OK);
  f[14 + 20 + 12] = 0x40; // data offset 4 words
  assert.equal(parse(f).reason, PARSE_TCP_BAD_DATA_OFFSET);
  f[14 + 20 + 12] = 0x60; // 24 bytes in a 20-byte segment
  assert.equal(parse(f).reason, PARSE_TCP_BAD_DATA_OFFSET);
  f = buildFrame({ family: 4, protocol: 6, src: CIP, dst: VIP, payload: [] });
  const short = Uint8Array.from(f.subarray(0, 14 + 20 + 10));
  short[17] = 30;
  fixIpv4(short);
  assert.equal(parse(short).reason, PARSE_L4_TRUNCATED);
  f = buildFrame({ family: 4, protocol: 17, src: CIP, dst: VIP, payload: [1, 2] });
  f[14 + 20 + 5] = 11; // UDP length 11 > 10
  assert.equal(parse(f).reason, PARSE_UDP_BAD_LENGTH);
  f[14 + 20 + 5] = 7;
  assert.equal(parse(f).reason, PARSE_UDP_BAD_LENGTH);
  f[14 + 20 + 5] = 9; // shorter than the IP payload: allowed, payload follows the UDP length
  const p = parse(f);
  assert.equal(p.reason, PARSE_OK);
  assert.equal(p.payloadLen, 1);
  f = buildFrame({ family: 4, protocol: 1, src: CIP, dst: VIP, payload: [8, 0, 0, 0, 0, 1] });
  assert.equal(parse(f).reason, PARSE_ICMP_TRUNCATED);
  f = buildFrame({ family: 4, protocol: 1, src: CIP, dst: VIP, payload: [8, 0, 0, 0, 0, 1, 0, 2] });
  assert.equal(parse(f).icmpType, 8);
});

test("IPv6 TCP with hop-by-hop, destination options and an atomic fragment header", () => {
  // HBH (next 60, len 0: 8 bytes) -> DSTOPTS (next 44, 8 bytes) -> FRAG (next 6, offset 0, M 0)
  const ext = [60, 0, 1, 4, 0, 0, 0, 0, 44, 0, 1, 4, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 1];
  const f = buildFrame({
    family: 6,
    protocol: 6,
    src: C6,
    dst: V6,
    sport: 5555,
    dport: 443,
    ipv6Ext: { first: 0, bytes: ext },
    payload: [7],
    ttl: 9,
  });
  const p = parse(f);
  assert.equal(p.reason, PARSE_OK);
  assert.equal(p.family, 6);
  assert.equal(p.protocol, 6);
  assert.equal(p.l4Off, 14 + 40 + 24);
  assert.equal(p.fragHeaderOff, 14 + 40 + 16);
  assert.equal(p.fragment, FRAG_NONE);
  assert.equal(p.sport, 5555);
  assert.equal(p.dport, 443);
  assert.equal(p.ttl, 9);
  assert.deepEqual([...p.saddr], C6);
  assert.deepEqual([...p.daddr], V6);
  assert.equal(p.l4Len, 21);
});

test("IPv6 fragments and extension-header malformations", () => {
  const later = buildFrame({
    family: 6,
    protocol: 17,
    src: C6,
    dst: V6,
    ipv6Ext: { first: 44, bytes: [17, 0, 0, 8, 0, 0, 0, 1] },
    payload: [1, 2, 3, 4],
  });
  let p = parse(later);
  assert.equal(p.reason, PARSE_OK);
  assert.equal(p.fragment, FRAG_LATER);
  assert.equal(p.protocol, 17);
  const first = buildFrame({
    family: 6,
    protocol: 17,
    src: C6,
    dst: V6,
    sport: 1,
    dport: 2,
    ipv6Ext: { first: 44, bytes: [17, 0, 0, 1, 0, 0, 0, 1] },
  });
  p = parse(first);
  assert.equal(p.fragment, FRAG_FIRST);
  assert.equal(p.dport, 2);
  // HBH not first
  const badHbh = buildFrame({
    family: 6,
    protocol: 6,
    src: C6,
    dst: V6,
    ipv6Ext: { first: 60, bytes: [0, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0] },
  });
  assert.equal(parse(badHbh).reason, PARSE_IP6_BAD_EXTENSION);
  // extension length past the packet
  const long = buildFrame({
    family: 6,
    protocol: 6,
    src: C6,
    dst: V6,
    ipv6Ext: { first: 60, bytes: [6, 9, 0, 0, 0, 0, 0, 0] },
  });
  assert.equal(parse(long).reason, PARSE_IP6_BAD_EXTENSION);
  // a loop of destination options longer than the chain limit
  const chain: number[] = [];
  for (let i = 0; i < 10; i++) chain.push(60, 0, 1, 4, 0, 0, 0, 0);
  const deep = buildFrame({
    family: 6,
    protocol: 59,
    src: C6,
    dst: V6,
    ipv6Ext: { first: 60, bytes: chain },
  });
  assert.equal(parse(deep).reason, PARSE_IP6_BAD_EXTENSION);
  const f = buildFrame({ family: 6, protocol: 6, src: C6, dst: V6 });
  f[14 + 5] += 1;
  assert.equal(parse(f).reason, PARSE_IP6_BAD_PAYLOAD_LENGTH);
  assert.equal(parse(f.subarray(0, 50)).reason, PARSE_IP_TRUNCATED);
  f[14] = 0x40;
  f[14 + 5] -= 1;
  assert.equal(parse(f).reason, PARSE_IP_BAD_VERSION);
});

test("ICMPv6 over IPv6, ICMPv4 over IPv6 is just another protocol", () => {
  const f = buildFrame({ family: 6, protocol: 58, src: C6, dst: V6, payload: [128, 0, 0, 0, 0, 1, 0, 1] });
  const p = parse(f);
  assert.equal(p.icmpType, 128);
  const g = buildFrame({ family: 6, protocol: 1, src: C6, dst: V6, payload: [8, 0] });
  const q = parse(g);
  assert.equal(q.reason, PARSE_OK);
  assert.equal(q.icmpType, -1);
});

test("offsets are absolute when the frame sits inside a bigger buffer; bad bounds are refused", () => {
  const f = buildFrame({ family: 4, protocol: 17, src: CIP, dst: VIP, sport: 1, dport: 2 });
  const buf = new Uint8Array(f.length + 100);
  buf.set(f, 64);
  const p = parse(buf, 64, f.length);
  assert.equal(p.reason, PARSE_OK);
  assert.equal(p.l3Off, 78);
  assert.equal(parse(buf, 64, buf.length).reason, PARSE_ETH_TRUNCATED);
  assert.equal(parse(buf, -1, 10).reason, PARSE_ETH_TRUNCATED);
  assert.equal(parse(buf, 0, Number.NaN).reason, PARSE_ETH_TRUNCATED);
});

/**
 * ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861): message types, errors that quote the packet,
 * Packet Too Big, and neighbour solicitation / advertisement build and parse. Addresses are four u32
 * words read from a Uint32Array at a word index, so callers can keep them in tables.
 */
import { get32, put16, put32 } from "./bytes.js";
import { transportChecksum, transportChecksumValid } from "./checksum.js";
import { ETH_HEADER_LEN, ETHERTYPE_IPV6, readMac, writeEthernetHeader, writeMac } from "./ethernet.js";
import { PROTO_ICMPV6 } from "./ip.js";
import { IPV6_HEADER_LEN, IPV6_SRC_OFF, readIpv6Addr, writeIpv6Header } from "./ipv6.js";

export const ICMPV6_HEADER_LEN = 8;
export const ICMPV6_CHECKSUM_OFF = 2;

export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAMETER_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_ROUTER_SOLICIT = 133;
export const ICMPV6_ROUTER_ADVERT = 134;
export const ICMPV6_NEIGHBOR_SOLICIT = 135;
export const ICMPV6_NEIGHBOR_ADVERT = 136;

/** Destination-unreachable codes. */
export const ICMPV6_NOROUTE = 0;
export const ICMPV6_ADM_PROHIBITED = 1;
export const ICMPV6_ADDR_UNREACH = 3;
export const ICMPV6_PORT_UNREACH = 4;
/** Time-exceeded code for hop limit. */
export const ICMPV6_EXC_HOPLIMIT = 0;

/** RFC 4443 §2.4(c): an error must not exceed the minimum IPv6 MTU. */
export const ICMPV6_ERROR_MAX_LEN = 1280;
export const ICMPV6_ERROR_HOP_LIMIT = 64;
/** ND messages are sent and accepted only with hop limit 255 (RFC 4861 §7.1). */
export const ND_HOP_LIMIT = 255;
export const ND_OPT_SOURCE_LL_ADDR = 1;
export const ND_OPT_TARGET_LL_ADDR = 2;
/** Neighbour advertisement flags (first byte of the reserved word). */
export const ND_NA_ROUTER = 0x80;
export const ND_NA_SOLICITED = 0x40;
export const ND_NA_OVERRIDE = 0x20;
/** NS / NA body: type, code, checksum, 4 bytes flags/reserved, 16-byte target. */
export const ND_MESSAGE_LEN = 24;
const ND_LL_OPTION_LEN = 8;
/** Ethernet + IPv6 + NS/NA with one link-layer address option. */
export const ND_FRAME_LEN = ETH_HEADER_LEN + IPV6_HEADER_LEN + ND_MESSAGE_LEN + ND_LL_OPTION_LEN;

export function icmpv6IsError(type: number): boolean {
  return type < 128;
}

/** The MTU carried by a Packet Too Big message. */
export function icmpv6Mtu(buf: Uint8Array, icmpOff: number): number {
  return get32(buf, icmpOff + 4);
}

function isMulticast(buf: Uint8Array, addrOff: number): boolean {
  return buf[addrOff] === 0xff;
}

function isUnspecified(buf: Uint8Array, addrOff: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[addrOff + i] !== 0) return false;
  return true;
}

/**
 * Whether an ICMPv6 error may be sent about the packet at `ipOff` whose upper layer is `protocol` at
 * `l4Off` (RFC 4443 §2.4(e)): not about an ICMPv6 error, not to an unspecified or multicast source,
 * and about a packet sent to multicast only for Packet Too Big.
 */
export function icmpv6ErrorAllowed(
  buf: Uint8Array,
  ipOff: number,
  protocol: number,
  l4Off: number,
  end: number,
  errorType: number,
): boolean {
  if (isUnspecified(buf, ipOff + IPV6_SRC_OFF) || isMulticast(buf, ipOff + IPV6_SRC_OFF)) return false;
  if (isMulticast(buf, ipOff + 24) && errorType !== ICMPV6_PACKET_TOO_BIG) return false;
  if (protocol === PROTO_ICMPV6 && l4Off < end && icmpv6IsError(buf[l4Off]!)) return false;
  return true;
}

/**
 * Builds a whole IPv6 ICMPv6 error at out[off..] about orig[origOff..origOff+origLen) (an IPv6
 * packet), from src (words at srcAt) to the original source, quoting as much as keeps the error within
 * 1280 bytes and `outCap`. `rest` is the second word (the MTU for Packet Too Big, the pointer for
 * Parameter Problem). Returns the IP length written, 0 when not even the original header fits.
 */
export function buildIcmpv6Error(
  out: Uint8Array,
  off: number,
  outCap: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
  type: number,
  code: number,
  rest: number,
  src: Uint32Array,
  srcAt: number,
  scratch: Uint32Array,
): number {
  const room = Math.min(ICMPV6_ERROR_MAX_LEN, outCap, out.length - off) - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;
  if (room < IPV6_HEADER_LEN || origLen < IPV6_HEADER_LEN) return 0;
  const quote = Math.min(origLen, room);
  const icmpLen = ICMPV6_HEADER_LEN + quote;
  readIpv6Addr(orig, origOff + IPV6_SRC_OFF, scratch, 0);
  writeIpv6Header(out, off, 0, 0, icmpLen, PROTO_ICMPV6, ICMPV6_ERROR_HOP_LIMIT, src, srcAt, scratch, 0);
  const icmp = off + IPV6_HEADER_LEN;
  out[icmp] = type;
  out[icmp + 1] = code;
  put16(out, icmp + ICMPV6_CHECKSUM_OFF, 0);
  put32(out, icmp + 4, rest);
  out.set(orig.subarray(origOff, origOff + quote), icmp + ICMPV6_HEADER_LEN);
  icmpv6SetChecksum(out, off, icmp, icmpLen);
  return IPV6_HEADER_LEN + icmpLen;
}

/** Recomputes the ICMPv6 checksum (pseudo-header from the IPv6 header at ipOff). */
export function icmpv6SetChecksum(buf: Uint8Array, ipOff: number, icmpOff: number, len: number): void {
  put16(
    buf,
    icmpOff + ICMPV6_CHECKSUM_OFF,
    transportChecksum(buf, ipOff, true, PROTO_ICMPV6, icmpOff, len, ICMPV6_CHECKSUM_OFF),
  );
}

/** ff02::1:ffXX:XXXX for a target address (RFC 4291 §2.7.1), written to out[at..at+4). */
export function solicitedNodeAddress(
  target: Uint32Array,
  targetAt: number,
  out: Uint32Array,
  at: number,
): void {
  out[at] = 0xff020000;
  out[at + 1] = 0;
  out[at + 2] = 1;
  out[at + 3] = (0xff000000 | (target[targetAt + 3]! & 0xffffff)) >>> 0;
}

/** 33:33 followed by the low 32 bits of an IPv6 multicast address (RFC 2464 §7). */
export function ipv6MulticastMac(group: Uint32Array, at: number): number {
  return 0x3333 * 0x100000000 + (group[at + 3]! >>> 0);
}

function writeNd(
  buf: Uint8Array,
  off: number,
  type: number,
  flags: number,
  target: Uint32Array,
  targetAt: number,
  optType: number,
  mac: number,
): void {
  buf[off] = type;
  buf[off + 1] = 0;
  put16(buf, off + 2, 0);
  put32(buf, off + 4, (flags << 24) >>> 0);
  for (let i = 0; i < 4; i++) put32(buf, off + 8 + 4 * i, target[targetAt + i]!);
  buf[off + 24] = optType;
  buf[off + 25] = 1; // length in units of 8 bytes
  writeMac(buf, off + 26, mac);
}

/**
 * A neighbour solicitation frame for `target` from `src` (with our MAC as source link-layer option),
 * sent to the target's solicited-node multicast group. `scratch` holds 4 words of working space.
 * Returns the frame length (86).
 */
export function buildNeighborSolicitation(
  buf: Uint8Array,
  off: number,
  srcMac: number,
  src: Uint32Array,
  srcAt: number,
  target: Uint32Array,
  targetAt: number,
  scratch: Uint32Array,
): number {
  solicitedNodeAddress(target, targetAt, scratch, 0);
  writeEthernetHeader(buf, off, ipv6MulticastMac(scratch, 0), srcMac, ETHERTYPE_IPV6);
  const ip = off + ETH_HEADER_LEN;
  const len = ND_MESSAGE_LEN + ND_LL_OPTION_LEN;
  writeIpv6Header(buf, ip, 0, 0, len, PROTO_ICMPV6, ND_HOP_LIMIT, src, srcAt, scratch, 0);
  writeNd(
    buf,
    ip + IPV6_HEADER_LEN,
    ICMPV6_NEIGHBOR_SOLICIT,
    0,
    target,
    targetAt,
    ND_OPT_SOURCE_LL_ADDR,
    srcMac,
  );
  icmpv6SetChecksum(buf, ip, ip + IPV6_HEADER_LEN, len);
  return ND_FRAME_LEN;
}

/**
 * A neighbour advertisement frame: `target` is at `srcMac` (target link-layer option), from `src` to
 * `dst`/`dstMac` (the solicitor, or all-nodes ff02::1 / 33:33:00:00:00:01 when unsolicited).
 * `flags` from ND_NA_*. Returns the frame length (86).
 */
export function buildNeighborAdvertisement(
  buf: Uint8Array,
  off: number,
  srcMac: number,
  dstMac: number,
  src: Uint32Array,
  srcAt: number,
  dst: Uint32Array,
  dstAt: number,
  target: Uint32Array,
  targetAt: number,
  flags: number,
): number {
  writeEthernetHeader(buf, off, dstMac, srcMac, ETHERTYPE_IPV6);
  const ip = off + ETH_HEADER_LEN;
  const len = ND_MESSAGE_LEN + ND_LL_OPTION_LEN;
  writeIpv6Header(buf, ip, 0, 0, len, PROTO_ICMPV6, ND_HOP_LIMIT, src, srcAt, dst, dstAt);
  writeNd(
    buf,
    ip + IPV6_HEADER_LEN,
    ICMPV6_NEIGHBOR_ADVERT,
    flags,
    target,
    targetAt,
    ND_OPT_TARGET_LL_ADDR,
    srcMac,
  );
  icmpv6SetChecksum(buf, ip, ip + IPV6_HEADER_LEN, len);
  return ND_FRAME_LEN;
}

/** A parsed NS or NA; reuse one instance. */
export class NdMessage {
  type = 0;
  /** NA flags (ND_NA_*), 0 for NS. */
  flags = 0;
  readonly target = new Uint32Array(4);
  /** The source (NS) or target (NA) link-layer address option, -1 when absent. */
  linkAddr = -1;
}

/**
 * Parses the NS or NA at `icmpOff` (`len` bytes, IPv6 header at `ipOff`) and validates it as RFC 4861
 * §7.1.1/§7.1.2 ask: hop limit 255, code 0, valid checksum, length >= 24, options of non-zero length
 * inside the message. False for anything else.
 */
export function parseNeighborMessage(
  buf: Uint8Array,
  ipOff: number,
  icmpOff: number,
  len: number,
  out: NdMessage,
): boolean {
  if (len < ND_MESSAGE_LEN || icmpOff + len > buf.length || ipOff < 0) return false;
  const type = buf[icmpOff]!;
  if (type !== ICMPV6_NEIGHBOR_SOLICIT && type !== ICMPV6_NEIGHBOR_ADVERT) return false;
  if (buf[icmpOff + 1] !== 0 || buf[ipOff + 7] !== ND_HOP_LIMIT) return false;
  if (!transportChecksumValid(buf, ipOff, true, PROTO_ICMPV6, icmpOff, len)) return false;
  out.type = type;
  out.flags = type === ICMPV6_NEIGHBOR_ADVERT ? buf[icmpOff + 4]! & 0xe0 : 0;
  readIpv6Addr(buf, icmpOff + 8, out.target, 0);
  out.linkAddr = -1;
  const want = type === ICMPV6_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LL_ADDR : ND_OPT_TARGET_LL_ADDR;
  let at = icmpOff + ND_MESSAGE_LEN;
  const end = icmpOff + len;
  while (at + 2 <= end) {
    const olen = buf[at + 1]! * 8;
    if (olen === 0 || at + olen > end) return false;
    if (buf[at] === want && olen >= 8) out.linkAddr = readMac(buf, at + 2);
    at += olen;
  }
  return at === end;
}

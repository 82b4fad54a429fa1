/**
 * ICMP for IPv4 (RFC 792, RFC 1191, RFC 1812): message types, echo, the MTU of a frag-needed error,
 * whether an error may be sent about a packet, and building an error that quotes the packet.
 */
import { get16, put16, put32 } from "./bytes.js";
import { applyDelta, delta16, finishSum, sumRange } from "./checksum.js";
import { PROTO_ICMP } from "./ip.js";
import {
  IPV4_FRAG_OFF,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_HEADER_LEN,
  IPV4_SRC_OFF,
  writeIpv4Header,
} from "./ipv4.js";

export const ICMP_HEADER_LEN = 8;
export const ICMP_CHECKSUM_OFF = 2;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;

/** Destination-unreachable codes. */
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PROT_UNREACH = 2;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_NET_PROHIBITED = 9;
export const ICMP_HOST_PROHIBITED = 10;
export const ICMP_ADMIN_PROHIBITED = 13;
/** Time-exceeded codes. */
export const ICMP_EXC_TTL = 0;
export const ICMP_EXC_FRAGTIME = 1;

/** RFC 1812 §4.3.2.3: an ICMP error, IP header included, is at most 576 bytes. */
export const ICMP_ERROR_MAX_LEN = 576;
export const ICMP_ERROR_TOS = 0xc0; // precedence "internetwork control", as routers send errors
export const ICMP_ERROR_TTL = 64;

export function icmpIsError(type: number): boolean {
  return (
    type === ICMP_DEST_UNREACH ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAMETER_PROBLEM
  );
}

/** The next-hop MTU of a frag-needed error (RFC 1191); 0 when an old router did not say. */
export function icmpNextHopMtu(buf: Uint8Array, icmpOff: number): number {
  return get16(buf, icmpOff + 6);
}

export function icmpEchoId(buf: Uint8Array, icmpOff: number): number {
  return get16(buf, icmpOff + 4);
}

export function icmpEchoSeq(buf: Uint8Array, icmpOff: number): number {
  return get16(buf, icmpOff + 6);
}

/** True when the source is a unicast address an error may be sent to (RFC 1812 §4.3.2.7, §5.3.7). */
export function ipv4IsUnicastSource(addr: number): boolean {
  const a = addr >>> 24;
  return addr !== 0 && a !== 127 && a < 224 && a !== 0;
}

/**
 * Whether an ICMP error may be sent about the IPv4 packet at `ipOff` (`ipLen` bytes, header validated):
 * not about an ICMP error, not about a non-first fragment, not to a source that is not unicast
 * (RFC 1812 §4.3.2.7). Broadcast destinations are the caller's to judge (it knows the subnets).
 */
export function icmpErrorAllowed(buf: Uint8Array, ipOff: number, ipLen: number): boolean {
  if (get16(buf, ipOff + IPV4_FRAG_OFF) & IPV4_FRAG_OFFSET_MASK) return false;
  const src =
    ((buf[ipOff + 12]! << 24) | (buf[ipOff + 13]! << 16) | (buf[ipOff + 14]! << 8) | buf[ipOff + 15]!) >>> 0;
  const dst =
    ((buf[ipOff + 16]! << 24) | (buf[ipOff + 17]! << 16) | (buf[ipOff + 18]! << 8) | buf[ipOff + 19]!) >>> 0;
  if (!ipv4IsUnicastSource(src) || dst >>> 28 === 0xe || dst === 0xffffffff) return false;
  if (buf[ipOff + 9] === PROTO_ICMP) {
    const hl = (buf[ipOff]! & 15) * 4;
    if (hl + 1 > ipLen) return true;
    const type = buf[ipOff + hl]!;
    if (icmpIsError(type)) return false;
  }
  return true;
}

/**
 * Builds a whole IPv4 ICMP error at out[off..] about the packet orig[origOff..origOff+origLen): the
 * outer IPv4 header (from `src` to the original source), the ICMP header with `rest` as its second
 * word (the MTU for frag-needed: (0 << 16) | mtu), and as much of the original packet as keeps the error
 * within 576 bytes and within `outCap` bytes from `off`. Returns the IP length written, 0 when there
 * is no room for the headers plus the original IP header. `out` and `orig` must not overlap.
 */
export function buildIcmpError(
  out: Uint8Array,
  off: number,
  outCap: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
  type: number,
  code: number,
  rest: number,
  src: number,
  id: number,
): number {
  const room = Math.min(ICMP_ERROR_MAX_LEN, outCap, out.length - off) - IPV4_HEADER_LEN - ICMP_HEADER_LEN;
  const origHl = (orig[origOff]! & 15) * 4;
  if (room < origHl || origLen < origHl) return 0;
  const quote = Math.min(origLen, room);
  const total = IPV4_HEADER_LEN + ICMP_HEADER_LEN + quote;
  const dst =
    ((orig[origOff + IPV4_SRC_OFF]! << 24) |
      (orig[origOff + IPV4_SRC_OFF + 1]! << 16) |
      (orig[origOff + IPV4_SRC_OFF + 2]! << 8) |
      orig[origOff + IPV4_SRC_OFF + 3]!) >>>
    0;
  writeIpv4Header(out, off, ICMP_ERROR_TOS, total, id, 0, ICMP_ERROR_TTL, PROTO_ICMP, src, dst);
  const icmp = off + IPV4_HEADER_LEN;
  out[icmp] = type;
  out[icmp + 1] = code;
  put16(out, icmp + ICMP_CHECKSUM_OFF, 0);
  put32(out, icmp + 4, rest);
  out.set(orig.subarray(origOff, origOff + quote), icmp + ICMP_HEADER_LEN);
  put16(out, icmp + ICMP_CHECKSUM_OFF, finishSum(sumRange(out, icmp, ICMP_HEADER_LEN + quote)));
  return total;
}

/** Recomputes the ICMPv4 checksum over the message at `icmpOff` of `len` bytes. */
export function icmpSetChecksum(buf: Uint8Array, icmpOff: number, len: number): void {
  put16(buf, icmpOff + ICMP_CHECKSUM_OFF, 0);
  put16(buf, icmpOff + ICMP_CHECKSUM_OFF, finishSum(sumRange(buf, icmpOff, len)));
}

/**
 * Turns the echo request at `ipOff`/`icmpOff` into its reply in place: addresses swapped (the header
 * checksum does not change), type 0, ICMP checksum patched. The caller swaps the MACs and decides TTL.
 */
export function echoRequestToReply(buf: Uint8Array, ipOff: number, icmpOff: number): void {
  for (let i = 0; i < 4; i++) {
    const t = buf[ipOff + 12 + i]!;
    buf[ipOff + 12 + i] = buf[ipOff + 16 + i]!;
    buf[ipOff + 16 + i] = t;
  }
  const word = get16(buf, icmpOff);
  buf[icmpOff] = ICMP_ECHO_REPLY;
  const ck = icmpOff + ICMP_CHECKSUM_OFF;
  put16(buf, ck, applyDelta(get16(buf, ck), delta16(word, get16(buf, icmpOff))));
}

/** IPv4 header (RFC 791): field offsets, validation, accessors, TTL decrement, building. */
import { get16, get32, put16, put32 } from "./bytes.js";
import { applyDelta, delta16, finishSum, foldSum, sumRange } from "./checksum.js";
import { FRAG_FIRST, FRAG_LATER, FRAG_NONE, type FragStatus } from "./ip.js";
import {
  PARSE_IP_BAD_CHECKSUM,
  PARSE_IP_BAD_FRAGMENT,
  PARSE_IP_BAD_IHL,
  PARSE_IP_BAD_TOTAL_LENGTH,
  PARSE_IP_BAD_VERSION,
  PARSE_IP_TRUNCATED,
  PARSE_OK,
} from "./reason.js";

export const IPV4_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_TOS_OFF = 1;
export const IPV4_TOTAL_LEN_OFF = 2;
export const IPV4_ID_OFF = 4;
export const IPV4_FRAG_OFF = 6;
export const IPV4_TTL_OFF = 8;
export const IPV4_PROTOCOL_OFF = 9;
export const IPV4_CHECKSUM_OFF = 10;
export const IPV4_SRC_OFF = 12;
export const IPV4_DST_OFF = 16;

/** Bits of the flags/fragment-offset word. */
export const IPV4_FLAG_RESERVED = 0x8000;
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;
export const IPV4_MAX_PACKET = 0xffff;

/**
 * Validates the IPv4 header at `off` with `avail` bytes of frame behind it: version, IHL >= 5, header
 * and total length inside the frame (trailing link-layer padding is allowed), header checksum,
 * and a sane fragment (no fragment may end past 65535, a non-final fragment carries a multiple of
 * 8 bytes). Returns PARSE_OK or the reason.
 */
export function validateIpv4(buf: Uint8Array, off: number, avail: number): number {
  if (avail < IPV4_HEADER_LEN) return PARSE_IP_TRUNCATED;
  const vihl = buf[off]!;
  if (vihl >>> 4 !== 4) return PARSE_IP_BAD_VERSION;
  const hlen = (vihl & 15) * 4;
  if (hlen < IPV4_HEADER_LEN) return PARSE_IP_BAD_IHL;
  if (hlen > avail) return PARSE_IP_TRUNCATED;
  const total = get16(buf, off + IPV4_TOTAL_LEN_OFF);
  if (total < hlen || total > avail) return PARSE_IP_BAD_TOTAL_LENGTH;
  if (foldSum(sumRange(buf, off, hlen)) !== 0xffff) return PARSE_IP_BAD_CHECKSUM;
  const frag = get16(buf, off + IPV4_FRAG_OFF);
  const payload = total - hlen;
  if ((frag & IPV4_FRAG_OFFSET_MASK) * 8 + payload > IPV4_MAX_PACKET) return PARSE_IP_BAD_FRAGMENT;
  if (frag & IPV4_FLAG_MF && payload % 8 !== 0) return PARSE_IP_BAD_FRAGMENT;
  return PARSE_OK;
}

export function ipv4HeaderLen(buf: Uint8Array, off: number): number {
  return (buf[off]! & 15) * 4;
}

export function ipv4TotalLen(buf: Uint8Array, off: number): number {
  return get16(buf, off + IPV4_TOTAL_LEN_OFF);
}

export function ipv4HasOptions(buf: Uint8Array, off: number): boolean {
  return (buf[off]! & 15) > 5;
}

export function ipv4Protocol(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_PROTOCOL_OFF]!;
}

export function ipv4Ttl(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_TTL_OFF]!;
}

export function ipv4Src(buf: Uint8Array, off: number): number {
  return get32(buf, off + IPV4_SRC_OFF);
}

export function ipv4Dst(buf: Uint8Array, off: number): number {
  return get32(buf, off + IPV4_DST_OFF);
}

export function ipv4DontFragment(buf: Uint8Array, off: number): boolean {
  return (buf[off + IPV4_FRAG_OFF]! & 0x40) !== 0;
}

/** FRAG_NONE, FRAG_FIRST (offset 0, MF set) or FRAG_LATER (offset > 0: no L4 header here). */
export function ipv4Fragment(buf: Uint8Array, off: number): FragStatus {
  const frag = get16(buf, off + IPV4_FRAG_OFF);
  if (frag & IPV4_FRAG_OFFSET_MASK) return FRAG_LATER;
  return frag & IPV4_FLAG_MF ? FRAG_FIRST : FRAG_NONE;
}

/** Recomputes the header checksum of the header at `off`. */
export function ipv4SetChecksum(buf: Uint8Array, off: number): void {
  put16(buf, off + IPV4_CHECKSUM_OFF, 0);
  put16(buf, off + IPV4_CHECKSUM_OFF, finishSum(sumRange(buf, off, ipv4HeaderLen(buf, off))));
}

/**
 * Decrements the TTL and patches the header checksum incrementally (RFC 1624). Returns false and
 * changes nothing when the TTL is already <= 1: the packet must not be forwarded (ICMP time exceeded).
 */
export function ipv4DecrementTtl(buf: Uint8Array, off: number): boolean {
  const ttl = buf[off + IPV4_TTL_OFF]!;
  if (ttl <= 1) return false;
  const proto = buf[off + IPV4_PROTOCOL_OFF]!;
  buf[off + IPV4_TTL_OFF] = ttl - 1;
  const check = get16(buf, off + IPV4_CHECKSUM_OFF);
  put16(
    buf,
    off + IPV4_CHECKSUM_OFF,
    applyDelta(check, delta16((ttl << 8) | proto, ((ttl - 1) << 8) | proto)),
  );
  return true;
}

/**
 * Writes a 20-byte IPv4 header (no options) with its checksum; returns the offset after it.
 * `fragField` is the flags/fragment-offset word (e.g. IPV4_FLAG_DF).
 */
export function writeIpv4Header(
  buf: Uint8Array,
  off: number,
  tos: number,
  totalLen: number,
  id: number,
  fragField: number,
  ttl: number,
  protocol: number,
  src: number,
  dst: number,
): number {
  buf[off] = 0x45;
  buf[off + IPV4_TOS_OFF] = tos;
  put16(buf, off + IPV4_TOTAL_LEN_OFF, totalLen);
  put16(buf, off + IPV4_ID_OFF, id);
  put16(buf, off + IPV4_FRAG_OFF, fragField);
  buf[off + IPV4_TTL_OFF] = ttl;
  buf[off + IPV4_PROTOCOL_OFF] = protocol;
  put32(buf, off + IPV4_SRC_OFF, src);
  put32(buf, off + IPV4_DST_OFF, dst);
  put16(buf, off + IPV4_CHECKSUM_OFF, 0);
  put16(buf, off + IPV4_CHECKSUM_OFF, finishSum(sumRange(buf, off, IPV4_HEADER_LEN)));
  return off + IPV4_HEADER_LEN;
}

/** Dotted-quad text of a u32 address (for logs and tests; not for the per-packet path). */
export function formatIpv4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}

/** Strict dotted-quad parse to a u32; null when invalid. */
export function parseIpv4(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const n = Number(m[i]);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v;
}

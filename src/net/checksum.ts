/**
 * The Internet checksum (RFC 1071): one's-complement sums, pseudo-headers, and incremental updates
 * (RFC 1624 eqn 3). Sums are carried unfolded in a JS number (exact up to 2^53, far beyond any packet)
 * and folded to 16 bits only when a checksum is produced.
 */
import { get16 } from "./bytes.js";

/** Unfolded sum of buf[off..off+len) as 16-bit big-endian words counted from `off` (odd tail padded). */
export function sumRange(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let s = initial;
  let i = off;
  const evenEnd = off + (len & ~1);
  for (; i + 8 <= evenEnd; i += 8) {
    s +=
      ((buf[i]! << 8) | buf[i + 1]!) +
      ((buf[i + 2]! << 8) | buf[i + 3]!) +
      ((buf[i + 4]! << 8) | buf[i + 5]!) +
      ((buf[i + 6]! << 8) | buf[i + 7]!);
  }
  for (; i < evenEnd; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (len & 1) s += buf[evenEnd]! << 8;
  return s;
}

/** Folds an unfolded sum to 16 bits with end-around carry. Result is 0 only for an all-zero input. */
export function foldSum(s: number): number {
  while (s > 0xffffffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The checksum field value for an unfolded sum (the sum taken with the field itself as 0). */
export function finishSum(s: number): number {
  return ~foldSum(s) & 0xffff;
}

/** Checksum of a range, e.g. an IPv4 header with its checksum field zeroed or included (then 0 = valid). */
export function checksumRange(buf: Uint8Array, off: number, len: number): number {
  return finishSum(sumRange(buf, off, len));
}

/** IPv4 pseudo-header sum; the addresses are read from the IPv4 header at `ipOff`. */
export function pseudoSumV4(buf: Uint8Array, ipOff: number, protocol: number, l4Len: number): number {
  return (
    get16(buf, ipOff + 12) +
    get16(buf, ipOff + 14) +
    get16(buf, ipOff + 16) +
    get16(buf, ipOff + 18) +
    protocol +
    l4Len
  );
}

/** IPv6 pseudo-header sum (RFC 8200 §8.1); the addresses are read from the IPv6 header at `ipOff`. */
export function pseudoSumV6(buf: Uint8Array, ipOff: number, nextHeader: number, l4Len: number): number {
  return sumRange(buf, ipOff + 8, 32) + (l4Len >>> 16) + (l4Len & 0xffff) + nextHeader;
}

/** Sum of a u32 as two 16-bit words. */
export function sum32(v: number): number {
  return (v >>> 16) + (v & 0xffff);
}

/** The RFC 1624 delta for a 16-bit field changing from `from` to `to` (~m + m'). */
export function delta16(from: number, to: number): number {
  return (~from & 0xffff) + (to & 0xffff);
}

/** The RFC 1624 delta for a 32-bit field (two 16-bit words) changing from `from` to `to`. */
export function delta32(from: number, to: number): number {
  return (~from >>> 16) + (~from & 0xffff) + (to >>> 16) + (to & 0xffff);
}

/**
 * Applies an accumulated delta to a checksum field value: HC' = ~(~HC + delta) (RFC 1624 eqn 3).
 * Deltas of several field changes may be added together before one call.
 */
export function applyDelta(check: number, delta: number): number {
  return ~foldSum((~check & 0xffff) + delta) & 0xffff;
}

/** Checksum after one 16-bit field changed. */
export function updateChecksum16(check: number, from: number, to: number): number {
  return applyDelta(check, delta16(from, to));
}

/** Checksum after one 32-bit field changed. */
export function updateChecksum32(check: number, from: number, to: number): number {
  return applyDelta(check, delta32(from, to));
}

/**
 * The delta for a 16-bit value stored at a byte offset whose parity differs from the checksummed
 * range's start (e.g. a TCP option field at an odd offset): its bytes fall in two different words,
 * which in one's-complement arithmetic is the same as summing the byte-swapped value.
 */
export function delta16Unaligned(from: number, to: number): number {
  return delta16(((from & 0xff) << 8) | (from >>> 8), ((to & 0xff) << 8) | (to >>> 8));
}

/**
 * UDP's rule for a computed checksum: 0 on the wire means "no checksum" (IPv4 only; IPv6 requires
 * one), so a computed 0 is sent as 0xFFFF, its one's-complement equal.
 */
export function udpWireChecksum(check: number): number {
  return check === 0 ? 0xffff : check;
}

/**
 * The checksum an L4 header should carry (TCP, UDP, ICMPv6; ICMPv4 with `pseudo` false): the
 * pseudo-header (IPv4 or IPv6, addresses read from the IP header at `ipOff`) plus the L4 bytes
 * buf[l4Off..l4Off+l4Len), skipping the 2-byte checksum field at l4Off+csumRel (csumRel even).
 * The UDP zero rule is the caller's (udpWireChecksum).
 */
export function transportChecksum(
  buf: Uint8Array,
  ipOff: number,
  isV6: boolean,
  protocol: number,
  l4Off: number,
  l4Len: number,
  csumRel: number,
  pseudo = true,
): number {
  let s = pseudo
    ? isV6
      ? pseudoSumV6(buf, ipOff, protocol, l4Len)
      : pseudoSumV4(buf, ipOff, protocol, l4Len)
    : 0;
  s = sumRange(buf, l4Off, csumRel, s);
  s = sumRange(buf, l4Off + csumRel + 2, l4Len - csumRel - 2, s);
  return finishSum(s);
}

/** True when the L4 bytes with their checksum field sum (with the pseudo-header) to all ones. */
export function transportChecksumValid(
  buf: Uint8Array,
  ipOff: number,
  isV6: boolean,
  protocol: number,
  l4Off: number,
  l4Len: number,
  pseudo = true,
): boolean {
  let s = pseudo
    ? isV6
      ? pseudoSumV6(buf, ipOff, protocol, l4Len)
      : pseudoSumV4(buf, ipOff, protocol, l4Len)
    : 0;
  s = sumRange(buf, l4Off, l4Len, s);
  return foldSum(s) === 0xffff;
}

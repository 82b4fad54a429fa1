import type { Family } from "../address.js";
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "../flow.js";

/** Kernel `GOLDEN_RATIO_32` as used by `hash_32()` (include/linux/hash.h). */
const GOLDEN_RATIO_32 = 0x61c88647;

/** Kernel `hash_32(x, bits)`: the top `bits` bits of x * 0x61C88647 mod 2^32 (dh/sh/lblc/lblcr since 4.18). */
export function hash32(x: number, bits: number): number {
  return Math.imul(x, GOLDEN_RATIO_32) >>> (32 - bits);
}

/**
 * The 32-bit key the kernel hashes an address by: IPv4 the address as a host-order number,
 * IPv6 the XOR of its four 32-bit words (each read big-endian).
 */
export function foldAddr(family: Family, words: ArrayLike<number>): number {
  if (family === 4) return words[0]! >>> 0;
  return (words[0]! ^ words[1]! ^ words[2]! ^ words[3]!) >>> 0;
}

/** Protocols whose first header word holds the ports (sh/mh `-port` flags use the source port). */
export function hasPorts(protocol: number): boolean {
  return protocol === IPPROTO_TCP || protocol === IPPROTO_UDP || protocol === IPPROTO_SCTP;
}

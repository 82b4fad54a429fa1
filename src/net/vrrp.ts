/**
 * VRRP advertisements: version 2 (RFC 3768 §5.1) and version 3 (RFC 5798 §5.1), over IPv4 and
 * IPv6 (IP protocol 112). Pure functions over bytes; the IP header is the socket's business, but the
 * checks the RFCs make on it (TTL / hop limit 255) are here too, so one place says what is dropped.
 *
 *   v2:  ver|type  vrid  priority  count | auth_type  adver_int(s)  checksum | addresses | auth (8)
 *   v3:  ver|type  vrid  priority  count | rsvd(4) max_adver_int(12, centiseconds)  checksum | addresses
 *
 * The v2 checksum covers the VRRP message only; v3's also covers the IP pseudo-header (RFC 5798
 * §5.2.8: RFC 8200 §8.1's for IPv6, and the IPv4 one, as keepalived and the RFC's errata use).
 */
import { get16, put16 } from "./bytes.js";
import { finishSum, sumRange } from "./checksum.js";

export const IPPROTO_VRRP = 112;
/** The TTL / hop limit every advertisement is sent with and must arrive with (RFC 5798 §5.1.1.3). */
export const VRRP_TTL = 255;
export const VRRP_GROUP_V4 = "224.0.0.18";
export const VRRP_GROUP_V6 = "ff02::12";
export const VRRP_TYPE_ADVERT = 1;
/** auth_type values of v2 (RFC 3768 §5.3.6); AH (2) is not built. */
export const VRRP_AUTH_NONE = 0;
export const VRRP_AUTH_PASS = 1;
/** The priority of the router that owns the addresses, and the one a stopping master sends. */
export const PRIORITY_OWNER = 255;
export const PRIORITY_STOP = 0;

const HEADER_LEN = 8;
const AUTH_LEN = 8;

/** Why an advertisement was dropped (counted per reason). */
export const VRRP_DROP_REASONS = [
  "truncated",
  "bad-ttl",
  "bad-version",
  "bad-type",
  "bad-checksum",
  "bad-length",
  "unknown-vrid",
  "bad-auth",
  "bad-interval",
  "own-address",
] as const;
export type VrrpDropReason = (typeof VRRP_DROP_REASONS)[number];

/** One decoded advertisement. `interval` is in centiseconds for both versions (v2's seconds * 100). */
export interface VrrpAdvert {
  version: 2 | 3;
  vrid: number;
  priority: number;
  /** centiseconds */
  interval: number;
  /** v2: VRRP_AUTH_NONE or VRRP_AUTH_PASS (v3 has none: 0). */
  authType: number;
  /** v2 PASS: the 8 bytes of the password field, NUL-padded. */
  auth: Uint8Array;
  /** The addresses, 4 or 16 bytes each (the family of the IP packet). */
  addresses: Uint8Array[];
}

/** The message's length for `count` addresses of `addrLen` bytes. */
export function advertLength(version: 2 | 3, count: number, addrLen: number): number {
  return HEADER_LEN + count * addrLen + (version === 2 ? AUTH_LEN : 0);
}

/** Sum of an IP pseudo-header for protocol 112 (IPv4 or IPv6, from the address lengths). */
function pseudoSum(src: Uint8Array, dst: Uint8Array, len: number): number {
  let s = sumRange(src, 0, src.length) + sumRange(dst, 0, dst.length) + IPPROTO_VRRP;
  s += src.length === 16 ? (len >>> 16) + (len & 0xffff) : len;
  return s;
}

/**
 * Writes an advertisement at `off` and returns its length. `src`/`dst` are the IP addresses the
 * packet goes with (used by v3's pseudo-header checksum). The password is cut or NUL-padded to 8.
 */
export function writeAdvert(
  buf: Uint8Array,
  off: number,
  a: Omit<VrrpAdvert, "auth"> & { auth?: Uint8Array },
  src: Uint8Array,
  dst: Uint8Array,
): number {
  const addrLen = src.length;
  const len = advertLength(a.version, a.addresses.length, addrLen);
  if (off + len > buf.length) throw new RangeError("advertisement does not fit the buffer");
  buf[off] = (a.version << 4) | VRRP_TYPE_ADVERT;
  buf[off + 1] = a.vrid;
  buf[off + 2] = a.priority;
  buf[off + 3] = a.addresses.length;
  if (a.version === 2) {
    buf[off + 4] = a.authType;
    buf[off + 5] = Math.max(1, Math.min(255, Math.round(a.interval / 100)));
  } else {
    put16(buf, off + 4, Math.max(1, Math.min(0xfff, Math.round(a.interval))));
  }
  put16(buf, off + 6, 0);
  let at = off + HEADER_LEN;
  for (const addr of a.addresses) {
    if (addr.length !== addrLen) throw new RangeError("an address of the other family");
    buf.set(addr, at);
    at += addrLen;
  }
  if (a.version === 2) {
    buf.fill(0, at, at + AUTH_LEN);
    if (a.authType === VRRP_AUTH_PASS && a.auth) buf.set(a.auth.subarray(0, AUTH_LEN), at);
  }
  const initial = a.version === 3 ? pseudoSum(src, dst, len) : 0;
  put16(buf, off + 6, finishSum(sumRange(buf, off, len, initial)));
  return len;
}

/**
 * Decodes and checks the advertisement in buf[off, off+len) received from `src` to `dst` with the
 * IP `ttl` (hop limit). Fills `out` and returns null, or returns why it is dropped. Checks what the
 * packet alone can tell (TTL, version, type, checksum, length for the count); the VRID, auth and
 * interval are the instance's to check.
 */
export function readAdvert(
  buf: Uint8Array,
  off: number,
  len: number,
  src: Uint8Array,
  dst: Uint8Array,
  ttl: number,
  out: VrrpAdvert,
): VrrpDropReason | null {
  if (ttl !== VRRP_TTL) return "bad-ttl";
  if (len < HEADER_LEN || off + len > buf.length) return "truncated";
  const version = buf[off]! >>> 4;
  if (version !== 2 && version !== 3) return "bad-version";
  if ((buf[off]! & 0x0f) !== VRRP_TYPE_ADVERT) return "bad-type";
  const addrLen = src.length;
  const count = buf[off + 3]!;
  const need = advertLength(version, count, addrLen);
  if (len < need) return "truncated";
  // v2 over IPv6 does not exist (RFC 3768 is IPv4 only).
  if (version === 2 && addrLen !== 4) return "bad-version";
  const initial = version === 3 ? pseudoSum(src, dst, len) : 0;
  if (finishSum(sumRange(buf, off, len, initial)) !== 0) return "bad-checksum";
  if (len !== need && version === 3) return "bad-length";
  out.version = version;
  out.vrid = buf[off + 1]!;
  out.priority = buf[off + 2]!;
  if (version === 2) {
    out.authType = buf[off + 4]!;
    out.interval = buf[off + 5]! * 100;
  } else {
    out.authType = 0;
    out.interval = get16(buf, off + 4) & 0xfff;
  }
  out.addresses = [];
  let at = off + HEADER_LEN;
  for (let i = 0; i < count; i++, at += addrLen) out.addresses.push(buf.slice(at, at + addrLen));
  out.auth = version === 2 ? buf.slice(at, at + AUTH_LEN) : new Uint8Array(0);
  return null;
}

/** A blank advertisement for readAdvert to fill. */
export function emptyAdvert(): VrrpAdvert {
  return {
    version: 2,
    vrid: 0,
    priority: 0,
    interval: 0,
    authType: 0,
    auth: new Uint8Array(0),
    addresses: [],
  };
}

/** A v2 PASS password as its 8 wire bytes (keepalived keeps the first 8 characters). */
export function passBytes(pass: string): Uint8Array {
  const out = new Uint8Array(AUTH_LEN);
  out.set(Buffer.from(pass, "utf8").subarray(0, AUTH_LEN));
  return out;
}

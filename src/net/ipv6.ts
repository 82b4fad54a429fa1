/** IPv6 fixed header (RFC 8200), extension-header walk to the upper-layer header, hop limit, building. */
import { get16, get32, put16, put32 } from "./bytes.js";
import {
  FRAG_FIRST,
  FRAG_LATER,
  FRAG_NONE,
  PROTO_AH,
  PROTO_DSTOPTS,
  PROTO_FRAGMENT,
  PROTO_HOPOPTS,
  PROTO_ROUTING,
} from "./ip.js";
import {
  PARSE_IP_BAD_VERSION,
  PARSE_IP_TRUNCATED,
  PARSE_IP6_BAD_EXTENSION,
  PARSE_IP6_BAD_PAYLOAD_LENGTH,
  PARSE_OK,
} from "./reason.js";

export const IPV6_HEADER_LEN = 40;
export const IPV6_PAYLOAD_LEN_OFF = 4;
export const IPV6_NEXT_HEADER_OFF = 6;
export const IPV6_HOP_LIMIT_OFF = 7;
export const IPV6_SRC_OFF = 8;
export const IPV6_DST_OFF = 24;
export const IPV6_FRAG_HEADER_LEN = 8;
/** A chain longer than this is treated as malformed (real packets carry a few at most). */
export const IPV6_MAX_EXT_HEADERS = 8;

/** Where the upper-layer header is; filled by walkIpv6Extensions (a parse result implements this). */
export interface Ipv6L4Location {
  protocol: number;
  l4Off: number;
  fragment: number;
  /** Offset of the Fragment header, -1 when there is none. */
  fragHeaderOff: number;
}

/**
 * Validates the fixed header at `off` with `avail` bytes behind it: version 6 and the payload length
 * inside the frame (trailing padding allowed; jumbograms are not supported). Returns PARSE_OK or the reason.
 */
export function validateIpv6(buf: Uint8Array, off: number, avail: number): number {
  if (avail < IPV6_HEADER_LEN) return PARSE_IP_TRUNCATED;
  if (buf[off]! >>> 4 !== 6) return PARSE_IP_BAD_VERSION;
  if (IPV6_HEADER_LEN + get16(buf, off + IPV6_PAYLOAD_LEN_OFF) > avail) return PARSE_IP6_BAD_PAYLOAD_LENGTH;
  return PARSE_OK;
}

/**
 * Walks the extension headers of the IPv6 packet at `off` (ending at `end`) up to the first header that
 * is not Hop-by-Hop, Routing, Destination Options, AH or Fragment, and fills `out`. The walk stops at a
 * non-first fragment, whose remaining bytes are not headers. Every header must lie inside the packet;
 * Hop-by-Hop is only allowed first. Returns PARSE_OK or PARSE_IP6_BAD_EXTENSION.
 */
export function walkIpv6Extensions(buf: Uint8Array, off: number, end: number, out: Ipv6L4Location): number {
  let nh = buf[off + IPV6_NEXT_HEADER_OFF]!;
  let at = off + IPV6_HEADER_LEN;
  out.fragment = FRAG_NONE;
  out.fragHeaderOff = -1;
  for (let n = 0; n <= IPV6_MAX_EXT_HEADERS; n++) {
    let len: number;
    switch (nh) {
      case PROTO_HOPOPTS:
        if (n !== 0) return PARSE_IP6_BAD_EXTENSION;
        if (at + 2 > end) return PARSE_IP6_BAD_EXTENSION;
        len = (buf[at + 1]! + 1) * 8;
        break;
      case PROTO_ROUTING:
      case PROTO_DSTOPTS:
        if (at + 2 > end) return PARSE_IP6_BAD_EXTENSION;
        len = (buf[at + 1]! + 1) * 8;
        break;
      case PROTO_AH:
        if (at + 2 > end) return PARSE_IP6_BAD_EXTENSION;
        len = (buf[at + 1]! + 2) * 4;
        break;
      case PROTO_FRAGMENT: {
        if (at + IPV6_FRAG_HEADER_LEN > end || out.fragHeaderOff >= 0) return PARSE_IP6_BAD_EXTENSION;
        const fo = get16(buf, at + 2);
        out.fragHeaderOff = at;
        nh = buf[at]!;
        at += IPV6_FRAG_HEADER_LEN;
        if (fo & 0xfff8) {
          out.fragment = FRAG_LATER;
          out.protocol = nh;
          out.l4Off = at;
          return PARSE_OK;
        }
        // Offset 0 with M clear is an "atomic fragment" (RFC 6946): a whole packet.
        out.fragment = fo & 1 ? FRAG_FIRST : FRAG_NONE;
        continue;
      }
      default:
        out.protocol = nh;
        out.l4Off = at;
        return PARSE_OK;
    }
    if (at + len > end) return PARSE_IP6_BAD_EXTENSION;
    nh = buf[at]!;
    at += len;
  }
  return PARSE_IP6_BAD_EXTENSION;
}

export function ipv6PayloadLen(buf: Uint8Array, off: number): number {
  return get16(buf, off + IPV6_PAYLOAD_LEN_OFF);
}

export function ipv6HopLimit(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_HOP_LIMIT_OFF]!;
}

/** Decrements the hop limit; false (nothing changed) when it is already <= 1. IPv6 has no header checksum. */
export function ipv6DecrementHopLimit(buf: Uint8Array, off: number): boolean {
  const hl = buf[off + IPV6_HOP_LIMIT_OFF]!;
  if (hl <= 1) return false;
  buf[off + IPV6_HOP_LIMIT_OFF] = hl - 1;
  return true;
}

/** Reads the 16-byte address at `addrOff` into words[at..at+4) (network word order). */
export function readIpv6Addr(buf: Uint8Array, addrOff: number, words: Uint32Array, at: number): void {
  words[at] = get32(buf, addrOff);
  words[at + 1] = get32(buf, addrOff + 4);
  words[at + 2] = get32(buf, addrOff + 8);
  words[at + 3] = get32(buf, addrOff + 12);
}

export function writeIpv6Addr(buf: Uint8Array, addrOff: number, words: ArrayLike<number>, at: number): void {
  put32(buf, addrOff, words[at]!);
  put32(buf, addrOff + 4, words[at + 1]!);
  put32(buf, addrOff + 8, words[at + 2]!);
  put32(buf, addrOff + 12, words[at + 3]!);
}

/** Writes the 40-byte fixed header; returns the offset after it. */
export function writeIpv6Header(
  buf: Uint8Array,
  off: number,
  trafficClass: number,
  flowLabel: number,
  payloadLen: number,
  nextHeader: number,
  hopLimit: number,
  src: ArrayLike<number>,
  srcAt: number,
  dst: ArrayLike<number>,
  dstAt: number,
): number {
  put32(buf, off, ((6 << 28) | ((trafficClass & 0xff) << 20) | (flowLabel & 0xfffff)) >>> 0);
  put16(buf, off + IPV6_PAYLOAD_LEN_OFF, payloadLen);
  buf[off + IPV6_NEXT_HEADER_OFF] = nextHeader;
  buf[off + IPV6_HOP_LIMIT_OFF] = hopLimit;
  writeIpv6Addr(buf, off + IPV6_SRC_OFF, src, srcAt);
  writeIpv6Addr(buf, off + IPV6_DST_OFF, dst, dstAt);
  return off + IPV6_HEADER_LEN;
}

export function ipv6TrafficClass(buf: Uint8Array, off: number): number {
  return (get16(buf, off) >>> 4) & 0xff;
}

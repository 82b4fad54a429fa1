/**
 * IP in IPv6 tunnelling (RFC 2473: IPv6 inner, next header 41; IPv4 inner, next header 4) as LVS's TUN
 * method sends it to an IPv6 real server (kernel ip_vs_tunnel_xmit_v6): an outer IPv6 header from the
 * director to the real server in front of the unchanged inner packet, no extension headers (no
 * tunnel encapsulation limit option). Works in place like ipip.ts: the outer header takes the 40 bytes
 * in front of the inner packet and the link-layer header moves 40 bytes towards the start of the
 * buffer, so the frame needs that much headroom.
 */
import { put16 } from "./bytes.js";
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "./ethernet.js";
import { PROTO_IPIP, PROTO_IPV6 } from "./ip.js";
import { ecnEncapsulate } from "./ipip.js";
import { IPV4_HEADER_LEN } from "./ipv4.js";
import { IPV6_HEADER_LEN, writeIpv6Header } from "./ipv6.js";
import type { ParsedFrame } from "./parse.js";
import { PARSE_OK } from "./reason.js";
import {
  encapHeaderLen,
  encapProtocol,
  finishGueChecksum,
  TUN_GUE,
  type TunnelEncap,
  writeEncapHeader,
} from "./tunnel-encap.js";

export const IP6_TUNNEL_OVERHEAD = IPV6_HEADER_LEN;

/** The largest inner packet that fits a route MTU once encapsulated in IPv6. */
export function ip6TunnelInnerMtu(routeMtu: number): number {
  return routeMtu - IP6_TUNNEL_OVERHEAD;
}

/**
 * Encapsulates the frame's IP packet (f.l3Off, f.ipLen; its TTL / hop limit already decremented) in an
 * outer IPv6 header src -> dst (words at srcAt / dstAt): next header 4 for an IPv4 inner packet, 41 for
 * an IPv6 one; traffic class from the inner TOS / traffic class with ECN encapsulation; flow label 0;
 * hop limit = the inner TTL / hop limit; payload length = the inner packet's length. The link-layer
 * header moves 40 bytes down and its EtherType becomes IPv6; trailing link padding is dropped. Returns
 * the new frame offset (new length: f.ipLen + 40 + the link header length), or -1, changing nothing,
 * when the frame is not a parsed IP packet, the inner packet exceeds 65535 bytes, or there are fewer
 * than 40 bytes of headroom (frame offset < `slotStart` + 40). `f` is not updated: parse again.
 *
 * With `encap` (a GUE or GRE real server, tunnel-encap.ts) its header goes between the outer header
 * and the inner packet (GUE's UDP source port `sport`), next header UDP or GRE, the payload length
 * and the headroom needed growing by that header's length.
 */
export function ip6TunnelEncapsulate(
  buf: Uint8Array,
  f: ParsedFrame,
  slotStart: number,
  src: ArrayLike<number>,
  srcAt: number,
  dst: ArrayLike<number>,
  dstAt: number,
  encap: TunnelEncap | null = null,
  sport = 0,
): number {
  if (f.reason !== PARSE_OK || (f.family !== 4 && f.family !== 6)) return -1;
  const extra = encap ? encapHeaderLen(encap.kind, encap.csum) : 0;
  if (f.frameOff - IP6_TUNNEL_OVERHEAD - extra < Math.max(0, slotStart) || f.ipLen + extra > 0xffff)
    return -1;
  if (f.l3Off + f.ipLen > buf.length) return -1;
  const l2Len = f.l3Off - f.frameOff;
  const newOff = f.frameOff - IP6_TUNNEL_OVERHEAD - extra;
  buf.copyWithin(newOff, f.frameOff, f.l3Off);
  put16(buf, newOff + l2Len - 2, ETHERTYPE_IPV6);
  writeIpv6Header(
    buf,
    newOff + l2Len,
    ecnEncapsulate(f.tos, f.tos),
    0,
    f.ipLen + extra,
    encap ? encapProtocol(encap.kind, f.family === 4) : f.family === 4 ? PROTO_IPIP : PROTO_IPV6,
    f.ttl,
    src,
    srcAt,
    dst,
    dstAt,
  );
  if (encap && extra > 0) {
    const ip = newOff + l2Len;
    const at = ip + IP6_TUNNEL_OVERHEAD;
    writeEncapHeader(buf, at, encap, f.family === 4, f.ipLen, sport);
    if (encap.kind === TUN_GUE && encap.csum) finishGueChecksum(buf, ip, true, at, extra + f.ipLen);
  }
  return newOff;
}

/**
 * Removes the outer IPv6 header (and any extension headers before the tunnel payload) of an IPv4-in-
 * IPv6 (next header 4) or IPv6-in-IPv6 (41) frame: the link-layer header moves forward over it and its
 * EtherType becomes the inner family's. Returns the new frame offset (new length: f.l3Off + f.ipLen -
 * newOffset), or -1 when the frame is not a whole tunnel packet (not IPv6, another upper layer, a
 * fragment, or an inner packet shorter than its own fixed header or of the other version).
 */
export function ip6TunnelDecapsulate(buf: Uint8Array, f: ParsedFrame): number {
  if (f.reason !== PARSE_OK || f.family !== 6 || f.fragment !== 0) return -1;
  if (f.protocol !== PROTO_IPIP && f.protocol !== PROTO_IPV6) return -1;
  const innerV4 = f.protocol === PROTO_IPIP;
  if (f.l4Len < (innerV4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN) || f.l4Off + f.l4Len > buf.length) return -1;
  if (buf[f.l4Off]! >>> 4 !== (innerV4 ? 4 : 6)) return -1;
  const outerLen = f.l4Off - f.l3Off;
  const newOff = f.frameOff + outerLen;
  buf.copyWithin(newOff, f.frameOff, f.l3Off);
  put16(buf, f.l4Off - 2, innerV4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  return newOff;
}

/**
 * IP-in-IP tunnelling (RFC 2003 for IPv4 inner, protocol 4; RFC 4213 for IPv6 inner, protocol 41) as
 * LVS's TUN method sends it (spec §7.3): an outer IPv4 header from the director to the real server in
 * front of the unchanged inner packet. Works in place: the outer header takes the 20 bytes in front of
 * the inner packet and the link-layer header moves 20 bytes towards the start of the buffer, so the
 * frame needs that much headroom (headroom.ts).
 */
import { put16 } from "./bytes.js";
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "./ethernet.js";
import { PROTO_IPIP, PROTO_IPV6 } from "./ip.js";
import { IPV4_FLAG_DF, IPV4_HEADER_LEN, writeIpv4Header } from "./ipv4.js";
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

export const IPIP_OVERHEAD = IPV4_HEADER_LEN;

/** The largest inner packet that fits a route MTU once encapsulated. */
export function ipipInnerMtu(routeMtu: number): number {
  return routeMtu - IPIP_OVERHEAD;
}

/**
 * ECN on encapsulation (RFC 6040 normal mode, as ip_tunnel_ecn_encap): the outer header copies the
 * inner ECN bits, except that CE becomes ECT(0).
 */
export function ecnEncapsulate(innerTos: number, outerDscp: number): number {
  const ecn = innerTos & 3;
  return (outerDscp & 0xfc) | (ecn === 3 ? 2 : ecn);
}

/**
 * Encapsulates the frame's IP packet (f.l3Off, f.ipLen; the TTL already decremented) in an outer IPv4
 * header src -> dst: TOS from the inner with ECN encapsulation, TTL = inner TTL, DF copied from an IPv4
 * inner packet when `copyDf` (IPVS pmtu_disc=1; never set for an IPv6 inner packet, which has no DF: the
 * kernel's ip_vs_prepare_tunneled_skb sends 0), identification `id`.
 * The link-layer header moves 20 bytes down and its EtherType becomes IPv4; trailing link padding is
 * dropped. Returns the new frame offset (the new length is f.ipLen + 20 + the link header length), or
 * -1, changing nothing, when the frame is not a parsed IP packet, would exceed 65535 bytes, or has less
 * than 20 bytes of headroom (frame offset < `slotStart` + 20). `f` is not updated: parse again.
 *
 * With `encap` (a GUE or GRE real server, tunnel-encap.ts) its header goes between the outer header
 * and the inner packet (GUE's UDP source port `sport`), the outer protocol is UDP or GRE, and the
 * 20 bytes above become 20 + that header's length.
 */
export function ipipEncapsulate(
  buf: Uint8Array,
  f: ParsedFrame,
  slotStart: number,
  src: number,
  dst: number,
  id: number,
  copyDf: boolean,
  encap: TunnelEncap | null = null,
  sport = 0,
): number {
  if (f.reason !== PARSE_OK || (f.family !== 4 && f.family !== 6)) return -1;
  const extra = encap ? encapHeaderLen(encap.kind, encap.csum) : 0;
  const overhead = IPIP_OVERHEAD + extra;
  if (f.frameOff - overhead < Math.max(0, slotStart) || f.ipLen + overhead > 0xffff) return -1;
  if (f.l3Off + f.ipLen > buf.length) return -1;
  const l2Len = f.l3Off - f.frameOff;
  const newOff = f.frameOff - overhead;
  buf.copyWithin(newOff, f.frameOff, f.l3Off);
  put16(buf, newOff + l2Len - 2, ETHERTYPE_IPV4);
  const df = f.family === 4 && copyDf && f.dontFragment ? IPV4_FLAG_DF : 0;
  writeIpv4Header(
    buf,
    newOff + l2Len,
    ecnEncapsulate(f.tos, f.tos),
    f.ipLen + overhead,
    id,
    df,
    f.ttl,
    encap ? encapProtocol(encap.kind, f.family === 4) : f.family === 4 ? PROTO_IPIP : PROTO_IPV6,
    src,
    dst,
  );
  if (encap && extra > 0) {
    const ip = newOff + l2Len;
    writeEncapHeader(buf, ip + IPIP_OVERHEAD, encap, f.family === 4, f.ipLen, sport);
    if (encap.kind === TUN_GUE && encap.csum)
      finishGueChecksum(buf, ip, false, ip + IPIP_OVERHEAD, extra + f.ipLen);
  }
  return newOff;
}

/**
 * Removes the outer IPv4 header of an IPIP (protocol 4) or IPv6-in-IPv4 (41) frame: the link-layer
 * header moves forward over it and its EtherType becomes the inner family's. Returns the new frame
 * offset (new length: f.l3Off + f.ipLen - newOffset), or -1 when the frame is not a whole tunnel packet
 * (not IPv4, wrong protocol, a fragment, or an inner packet shorter than an IPv4 header).
 */
export function ipipDecapsulate(buf: Uint8Array, f: ParsedFrame): number {
  if (f.reason !== PARSE_OK || f.family !== 4 || f.fragment !== 0) return -1;
  if (f.protocol !== PROTO_IPIP && f.protocol !== PROTO_IPV6) return -1;
  if (f.l4Len < IPV4_HEADER_LEN || f.l4Off + f.l4Len > buf.length) return -1;
  const innerVersion = buf[f.l4Off]! >>> 4;
  if (innerVersion !== (f.protocol === PROTO_IPIP ? 4 : 6)) return -1;
  const outerLen = f.l4Off - f.l3Off;
  const newOff = f.frameOff + outerLen;
  buf.copyWithin(newOff, f.frameOff, f.l3Off);
  put16(buf, f.l4Off - 2, f.protocol === PROTO_IPIP ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  return newOff;
}

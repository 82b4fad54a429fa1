/**
 * The headers LVS-TUN puts between the outer IP header and the client's packet when the real server
 * is configured `--tun-type gue` or `gre` (kernel net/netfilter/ipvs/ip_vs_xmit.c, ipvs_gue_encap and
 * ipvs_gre_encap, called from ip_vs_tunnel_xmit / ip_vs_tunnel_xmit_v6). IPIP has none.
 *
 * GUE (draft-ietf-intarea-gue, variant 0; the kernel's fou module receives it):
 *   UDP   source port: a hash of the inner flow in the local port range (udp_flow_src_port), so one
 *         connection keeps one port; destination port: the real server's tun-port; length: UDP + GUE
 *         + inner packet; checksum 0 (`nocsum`) or the full UDP checksum (`csum`, `remcsum`).
 *   GUE   4 bytes: version 0, C 0, hlen 0 (no options), proto/ctype 4 (IPv4 inside) or 41 (IPv6),
 *         flags 0.
 *   `remcsum` (remote checksum offload) adds its private option only for a packet whose inner L4
 *   checksum is still to be computed (CHECKSUM_PARTIAL, a locally sent packet). Every packet the
 *   director forwards arrives with its checksum complete, so the kernel, and this, send `remcsum`
 *   exactly as `csum`.
 * GRE (RFC 2784 / 2890, gre_build_header with no key and no sequence):
 *   flags/version 0x0000, or 0x8000 (C) with `csum`; protocol 0x0800 or 0x86DD; with C, the
 *   checksum of the GRE header and the inner packet, then 2 reserved zero bytes.
 */
import { put16 } from "./bytes.js";
import { finishSum, pseudoSumV4, pseudoSumV6, sumRange, udpWireChecksum } from "./checksum.js";
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "./ethernet.js";
import { PROTO_GRE, PROTO_IPIP, PROTO_IPV6, PROTO_UDP } from "./ip.js";

/** Tunnel kinds (the kernel's IP_VS_CONN_F_TUNNEL_TYPE_*). */
export const TUN_IPIP = 0;
export const TUN_GUE = 1;
export const TUN_GRE = 2;

export const UDP_HEADER_LEN = 8;
export const GUE_HEADER_LEN = 4;
/** GRE without options, and the checksum option's 4 bytes (checksum + reserved1). */
export const GRE_HEADER_LEN = 4;
export const GRE_CSUM_LEN = 4;
/** GRE flags word: C (checksum present). */
export const GRE_FLAG_CSUM = 0x8000;
/** GUE's first byte: version (2 bits), C (1), hlen in 32-bit words (5). */
export const GUE_HLEN_MASK = 0x1f;

/** The local port range the GUE source port is drawn from (the kernel's default ip_local_port_range). */
export const GUE_SPORT_MIN = 32768;
export const GUE_SPORT_MAX = 60999;

/** How one real server's tunnel packets are wrapped (a dest's tun-type, tun-port, tun-csum). */
export interface TunnelEncap {
  kind: number;
  /** GUE: the UDP destination port. */
  port: number;
  /** GUE: a UDP checksum (`csum` or `remcsum`); GRE: the checksum option (`csum`). */
  csum: boolean;
}

/** A dest's tunnel settings as TunnelEncap fields (tun-type / tun-csum as ipvsadm names them). */
export function encapKind(tunType: string): number {
  return tunType === "gue" ? TUN_GUE : tunType === "gre" ? TUN_GRE : TUN_IPIP;
}

export function encapChecksum(tunType: string, tunCsum: string): boolean {
  if (tunType === "gue") return tunCsum === "csum" || tunCsum === "remcsum";
  return tunType === "gre" && tunCsum === "csum";
}

/** Bytes between the outer IP header and the inner packet. */
export function encapHeaderLen(kind: number, csum: boolean): number {
  if (kind === TUN_GUE) return UDP_HEADER_LEN + GUE_HEADER_LEN;
  if (kind === TUN_GRE) return GRE_HEADER_LEN + (csum ? GRE_CSUM_LEN : 0);
  return 0;
}

/** The outer header's protocol / next header: UDP, GRE, or 4 / 41 by the inner family (IPIP). */
export function encapProtocol(kind: number, innerV4: boolean): number {
  if (kind === TUN_GUE) return PROTO_UDP;
  if (kind === TUN_GRE) return PROTO_GRE;
  return innerV4 ? PROTO_IPIP : PROTO_IPV6;
}

/**
 * The GUE source port of an inner flow (addresses as words, ports, protocol): a mix of the 5-tuple
 * scaled into [GUE_SPORT_MIN, GUE_SPORT_MAX), as udp_flow_src_port scales the flow hash (the hash
 * itself differs: the kernel's is seeded at boot). The fast path stores the same value per flow.
 */
export function gueSourcePort(
  saddr: ArrayLike<number>,
  daddr: ArrayLike<number>,
  words: number,
  sport: number,
  dport: number,
  protocol: number,
): number {
  let h = Math.imul(protocol + 0x9e3779b9, 0x85ebca6b);
  for (let i = 0; i < words; i++) h = mix(h, saddr[i]!, daddr[i]!);
  h = mix(h, ((sport << 16) | dport) >>> 0, 0);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = (h ^ (h << 16)) >>> 0;
  return GUE_SPORT_MIN + Math.floor((h * (GUE_SPORT_MAX - GUE_SPORT_MIN)) / 0x100000000);
}

function mix(h: number, a: number, b: number): number {
  let x = Math.imul(h ^ a, 0xcc9e2d51);
  x = (x << 15) | (x >>> 17);
  x = Math.imul(x ^ b, 0x1b873593);
  return (x << 13) | (x >>> 19);
}

/**
 * Writes the GUE or GRE header at buf[at..), in front of an inner packet of `innerLen` bytes already
 * in place after it. GUE's UDP checksum is left 0: it needs the outer addresses (finishGueChecksum,
 * once the outer header is written). GRE's checksum, when asked for, is computed here.
 */
export function writeEncapHeader(
  buf: Uint8Array,
  at: number,
  e: TunnelEncap,
  innerV4: boolean,
  innerLen: number,
  sport: number,
): void {
  if (e.kind === TUN_GUE) {
    put16(buf, at, sport);
    put16(buf, at + 2, e.port);
    put16(buf, at + 4, UDP_HEADER_LEN + GUE_HEADER_LEN + innerLen);
    put16(buf, at + 6, 0);
    const g = at + UDP_HEADER_LEN;
    buf[g] = 0; // version 0, C 0, hlen 0
    buf[g + 1] = innerV4 ? PROTO_IPIP : PROTO_IPV6;
    put16(buf, g + 2, 0);
  } else if (e.kind === TUN_GRE) {
    put16(buf, at, e.csum ? GRE_FLAG_CSUM : 0);
    put16(buf, at + 2, innerV4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
    if (e.csum) {
      put16(buf, at + 4, 0);
      put16(buf, at + 6, 0);
      const len = GRE_HEADER_LEN + GRE_CSUM_LEN + innerLen;
      put16(buf, at + 4, finishSum(sumRange(buf, at, len)));
    }
  }
}

/**
 * Fills in the UDP checksum of a GUE packet whose outer IPv4 or IPv6 header is at `ipOff` and UDP
 * header at `udpOff` (`udpLen` bytes to the end of the inner packet): the pseudo-header and every
 * byte after it, a computed 0 sent as 0xFFFF (udp_set_csum / udp6_set_csum).
 */
export function finishGueChecksum(
  buf: Uint8Array,
  ipOff: number,
  outerV6: boolean,
  udpOff: number,
  udpLen: number,
): void {
  const pseudo = outerV6
    ? pseudoSumV6(buf, ipOff, PROTO_UDP, udpLen)
    : pseudoSumV4(buf, ipOff, PROTO_UDP, udpLen);
  put16(buf, udpOff + 6, 0);
  put16(buf, udpOff + 6, udpWireChecksum(finishSum(sumRange(buf, udpOff, udpLen, pseudo))));
}

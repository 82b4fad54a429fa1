/**
 * Byte layout of the fast path's IPv6 flow map (`tslvs_flows6`), beside flow-layout.ts's IPv4 one.
 * One entry per direction of an offloaded IPv6 NAT, FULLNAT or DR connection, or the inbound
 * direction of an LVS-TUN one toward an IPv6 real server (new addresses: the outer header's),
 * keyed by the packet as it arrives:
 *
 * key (40 bytes)
 *   0  16 bytes source address        network order
 *  16  16 bytes destination address   network order
 *  32  u16 source port, 34 u16 destination port   network order
 *  36  u8  protocol (6 TCP, 17 UDP), 3 zero bytes
 *
 * value (112 bytes): bytes 0-79 as the IPv4 value (flow-layout.ts), whose IPv4 address fields,
 * outer-checksum base and IP-header delta are unused (IPv6 has no header checksum; the hop limit
 * is not covered by any checksum), then
 *  80  16 bytes new source address        network order
 *  96  16 bytes new destination address   network order
 * The TCP/UDP checksum delta (offset 52) covers the pseudo-header's 128-bit addresses and the ports.
 */
import { delta16, delta32 } from "../../net/checksum.js";
import {
  FLOW_REWRITE_DST,
  FLOW_REWRITE_SRC,
  FLOW_TUNNEL,
  FLOW_VALUE_SIZE,
  FV_CONN,
  FV_DIR,
  FV_DPORT,
  FV_DST_MAC,
  FV_IN_IFINDEX,
  FV_IN_MAC,
  FV_L4_DELTA,
  FV_MAX_LEN,
  FV_OUT_IFINDEX,
  FV_REWRITE,
  FV_SPORT,
  FV_SRC_MAC,
  put16be,
  put32be,
  put32le,
  putMac,
} from "./flow-layout.js";

export const FLOW6_KEY_SIZE = 40;
export const FK6_SADDR = 0;
export const FK6_DADDR = 16;
export const FK6_SPORT = 32;
export const FK6_DPORT = 34;
export const FK6_PROTO = 36;

export const FLOW6_VALUE_SIZE = FLOW_VALUE_SIZE + 32;
export const FV6_SADDR = FLOW_VALUE_SIZE;
export const FV6_DADDR = FLOW_VALUE_SIZE + 16;

/** One direction of an offloaded IPv6 conn; addresses as four words in network order. */
export interface Flow6Spec {
  conn: number;
  direction: number;
  protocol: number;
  saddr: ArrayLike<number>;
  daddr: ArrayLike<number>;
  sport: number;
  dport: number;
  newSaddr: ArrayLike<number>;
  newDaddr: ArrayLike<number>;
  newSport: number;
  newDport: number;
  /** False for DR: only the MACs and the hop limit change. */
  rewrite: boolean;
  /**
   * LVS-TUN to an IPv6 real server: the packet goes inside an outer IPv6 header from newSaddr to
   * newDaddr, its own addresses and ports unchanged; `rewrite` is ignored, maxLen is the largest
   * inner packet.
   */
  tunnel?: boolean;
  inIfindex: number;
  outIfindex: number;
  inMac: number;
  dstMac: number;
  srcMac: number;
  /** The largest IP packet forwarded (header included): the egress MTU. */
  maxLen: number;
}

function putAddr(b: Uint8Array, at: number, w: ArrayLike<number>): void {
  for (let k = 0; k < 4; k++) put32be(b, at + 4 * k, w[k]! >>> 0);
}
function sameAddr(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return (
    a[0]! >>> 0 === b[0]! >>> 0 &&
    a[1]! >>> 0 === b[1]! >>> 0 &&
    a[2]! >>> 0 === b[2]! >>> 0 &&
    a[3]! >>> 0 === b[3]! >>> 0
  );
}

/** Writes an IPv6 flow key at `at`. */
export function encodeFlow6Key(
  out: Uint8Array,
  at: number,
  protocol: number,
  saddr: ArrayLike<number>,
  daddr: ArrayLike<number>,
  sport: number,
  dport: number,
): void {
  putAddr(out, at + FK6_SADDR, saddr);
  putAddr(out, at + FK6_DADDR, daddr);
  put16be(out, at + FK6_SPORT, sport);
  put16be(out, at + FK6_DPORT, dport);
  out[at + FK6_PROTO] = protocol;
  out[at + 37] = 0;
  out[at + 38] = 0;
  out[at + 39] = 0;
}

/** Which ends of the packet an IPv6 flow rewrites (FLOW_REWRITE_*; 0 for DR). */
export function rewriteFlags6(s: Flow6Spec): number {
  if (s.tunnel) return FLOW_TUNNEL;
  if (!s.rewrite) return 0;
  let rw = 0;
  if (!sameAddr(s.saddr, s.newSaddr) || s.sport !== s.newSport) rw |= FLOW_REWRITE_SRC;
  if (!sameAddr(s.daddr, s.newDaddr) || s.dport !== s.newDport) rw |= FLOW_REWRITE_DST;
  return rw;
}

/** The TCP/UDP checksum delta: the pseudo-header's rewritten addresses (all 128 bits) and the ports. */
export function l4ChecksumDelta6(s: Flow6Spec): number {
  const rw = rewriteFlags6(s);
  let d = 0;
  if (rw & FLOW_REWRITE_SRC) {
    for (let k = 0; k < 4; k++) d += delta32(s.saddr[k]! >>> 0, s.newSaddr[k]! >>> 0);
    d += delta16(s.sport, s.newSport);
  }
  if (rw & FLOW_REWRITE_DST) {
    for (let k = 0; k < 4; k++) d += delta32(s.daddr[k]! >>> 0, s.newDaddr[k]! >>> 0);
    d += delta16(s.dport, s.newDport);
  }
  return d;
}

/** Writes key and value of an IPv6 flow (counters zero) at `keyAt` / `valueAt`. */
export function encodeFlow6(
  keys: Uint8Array,
  keyAt: number,
  values: Uint8Array,
  valueAt: number,
  s: Flow6Spec,
): void {
  encodeFlow6Key(keys, keyAt, s.protocol, s.saddr, s.daddr, s.sport, s.dport);
  const v = values;
  const o = valueAt;
  v.fill(0, o, o + FLOW6_VALUE_SIZE);
  put32le(v, o + FV_CONN, s.conn);
  v[o + FV_REWRITE] = rewriteFlags6(s);
  v[o + FV_DIR] = s.direction;
  v[o + FV_MAX_LEN] = s.maxLen & 0xff;
  v[o + FV_MAX_LEN + 1] = (s.maxLen >>> 8) & 0xff;
  put16be(v, o + FV_SPORT, s.newSport);
  put16be(v, o + FV_DPORT, s.newDport);
  put32le(v, o + FV_IN_IFINDEX, s.inIfindex);
  put32le(v, o + FV_OUT_IFINDEX, s.outIfindex);
  putMac(v, o + FV_IN_MAC, s.inMac);
  putMac(v, o + FV_DST_MAC, s.dstMac);
  putMac(v, o + FV_SRC_MAC, s.srcMac);
  put32le(v, o + FV_L4_DELTA, l4ChecksumDelta6(s));
  putAddr(v, o + FV6_SADDR, s.newSaddr);
  putAddr(v, o + FV6_DADDR, s.newDaddr);
}

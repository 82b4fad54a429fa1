/**
 * Byte layout of the fast path's flow map (`tslvs_flows`), shared by the XDP code that reads it
 * (fast-path-program.ts) and the TypeScript that fills and reads it (flow-maps.ts,
 * flow-offload.ts). Fields marked "network order" hold the bytes as they appear in the packet, so
 * the program copies them between packet and map without conversion; the rest is host order
 * (little-endian: the program loads them with plain loads).
 *
 * One entry per direction of an offloaded connection, keyed by the packet as it arrives:
 *
 * key (16 bytes)
 *   0  u32 source address        network order
 *   4  u32 destination address   network order
 *   8  u16 source port           network order
 *  10  u16 destination port      network order
 *  12  u8  protocol              6 TCP, 17 UDP
 *  13  3 zero bytes
 *
 * value (80 bytes)
 *   0  u32 conn index in the director's table (for the control plane)
 *   4  u8  rewrite: FLOW_REWRITE_SRC | FLOW_REWRITE_DST (NAT one of them, FULLNAT both), or
 *          FLOW_TUNNEL (LVS-TUN: the packet is put in IPIP; with FLOW_TUNNEL_GUE in UDP + GUE, with
 *          FLOW_TUNNEL_GRE in GRE), or 0 (DR, only the MACs change)
 *   5  u8  direction: FLOW_DIR_IN (client -> real server) or FLOW_DIR_OUT (real server -> client)
 *   6  u16 largest IP packet forwarded (the egress MTU; for a tunnel the MTU - 20, the largest inner
 *          packet); longer ones (GRO/GSO aggregates) take the slow path
 *   8  u32 new source address       network order (tunnel: the outer header's source)
 *  12  u32 new destination address  network order (tunnel: the outer header's destination, the RS)
 *  16  u16 new source port          network order (GUE tunnel: the UDP source port)
 *  18  u16 new destination port     network order (GUE tunnel: the UDP destination port)
 *  20  u32 ingress ifindex: the flow is served only when it arrives there
 *  24  u32 egress ifindex (bpf_redirect target)
 *  28  6 bytes ingress MAC: the flow is served only when addressed to it (not flooded copies)
 *  34  6 bytes next hop's MAC (new Ethernet destination)
 *  40  6 bytes egress interface's MAC (new Ethernet source)
 *  46  u16 tunnel: the outer IPv4 header's checksum base (one's-complement sum of its fixed words:
 *          version/IHL, DF, protocol 4, both addresses; the program adds TOS, length and TTL)
 *  48  u32 IPv4 header checksum delta (RFC 1624, unfolded): address change + TTL decrement
 *          (tunnel: the inner header's TTL decrement)
 *  52  u32 TCP/UDP checksum delta: pseudo-header address change + port change (tunnel: 0)
 *  56  u64 packets forwarded by the program     (written by XDP, atomically)
 *  64  u64 bytes forwarded (IP total length, what the director counts)
 *  72  u64 last packet, bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC at the last tick)
 */
import { delta16, delta32 } from "../../net/checksum.js";
import { encapProtocol, TUN_GRE, TUN_GUE, TUN_IPIP } from "../../net/tunnel-encap.js";

export const FLOW_KEY_SIZE = 16;
export const FK_SADDR = 0;
export const FK_DADDR = 4;
export const FK_SPORT = 8;
export const FK_DPORT = 10;
export const FK_PROTO = 12;

export const FLOW_VALUE_SIZE = 80;
export const FV_CONN = 0;
export const FV_REWRITE = 4;
export const FV_DIR = 5;
export const FV_MAX_LEN = 6;
export const FV_SADDR = 8;
export const FV_DADDR = 12;
export const FV_SPORT = 16;
export const FV_DPORT = 18;
export const FV_IN_IFINDEX = 20;
export const FV_OUT_IFINDEX = 24;
export const FV_IN_MAC = 28;
export const FV_DST_MAC = 34;
export const FV_SRC_MAC = 40;
export const FV_OUTER_CSUM = 46;
export const FV_IP_DELTA = 48;
export const FV_L4_DELTA = 52;
export const FV_PACKETS = 56;
export const FV_BYTES = 64;
export const FV_LAST_SEEN = 72;

export const FLOW_REWRITE_SRC = 1;
export const FLOW_REWRITE_DST = 2;
/** LVS-TUN: the packet, its TTL decremented, goes inside an outer IPv4 header (IPIP, protocol 4). */
export const FLOW_TUNNEL = 4;
/**
 * With FLOW_TUNNEL, a GUE real server (`nocsum`): UDP (source port FV_SPORT, destination FV_DPORT,
 * checksum 0) and a 4-byte GUE header follow the outer header, protocol 17.
 */
export const FLOW_TUNNEL_GUE = 8;
/** With FLOW_TUNNEL, a GRE real server (`nocsum`): a 4-byte GRE header follows, protocol 47. */
export const FLOW_TUNNEL_GRE = 16;
export const FLOW_DIR_IN = 0;
export const FLOW_DIR_OUT = 1;

/**
 * RFC 1624 delta of the IPv4 header checksum for a TTL decrement: the 16-bit word TTL|protocol
 * loses 0x0100, i.e. ~0x0100 is added in one's-complement arithmetic.
 */
export const TTL_DECREMENT_DELTA = 0xfeff;

/** Per-CPU counters of the fast path (`tslvs_fp_stats`), by index. */
export const FastPathCounter = {
  /** Rewritten (or encapsulated) and redirected in XDP. */
  FORWARDED: 0,
  /** Flow-map hit handed to the slow path: TTL <= 1. */
  SLOW_TTL: 1,
  /** Hit handed to the slow path: the L4 checksum field holds only the pseudo-header sum (CHECKSUM_PARTIAL). */
  SLOW_PARTIAL_CHECKSUM: 2,
  /** Hit handed to the slow path: longer than the egress MTU (a GRO/GSO aggregate). */
  SLOW_TOO_LONG: 3,
  /** Hit ignored: wrong ingress interface or not addressed to the interface's MAC. */
  SLOW_OTHER_HOST: 4,
  /**
   * Flow-map lookups that missed (TCP without SYN/FIN/RST, UDP, and SCTP whose first chunk is DATA,
   * SACK or HEARTBEAT(-ACK), to or from a steered address).
   */
  MISS: 5,
  /**
   * TCP with SYN, FIN or RST, SCTP with any other first chunk (and an SCTP hit whose flow would
   * rewrite): always the slow path (the director's state machine).
   */
  SLOW_CONTROL: 6,
  /**
   * Tunnel hit handed to the slow path: the inner packet has no DF, so the outer header needs an
   * identification from the director's one counter (docs/decisions/0750-xdp-fullnat-tun.md).
   */
  SLOW_TUNNEL_NO_DF: 7,
  /** Tunnel hit handed to the slow path: the driver gave no room for the outer header. */
  SLOW_NO_HEADROOM: 8,
} as const;
export const FAST_PATH_COUNTERS = 9;
export const FAST_PATH_COUNTER_NAMES = Object.keys(FastPathCounter) as (keyof typeof FastPathCounter)[];

/** One direction of an offloaded conn, as the control plane describes it. */
export interface FlowSpec {
  conn: number;
  direction: number;
  protocol: number;
  /** The packet as it arrives (IPv4 addresses as unsigned 32-bit numbers). */
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
  /** The packet as it leaves. */
  newSaddr: number;
  newDaddr: number;
  newSport: number;
  newDport: number;
  /** False for DR: addresses and ports stay, only the MACs and the TTL change. */
  rewrite: boolean;
  /**
   * LVS-TUN: the packet is encapsulated in IPIP from newSaddr to newDaddr (outer header), its own
   * addresses and ports unchanged; `rewrite` is ignored. maxLen is then the largest inner packet.
   */
  tunnel?: boolean;
  /**
   * A tunnel's encapsulation (tunnel-encap.ts TUN_IPIP / TUN_GUE / TUN_GRE; without checksums);
   * for GUE newSport / newDport are the UDP ports.
   */
  encap?: number;
  inIfindex: number;
  outIfindex: number;
  /** 48-bit MACs as numbers (src/net's convention). */
  inMac: number;
  dstMac: number;
  srcMac: number;
  maxLen: number;
}

export function put32be(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
export function put16be(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
export function put32le(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = v >>> 24;
}
export function putMac(b: Uint8Array, at: number, mac: number): void {
  let m = mac;
  for (let i = 5; i >= 0; i--) {
    b[at + i] = m % 256;
    m = Math.floor(m / 256);
  }
}

/** Writes a flow key at `at`. */
export function encodeFlowKey(
  out: Uint8Array,
  at: number,
  protocol: number,
  saddr: number,
  daddr: number,
  sport: number,
  dport: number,
): void {
  put32be(out, at + FK_SADDR, saddr >>> 0);
  put32be(out, at + FK_DADDR, daddr >>> 0);
  put16be(out, at + FK_SPORT, sport);
  put16be(out, at + FK_DPORT, dport);
  out[at + FK_PROTO] = protocol;
  out[at + 13] = 0;
  out[at + 14] = 0;
  out[at + 15] = 0;
}

/** Which ends of the packet a flow rewrites (FLOW_REWRITE_*; 0 for DR). */
export function rewriteFlags(s: FlowSpec): number {
  if (s.tunnel)
    return FLOW_TUNNEL | (s.encap === TUN_GUE ? FLOW_TUNNEL_GUE : s.encap === TUN_GRE ? FLOW_TUNNEL_GRE : 0);
  if (!s.rewrite) return 0;
  let rw = 0;
  if (s.saddr >>> 0 !== s.newSaddr >>> 0 || s.sport !== s.newSport) rw |= FLOW_REWRITE_SRC;
  if (s.daddr >>> 0 !== s.newDaddr >>> 0 || s.dport !== s.newDport) rw |= FLOW_REWRITE_DST;
  return rw;
}

/** The IPv4 header checksum delta of a flow: the rewritten addresses, and the TTL decrement. */
export function ipChecksumDelta(s: FlowSpec): number {
  const rw = rewriteFlags(s);
  let d = TTL_DECREMENT_DELTA;
  if (rw & FLOW_REWRITE_SRC) d += delta32(s.saddr >>> 0, s.newSaddr >>> 0);
  if (rw & FLOW_REWRITE_DST) d += delta32(s.daddr >>> 0, s.newDaddr >>> 0);
  return d;
}

/** The TCP/UDP checksum delta of a flow: the rewritten pseudo-header addresses and ports. */
export function l4ChecksumDelta(s: FlowSpec): number {
  const rw = rewriteFlags(s);
  let d = 0;
  if (rw & FLOW_REWRITE_SRC) d += delta32(s.saddr >>> 0, s.newSaddr >>> 0) + delta16(s.sport, s.newSport);
  if (rw & FLOW_REWRITE_DST) d += delta32(s.daddr >>> 0, s.newDaddr >>> 0) + delta16(s.dport, s.newDport);
  return d;
}

/** The outer header's version 4 / IHL 5 and DF, as 16-bit words (the protocol is added by kind). */
const OUTER_FIXED_WORDS = 0x4500 + 0x4000;

/**
 * The outer IPv4 header's checksum base of a tunnel flow: the folded one's-complement sum of the
 * words that are the same in every packet (version/IHL, identification 0, DF, protocol, addresses).
 * The program adds the TOS, total length and TTL words, folds and complements.
 */
export function outerChecksumBase(s: FlowSpec): number {
  const src = s.newSaddr >>> 0;
  const dst = s.newDaddr >>> 0;
  const protocol = encapProtocol(s.encap ?? TUN_IPIP, true);
  let sum = OUTER_FIXED_WORDS + protocol + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Writes key and value of a flow (counters zero) at `keyAt` / `valueAt`. */
export function encodeFlow(
  keys: Uint8Array,
  keyAt: number,
  values: Uint8Array,
  valueAt: number,
  s: FlowSpec,
): void {
  encodeFlowKey(keys, keyAt, s.protocol, s.saddr, s.daddr, s.sport, s.dport);
  const v = values;
  const o = valueAt;
  v.fill(0, o, o + FLOW_VALUE_SIZE);
  put32le(v, o + FV_CONN, s.conn);
  v[o + FV_REWRITE] = rewriteFlags(s);
  v[o + FV_DIR] = s.direction;
  v[o + FV_MAX_LEN] = s.maxLen & 0xff;
  v[o + FV_MAX_LEN + 1] = (s.maxLen >>> 8) & 0xff;
  put32be(v, o + FV_SADDR, s.newSaddr >>> 0);
  put32be(v, o + FV_DADDR, s.newDaddr >>> 0);
  put16be(v, o + FV_SPORT, s.newSport);
  put16be(v, o + FV_DPORT, s.newDport);
  put32le(v, o + FV_IN_IFINDEX, s.inIfindex);
  put32le(v, o + FV_OUT_IFINDEX, s.outIfindex);
  putMac(v, o + FV_IN_MAC, s.inMac);
  putMac(v, o + FV_DST_MAC, s.dstMac);
  putMac(v, o + FV_SRC_MAC, s.srcMac);
  if (s.tunnel) {
    const base = outerChecksumBase(s);
    v[o + FV_OUTER_CSUM] = base & 0xff;
    v[o + FV_OUTER_CSUM + 1] = base >>> 8;
  }
  put32le(v, o + FV_IP_DELTA, ipChecksumDelta(s));
  put32le(v, o + FV_L4_DELTA, l4ChecksumDelta(s));
}

/** Reads a u64 counter of a value (exact below 2^53). */
export function readCounter(v: Uint8Array, at: number): number {
  let n = 0;
  for (let i = 7; i >= 0; i--) n = n * 256 + v[at + i]!;
  return n;
}

export function readU32le(v: Uint8Array, at: number): number {
  return (v[at]! | (v[at + 1]! << 8) | (v[at + 2]! << 16) | (v[at + 3]! << 24)) >>> 0;
}

/**
 * The LVS packet rewrites, in place, on a frame the classifier accepted (ParsedFrame.reason === 0):
 * NAT (destination in, source out), FULLNAT (both ends), DR (MAC addresses), each with the TTL / hop
 * limit decremented as a forwarding router does. Checksums are patched incrementally (RFC 1624):
 * the IPv4 header checksum for address and TTL changes, the TCP/UDP checksum for the pseudo-header
 * address and the port. SCTP has no pseudo-header; its CRC32c covers the ports, so a port change
 * means the CRC is computed again over the whole packet (kernel ip_vs_proto_sctp.c sctp_nat_csum,
 * which also leaves it alone when no port changed). The ParsedFrame is kept in step with the bytes
 * (addresses, ports, ttl).
 *
 * Assumption (docs/decisions/0300-net-checksums.md): the frame carries a complete L4 checksum. A
 * data plane that receives CHECKSUM_PARTIAL frames (veth/virtio offload, where the field holds only
 * the pseudo-header sum) must either disable the offload or finish the checksum before calling here;
 * an incremental update of a partial checksum gives a wrong value.
 *
 * UDP checksum 0: over IPv4 it means "no checksum" and is left 0; over IPv6 it is not allowed, and a
 * whole (unfragmented) datagram gets a freshly computed checksum. A computed or patched 0 is sent as
 * 0xFFFF. Non-first fragments carry no L4 header: only their IP addresses are rewritten (the first
 * fragment's L4 checksum already covers the address change).
 */
import { get16, put16, put32 } from "./bytes.js";
import { applyDelta, delta16, delta32, transportChecksum, udpWireChecksum } from "./checksum.js";
import { writeMac } from "./ethernet.js";
import { FRAG_LATER, FRAG_NONE, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from "./ip.js";
import { IPV4_CHECKSUM_OFF, IPV4_DST_OFF, IPV4_SRC_OFF, ipv4DecrementTtl } from "./ipv4.js";
import { IPV6_DST_OFF, IPV6_SRC_OFF, ipv6DecrementHopLimit } from "./ipv6.js";
import type { ParsedFrame } from "./parse.js";
import { PARSE_OK } from "./reason.js";
import { writeSctpChecksum } from "./sctp.js";
import { TCP_CHECKSUM_OFF } from "./tcp.js";
import { UDP_CHECKSUM_OFF } from "./udp.js";

export const RW_OK = 0;
/** TTL / hop limit <= 1: not forwarded, nothing changed; the sender is owed an ICMP time exceeded. */
export const RW_TTL_EXPIRED = 1;
/** Not a parsed IP packet (or, for address/port rewrites, not TCP/UDP/SCTP): nothing changed. */
export const RW_NOT_REWRITABLE = 2;
/**
 * An IPv6 UDP first fragment with checksum 0, or an SCTP fragment: the checksum cannot be fixed
 * without the whole datagram.
 */
export const RW_CHECKSUM_UNFIXABLE = 3;

function ipReady(f: ParsedFrame): boolean {
  return f.reason === PARSE_OK && (f.family === 4 || f.family === 6);
}

/** Checks that a TCP/UDP/SCTP address+port rewrite applies, before any byte is touched. */
function l4Ready(buf: Uint8Array, f: ParsedFrame): number {
  const p = f.protocol;
  if (!ipReady(f) || (p !== PROTO_TCP && p !== PROTO_UDP && p !== PROTO_SCTP)) return RW_NOT_REWRITABLE;
  if (f.frameOff < 0 || f.frameOff + f.frameLen > buf.length) return RW_NOT_REWRITABLE;
  if (p === PROTO_SCTP && f.fragment !== FRAG_NONE) return RW_CHECKSUM_UNFIXABLE;
  portChanged = false;
  if (f.fragment === FRAG_LATER) return RW_OK;
  if (f.l4HeaderLen < 8 || f.l4Off + f.l4HeaderLen > f.frameOff + f.frameLen) return RW_NOT_REWRITABLE;
  if (
    f.family === 6 &&
    f.protocol === PROTO_UDP &&
    f.fragment !== FRAG_NONE &&
    get16(buf, f.l4Off + UDP_CHECKSUM_OFF) === 0
  )
    return RW_CHECKSUM_UNFIXABLE;
  return RW_OK;
}

/**
 * Decrements the TTL (IPv4, header checksum patched) or hop limit (IPv6). RW_TTL_EXPIRED and no change
 * when it is already <= 1.
 */
export function decrementTtl(buf: Uint8Array, f: ParsedFrame): number {
  if (!ipReady(f)) return RW_NOT_REWRITABLE;
  const ok = f.family === 4 ? ipv4DecrementTtl(buf, f.l3Off) : ipv6DecrementHopLimit(buf, f.l3Off);
  if (!ok) return RW_TTL_EXPIRED;
  f.ttl--;
  return RW_OK;
}

/** Whether the rewrite under way changed a port (SCTP's CRC then needs computing again). */
let portChanged = false;

/**
 * Replaces one end's address (and, unless a later fragment, port) and patches the IPv4 header
 * checksum; returns the RFC 1624 delta the L4 checksum still needs.
 */
function replaceEnd(
  buf: Uint8Array,
  f: ParsedFrame,
  isDst: boolean,
  addr: Uint32Array,
  at: number,
  port: number,
): number {
  const cur = isDst ? f.daddr : f.saddr;
  let delta = 0;
  if (f.family === 4) {
    const from = cur[0]!;
    const to = addr[at]! >>> 0;
    const d = delta32(from, to);
    delta += d;
    put32(buf, f.l3Off + (isDst ? IPV4_DST_OFF : IPV4_SRC_OFF), to);
    const ck = f.l3Off + IPV4_CHECKSUM_OFF;
    put16(buf, ck, applyDelta(get16(buf, ck), d));
    cur[0] = to;
  } else {
    const base = f.l3Off + (isDst ? IPV6_DST_OFF : IPV6_SRC_OFF);
    for (let i = 0; i < 4; i++) {
      const from = cur[i]!;
      const to = addr[at + i]! >>> 0;
      delta += delta32(from, to);
      put32(buf, base + 4 * i, to);
      cur[i] = to;
    }
  }
  if (f.fragment === FRAG_LATER) return delta;
  if (port !== (isDst ? f.dport : f.sport)) portChanged = true;
  if (isDst) {
    delta += delta16(f.dport, port);
    put16(buf, f.l4Off + 2, port);
    f.dport = port;
  } else {
    delta += delta16(f.sport, port);
    put16(buf, f.l4Off, port);
    f.sport = port;
  }
  return delta;
}

/** Applies the accumulated delta to the TCP/UDP checksum, with UDP's zero rules; SCTP's CRC anew. */
function patchL4Checksum(buf: Uint8Array, f: ParsedFrame, delta: number): void {
  if (f.fragment === FRAG_LATER) return;
  if (f.protocol === PROTO_SCTP) {
    if (portChanged) writeSctpChecksum(buf, f.l4Off, f.l4Len);
    return;
  }
  if (f.protocol === PROTO_TCP) {
    const at = f.l4Off + TCP_CHECKSUM_OFF;
    put16(buf, at, applyDelta(get16(buf, at), delta));
    return;
  }
  const at = f.l4Off + UDP_CHECKSUM_OFF;
  const check = get16(buf, at);
  if (check === 0) {
    if (f.family === 4) return; // no checksum: stays none
    // IPv6 forbids 0; l4Ready refused fragments, so the whole datagram is here.
    const ulen = f.payloadLen + 8;
    put16(buf, at, udpWireChecksum(transportChecksum(buf, f.l3Off, true, PROTO_UDP, f.l4Off, ulen, 6)));
    return;
  }
  put16(buf, at, udpWireChecksum(applyDelta(check, delta)));
}

/** Sets the destination address and port (no TTL change). The core of NAT inbound. */
export function rewriteDestination(
  buf: Uint8Array,
  f: ParsedFrame,
  addr: Uint32Array,
  at: number,
  port: number,
): number {
  const r = l4Ready(buf, f);
  if (r !== RW_OK) return r;
  patchL4Checksum(buf, f, replaceEnd(buf, f, true, addr, at, port));
  return RW_OK;
}

/** Sets the source address and port (no TTL change). The core of NAT outbound. */
export function rewriteSource(
  buf: Uint8Array,
  f: ParsedFrame,
  addr: Uint32Array,
  at: number,
  port: number,
): number {
  const r = l4Ready(buf, f);
  if (r !== RW_OK) return r;
  patchL4Checksum(buf, f, replaceEnd(buf, f, false, addr, at, port));
  return RW_OK;
}

/** Sets both ends at once (one L4 checksum patch). */
export function rewriteBothEnds(
  buf: Uint8Array,
  f: ParsedFrame,
  src: Uint32Array,
  srcAt: number,
  sport: number,
  dst: Uint32Array,
  dstAt: number,
  dport: number,
): number {
  const r = l4Ready(buf, f);
  if (r !== RW_OK) return r;
  const delta = replaceEnd(buf, f, false, src, srcAt, sport) + replaceEnd(buf, f, true, dst, dstAt, dport);
  patchL4Checksum(buf, f, delta);
  return RW_OK;
}

/**
 * NAT client -> real server: destination VIP:vport becomes RS:rport, TTL decremented.
 * Addresses are read from `rs` at word index `rsAt` (IPv4: one word, IPv6: four).
 */
export function natInbound(
  buf: Uint8Array,
  f: ParsedFrame,
  rs: Uint32Array,
  rsAt: number,
  rport: number,
): number {
  const r = l4Ready(buf, f);
  if (r !== RW_OK) return r;
  if (decrementTtl(buf, f) !== RW_OK) return RW_TTL_EXPIRED;
  patchL4Checksum(buf, f, replaceEnd(buf, f, true, rs, rsAt, rport));
  return RW_OK;
}

/** NAT real server -> client: source RS:rport becomes VIP:vport, TTL decremented. */
export function natOutbound(
  buf: Uint8Array,
  f: ParsedFrame,
  vip: Uint32Array,
  vipAt: number,
  vport: number,
): number {
  const r = l4Ready(buf, f);
  if (r !== RW_OK) return r;
  if (decrementTtl(buf, f) !== RW_OK) return RW_TTL_EXPIRED;
  patchL4Checksum(buf, f, replaceEnd(buf, f, false, vip, vipAt, vport));
  return RW_OK;
}

/** FULLNAT client -> RS: CIP:cport -> VIP:vport becomes LIP:lport -> RS:rport, TTL decremented. */
export function fullnatInbound(
  buf: Uint8Array,
  f: ParsedFrame,
  lip: Uint32Array,
  lipAt: number,
  lport: number,
  rs: Uint32Array,
  rsAt: number,
  rport: number,
): number {
  const r = l4Ready(buf, f);
  if (r !== RW_OK) return r;
  if (decrementTtl(buf, f) !== RW_OK) return RW_TTL_EXPIRED;
  const delta = replaceEnd(buf, f, false, lip, lipAt, lport) + replaceEnd(buf, f, true, rs, rsAt, rport);
  patchL4Checksum(buf, f, delta);
  return RW_OK;
}

/** FULLNAT RS -> client: RS:rport -> LIP:lport becomes VIP:vport -> CIP:cport, TTL decremented. */
export function fullnatOutbound(
  buf: Uint8Array,
  f: ParsedFrame,
  vip: Uint32Array,
  vipAt: number,
  vport: number,
  client: Uint32Array,
  clientAt: number,
  cport: number,
): number {
  const r = l4Ready(buf, f);
  if (r !== RW_OK) return r;
  if (decrementTtl(buf, f) !== RW_OK) return RW_TTL_EXPIRED;
  const delta =
    replaceEnd(buf, f, false, vip, vipAt, vport) + replaceEnd(buf, f, true, client, clientAt, cport);
  patchL4Checksum(buf, f, delta);
  return RW_OK;
}

/**
 * Direct routing: the IP packet is untouched except for the TTL; the frame is readdressed to the real
 * server's MAC from the director's. Any IP protocol.
 */
export function drRewrite(buf: Uint8Array, f: ParsedFrame, dstMac: number, srcMac: number): number {
  if (!ipReady(f) || f.frameOff < 0 || f.frameOff + f.frameLen > buf.length) return RW_NOT_REWRITABLE;
  if (decrementTtl(buf, f) !== RW_OK) return RW_TTL_EXPIRED;
  writeMac(buf, f.frameOff, dstMac);
  writeMac(buf, f.frameOff + 6, srcMac);
  return RW_OK;
}

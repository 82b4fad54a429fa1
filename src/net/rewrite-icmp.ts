/**
 * NAT translation of ICMP errors about a load-balanced connection (IPVS `ip_vs_nat_icmp`, spec §7.4):
 * the outer addresses, the quoted packet's addresses and ports, the quoted IPv4 header checksum and the
 * ICMP checksum are rewritten so that each end sees an error about the packet it actually sent. The
 * ICMP checksum is recomputed in full (errors are rare and small); the quoted L4 checksum is left alone
 * (the quote is usually truncated, and the kernel leaves it too).
 */
import { get16, put16, put32 } from "./bytes.js";
import { applyDelta, delta32, finishSum, sumRange, transportChecksum } from "./checksum.js";
import { icmpIsError } from "./icmp.js";
import type { IcmpQuote } from "./icmp-quote.js";
import { icmpv6IsError } from "./icmpv6.js";
import { PROTO_ICMP, PROTO_ICMPV6 } from "./ip.js";
import { IPV4_CHECKSUM_OFF, IPV4_DST_OFF, IPV4_SRC_OFF, ipv4SetChecksum } from "./ipv4.js";
import { IPV6_DST_OFF, IPV6_SRC_OFF } from "./ipv6.js";
import type { ParsedFrame } from "./parse.js";
import { PARSE_OK } from "./reason.js";
import { decrementTtl, RW_NOT_REWRITABLE, RW_OK, RW_TTL_EXPIRED } from "./rewrite.js";

/** Writes an address (IPv4: one word, IPv6: four) at `addrOff` and into `cur`; returns the RFC 1624 delta. */
function setAddr(
  buf: Uint8Array,
  addrOff: number,
  family: number,
  cur: Uint32Array,
  addr: Uint32Array,
  at: number,
): number {
  const n = family === 4 ? 1 : 4;
  let delta = 0;
  for (let i = 0; i < n; i++) {
    const to = addr[at + i]! >>> 0;
    delta += delta32(cur[i]!, to);
    put32(buf, addrOff + 4 * i, to);
    cur[i] = to;
  }
  return delta;
}

function icmpErrorReady(buf: Uint8Array, f: ParsedFrame, q: IcmpQuote): boolean {
  if (f.reason !== PARSE_OK || q.reason !== PARSE_OK || q.family !== f.family) return false;
  if (
    f.family === 4
      ? f.protocol !== PROTO_ICMP || !icmpIsError(f.icmpType)
      : f.protocol !== PROTO_ICMPV6 || !icmpv6IsError(f.icmpType)
  )
    return false;
  const end = f.l3Off + f.ipLen;
  return q.l3Off >= f.payloadOff && q.end <= end && end <= buf.length && q.l4Off <= q.end;
}

/**
 * Rewrites an ICMP / ICMPv6 error in place. Each address argument may be null (unchanged); each port
 * -1 (unchanged; ports are changed only when the quote holds them). `f` is the classified error, `q` its
 * parsed quote (parseIcmpQuote over f.payloadOff..f.l3Off+f.ipLen); both are updated. No TTL change.
 */
export function translateIcmpError(
  buf: Uint8Array,
  f: ParsedFrame,
  q: IcmpQuote,
  outerSrc: Uint32Array | null,
  outerSrcAt: number,
  outerDst: Uint32Array | null,
  outerDstAt: number,
  innerSrc: Uint32Array | null,
  innerSrcAt: number,
  innerSport: number,
  innerDst: Uint32Array | null,
  innerDstAt: number,
  innerDport: number,
): number {
  if (!icmpErrorReady(buf, f, q)) return RW_NOT_REWRITABLE;
  const v4 = f.family === 4;
  const so = v4 ? IPV4_SRC_OFF : IPV6_SRC_OFF;
  const dOff = v4 ? IPV4_DST_OFF : IPV6_DST_OFF;
  let outerDelta = 0;
  if (outerSrc) outerDelta += setAddr(buf, f.l3Off + so, f.family, f.saddr, outerSrc, outerSrcAt);
  if (outerDst) outerDelta += setAddr(buf, f.l3Off + dOff, f.family, f.daddr, outerDst, outerDstAt);
  if (v4 && outerDelta) {
    const ck = f.l3Off + IPV4_CHECKSUM_OFF;
    put16(buf, ck, applyDelta(get16(buf, ck), outerDelta));
  }
  if (innerSrc) setAddr(buf, q.l3Off + so, f.family, q.saddr, innerSrc, innerSrcAt);
  if (innerDst) setAddr(buf, q.l3Off + dOff, f.family, q.daddr, innerDst, innerDstAt);
  if (q.hasPorts) {
    if (innerSport >= 0) put16(buf, q.l4Off, (q.sport = innerSport));
    if (innerDport >= 0) put16(buf, q.l4Off + 2, (q.dport = innerDport));
  }
  if (v4 && (innerSrc || innerDst)) ipv4SetChecksum(buf, q.l3Off);
  const icmpLen = f.l3Off + f.ipLen - f.l4Off;
  if (v4) {
    put16(buf, f.l4Off + 2, 0);
    put16(buf, f.l4Off + 2, finishSum(sumRange(buf, f.l4Off, icmpLen)));
  } else {
    put16(buf, f.l4Off + 2, transportChecksum(buf, f.l3Off, true, PROTO_ICMPV6, f.l4Off, icmpLen, 2));
  }
  return RW_OK;
}

function withTtl(buf: Uint8Array, f: ParsedFrame, q: IcmpQuote): number {
  if (!icmpErrorReady(buf, f, q)) return RW_NOT_REWRITABLE;
  return decrementTtl(buf, f) === RW_OK ? RW_OK : RW_TTL_EXPIRED;
}

/**
 * NAT, client side -> real server: an error from the client's side about VIP:vport -> client is sent
 * on to the real server as an error about RS:rport -> client. TTL decremented.
 */
export function natInboundIcmp(
  buf: Uint8Array,
  f: ParsedFrame,
  q: IcmpQuote,
  rs: Uint32Array,
  rsAt: number,
  rport: number,
): number {
  const r = withTtl(buf, f, q);
  if (r !== RW_OK) return r;
  return translateIcmpError(buf, f, q, null, 0, rs, rsAt, rs, rsAt, rport, null, 0, -1);
}

/**
 * NAT, real server side -> client: an error about client -> RS:rport goes to the client as an error
 * from the VIP about client -> VIP:vport. TTL decremented.
 */
export function natOutboundIcmp(
  buf: Uint8Array,
  f: ParsedFrame,
  q: IcmpQuote,
  vip: Uint32Array,
  vipAt: number,
  vport: number,
): number {
  const r = withTtl(buf, f, q);
  if (r !== RW_OK) return r;
  return translateIcmpError(buf, f, q, vip, vipAt, null, 0, null, 0, -1, vip, vipAt, vport);
}

/**
 * FULLNAT, client side -> real server: an error about VIP:vport -> CIP:cport becomes an error from LIP
 * to the RS about RS:rport -> LIP:lport. TTL decremented.
 */
export function fullnatInboundIcmp(
  buf: Uint8Array,
  f: ParsedFrame,
  q: IcmpQuote,
  lip: Uint32Array,
  lipAt: number,
  lport: number,
  rs: Uint32Array,
  rsAt: number,
  rport: number,
): number {
  const r = withTtl(buf, f, q);
  if (r !== RW_OK) return r;
  return translateIcmpError(buf, f, q, lip, lipAt, rs, rsAt, rs, rsAt, rport, lip, lipAt, lport);
}

/**
 * FULLNAT, real server side -> client: an error about LIP:lport -> RS:rport becomes an error from the
 * VIP to the client about CIP:cport -> VIP:vport. TTL decremented.
 */
export function fullnatOutboundIcmp(
  buf: Uint8Array,
  f: ParsedFrame,
  q: IcmpQuote,
  vip: Uint32Array,
  vipAt: number,
  vport: number,
  client: Uint32Array,
  clientAt: number,
  cport: number,
): number {
  const r = withTtl(buf, f, q);
  if (r !== RW_OK) return r;
  return translateIcmpError(
    buf,
    f,
    q,
    vip,
    vipAt,
    client,
    clientAt,
    client,
    clientAt,
    cport,
    vip,
    vipAt,
    vport,
  );
}

/**
 * The receiving end of GUE and GRE tunnels as a Linux real server's fou and ip_gre modules take what
 * LVS-TUN sends (tunnel-encap.ts): finds the inner packet behind the UDP + GUE or GRE header of a
 * parsed outer packet and checks what the kernel checks on the way.
 *
 * GUE (net/ipv4/fou_core.c, gue_udp_recv): the UDP checksum when there is one (0 means none over IPv4,
 * and is accepted over IPv6 as a GUE socket with zero checksums allowed does); version 0 only; a
 * control message (C) is not data; hlen words of options skipped; the private flags option with
 * remote checksum offload (GUE_PFLAG_REMCSUM) applied: the inner checksum at start + offset computed
 * over the inner packet from start (gue_remcsum). proto/ctype 4 or 41.
 * GRE (net/ipv4/gre_demux.c, gre_parse_header): version 0, no routing; a checksum (C) verified; a
 * key or sequence number is refused (no keyed tunnel is configured: ip_tunnel_lookup finds none);
 * protocol 0x0800 or 0x86DD.
 */
import { get16 } from "./bytes.js";
import { finishSum, foldSum, pseudoSumV4, pseudoSumV6, sumRange } from "./checksum.js";
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "./ethernet.js";
import { PROTO_GRE, PROTO_IPIP, PROTO_IPV6, PROTO_UDP } from "./ip.js";
import type { ParsedFrame } from "./parse.js";
import { GRE_FLAG_CSUM, GUE_HEADER_LEN, GUE_HLEN_MASK, UDP_HEADER_LEN } from "./tunnel-encap.js";

/** Not a GUE or GRE packet for this receiver (another protocol or port): someone else's. */
export const DECAP_NOT_TUNNEL = -1;
/** A GUE or GRE packet this receiver cannot take: bad checksum, unknown version, flags or payload. */
export const DECAP_MALFORMED = -2;

const GUE_FLAG_PRIV = 0x0001;
const GUE_PFLAG_REMCSUM = 0x80000000;
const GRE_FLAG_ROUTING = 0x4000;
const GRE_FLAG_KEY = 0x2000;
const GRE_FLAG_SEQ = 0x1000;
const GRE_VERSION_MASK = 0x0007;

/** Where the inner packet starts, and its family; filled by tunnelInner. */
export class TunnelInner {
  off = 0;
  v4 = true;
}

/**
 * For an unfragmented outer packet `f` (IPv4 or IPv6, already parsed): when it is GUE (UDP to
 * `guePort`, not 0) or GRE (`gre`), checks it, applies remote checksum offload, fills `out` and
 * returns the inner packet's offset; else DECAP_NOT_TUNNEL or DECAP_MALFORMED.
 */
export function tunnelInner(
  buf: Uint8Array,
  f: ParsedFrame,
  guePort: number,
  gre: boolean,
  out: TunnelInner,
): number {
  const end = f.l4Off + f.l4Len;
  if (guePort !== 0 && f.protocol === PROTO_UDP && f.dport === guePort) {
    if (f.l4Len < UDP_HEADER_LEN + GUE_HEADER_LEN || get16(buf, f.l4Off + 4) !== f.l4Len)
      return DECAP_MALFORMED;
    if (get16(buf, f.l4Off + 6) !== 0) {
      const pseudo =
        f.family === 6
          ? pseudoSumV6(buf, f.l3Off, PROTO_UDP, f.l4Len)
          : pseudoSumV4(buf, f.l3Off, PROTO_UDP, f.l4Len);
      if (foldSum(sumRange(buf, f.l4Off, f.l4Len, pseudo)) !== 0xffff) return DECAP_MALFORMED;
    }
    const g = f.l4Off + UDP_HEADER_LEN;
    const first = buf[g]!;
    if (first >>> 6 !== 0 || (first & 0x20) !== 0) return DECAP_MALFORMED;
    const inner = g + GUE_HEADER_LEN + 4 * (first & GUE_HLEN_MASK);
    if (inner > end) return DECAP_MALFORMED;
    const proto = buf[g + 1]!;
    if (proto !== PROTO_IPIP && proto !== PROTO_IPV6) return DECAP_MALFORMED;
    if (get16(buf, g + 2) & GUE_FLAG_PRIV) {
      // The private flags are the only option the kernel's GUE sends (and fou knows).
      if (inner - g < GUE_HEADER_LEN + 4) return DECAP_MALFORMED;
      const pflags = ((buf[g + 4]! << 24) | (buf[g + 5]! << 16) | (buf[g + 6]! << 8) | buf[g + 7]!) >>> 0;
      if (pflags & GUE_PFLAG_REMCSUM) {
        if (inner - g < GUE_HEADER_LEN + 8) return DECAP_MALFORMED;
        const start = get16(buf, g + 8);
        const field = get16(buf, g + 10);
        if (!remoteChecksum(buf, inner, end, start, field)) return DECAP_MALFORMED;
      }
    } else if (get16(buf, g + 2) !== 0) {
      return DECAP_MALFORMED;
    }
    out.off = inner;
    out.v4 = proto === PROTO_IPIP;
    return inner;
  }
  if (gre && f.protocol === PROTO_GRE) {
    if (f.l4Len < 4) return DECAP_MALFORMED;
    const flags = get16(buf, f.l4Off);
    if (flags & (GRE_FLAG_ROUTING | GRE_FLAG_KEY | GRE_FLAG_SEQ | GRE_VERSION_MASK)) return DECAP_MALFORMED;
    let inner = f.l4Off + 4;
    if (flags & GRE_FLAG_CSUM) {
      if (f.l4Len < 8 || finishSum(sumRange(buf, f.l4Off, f.l4Len)) !== 0) return DECAP_MALFORMED;
      inner += 4;
    }
    const ptype = get16(buf, f.l4Off + 2);
    if (ptype !== ETHERTYPE_IPV4 && ptype !== ETHERTYPE_IPV6) return DECAP_MALFORMED;
    out.off = inner;
    out.v4 = ptype === ETHERTYPE_IPV4;
    return inner;
  }
  return DECAP_NOT_TUNNEL;
}

/**
 * Remote checksum offload (draft-herbert-remotecsumoffload): the sender left the inner L4 checksum
 * field (at inner + field) holding only its pseudo-header sum; the checksum is the complement of the
 * sum from inner + start to the end, that field included (skb_remcsum_process).
 */
function remoteChecksum(buf: Uint8Array, inner: number, end: number, start: number, field: number): boolean {
  if (inner + start >= end || inner + field + 2 > end || field < start || (field & 1) !== (start & 1))
    return false;
  const c = finishSum(sumRange(buf, inner + start, end - inner - start));
  buf[inner + field] = c >>> 8;
  buf[inner + field + 1] = c & 0xff;
  return true;
}

/**
 * The packet quoted inside an ICMP or ICMPv6 error: its IP header and the start of its L4 header,
 * which is what identifies the connection the error is about. The quote may be truncated, so lengths
 * in the quoted header are not checked against what is present; only bytes present are read.
 */
import { get16, get32 } from "./bytes.js";
import { FRAG_LATER, FRAG_NONE, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from "./ip.js";
import { IPV4_DST_OFF, IPV4_PROTOCOL_OFF, IPV4_SRC_OFF, ipv4Fragment } from "./ipv4.js";
import {
  IPV6_DST_OFF,
  IPV6_HEADER_LEN,
  IPV6_SRC_OFF,
  type Ipv6L4Location,
  readIpv6Addr,
  walkIpv6Extensions,
} from "./ipv6.js";
import { PARSE_ICMP_TRUNCATED, PARSE_IP_BAD_IHL, PARSE_IP_BAD_VERSION, PARSE_OK } from "./reason.js";

/** Reusable result of parseIcmpQuote. */
export class IcmpQuote implements Ipv6L4Location {
  reason = PARSE_OK;
  family: 0 | 4 | 6 = 0;
  /** Start of the quoted IP header and the end of the quote (end of the ICMP message). */
  l3Off = 0;
  end = 0;
  protocol = 0;
  l4Off = 0;
  fragment = FRAG_NONE;
  fragHeaderOff = -1;
  readonly saddr = new Uint32Array(4);
  readonly daddr = new Uint32Array(4);
  /** True when the first 4 L4 bytes (TCP/UDP ports) are present. */
  hasPorts = false;
  sport = 0;
  dport = 0;
}

/**
 * Parses the quote at buf[off..end) as an IPv4 (family 4) or IPv6 (family 6) packet. Returns PARSE_OK
 * when the whole quoted IP header is present (ports are optional: see hasPorts).
 */
export function parseIcmpQuote(
  buf: Uint8Array,
  off: number,
  end: number,
  family: 4 | 6,
  out: IcmpQuote,
): number {
  out.family = 0;
  out.l3Off = off;
  out.end = end;
  out.hasPorts = false;
  out.sport = out.dport = 0;
  out.fragment = FRAG_NONE;
  out.fragHeaderOff = -1;
  if (off < 0 || end > buf.length || end < off) return (out.reason = PARSE_ICMP_TRUNCATED);
  const s = out.saddr;
  const d = out.daddr;
  if (family === 4) {
    if (end - off < 20) return (out.reason = PARSE_ICMP_TRUNCATED);
    if (buf[off]! >>> 4 !== 4) return (out.reason = PARSE_IP_BAD_VERSION);
    const hl = (buf[off]! & 15) * 4;
    if (hl < 20) return (out.reason = PARSE_IP_BAD_IHL);
    if (off + hl > end) return (out.reason = PARSE_ICMP_TRUNCATED);
    out.protocol = buf[off + IPV4_PROTOCOL_OFF]!;
    out.fragment = ipv4Fragment(buf, off);
    s[0] = get32(buf, off + IPV4_SRC_OFF);
    d[0] = get32(buf, off + IPV4_DST_OFF);
    s[1] = s[2] = s[3] = d[1] = d[2] = d[3] = 0;
    out.l4Off = off + hl;
  } else {
    if (end - off < IPV6_HEADER_LEN) return (out.reason = PARSE_ICMP_TRUNCATED);
    if (buf[off]! >>> 4 !== 6) return (out.reason = PARSE_IP_BAD_VERSION);
    readIpv6Addr(buf, off + IPV6_SRC_OFF, s, 0);
    readIpv6Addr(buf, off + IPV6_DST_OFF, d, 0);
    const r = walkIpv6Extensions(buf, off, end, out);
    if (r !== PARSE_OK) return (out.reason = r);
  }
  out.family = family;
  if (
    (out.protocol === PROTO_TCP || out.protocol === PROTO_UDP || out.protocol === PROTO_SCTP) &&
    out.fragment !== FRAG_LATER &&
    out.l4Off + 4 <= end
  ) {
    out.hasPorts = true;
    out.sport = get16(buf, out.l4Off);
    out.dport = get16(buf, out.l4Off + 2);
  }
  return (out.reason = PARSE_OK);
}

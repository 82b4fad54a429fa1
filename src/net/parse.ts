/**
 * The frame classifier: one pass over an Ethernet frame that validates it and fills a reusable
 * ParsedFrame with everything the packet engine needs (offsets, family, addresses, ports, flags,
 * lengths, fragment status). It allocates nothing, reads only inside [off, off+len) and never throws;
 * anything it cannot handle gets a reason code (reason.ts).
 */
import { get16, get32 } from "./bytes.js";
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, innerEtherTypeOffset, outerVlanId } from "./ethernet.js";
import {
  FRAG_FIRST,
  FRAG_LATER,
  FRAG_NONE,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_SCTP,
  PROTO_TCP,
  PROTO_UDP,
} from "./ip.js";
import {
  IPV4_DST_OFF,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FRAG_OFF,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_PROTOCOL_OFF,
  IPV4_SRC_OFF,
  IPV4_TOS_OFF,
  IPV4_TOTAL_LEN_OFF,
  IPV4_TTL_OFF,
  validateIpv4,
} from "./ipv4.js";
import {
  IPV6_DST_OFF,
  IPV6_HEADER_LEN,
  IPV6_HOP_LIMIT_OFF,
  IPV6_PAYLOAD_LEN_OFF,
  IPV6_SRC_OFF,
  type Ipv6L4Location,
  ipv6TrafficClass,
  readIpv6Addr,
  validateIpv6,
  walkIpv6Extensions,
} from "./ipv6.js";
import {
  PARSE_ETH_TRUNCATED,
  PARSE_ICMP_TRUNCATED,
  PARSE_L4_TRUNCATED,
  PARSE_NOT_IP,
  PARSE_OK,
  PARSE_TCP_BAD_DATA_OFFSET,
  PARSE_UDP_BAD_LENGTH,
  PARSE_VLAN_TRUNCATED,
} from "./reason.js";
import {
  SCTP_CHUNK_HEADER_LEN,
  SCTP_CID_COOKIE_ACK,
  SCTP_CID_COOKIE_ECHO,
  SCTP_HEADER_LEN,
  sctpChunkTypeAt,
  sctpNextChunkAt,
} from "./sctp.js";
import { TCP_DOFF_OFF, TCP_FLAGS_OFF, TCP_HEADER_LEN } from "./tcp.js";
import { UDP_HEADER_LEN, UDP_LEN_OFF } from "./udp.js";

/** ICMP (v4 and v6) header length up to and including the 4-byte "rest of header". */
const ICMP_HEADER_LEN = 8;

/** The classifier's result; create one per worker and reuse it for every frame. */
export class ParsedFrame implements Ipv6L4Location {
  /** PARSE_OK when every field below is valid; otherwise fields past the failure are unspecified. */
  reason = PARSE_OK;
  frameOff = 0;
  frameLen = 0;
  /** VLAN id of the outermost tag, -1 when untagged. */
  vlanId = -1;
  /** EtherType after any VLAN tags. */
  etherType = 0;
  /** Start of the IP header. */
  l3Off = 0;
  /** 4 or 6 for IP packets, 0 otherwise. */
  family: 0 | 4 | 6 = 0;
  /** Length of the IP packet by its header (link-layer padding excluded). */
  ipLen = 0;
  /** IPv4 header carries options (IHL > 5). */
  ipOptions = false;
  /** TTL / hop limit as received. */
  ttl = 0;
  /** TOS / traffic class. */
  tos = 0;
  dontFragment = false;
  /** FRAG_NONE, FRAG_FIRST or FRAG_LATER (no L4 header: ports, flags are 0). */
  fragment = FRAG_NONE;
  /** IPv6 Fragment header offset, -1 when none. */
  fragHeaderOff = -1;
  /** Upper-layer protocol (after IPv6 extension headers). */
  protocol = 0;
  /** Start of the L4 header and its length to the end of the IP packet. */
  l4Off = 0;
  l4Len = 0;
  /** Addresses as four u32 words in network word order (IPv4: word 0, rest 0). */
  readonly saddr = new Uint32Array(4);
  readonly daddr = new Uint32Array(4);
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  /** SCTP: the first chunk's type, -1 when the packet holds no chunk header (or is not SCTP). */
  sctpChunk = -1;
  /**
   * SCTP: the type of the chunk after a first COOKIE ECHO or COOKIE ACK (where an ABORT may be
   * bundled, RFC 9260 §3.3.7), -1 otherwise.
   */
  sctpNextChunk = -1;
  /** TCP header length with options, 8 for UDP and ICMP, 12 for SCTP, 0 otherwise. */
  l4HeaderLen = 0;
  /** Application payload (after the L4 header; UDP: as long as the UDP length says). */
  payloadOff = 0;
  payloadLen = 0;
  /** ICMP / ICMPv6 type and code, -1 for other protocols. */
  icmpType = -1;
  icmpCode = -1;
}

/**
 * Classifies the Ethernet frame buf[off..off+len) into `out`; returns out.reason. Offsets in `out` are
 * absolute indexes into `buf`. Never throws, whatever the bytes or arguments.
 */
export function parseFrame(buf: Uint8Array, off: number, len: number, out: ParsedFrame): number {
  out.frameOff = off;
  out.frameLen = len;
  out.vlanId = -1;
  out.etherType = 0;
  out.family = 0;
  out.ipLen = 0;
  out.ipOptions = false;
  out.fragment = FRAG_NONE;
  out.fragHeaderOff = -1;
  out.protocol = 0;
  out.l3Off = 0;
  out.l4Off = 0;
  out.l4Len = 0;
  out.sport = 0;
  out.dport = 0;
  out.tcpFlags = 0;
  out.sctpChunk = -1;
  out.sctpNextChunk = -1;
  out.l4HeaderLen = 0;
  out.payloadOff = 0;
  out.payloadLen = 0;
  out.icmpType = -1;
  out.icmpCode = -1;
  if (!(off >= 0 && len >= 0 && off + len <= buf.length)) return (out.reason = PARSE_ETH_TRUNCATED);
  if (len < 14) return (out.reason = PARSE_ETH_TRUNCATED);
  const typeAt = innerEtherTypeOffset(buf, off, len);
  if (typeAt < 0) return (out.reason = PARSE_VLAN_TRUNCATED);
  out.vlanId = outerVlanId(buf, off, len);
  const etherType = get16(buf, typeAt);
  out.etherType = etherType;
  const l3 = typeAt + 2;
  out.l3Off = l3;
  const end = off + len;
  const avail = end - l3;
  const s = out.saddr;
  const d = out.daddr;
  let r: number;
  if (etherType === ETHERTYPE_IPV4) {
    r = validateIpv4(buf, l3, avail);
    if (r !== PARSE_OK) return (out.reason = r);
    out.family = 4;
    const hlen = (buf[l3]! & 15) * 4;
    const total = get16(buf, l3 + IPV4_TOTAL_LEN_OFF);
    out.ipLen = total;
    out.ipOptions = hlen > 20;
    out.tos = buf[l3 + IPV4_TOS_OFF]!;
    out.ttl = buf[l3 + IPV4_TTL_OFF]!;
    const frag = get16(buf, l3 + IPV4_FRAG_OFF);
    out.dontFragment = (frag & IPV4_FLAG_DF) !== 0;
    out.fragment = frag & IPV4_FRAG_OFFSET_MASK ? FRAG_LATER : frag & IPV4_FLAG_MF ? FRAG_FIRST : FRAG_NONE;
    out.protocol = buf[l3 + IPV4_PROTOCOL_OFF]!;
    s[0] = get32(buf, l3 + IPV4_SRC_OFF);
    d[0] = get32(buf, l3 + IPV4_DST_OFF);
    s[1] = s[2] = s[3] = d[1] = d[2] = d[3] = 0;
    out.l4Off = l3 + hlen;
    out.l4Len = total - hlen;
  } else if (etherType === ETHERTYPE_IPV6) {
    r = validateIpv6(buf, l3, avail);
    if (r !== PARSE_OK) return (out.reason = r);
    out.family = 6;
    const total = IPV6_HEADER_LEN + get16(buf, l3 + IPV6_PAYLOAD_LEN_OFF);
    out.ipLen = total;
    out.tos = ipv6TrafficClass(buf, l3);
    out.ttl = buf[l3 + IPV6_HOP_LIMIT_OFF]!;
    out.dontFragment = true; // IPv6 routers never fragment
    readIpv6Addr(buf, l3 + IPV6_SRC_OFF, s, 0);
    readIpv6Addr(buf, l3 + IPV6_DST_OFF, d, 0);
    r = walkIpv6Extensions(buf, l3, l3 + total, out);
    if (r !== PARSE_OK) return (out.reason = r);
    out.l4Len = l3 + total - out.l4Off;
  } else {
    return (out.reason = PARSE_NOT_IP);
  }
  return (out.reason = parseL4(buf, out));
}

function parseL4(buf: Uint8Array, out: ParsedFrame): number {
  const l4 = out.l4Off;
  const l4Len = out.l4Len;
  if (out.fragment === FRAG_LATER) {
    out.payloadOff = l4;
    out.payloadLen = l4Len;
    return PARSE_OK;
  }
  switch (out.protocol) {
    case PROTO_TCP: {
      if (l4Len < TCP_HEADER_LEN) return PARSE_L4_TRUNCATED;
      const hl = (buf[l4 + TCP_DOFF_OFF]! >>> 4) * 4;
      if (hl < TCP_HEADER_LEN || hl > l4Len) return PARSE_TCP_BAD_DATA_OFFSET;
      out.sport = get16(buf, l4);
      out.dport = get16(buf, l4 + 2);
      out.tcpFlags = buf[l4 + TCP_FLAGS_OFF]!;
      out.l4HeaderLen = hl;
      out.payloadOff = l4 + hl;
      out.payloadLen = l4Len - hl;
      return PARSE_OK;
    }
    case PROTO_UDP: {
      if (l4Len < UDP_HEADER_LEN) return PARSE_L4_TRUNCATED;
      const ulen = get16(buf, l4 + UDP_LEN_OFF);
      // A first fragment holds only part of the datagram the UDP length describes.
      const max = out.fragment === FRAG_FIRST ? 0xffff : l4Len;
      if (ulen < UDP_HEADER_LEN || ulen > max) return PARSE_UDP_BAD_LENGTH;
      out.sport = get16(buf, l4);
      out.dport = get16(buf, l4 + 2);
      out.l4HeaderLen = UDP_HEADER_LEN;
      out.payloadOff = l4 + UDP_HEADER_LEN;
      out.payloadLen = (out.fragment === FRAG_FIRST ? l4Len : ulen) - UDP_HEADER_LEN;
      return PARSE_OK;
    }
    case PROTO_SCTP: {
      if (l4Len < SCTP_HEADER_LEN) return PARSE_L4_TRUNCATED;
      out.sport = get16(buf, l4);
      out.dport = get16(buf, l4 + 2);
      out.l4HeaderLen = SCTP_HEADER_LEN;
      out.payloadOff = l4 + SCTP_HEADER_LEN;
      out.payloadLen = l4Len - SCTP_HEADER_LEN;
      // A first fragment's chunks may be cut short: its chunk types are not read.
      if (out.fragment !== FRAG_NONE) return PARSE_OK;
      const end = l4 + l4Len;
      const first = sctpChunkTypeAt(buf, out.payloadOff, end);
      out.sctpChunk = first;
      if (first === SCTP_CID_COOKIE_ECHO || first === SCTP_CID_COOKIE_ACK) {
        const next = sctpNextChunkAt(buf, out.payloadOff);
        if (next >= 0 && next + SCTP_CHUNK_HEADER_LEN <= end) out.sctpNextChunk = buf[next]!;
      }
      return PARSE_OK;
    }
    case PROTO_ICMP:
    case PROTO_ICMPV6:
      if ((out.protocol === PROTO_ICMP) !== (out.family === 4)) break;
      if (l4Len < ICMP_HEADER_LEN) return PARSE_ICMP_TRUNCATED;
      out.icmpType = buf[l4]!;
      out.icmpCode = buf[l4 + 1]!;
      out.l4HeaderLen = ICMP_HEADER_LEN;
      out.payloadOff = l4 + ICMP_HEADER_LEN;
      out.payloadLen = l4Len - ICMP_HEADER_LEN;
      return PARSE_OK;
  }
  out.payloadOff = l4;
  out.payloadLen = l4Len;
  return PARSE_OK;
}

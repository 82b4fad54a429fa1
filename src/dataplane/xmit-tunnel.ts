import type { IpAddr } from "../core/address.js";
import { writeMac } from "../net/ethernet.js";
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED } from "../net/icmp.js";
import { ICMPV6_PACKET_TOO_BIG } from "../net/icmpv6.js";
import { IPV4_MIN_MTU, IPV6_MIN_MTU } from "../net/ip.js";
import { IP6_TUNNEL_OVERHEAD, ip6TunnelEncapsulate } from "../net/ip6-tunnel.js";
import { IPIP_OVERHEAD, ipipEncapsulate } from "../net/ipip.js";
import type { ParsedFrame } from "../net/parse.js";
import { decrementTtl, RW_OK, RW_TTL_EXPIRED } from "../net/rewrite.js";
import { sendIcmpToSender, sendIcmpv6ToSender } from "./icmp-to-sender.js";
import type { NextHop } from "./next-hops.js";
import type { XmitEnv } from "./xmit-env.js";

/** What the tunnel transmitter counts (the engine's counters carry these fields). */
export interface TunnelCounters {
  /** Packets sent to a real server inside an outer IPv4 or IPv6 header. */
  tunnelled: number;
  /**
   * Packets refused because they no longer fit once encapsulated, their sender told: ICMP
   * fragmentation needed (IPv4 with DF) or ICMPv6 Packet Too Big (IPv6).
   */
  fragNeeded: number;
  /**
   * Packets too big once encapsulated that cannot be answered with a smaller MTU: IPv4 without DF
   * (outer fragmentation is not done), or a route whose MTU leaves less than the family's minimum
   * inside the tunnel (68 in IPv4, 1280 in IPv6). Dropped.
   */
  tooBig: number;
  /** Frames without the 20/40 bytes of headroom the outer header needs (never with AF_XDP's 256). */
  noHeadroom: number;
  noRoute: number;
  ttlExpired: number;
}

/**
 * LVS-TUN (kernel ip_vs_tunnel_xmit and ip_vs_tunnel_xmit_v6, spec §7.3/§7.4): the client's IP packet,
 * its TTL / hop limit decremented, goes unchanged inside an outer header from the director's own
 * address toward the real server (the route's preferred source) to the real server, sent by the
 * routing table (the real server may sit behind a gateway). The outer family is the real server's, so
 * an IPv4 service may have IPv6 real servers and the reverse (mixed families, allowed for tunnel dests).
 *
 * - IPv4 outer (RFC 2003 / 4213): protocol 4 or 41, TTL = inner TTL, TOS from the inner with ECN
 *   encapsulation, DF copied from an IPv4 inner packet (pmtu_disc=1; 0 for IPv6 inside), fresh id.
 * - IPv6 outer (RFC 2473): next header 4 or 41, hop limit = inner TTL / hop limit, traffic class from
 *   the inner with ECN encapsulation, flow label 0, payload length = the inner packet's length.
 *
 * A packet that does not fit the path MTU once encapsulated is dropped and its sender told, from the
 * address it was sent to (the VIP), the MTU it must use (path MTU - 20 or - 40): ICMP fragmentation
 * needed for IPv4 with DF, ICMPv6 Packet Too Big for IPv6. The kernel drops without a word when the
 * route leaves less than 68 (IPv4 outer) or 1280 (IPv6 outer) bytes inside, and so does this.
 *
 * Works in place: the outer header goes into the headroom in front of the received frame.
 */
export class TunnelXmit {
  constructor(
    private readonly env: XmitEnv,
    private readonly counters: TunnelCounters,
  ) {}

  /** Sends the frame to real server `rs`; true when it was queued (it then belongs to the TX ring). */
  send(bytes: Uint8Array, f: ParsedFrame, rs: IpAddr): boolean {
    const outer6 = rs.family === 6;
    const hop = outer6 ? this.env.nextHops.get6(rs.words, 0) : this.env.nextHops.get(rs.v4Value);
    if (!hop || (outer6 ? hop.src6 === undefined : hop.srcV4 === 0)) {
      this.counters.noRoute++;
      return false;
    }
    const innerMtu = hop.mtu - (outer6 ? IP6_TUNNEL_OVERHEAD : IPIP_OVERHEAD);
    if (innerMtu < (outer6 ? IPV6_MIN_MTU : IPV4_MIN_MTU)) {
      this.counters.tooBig++;
      return false;
    }
    if (f.ipLen > innerMtu) {
      this.refuseTooBig(bytes, f, innerMtu);
      return false;
    }
    const rc = decrementTtl(bytes, f);
    if (rc !== RW_OK) {
      if (rc === RW_TTL_EXPIRED) this.counters.ttlExpired++;
      else this.counters.noRoute++;
      return false;
    }
    const slotStart = f.frameOff - (f.frameOff % this.env.umem.frameSize);
    const l2Len = f.l3Off - f.frameOff;
    const off = outer6
      ? ip6TunnelEncapsulate(bytes, f, slotStart, hop.src6!, 0, rs.words, 0)
      : ipipEncapsulate(bytes, f, slotStart, hop.srcV4, rs.v4Value, this.env.nextIpId(), true);
    if (off < 0) {
      this.counters.noHeadroom++;
      return false;
    }
    return this.transmit(bytes, hop, off, l2Len + f.ipLen + (outer6 ? IP6_TUNNEL_OVERHEAD : IPIP_OVERHEAD));
  }

  /** The packet does not fit once encapsulated: tell its sender the MTU, from the VIP it sent to. */
  private refuseTooBig(bytes: Uint8Array, f: ParsedFrame, innerMtu: number): void {
    if (f.family === 6) {
      sendIcmpv6ToSender(this.env, bytes, f, ICMPV6_PACKET_TOO_BIG, 0, innerMtu, f.daddr, 0);
      this.counters.fragNeeded++;
    } else if (f.dontFragment) {
      sendIcmpToSender(this.env, bytes, f, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, innerMtu, f.daddr[0]!);
      this.counters.fragNeeded++;
    } else {
      this.counters.tooBig++;
    }
  }

  private transmit(bytes: Uint8Array, hop: NextHop, off: number, len: number): boolean {
    writeMac(bytes, off, hop.dstMac);
    writeMac(bytes, off + 6, hop.srcMac);
    if (!this.env.transmit(hop.ifindex, off, len)) return false;
    this.counters.tunnelled++;
    return true;
  }
}

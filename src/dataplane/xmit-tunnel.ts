import type { IpAddr } from "../core/address.js";
import { get32 } from "../net/bytes.js";
import { writeMac } from "../net/ethernet.js";
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED } from "../net/icmp.js";
import { ICMPV6_PACKET_TOO_BIG } from "../net/icmpv6.js";
import { IPV4_MIN_MTU, IPV6_MIN_MTU } from "../net/ip.js";
import { IP6_TUNNEL_OVERHEAD, ip6TunnelEncapsulate } from "../net/ip6-tunnel.js";
import { IPIP_OVERHEAD, ipipEncapsulate } from "../net/ipip.js";
import { IPV4_DST_OFF, IPV4_HEADER_LEN } from "../net/ipv4.js";
import { fragmentCount, writeFragment } from "../net/ipv4-fragment.js";
import type { ParsedFrame } from "../net/parse.js";
import { decrementTtl, RW_OK, RW_TTL_EXPIRED } from "../net/rewrite.js";
import {
  encapChecksum,
  encapHeaderLen,
  encapKind,
  gueSourcePort,
  TUN_GUE,
  TUN_IPIP,
  type TunnelEncap,
} from "../net/tunnel-encap.js";
import { sendIcmpAbout, sendIcmpToSender, sendIcmpv6ToSender } from "./icmp-to-sender.js";
import type { NextHop } from "./next-hops.js";
import type { PathMtuCache } from "./path-mtu.js";
import type { XmitEnv } from "./xmit-env.js";

/** Extra frames one tunnel packet may be split into (a UMEM frame holds ~2 KiB; MTUs are >= 576). */
const MAX_FRAGMENTS = 7;

/** A real server's tunnel settings as the director stores them (core Dest's tun-type/port/csum). */
export interface TunnelSettings {
  tunType: string;
  tunPort: number;
  tunCsum: string;
}

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
   * Packets too big that could not be sent at all: not even as fragments (no frames), IPv4 without DF
   * in an IPv6 tunnel (the outer IPv6 packet is not fragmented), or a route whose MTU leaves less than
   * the family's minimum inside the tunnel (68 in IPv4, 1280 in IPv6). Dropped.
   */
  tooBig: number;
  /** Packets without DF too big once encapsulated, sent as outer fragments. */
  fragmented: number;
  /** Frames without the 20/40 bytes of headroom the outer header needs (never with AF_XDP's 256). */
  noHeadroom: number;
  noRoute: number;
  ttlExpired: number;
  /** ICMP errors from routers about tunnel packets, relayed to the client (kernel ip_vs_in_icmp). */
  tunnelErrorsRelayed: number;
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
 * needed for IPv4 with DF, ICMPv6 Packet Too Big for IPv6. IPv4 without DF goes out as outer
 * fragments in an IPv4 tunnel (not in an IPv6 one: dropped). The kernel drops without a word when the
 * route leaves less than 68 (IPv4 outer) or 1280 (IPv6 outer) bytes inside, and so does this. The path
 * MTU toward an IPv4 real server is the route's, or lower when a router beyond it said so
 * (relayError); toward an IPv6 one, the route's.
 *
 * A real server configured `--tun-type gue` or `gre` gets a UDP + GUE or a GRE header between the
 * outer header and the inner packet (tunnel-encap.ts; the kernel's ipvs_gue_encap / ipvs_gre_encap),
 * read from the dest at each packet as the kernel reads cp->dest->tun_type; the MTU arithmetic above
 * then counts those bytes too (20 + 12 for GUE, 20 + 4 or 8 for GRE in IPv4).
 *
 * Works in place: the outer header goes into the headroom in front of the received frame.
 */
export class TunnelXmit {
  constructor(
    private readonly env: XmitEnv,
    private readonly counters: TunnelCounters,
    private readonly pathMtu: PathMtuCache,
  ) {}

  /** The next hop of the last frame `send` queued (the fast path installs the flow with it). */
  lastHop: NextHop | null = null;

  /** The encapsulation of the packet being sent (filled per packet from the dest: no allocation). */
  private readonly encap: TunnelEncap = { kind: TUN_IPIP, port: 0, csum: false };

  /**
   * Sends the frame to real server `rs` (IPIP unless `tun` says GUE or GRE); true when it was queued
   * (it then belongs to the TX ring).
   */
  send(bytes: Uint8Array, f: ParsedFrame, rs: IpAddr, tun?: TunnelSettings): boolean {
    this.lastHop = null;
    const e = this.encap;
    e.kind = tun ? encapKind(tun.tunType) : TUN_IPIP;
    e.port = tun ? tun.tunPort : 0;
    e.csum = tun ? encapChecksum(tun.tunType, tun.tunCsum) : false;
    const outer6 = rs.family === 6;
    const hop = outer6 ? this.env.nextHops.get6(rs.words, 0) : this.env.nextHops.get(rs.v4Value);
    if (!hop || (outer6 ? hop.src6 === undefined : hop.srcV4 === 0)) {
      this.counters.noRoute++;
      return false;
    }
    const overhead = (outer6 ? IP6_TUNNEL_OVERHEAD : IPIP_OVERHEAD) + encapHeaderLen(e.kind, e.csum);
    const innerMtu = (outer6 ? hop.mtu : this.pathMtu.get(rs.v4Value, hop.mtu)) - overhead;
    if (innerMtu < (outer6 ? IPV6_MIN_MTU : IPV4_MIN_MTU)) {
      this.counters.tooBig++;
      return false;
    }
    // Too big once encapsulated: a client doing path MTU discovery (IPv6, or IPv4 with DF) is told;
    // IPv4 without DF goes out as outer fragments, as the kernel's output does (ip_fragment).
    const fragment = f.ipLen > innerMtu;
    if (fragment && (f.family === 6 || f.dontFragment || outer6)) {
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
    // IPv4 outer id: 0 for an atomic datagram (DF, RFC 6864), as the kernel writes it without a socket.
    const encap = e.kind === TUN_IPIP ? null : e;
    const sport =
      e.kind === TUN_GUE
        ? gueSourcePort(f.saddr, f.daddr, f.family === 4 ? 1 : 4, f.sport, f.dport, f.protocol)
        : 0;
    const off = outer6
      ? ip6TunnelEncapsulate(bytes, f, slotStart, hop.src6!, 0, rs.words, 0, encap, sport)
      : ipipEncapsulate(
          bytes,
          f,
          slotStart,
          hop.srcV4,
          rs.v4Value,
          f.family === 4 && f.dontFragment ? 0 : this.env.nextIpId(),
          true,
          encap,
          sport,
        );
    if (off < 0) {
      this.counters.noHeadroom++;
      return false;
    }
    writeMac(bytes, off, hop.dstMac);
    writeMac(bytes, off + 6, hop.srcMac);
    if (fragment)
      return this.sendFragments(bytes, off, l2Len, f.ipLen + overhead, innerMtu + overhead, hop.ifindex);
    if (!this.env.transmit(hop.ifindex, off, l2Len + f.ipLen + overhead)) return false;
    this.counters.tunnelled++;
    this.lastHop = hop;
    return true;
  }

  /**
   * The packet does not fit once encapsulated and may not be fragmented: tell its sender the MTU,
   * from the VIP it sent to (IPv6: Packet Too Big; IPv4 with DF: fragmentation needed). IPv4 without
   * DF reaches here only for an IPv6 tunnel, whose outer packet is not fragmented: dropped.
   */
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

  private readonly fragFrames = new Int32Array(MAX_FRAGMENTS);

  /**
   * Sends the outer packet at bytes[frameOff + l2Len..] (`ipLen` bytes, link header in front) as
   * fragments of at most `mtu` bytes: the first in place, the others in fresh UMEM frames with a
   * copy of the link header. Nothing is sent unless every frame could be had.
   */
  private sendFragments(
    bytes: Uint8Array,
    frameOff: number,
    l2Len: number,
    ipLen: number,
    mtu: number,
    ifindex: number,
  ): boolean {
    const ip = frameOff + l2Len;
    const n = fragmentCount(ipLen, IPV4_HEADER_LEN, mtu);
    if (n < 2 || n > MAX_FRAGMENTS + 1) {
      this.counters.tooBig++;
      return false;
    }
    const frames = this.fragFrames;
    for (let k = 1; k < n; k++) {
      const a = this.env.umem.alloc();
      if (a < 0) {
        for (let j = 1; j < k; j++) this.env.umem.free(frames[j - 1]!);
        this.counters.tooBig++;
        return false;
      }
      frames[k - 1] = a;
      bytes.copyWithin(a, frameOff, ip);
    }
    const lens = this.fragLens;
    for (let k = n - 1; k >= 0; k--) {
      const at = k === 0 ? ip : frames[k - 1]! + l2Len;
      lens[k] = l2Len + writeFragment(bytes, ip, ipLen, mtu, k, bytes, at);
    }
    const first = this.env.transmit(ifindex, frameOff, lens[0]!);
    let all = first;
    for (let k = 1; k < n; k++) {
      if (first && this.env.transmit(ifindex, frames[k - 1]!, lens[k]!)) continue;
      this.env.umem.free(frames[k - 1]!);
      all = false;
    }
    if (!first) return false;
    if (all) {
      this.counters.tunnelled++;
      this.counters.fragmented++;
    } else this.counters.tooBig++;
    return true;
  }

  private readonly fragLens = new Int32Array(MAX_FRAGMENTS + 1);

  /**
   * A router's ICMP error about a tunnel packet this director sent toward `rsV4` (kernel
   * ip_vs_in_icmp, "errors for our IPIP"): `type`/`code`/`rest` are the router's, the client's
   * original packet is quoted at bytes[innerOff..innerEnd) (inside the quoted outer header).
   * Fragmentation needed lowers the path MTU toward the RS; a client that does path MTU discovery
   * (DF set) is then told the tunnel's inner MTU, any other error is passed on as it came. The
   * client hears it from the address it sent to (the VIP). Returns true when an error was sent.
   */
  relayError(
    bytes: Uint8Array,
    innerOff: number,
    innerEnd: number,
    rsV4: number,
    type: number,
    code: number,
    rest: number,
  ): boolean {
    const hop = this.env.nextHops.get(rsV4);
    let info = rest;
    if (type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED) {
      if (hop) this.pathMtu.learn(rsV4, rest & 0xffff, hop.mtu);
      const df = (bytes[innerOff + 6]! & 0x40) !== 0;
      if (!df) return false;
      let mtu = hop ? this.pathMtu.get(rsV4, hop.mtu) : rest & 0xffff;
      if (mtu > IPV4_MIN_MTU + IPIP_OVERHEAD) mtu -= IPIP_OVERHEAD;
      info = mtu;
    }
    const vip = get32(bytes, innerOff + IPV4_DST_OFF);
    if (!sendIcmpAbout(this.env, bytes, innerOff, innerEnd - innerOff, type, code, info, vip)) return false;
    this.counters.tunnelErrorsRelayed++;
    return true;
  }
}

import { writeMac } from "../net/ethernet.js";
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED } from "../net/icmp.js";
import { IPIP_OVERHEAD, ipipEncapsulate } from "../net/ipip.js";
import type { ParsedFrame } from "../net/parse.js";
import { decrementTtl, RW_OK, RW_TTL_EXPIRED } from "../net/rewrite.js";
import { sendIcmpToSender } from "./icmp-to-sender.js";
import type { NextHop } from "./next-hops.js";
import type { XmitEnv } from "./xmit-env.js";

/** The smallest IPv4 MTU (RFC 791); a tunnel whose inner MTU falls below it is unusable. */
const IPV4_MIN_MTU = 68;

/** What the tunnel transmitter counts (the engine's counters carry these fields). */
export interface TunnelCounters {
  /** Packets sent to a real server in IPIP. */
  tunnelled: number;
  /** Packets refused with ICMP fragmentation needed (DF set, too big once encapsulated). */
  fragNeeded: number;
  /** Packets too big once encapsulated without DF (outer fragmentation is not done: dropped). */
  tooBig: number;
  /** Frames without the 20 bytes of headroom the outer header needs (never with AF_XDP's 256). */
  noHeadroom: number;
  noRoute: number;
  ttlExpired: number;
}

/**
 * LVS-TUN (kernel ip_vs_tunnel_xmit, spec §7.3/§7.4): the client's IP packet, its TTL decremented,
 * goes unchanged inside an outer IPv4 header (protocol 4) from the director's own address toward the
 * real server (the route's preferred source) to the real server, sent by the routing table (the real
 * server may sit behind a gateway). Outer TTL = inner TTL, TOS copied with ECN encapsulation, DF copied
 * from the inner header (pmtu_disc=1), fresh identification. A packet with DF that does not fit the
 * path MTU once encapsulated is dropped and its sender told, from the address it was sent to, the MTU
 * it must use (path MTU - 20).
 *
 * Works in place: the outer header goes into the headroom in front of the received frame.
 */
export class TunnelXmit {
  constructor(
    private readonly env: XmitEnv,
    private readonly counters: TunnelCounters,
  ) {}

  /** The next hop of the last frame `send` queued (the fast path installs the flow with it). */
  lastHop: NextHop | null = null;

  /** Returns true when the frame was queued (it then belongs to the TX ring). */
  send(bytes: Uint8Array, f: ParsedFrame, rsV4: number): boolean {
    this.lastHop = null;
    const hop = this.env.nextHops.get(rsV4);
    if (!hop || hop.srcV4 === 0) {
      this.counters.noRoute++;
      return false;
    }
    const innerMtu = hop.mtu - IPIP_OVERHEAD;
    if (innerMtu < IPV4_MIN_MTU) {
      this.counters.tooBig++;
      return false;
    }
    if (f.ipLen > innerMtu) {
      if (f.dontFragment) {
        // The VIP the client sent to is what the kernel answers from (the route is local).
        sendIcmpToSender(this.env, bytes, f, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, innerMtu, f.daddr[0]!);
        this.counters.fragNeeded++;
      } else {
        this.counters.tooBig++;
      }
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
    const id = f.dontFragment ? 0 : this.env.nextIpId();
    const off = ipipEncapsulate(bytes, f, slotStart, hop.srcV4, rsV4, id, true);
    if (off < 0) {
      this.counters.noHeadroom++;
      return false;
    }
    writeMac(bytes, off, hop.dstMac);
    writeMac(bytes, off + 6, hop.srcMac);
    if (!this.env.transmit(hop.ifindex, off, l2Len + f.ipLen + IPIP_OVERHEAD)) return false;
    this.counters.tunnelled++;
    this.lastHop = hop;
    return true;
  }
}

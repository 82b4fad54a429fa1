import { TCP_ACK, TCP_SYN } from "../core/flow.js";
import { writeMac } from "../net/ethernet.js";
import type { ParsedFrame } from "../net/parse.js";
import { fullnatInbound, fullnatOutbound, RW_OK, RW_TTL_EXPIRED } from "../net/rewrite.js";
import { tcpClampMss, tcpMss } from "../net/tcp.js";
import { insertToa, toaLength } from "../net/toa.js";
import type { NextHop } from "./next-hops.js";
import type { XmitEnv } from "./xmit-env.js";

/** What the FULLNAT transmitter counts (the engine's counters carry these fields). */
export interface FullnatCounters {
  fullnatIn: number;
  fullnatOut: number;
  /** TOA options inserted, and first acknowledgements that had no room for one. */
  toaInserted: number;
  toaNoRoom: number;
  noRoute: number;
  ttlExpired: number;
  rewriteFailed: number;
}

/** Per-connection TOA progress. */
const TOA_NONE = 0;
const TOA_SYNACK_SEEN = 1;
const TOA_DONE = 2;

/**
 * FULLNAT (DPVS's ip_vs_xmit.c, spec §7.6): toward the real server the packet's source becomes
 * LIP:lport and its destination RIP:rport; the real server's reply, addressed to LIP:lport, leaves as
 * VIP:vport -> CIP:cport. Both go by the routing table toward their new destination. TCP sequence
 * numbers are left alone.
 *
 * TOA (switched per service): the client's address and port ride to the real server in a TCP option
 * (kind 254, 8 bytes) inserted into the first packet that acknowledges the real server's SYN-ACK; the
 * SYN-ACK's MSS is lowered by the option's size on its way to the client, so that packet still fits.
 * IPv4 and IPv6 alike (DPVS's IPv6 TOA: 20 bytes, the client's IPv6 address).
 */
export class FullnatXmit {
  /** TOA progress by connection index (reset when a packet creates the connection). */
  private readonly toa: Uint8Array;

  constructor(
    private readonly env: XmitEnv,
    private readonly counters: FullnatCounters,
    connCapacity: number,
  ) {
    this.toa = new Uint8Array(connCapacity);
  }

  /**
   * The next hop of the last frame `send` queued, for the fast path to install the flow with; null
   * while the conn's TOA option is still to be inserted into an inbound packet (which only the slow
   * path does), so that no later packet of it skips the insertion.
   */
  lastHop: NextHop | null = null;

  /**
   * `conn` and `isNew` from the verdict; `withToa` when the connection's service has TOA on. Returns
   * true when the frame was queued (it then belongs to the TX ring) or held for its next hop.
   */
  send(
    bytes: Uint8Array,
    f: ParsedFrame,
    inbound: boolean,
    conn: number,
    isNew: boolean,
    withToa: boolean,
    srcAddr: Uint32Array,
    srcPort: number,
    dstAddr: Uint32Array,
    dstPort: number,
  ): boolean {
    this.lastHop = null;
    const v6 = f.family === 6;
    const hop = v6 ? this.env.nextHops.get6(dstAddr, 0) : this.env.nextHops.get(dstAddr[0]!);
    const known = conn >= 0 && conn < this.toa.length;
    const toaStep = withToa && f.protocol === 6 && known;
    if (known && isNew) this.toa[conn] = TOA_NONE;
    // The client's address and port, before the rewrite replaces them.
    if (toaStep && inbound) this.client.set(f.saddr);
    const cPort = f.sport;
    const rc = inbound
      ? fullnatInbound(bytes, f, srcAddr, 0, srcPort, dstAddr, 0, dstPort)
      : fullnatOutbound(bytes, f, srcAddr, 0, srcPort, dstAddr, 0, dstPort);
    if (rc !== RW_OK) {
      if (rc === RW_TTL_EXPIRED) this.counters.ttlExpired++;
      else this.counters.rewriteFailed++;
      return false;
    }
    if (!hop) {
      // The next hop's MAC is being resolved (a new real server's first SYN): hold the rewritten
      // frame rather than drop it. TOA goes on a later ACK, when the real server has answered.
      const key = v6 ? this.env.nextHops.key6(dstAddr, 0) : dstAddr[0]!;
      if (key >= 0 && this.env.hold(f.frameOff, f.frameLen, key)) return true;
      this.counters.noRoute++;
      return false;
    }
    if (toaStep) this.toaStep(bytes, f, inbound, conn, cPort, hop.mtu);
    writeMac(bytes, f.frameOff, hop.dstMac);
    writeMac(bytes, f.frameOff + 6, hop.srcMac);
    if (!this.env.transmit(hop.ifindex, f.frameOff, f.frameLen)) return false;
    if (inbound) this.counters.fullnatIn++;
    else this.counters.fullnatOut++;
    if (!inbound || !known || this.toa[conn] !== TOA_SYNACK_SEEN) this.lastHop = hop;
    return true;
  }

  /** The client's address words (inbound packets), kept across the rewrite for TOA. */
  private readonly client = new Uint32Array(4);

  private toaStep(
    bytes: Uint8Array,
    f: ParsedFrame,
    inbound: boolean,
    conn: number,
    cPort: number,
    mtu: number,
  ): void {
    const flags = f.tcpFlags;
    const family = f.family === 6 ? 6 : 4;
    const toaLen = toaLength(family);
    if (!inbound) {
      if ((flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK) && this.toa[conn] !== TOA_DONE) {
        // The client then sizes its segments so that the option still fits (DPVS lowers it the same).
        const mss = tcpMss(bytes, f.l4Off);
        if (mss > toaLen) tcpClampMss(bytes, f.l4Off, mss - toaLen);
        this.toa[conn] = TOA_SYNACK_SEEN;
      }
      return;
    }
    if (this.toa[conn] !== TOA_SYNACK_SEEN || flags & TCP_SYN || !(flags & TCP_ACK)) return;
    if (f.ipLen + toaLen > mtu) {
      this.counters.toaNoRoom++;
      return;
    }
    const slotEnd = f.frameOff - (f.frameOff % this.env.umem.frameSize) + this.env.umem.frameSize;
    if (insertToa(bytes, f, slotEnd, family, this.client, 0, cPort) < 0) {
      this.counters.toaNoRoom++;
      return;
    }
    this.toa[conn] = TOA_DONE;
    this.counters.toaInserted++;
  }
}

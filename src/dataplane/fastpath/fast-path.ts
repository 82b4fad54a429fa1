/**
 * The XDP fast path as the packet engine uses it: its maps (loaded into every interface's steering
 * program), the offload that fills and reads them, and the check that a flow's redirect can work in
 * the attach mode of its ingress interface. See docs/decisions/0450-xdp-fast-path.md.
 */
import { CONN_F_FULLNAT, CONN_F_FWD_MASK, CONN_F_MASQ } from "../../core/conn-table.js";
import type { Director } from "../../core/director.js";
import { FlowPacket } from "../../core/flow.js";
import { Verdict } from "../../core/verdict.js";
import type { NextHop, NextHopCache } from "../next-hops.js";
import { FastPathMaps } from "./flow-maps.js";
import { FlowOffload } from "./flow-offload.js";
import { XdpFeatureProbe } from "./xdp-features.js";

/** What the fast path needs to know about a served interface. */
export interface PortInfo {
  /** Where the steering program (and so the fast path) runs on this interface. */
  mode: "generic" | "native" | "tc";
  mtu: number;
}

interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export class FastPath {
  readonly offload: FlowOffload;
  /** Egress ifindex -> can take native XDP redirects (NETDEV_XDP_ACT_NDO_XMIT). */
  private readonly xmit = new Map<number, boolean>();
  private probe: XdpFeatureProbe | null = null;
  /** Served interfaces as last seen (attach modes do not change; MTUs are re-read with the host state). */
  private readonly ports = new Map<number, PortInfo | undefined>();
  /** The reply direction of a NAT/FULLNAT conn, built from its inbound packet (offerReply). */
  private readonly replyPkt = new FlowPacket();
  private readonly replyVerdict = new Verdict();

  private constructor(
    private readonly director: Director,
    readonly maps: FastPathMaps,
    private readonly readPort: (ifindex: number) => PortInfo | undefined,
    now: () => number,
    private readonly hopTo: ((addrV4: number) => NextHop | null) | null,
  ) {
    this.offload = new FlowOffload(director, maps, {
      now,
      canRedirect: (inIf, outIf) => this.canRedirect(inIf, outIf),
    });
    try {
      this.probe = new XdpFeatureProbe();
    } catch {
      this.probe = null; // no netlink: native-mode flows stay on the slow path
    }
  }

  /**
   * `hopTo`: the resolved next hop toward an IPv4 address (the engine's NextHopCache.get), with
   * which a NAT/FULLNAT conn's reply direction is installed together with its inbound one.
   */
  static start(
    director: Director,
    now: () => number,
    port: (ifindex: number) => PortInfo | undefined,
    hopTo: ((addrV4: number) => NextHop | null) | null = null,
  ): FastPath {
    const fp = new FastPath(director, FastPathMaps.create(), port, now, hopTo);
    director.connEvents = fp.offload;
    return fp;
  }

  private port(ifindex: number): PortInfo | undefined {
    if (this.ports.has(ifindex)) return this.ports.get(ifindex);
    const p = this.readPort(ifindex);
    this.ports.set(ifindex, p);
    return p;
  }

  /**
   * Generic XDP and TC redirect through the normal transmit path (any egress); native XDP needs an
   * egress driver that transmits XDP frames (for veth: a peer with NAPI).
   */
  canRedirect(inIfindex: number, outIfindex: number): boolean {
    const ingress = this.port(inIfindex);
    if (!ingress || !this.port(outIfindex)) return false;
    if (ingress.mode !== "native") return true;
    let ok = this.xmit.get(outIfindex);
    if (ok === undefined) {
      ok = this.probeXmit(outIfindex);
      this.xmit.set(outIfindex, ok);
    }
    return ok;
  }

  private probeXmit(ifindex: number): boolean {
    try {
      return this.probe?.canTransmitXdp(ifindex) ?? false;
    } catch {
      return false;
    }
  }

  /** Engine hook after the slow path forwarded a packet (see FlowOffload.offer). */
  offer(pkt: FlowPacket, v: Verdict, inbound: boolean, hop: NextHop, inIfindex: number, inMac: number): void {
    const out = this.port(hop.ifindex);
    if (!out) return;
    this.offload.offer(pkt, v, inbound, hop, inIfindex, inMac, out.mtu);
    if (inbound) this.offerReply(pkt, v, hop);
  }

  /**
   * NAT and FULLNAT: the reply direction is installed with the inbound one, before the real server
   * sends anything more. Its first data would otherwise take the slow path — and when the real
   * server's TSO or GRO makes that a 64 KiB aggregate, the slow path cannot take it (a UMEM frame
   * holds 2 KiB) and the kernel drops it, so every such connection would wait for a retransmit.
   * The reply arrives where the inbound packet left (`hop`: its interface and MAC), from the real
   * server's side of the tuple to the director's (NAT: the client; FULLNAT: the local address),
   * and leaves rewritten to VIP:vport -> client:cport toward the client's next hop. Offered like
   * any packet: FlowOffload takes it only for an ESTABLISHED conn, once per direction.
   */
  private offerReply(pkt: FlowPacket, v: Verdict, hop: NextHop): void {
    if (this.hopTo === null || v.conn < 0 || pkt.family !== 4 || v.family !== 4) return;
    const fwd = this.director.conns.flags[v.conn]! & CONN_F_FWD_MASK;
    if (fwd !== CONN_F_MASQ && fwd !== CONN_F_FULLNAT) return;
    const back = this.hopTo(pkt.saddr[0]!);
    if (back === null) return;
    const out = this.port(back.ifindex);
    if (!out) return;
    const r = this.replyPkt;
    r.setV4(pkt.protocol, v.dstAddr[0]!, v.dstPort, v.srcAddr[0]!, v.srcPort);
    const rv = this.replyVerdict.reset();
    rv.conn = v.conn;
    rv.fwd = v.fwd;
    rv.dest = v.dest;
    rv.family = 4;
    rv.srcAddr[0] = pkt.daddr[0]!;
    rv.srcPort = pkt.dport;
    rv.dstAddr[0] = pkt.saddr[0]!;
    rv.dstPort = pkt.sport;
    this.offload.offer(r, rv, false, back, hop.ifindex, hop.srcMac, out.mtu);
  }

  /** Engine hook after routes, neighbours and interfaces were re-read. */
  hostStateChanged(nextHops: NextHopCache): void {
    this.ports.clear();
    let lost = false;
    for (const [ifindex, was] of this.xmit) {
      const now = this.probeXmit(ifindex);
      if (was && !now) lost = true;
      this.xmit.set(ifindex, now);
    }
    if (lost) this.offload.withdrawAll();
    this.offload.nextHopsChanged(
      (a) => nextHops.get(a),
      (w, at) => nextHops.get6(w, at),
    );
  }

  stop(log: Log): void {
    if (this.director.connEvents === this.offload) this.director.connEvents = null;
    try {
      log.info(
        { fastPath: { ...this.offload.counters, program: this.maps.counters() } },
        "fast path stopped",
      );
    } catch (e) {
      log.warn({ err: String(e) }, "could not read the fast path's counters");
    }
    this.offload.close();
    this.maps.close();
    this.probe?.close();
  }
}

/**
 * The control side of the XDP fast path: which connections are offloaded to `tslvs_flows`, and how
 * what the program forwards gets back into the director (the IPVS core).
 *
 * - install: the engine calls `offer()` for every packet the slow path forwards. A direction of a
 *   conn is offloaded the first time a packet of it is forwarded while the conn is ESTABLISHED
 *   (TCP) or live (UDP); the check is two typed-array reads, and the map update is staged and
 *   written with one BPF_MAP_UPDATE_BATCH per engine round (`flush()`).
 * - removal: as the director's `ConnEvents` observer, a conn leaving ESTABLISHED or being freed
 *   loses its entries at once (BPF_MAP_LOOKUP_AND_DELETE_ELEM, whose counters are credited), so the
 *   state machine sees the FIN/RST and everything after it, and a reused conn index never meets a
 *   stale entry. Rule changes (`revalidate()`) drop flows whose real server became unavailable (the
 *   director then decides: drop, or expire_nodest_conn), and changed next hops drop theirs.
 * - credit: `beforeExpiry()` (the start of every director tick, before due conns expire) reads the
 *   whole map with BPF_MAP_LOOKUP_BATCH and credits the packets and bytes forwarded since the last
 *   read to the conn's dest, service and totals, and re-arms the conn's idle timer from the flow's
 *   last-seen time — so `-ln --stats`, `--rate` and the timeouts stay what the kernel would show.
 *
 * IPv4 NAT (masq), DR, FULLNAT (both directions) and TUN (inbound: its replies do not pass the
 * director) conns are offloaded, and IPv6 NAT, DR and FULLNAT ones (tslvs_flows6); LVS-TUN over
 * IPv6 and everything else stay on the slow path. FULLNAT's packet
 * that carries the TOA option is the slow path's: the slow path offers a FULLNAT conn only once
 * the option is in (docs/decisions/0750-xdp-fullnat-tun.md).
 */
import {
  CONN_F_DROUTE,
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_MASQ,
  CONN_F_TEMPLATE,
  CONN_F_TUNNEL,
} from "../../core/conn-table.js";
import { CONN_EVENT_FREED, type ConnEvents, type Director } from "../../core/director.js";
import { type FlowPacket, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "../../core/flow.js";
import { SCTP_S_ESTABLISHED } from "../../core/sctp-state.js";
import { TCP_S_ESTABLISHED } from "../../core/tcp-state.js";
import type { Verdict } from "../../core/verdict.js";
import { IPIP_OVERHEAD } from "../../net/ipip.js";
import {
  encapChecksum,
  encapHeaderLen,
  encapKind,
  gueSourcePort,
  TUN_GUE,
  TUN_IPIP,
} from "../../net/tunnel-encap.js";

/** A real server's tunnel settings as one number, to tell whether they changed. */
function encapSignature(tunType: string, tunPort: number, tunCsum: string): number {
  return encapKind(tunType) + 4 * (encapChecksum(tunType, tunCsum) ? 1 : 0) + 8 * tunPort;
}

import { MapBatch, mapLookupAll, mapLookupAndDelete, mapUpdate, mapUpdateBatch } from "../../platform/bpf.js";
import type { NextHop } from "../next-hops.js";
import {
  encodeFlow,
  encodeFlowKey,
  FLOW_DIR_IN,
  FLOW_DIR_OUT,
  FLOW_KEY_SIZE,
  FLOW_VALUE_SIZE,
  type FlowSpec,
  FV_BYTES,
  FV_CONN,
  FV_DIR,
  FV_LAST_SEEN,
  FV_PACKETS,
  readCounter,
  readU32le,
} from "./flow-layout.js";
import {
  encodeFlow6,
  encodeFlow6Key,
  FLOW6_KEY_SIZE,
  FLOW6_VALUE_SIZE,
  type Flow6Spec,
} from "./flow-layout-ipv6.js";
import type { FastPathMaps } from "./flow-maps.js";

/** Per-conn state bits: installed in the map / staged for the next flush, per direction. */
const IN_INSTALLED = 1;
const OUT_INSTALLED = 2;
const IN_STAGED = 4;
const OUT_STAGED = 8;
/** The egress cannot take this direction's XDP redirects: not offered again for this conn. */
const IN_NOT_REDIRECTABLE = 16;
const OUT_NOT_REDIRECTABLE = 32;
const IN_BITS = IN_INSTALLED | IN_STAGED | IN_NOT_REDIRECTABLE;
const OUT_BITS = OUT_INSTALLED | OUT_STAGED | OUT_NOT_REDIRECTABLE;

const STAGE_CAPACITY = 256;
/** The smallest IPv4 MTU: a tunnel whose inner MTU is below it sends nothing (xmit-tunnel.ts). */
const IPV4_MIN_MTU = 68;
/** The smallest IPv6 link MTU (RFC 8200), and the IPv6 header (an IPv6 tunnel's outer header). */
const IPV6_MIN_MTU = 1280;
const IPV6_HLEN = 40;
const READ_BATCH = 1024;

export interface FlowOffloadOptions {
  /** Seconds, as the director's clock (the engine's `now`). */
  now: () => number;
  /** Nanoseconds of CLOCK_MONOTONIC, the clock of bpf_ktime_get_coarse_ns (default process.hrtime). */
  monotonicNs?: () => bigint;
  /**
   * May a frame received on `inIfindex` be redirected out of `outIfindex` in XDP? (Generic XDP: yes;
   * native: only to a driver that can transmit XDP frames.) Flows that cannot are not offloaded.
   */
  canRedirect: (inIfindex: number, outIfindex: number) => boolean;
}

/** What the offload did, for logs and tests. */
export class FlowOffloadCounters {
  /** Flow entries written (one per direction of a conn). */
  installed = 0;
  /** Entries removed (conn left ESTABLISHED, freed, dest unavailable, next hop changed). */
  removed = 0;
  /** Entries the map refused (full). */
  refused = 0;
  /** Conn directions not offloaded because the egress cannot take XDP redirects in this mode. */
  notRedirectable = 0;
  /** Packets and bytes forwarded in XDP and credited to the director. */
  creditedPackets = 0;
  creditedBytes = 0;
  /** Whole-map reads. */
  reads = 0;
}

export class FlowOffload implements ConnEvents {
  readonly counters = new FlowOffloadCounters();
  private readonly conns: Director["conns"];
  private readonly state: Uint8Array;
  /** Counters already credited, per conn * 2 + direction. */
  private readonly seenPackets: Float64Array;
  private readonly seenBytes: Float64Array;
  /** The next hop each installed direction was installed with (address, MAC, interface). */
  private readonly hopAddr: Uint32Array;
  private readonly hopMac: Float64Array;
  private readonly hopIfindex: Int32Array;
  /** ... and its source address (a tunnel's outer source). */
  private readonly hopSrc: Uint32Array;
  /** Per conn: the tunnel encapsulation its inbound flow was installed with (encapSignature). */
  private readonly tunEncap: Int32Array;
  private readonly stage = new MapBatch(FLOW_KEY_SIZE, FLOW_VALUE_SIZE, STAGE_CAPACITY);
  private readonly stageConn = new Int32Array(STAGE_CAPACITY);
  private readonly stageDir = new Uint8Array(STAGE_CAPACITY);
  private staged = 0;
  private readonly reader = new MapBatch(FLOW_KEY_SIZE, FLOW_VALUE_SIZE, READ_BATCH);
  /** The same for IPv6 flows (tslvs_flows6). */
  private readonly stage6 = new MapBatch(FLOW6_KEY_SIZE, FLOW6_VALUE_SIZE, STAGE_CAPACITY);
  private readonly stageConn6 = new Int32Array(STAGE_CAPACITY);
  private readonly stageDir6 = new Uint8Array(STAGE_CAPACITY);
  private staged6 = 0;
  private readonly reader6 = new MapBatch(FLOW6_KEY_SIZE, FLOW6_VALUE_SIZE, READ_BATCH);
  private readonly key6 = new Uint8Array(FLOW6_KEY_SIZE);
  private readonly value6 = new Uint8Array(FLOW6_VALUE_SIZE);
  /** The next hop address of each installed IPv6 direction (4 words a slot), made on first use. */
  private hopAddr6: Uint32Array | null = null;
  private readonly spec6: Flow6Spec = {
    conn: 0,
    direction: 0,
    protocol: 0,
    saddr: new Uint32Array(4),
    daddr: new Uint32Array(4),
    sport: 0,
    dport: 0,
    newSaddr: new Uint32Array(4),
    newDaddr: new Uint32Array(4),
    newSport: 0,
    newDport: 0,
    rewrite: false,
    tunnel: false,
    inIfindex: 0,
    outIfindex: 0,
    inMac: 0,
    dstMac: 0,
    srcMac: 0,
    maxLen: 0,
  };
  private readonly key = new Uint8Array(FLOW_KEY_SIZE);
  private readonly value = new Uint8Array(FLOW_VALUE_SIZE);
  private readonly spec: FlowSpec = {
    conn: 0,
    direction: 0,
    protocol: 0,
    saddr: 0,
    daddr: 0,
    sport: 0,
    dport: 0,
    newSaddr: 0,
    newDaddr: 0,
    newSport: 0,
    newDport: 0,
    rewrite: false,
    tunnel: false,
    inIfindex: 0,
    outIfindex: 0,
    inMac: 0,
    dstMac: 0,
    srcMac: 0,
    maxLen: 0,
  };
  private readonly monotonicNs: () => bigint;
  private closed = false;

  /** A connection kept off the fast path (one being captured: tslvs trace --capture); -1: none. */
  private keptOff = -1;

  /**
   * Keeps connection `i` off the fast path from now on (its flows are withdrawn, none is installed),
   * so each of its frames crosses the slow path; -1 lets it back on (its next forwarded packet
   * installs it again).
   */
  keepOff(i: number): void {
    this.keptOff = i;
    if (i >= 0 && i < this.state.length && this.state[i] !== 0) this.withdraw(i, false);
  }

  /** Whether connection `index` has a flow installed in the map, in either direction (tslvs trace). */
  holds(index: number): boolean {
    return (
      index >= 0 && index < this.state.length && (this.state[index]! & (IN_INSTALLED | OUT_INSTALLED)) !== 0
    );
  }

  constructor(
    private readonly director: Director,
    private readonly maps: FastPathMaps,
    private readonly opts: FlowOffloadOptions,
  ) {
    this.conns = director.conns;
    const cap = this.conns.capacity;
    this.state = new Uint8Array(cap);
    this.seenPackets = new Float64Array(2 * cap);
    this.seenBytes = new Float64Array(2 * cap);
    this.hopAddr = new Uint32Array(2 * cap);
    this.hopMac = new Float64Array(2 * cap);
    this.hopIfindex = new Int32Array(2 * cap);
    this.hopSrc = new Uint32Array(2 * cap);
    this.tunEncap = new Int32Array(cap);
    this.monotonicNs = opts.monotonicNs ?? process.hrtime.bigint;
  }

  /**
   * The slow path forwarded `pkt` (as it arrived) by verdict `v` to `hop`, having received it on
   * `inIfindex` (whose MAC is `inMac`); `maxLen` is the egress MTU. Stages the flow entry when this
   * direction of the conn is to be offloaded and is not yet. Allocates nothing. For TUN, `hop` is
   * the next hop toward the real server, whose source address becomes the outer header's source.
   */
  offer(
    pkt: FlowPacket,
    v: Verdict,
    inbound: boolean,
    hop: NextHop,
    inIfindex: number,
    inMac: number,
    maxLen: number,
  ): void {
    const i = v.conn;
    if (i < 0 || i === this.keptOff) return;
    if (pkt.family === 6 && v.family === 6) {
      this.offer6(pkt, v, inbound, hop, inIfindex, inMac, maxLen);
      return;
    }
    if (pkt.family !== 4 || v.family !== 4) return;
    const bits = this.state[i]!;
    if (bits & (inbound ? IN_BITS : OUT_BITS)) return;
    const t = this.conns;
    const fwd = t.flags[i]! & CONN_F_FWD_MASK;
    const tunnel = fwd === CONN_F_TUNNEL;
    if (fwd !== CONN_F_MASQ && fwd !== CONN_F_DROUTE && fwd !== CONN_F_FULLNAT && !tunnel) return;
    if (t.flags[i]! & CONN_F_TEMPLATE) return;
    // A tunnel's replies go from the real server to the client directly; its outer header needs the
    // real server's IPv4 address and the route's source.
    if (tunnel && (!inbound || v.dest === null || v.dest.addr.family !== 4 || hop.srcV4 === 0)) return;
    // GUE and GRE without checksums are encapsulated by the program too; with one (a UDP or GRE
    // checksum over the whole packet) the flow stays on the slow path.
    const encap = tunnel ? encapKind(v.dest!.tunType) : TUN_IPIP;
    if (tunnel && encap !== TUN_IPIP && encapChecksum(v.dest!.tunType, v.dest!.tunCsum)) return;
    const proto = pkt.protocol;
    if (proto === IPPROTO_TCP) {
      if (t.state[i] !== TCP_S_ESTABLISHED) return;
    } else if (proto === IPPROTO_SCTP) {
      // SCTP's CRC32c covers the ports: only the methods that leave the packet alone (1120).
      if (t.state[i] !== SCTP_S_ESTABLISHED || (fwd !== CONN_F_DROUTE && !tunnel)) return;
    } else if (proto !== IPPROTO_UDP) {
      return;
    }
    if (!this.opts.canRedirect(inIfindex, hop.ifindex)) {
      this.counters.notRedirectable++;
      this.state[i] = bits | (inbound ? IN_NOT_REDIRECTABLE : OUT_NOT_REDIRECTABLE);
      return;
    }
    if (this.staged === STAGE_CAPACITY) this.flush();
    const s = this.spec;
    s.conn = i;
    s.direction = inbound ? FLOW_DIR_IN : FLOW_DIR_OUT;
    s.protocol = proto;
    s.saddr = pkt.saddr[0]!;
    s.daddr = pkt.daddr[0]!;
    s.sport = pkt.sport;
    s.dport = pkt.dport;
    s.newSaddr = tunnel ? hop.srcV4 : v.srcAddr[0]!;
    s.newDaddr = tunnel ? v.dest!.addr.v4Value : v.dstAddr[0]!;
    s.newSport = v.srcPort;
    s.newDport = v.dstPort;
    s.rewrite = fwd !== CONN_F_DROUTE;
    s.tunnel = tunnel;
    s.encap = encap;
    if (tunnel) this.tunEncap[i] = encapSignature(v.dest!.tunType, v.dest!.tunPort, v.dest!.tunCsum);
    if (encap === TUN_GUE) {
      // The UDP ports the slow path would write: the flow's hash port, the real server's tun-port.
      s.newSport = gueSourcePort(pkt.saddr, pkt.daddr, 1, pkt.sport, pkt.dport, proto);
      s.newDport = v.dest!.tunPort;
    }
    s.inIfindex = inIfindex;
    s.outIfindex = hop.ifindex;
    s.inMac = inMac;
    s.dstMac = hop.dstMac;
    s.srcMac = hop.srcMac;
    // A tunnel's limit is the largest inner packet: the route's MTU less the outer header (the
    // slow path answers a bigger one with frag-needed).
    s.maxLen = tunnel
      ? Math.min(maxLen, hop.mtu) - IPIP_OVERHEAD - encapHeaderLen(encap, false)
      : Math.min(maxLen, 0xffff);
    if (s.maxLen < IPV4_MIN_MTU) return;
    const n = this.staged++;
    encodeFlow(this.stage.keys, n * FLOW_KEY_SIZE, this.stage.values, n * FLOW_VALUE_SIZE, s);
    this.stageConn[n] = i;
    this.stageDir[n] = s.direction;
    this.state[i] = bits | (inbound ? IN_STAGED : OUT_STAGED);
    const slot = 2 * i + s.direction;
    this.seenPackets[slot] = 0;
    this.seenBytes[slot] = 0;
    // DR's and TUN's next hop is toward the real server itself; NAT's and FULLNAT's toward
    // wherever the rewritten destination routes.
    this.hopAddr[slot] = tunnel
      ? s.newDaddr
      : fwd === CONN_F_DROUTE && v.dest
        ? v.dest.addr.v4Value
        : v.dstAddr[0]!;
    this.hopMac[slot] = hop.dstMac;
    this.hopIfindex[slot] = hop.ifindex;
    this.hopSrc[slot] = hop.srcV4;
  }

  /**
   * IPv6 NAT, FULLNAT and DR conns, as `offer` does for IPv4 (LVS-TUN over IPv6 stays on the slow
   * path: its encapsulation is not in the program).
   */
  private offer6(
    pkt: FlowPacket,
    v: Verdict,
    inbound: boolean,
    hop: NextHop,
    inIfindex: number,
    inMac: number,
    maxLen: number,
  ): void {
    const i = v.conn;
    const bits = this.state[i]!;
    if (bits & (inbound ? IN_BITS : OUT_BITS)) return;
    const t = this.conns;
    const fwd = t.flags[i]! & CONN_F_FWD_MASK;
    const tunnel = fwd === CONN_F_TUNNEL;
    if (fwd !== CONN_F_MASQ && fwd !== CONN_F_DROUTE && fwd !== CONN_F_FULLNAT && !tunnel) return;
    if (t.flags[i]! & CONN_F_TEMPLATE) return;
    // A tunnel's replies bypass the director; its outer header (IPv6-in-IPv6 only here) needs the
    // real server's IPv6 address and the route's IPv6 source.
    if (tunnel && (!inbound || v.dest === null || v.dest.addr.family !== 6 || !hop.src6)) return;
    // GUE and GRE toward an IPv6 real server are not in the IPv6 program: the slow path sends them.
    if (tunnel && encapKind(v.dest!.tunType) !== TUN_IPIP) return;
    const proto = pkt.protocol;
    if (proto === IPPROTO_TCP) {
      if (t.state[i] !== TCP_S_ESTABLISHED) return;
    } else if (proto === IPPROTO_SCTP) {
      if (t.state[i] !== SCTP_S_ESTABLISHED || (fwd !== CONN_F_DROUTE && !tunnel)) return;
    } else if (proto !== IPPROTO_UDP) {
      return;
    }
    if (!this.opts.canRedirect(inIfindex, hop.ifindex)) {
      this.counters.notRedirectable++;
      this.state[i] = bits | (inbound ? IN_NOT_REDIRECTABLE : OUT_NOT_REDIRECTABLE);
      return;
    }
    // A tunnel's limit is the largest inner packet: the route's MTU less the outer header.
    const mtu = tunnel ? Math.min(maxLen, hop.mtu) - IPV6_HLEN : Math.min(maxLen, hop.mtu, 0xffff);
    if (mtu < IPV6_MIN_MTU) return;
    if (this.staged6 === STAGE_CAPACITY) this.flush();
    const s = this.spec6;
    s.conn = i;
    s.direction = inbound ? FLOW_DIR_IN : FLOW_DIR_OUT;
    s.protocol = proto;
    (s.saddr as Uint32Array).set(pkt.saddr);
    (s.daddr as Uint32Array).set(pkt.daddr);
    s.sport = pkt.sport;
    s.dport = pkt.dport;
    (s.newSaddr as Uint32Array).set(tunnel ? hop.src6! : v.srcAddr);
    (s.newDaddr as Uint32Array).set(tunnel ? v.dest!.addr.words : v.dstAddr);
    s.newSport = v.srcPort;
    s.newDport = v.dstPort;
    s.rewrite = fwd !== CONN_F_DROUTE;
    s.tunnel = tunnel;
    s.inIfindex = inIfindex;
    s.outIfindex = hop.ifindex;
    s.inMac = inMac;
    s.dstMac = hop.dstMac;
    s.srcMac = hop.srcMac;
    s.maxLen = mtu;
    const n = this.staged6++;
    encodeFlow6(this.stage6.keys, n * FLOW6_KEY_SIZE, this.stage6.values, n * FLOW6_VALUE_SIZE, s);
    this.stageConn6[n] = i;
    this.stageDir6[n] = s.direction;
    this.state[i] = bits | (inbound ? IN_STAGED : OUT_STAGED);
    const slot = 2 * i + s.direction;
    this.seenPackets[slot] = 0;
    this.seenBytes[slot] = 0;
    // DR's next hop is the real server itself; NAT's and FULLNAT's wherever the destination routes.
    this.hopAddr6 ??= new Uint32Array(8 * this.conns.capacity);
    this.hopAddr6.set((fwd === CONN_F_DROUTE || tunnel) && v.dest ? v.dest.addr.words : v.dstAddr, 4 * slot);
    this.hopMac[slot] = hop.dstMac;
    this.hopIfindex[slot] = hop.ifindex;
    this.hopSrc[slot] = 0;
  }

  /** Writes the staged entries (one syscall per family); the engine calls it once per round. */
  flush(): void {
    this.flush6();
    const n = this.staged;
    if (n === 0) return;
    this.staged = 0;
    try {
      mapUpdateBatch(this.maps.fds.flows, this.stage, n);
      for (let k = 0; k < n; k++) this.markInstalled(k, true);
    } catch {
      // Some entry was refused (map full): write one by one and keep what fits.
      for (let k = 0; k < n; k++) {
        let ok = true;
        try {
          this.key.set(this.stage.keys.subarray(k * FLOW_KEY_SIZE, (k + 1) * FLOW_KEY_SIZE));
          this.value.set(this.stage.values.subarray(k * FLOW_VALUE_SIZE, (k + 1) * FLOW_VALUE_SIZE));
          mapUpdate(this.maps.fds.flows, this.key, this.value);
        } catch {
          ok = false;
        }
        this.markInstalled(k, ok);
      }
    }
  }

  private markInstalled(k: number, ok: boolean): void {
    this.markInstalledAs(this.stageConn[k]!, this.stageDir[k]!, ok);
  }

  private markInstalledAs(i: number, dir: number, ok: boolean): void {
    const staged = dir === FLOW_DIR_IN ? IN_STAGED : OUT_STAGED;
    const installed = dir === FLOW_DIR_IN ? IN_INSTALLED : OUT_INSTALLED;
    // A refused entry stays marked staged, so the conn is not offered again on every packet.
    if (ok) {
      this.state[i] = (this.state[i]! & ~staged) | installed;
      this.counters.installed++;
    } else {
      this.counters.refused++;
    }
  }

  private flush6(): void {
    const n = this.staged6;
    if (n === 0) return;
    this.staged6 = 0;
    const fd = this.maps.fds.flows6;
    let batchOk = true;
    try {
      mapUpdateBatch(fd, this.stage6, n);
    } catch {
      batchOk = false;
    }
    for (let k = 0; k < n; k++) {
      let ok = batchOk;
      if (!batchOk) {
        try {
          this.key6.set(this.stage6.keys.subarray(k * FLOW6_KEY_SIZE, (k + 1) * FLOW6_KEY_SIZE));
          this.value6.set(this.stage6.values.subarray(k * FLOW6_VALUE_SIZE, (k + 1) * FLOW6_VALUE_SIZE));
          mapUpdate(fd, this.key6, this.value6);
          ok = true;
        } catch {
          ok = false;
        }
      }
      this.markInstalledAs(this.stageConn6[k]!, this.stageDir6[k]!, ok);
    }
  }

  /** Director hook: conn i left ESTABLISHED or is being freed. */
  connEvent(i: number, event: number): void {
    if (this.state[i] === 0) return;
    this.withdraw(i, event === CONN_EVENT_FREED);
  }

  /** Removes both directions of conn i (staged or installed), crediting what the map counted. */
  private withdraw(i: number, freeing: boolean): void {
    const bits = this.state[i]!;
    this.state[i] = 0;
    if (bits & (IN_STAGED | OUT_STAGED)) this.unstage(i);
    const t = this.conns;
    const proto = t.protoOf(i);
    if (t.afOf(i) === 6) {
      if (bits & IN_INSTALLED) {
        t.readCaddr(i, scratchC);
        t.readVaddr(i, scratchV);
        encodeFlow6Key(this.key6, 0, proto, scratchC, scratchV, t.cportOf(i), t.vportOf(i));
        this.take6(i, FLOW_DIR_IN, freeing);
      }
      if (bits & OUT_INSTALLED) {
        t.readDaddr(i, scratchC);
        t.readLaddr(i, scratchV);
        encodeFlow6Key(this.key6, 0, proto, scratchC, scratchV, t.dportOf(i), t.lportOf(i));
        this.take6(i, FLOW_DIR_OUT, freeing);
      }
      return;
    }
    const w = t.readCaddr(i, scratchC)[0]!;
    const cport = t.cportOf(i);
    if (bits & IN_INSTALLED) {
      encodeFlowKey(this.key, 0, proto, w, t.readVaddr(i, scratchV)[0]!, cport, t.vportOf(i));
      this.take(i, FLOW_DIR_IN, freeing);
    }
    if (bits & OUT_INSTALLED) {
      // The reply is addressed to laddr:lport: the client for NAT, the local address for FULLNAT.
      const l = t.readLaddr(i, scratchC)[0]!;
      encodeFlowKey(this.key, 0, proto, t.readDaddr(i, scratchV)[0]!, l, t.dportOf(i), t.lportOf(i));
      this.take(i, FLOW_DIR_OUT, freeing);
    }
  }

  /** Deletes the entry whose key is in this.key and credits its uncounted remainder to conn i. */
  private take(i: number, dir: number, freeing: boolean): void {
    if (!mapLookupAndDelete(this.maps.fds.flows, this.key, this.value)) return;
    this.counters.removed++;
    this.credit(i, dir, this.value, 0, !freeing);
  }

  /** take() for the IPv6 map, the key in this.key6. */
  private take6(i: number, dir: number, freeing: boolean): void {
    if (!mapLookupAndDelete(this.maps.fds.flows6, this.key6, this.value6)) return;
    this.counters.removed++;
    this.credit(i, dir, this.value6, 0, !freeing);
  }

  private unstage(i: number): void {
    this.staged6 = removeStaged(this.stage6, this.stageConn6, this.stageDir6, this.staged6, i);
    this.staged = removeStaged(this.stage, this.stageConn, this.stageDir, this.staged, i);
  }

  /** Credits the packets/bytes of a flow value (at `at` in `v`) counted since the last read. */
  private credit(i: number, dir: number, v: Uint8Array, at: number, rearm: boolean): void {
    const slot = 2 * i + dir;
    const pkts = readCounter(v, at + FV_PACKETS);
    const bytes = readCounter(v, at + FV_BYTES);
    const dp = pkts - this.seenPackets[slot]!;
    const db = bytes - this.seenBytes[slot]!;
    if (dp <= 0) return;
    this.seenPackets[slot] = pkts;
    this.seenBytes[slot] = bytes;
    let lastSeen = Number.NEGATIVE_INFINITY;
    if (rearm) {
      const ageNs = Number(this.monotonicNs()) - readCounter(v, at + FV_LAST_SEEN);
      lastSeen = this.opts.now() - Math.max(0, ageNs) / 1e9;
    }
    if (dir === FLOW_DIR_IN) this.director.creditFlow(i, dp, db, 0, 0, lastSeen);
    else this.director.creditFlow(i, 0, 0, dp, db, lastSeen);
    this.counters.creditedPackets += dp;
    this.counters.creditedBytes += db;
  }

  /** Director hook, before due conns expire: credit everything the program forwarded. */
  beforeExpiry(_now: number): void {
    this.collect();
  }

  /** Reads every flow's counters and credits the director. */
  collect(): void {
    if (this.closed) return;
    this.counters.reads++;
    for (const [fd, r, size] of [
      [this.maps.fds.flows, this.reader, FLOW_VALUE_SIZE],
      [this.maps.fds.flows6, this.reader6, FLOW6_VALUE_SIZE],
    ] as const) {
      mapLookupAll(fd, r, (n) => {
        for (let k = 0; k < n; k++) {
          const at = k * size;
          const i = readU32le(r.values, at + FV_CONN);
          const dir = r.values[at + FV_DIR]!;
          if (i >= this.conns.capacity) continue;
          const bit = dir === FLOW_DIR_IN ? IN_INSTALLED : OUT_INSTALLED;
          if (!(this.state[i]! & bit)) continue;
          this.credit(i, dir, r.values, at, true);
        }
      });
    }
  }

  /**
   * After a rule change: conns whose real server is no longer available go back to the slow path,
   * and so do tunnel conns whose real server's tunnel settings changed (the kernel reads them at every
   * packet): the slow path sends their next packet with the new ones, and offers them again.
   */
  revalidate(): void {
    const t = this.conns;
    for (let i = 0; i < t.highWater; i++) {
      if (this.state[i] === 0) continue;
      const id = t.destId[i]!;
      const dest = id >= 0 ? this.director.destOfId(id) : undefined;
      if (!t.isLive(i) || !dest?.available) this.withdraw(i, false);
      else if (
        (t.flags[i]! & CONN_F_FWD_MASK) === CONN_F_TUNNEL &&
        this.tunEncap[i] !== encapSignature(dest.tunType, dest.tunPort, dest.tunCsum)
      )
        this.withdraw(i, false);
    }
  }

  /** After the host's routes/neighbours were re-read: flows whose next hop changed are withdrawn. */
  nextHopsChanged(
    current: (addrV4: number) => NextHop | null,
    current6: (words: Uint32Array, at: number) => NextHop | null = () => null,
  ): void {
    const t = this.conns;
    for (let i = 0; i < t.highWater; i++) {
      const bits = this.state[i]!;
      if (bits === 0) continue;
      const v6 = t.afOf(i) === 6;
      for (const dir of [FLOW_DIR_IN, FLOW_DIR_OUT]) {
        const offloaded = dir === FLOW_DIR_IN ? IN_INSTALLED | IN_STAGED : OUT_INSTALLED | OUT_STAGED;
        if (!(bits & offloaded)) continue;
        const slot = 2 * i + dir;
        const hop = v6
          ? this.hopAddr6
            ? current6(this.hopAddr6, 4 * slot)
            : null
          : current(this.hopAddr[slot]!);
        if (
          !hop ||
          hop.dstMac !== this.hopMac[slot] ||
          hop.ifindex !== this.hopIfindex[slot] ||
          hop.srcV4 !== this.hopSrc[slot]
        ) {
          this.withdraw(i, false);
          break;
        }
      }
    }
  }

  /** Withdraws every offloaded conn (e.g. an egress lost its XDP transmit support). */
  withdrawAll(): void {
    const t = this.conns;
    for (let i = 0; i < t.highWater; i++) if (this.state[i] !== 0) this.withdraw(i, false);
  }

  /** Flow entries installed now (both directions counted). */
  get installedFlows(): number {
    return this.counters.installed - this.counters.removed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stage.free();
    this.reader.free();
    this.stage6.free();
    this.reader6.free();
  }
}

/**
 * Drops conn i's entries from a staging batch of `count` entries (the last entry fills each hole);
 * returns the new count.
 */
function removeStaged(
  batch: MapBatch,
  conns: Int32Array,
  dirs: Uint8Array,
  count: number,
  i: number,
): number {
  const ks = batch.keySize;
  const vs = batch.valueSize;
  let k = 0;
  while (k < count) {
    if (conns[k] !== i) {
      k++;
      continue;
    }
    const last = --count;
    if (k !== last) {
      batch.keys.copyWithin(k * ks, last * ks, (last + 1) * ks);
      batch.values.copyWithin(k * vs, last * vs, (last + 1) * vs);
      conns[k] = conns[last]!;
      dirs[k] = dirs[last]!;
    }
  }
  return count;
}

const scratchC = new Uint32Array(4);
const scratchV = new Uint32Array(4);

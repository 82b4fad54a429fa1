import { IpAddr } from "../core/address.js";
import { CONN_F_DROUTE, CONN_F_FULLNAT, CONN_F_MASQ, CONN_F_TUNNEL } from "../core/conn-table.js";
import type { Dest } from "../core/dest.js";
import type { Director } from "../core/director.js";
import { FlowPacket } from "../core/flow.js";
import { SVC_F_TOA } from "../core/service.js";
import { ACTION_DROP, ACTION_FORWARD, ACTION_ICMP_UNREACH, ACTION_PASS, Verdict } from "../core/verdict.js";
import { readMac, writeMac } from "../net/ethernet.js";
import { buildIcmpError, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, icmpErrorAllowed } from "../net/icmp.js";
import { ParsedFrame, parseFrame } from "../net/parse.js";
import { PARSE_OK } from "../net/reason.js";
import { drRewrite, natInbound, natOutbound, RW_OK } from "../net/rewrite.js";
import { closeFd, MapType, mapCreate, mapUpdate } from "./bpf/syscalls.js";
import { type HostInterface, Neighbours, RouteTable, readInterfaces } from "./host-net.js";
import { macToNumber, type NextHop, NextHopCache } from "./next-hops.js";
import { completePartialChecksum } from "./partial-checksum.js";
import { SteeringSync } from "./steering-sync.js";
import { attachXdp, type XdpAttachment, type XdpMode } from "./xdp/attach.js";
import { PacketLoop } from "./xdp/packet-loop.js";
import { SteeringMaps } from "./xdp/steering-maps.js";
import { loadSteeringProgram } from "./xdp/steering-program.js";
import { Umem } from "./xdp/umem.js";
import { FrameBatch, rxQueueCount, XskSocket } from "./xdp/xsk-socket.js";
import type { XmitEnv } from "./xmit-env.js";
import { FullnatXmit } from "./xmit-fullnat.js";
import { TunnelXmit } from "./xmit-tunnel.js";

/** What the engine logs through (pino's shape). */
export interface EngineLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface EngineOptions {
  /** Interfaces to serve; default every non-loopback interface that is up. */
  interfaces?: string[];
  /** XDP attach mode; default "auto" (native where the driver has it, else generic). */
  xdpMode?: XdpMode;
  /** Seconds, as the director's clock. */
  now: () => number;
  log: EngineLog;
}

/** Counters of the engine's own decisions (what the director does not see). */
export class EngineCounters {
  rxFrames = 0;
  txFrames = 0;
  malformed = 0;
  dropped = 0;
  passedAndDropped = 0;
  noRoute = 0;
  ttlExpired = 0;
  rewriteFailed = 0;
  txFull = 0;
  icmpSent = 0;
  partialChecksums = 0;
  errors = 0;
  /** LVS-TUN (xmit-tunnel.ts). */
  tunnelled = 0;
  fragNeeded = 0;
  tooBig = 0;
  noHeadroom = 0;
  /** FULLNAT (xmit-fullnat.ts). */
  fullnatIn = 0;
  fullnatOut = 0;
  toaInserted = 0;
  toaNoRoom = 0;
  /** New FULLNAT connections refused: no local port free. */
  noLocalPort = 0;
}

/** One interface tslvs serves: its AF_XDP socket(s), program and attachment. */
interface Port {
  iface: HostInterface;
  mac: number;
  sockets: XskSocket[];
  xsksMap: number;
  prog: number;
  attachment: XdpAttachment;
}

const BATCH = 64;

/**
 * The packet engine: AF_XDP sockets on the served interfaces, fed by tslvs's XDP steering program,
 * and the per-frame slow path — classify, offer the packet to the director (the IPVS core), rewrite
 * as its verdict says, and transmit on the interface toward the next hop. Frames are handled in
 * place in the shared UMEM; nothing is allocated per frame.
 */
export class PacketEngine {
  readonly counters = new EngineCounters();
  private readonly ports: Port[] = [];
  private readonly portByIfindex = new Map<number, Port>();
  private readonly parsed = new ParsedFrame();
  private readonly pkt = new FlowPacket();
  private readonly verdict = new Verdict();
  private readonly batch = new FrameBatch(BATCH);
  private readonly touched: Port[] = [];
  private loop: PacketLoop | null = null;
  private running: Promise<void> | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private ipId = 1;
  private readonly xmitEnv: XmitEnv;
  private readonly tunnel: TunnelXmit;
  private readonly fullnat: FullnatXmit;
  /** Default FULLNAT LIPs: the director's own address toward each real server. */
  private readonly defaultLips = new Map<number, IpAddr | null>();

  private constructor(
    private readonly director: Director,
    private readonly opts: EngineOptions,
    private readonly umem: Umem,
    private readonly maps: SteeringMaps,
    private readonly steering: SteeringSync,
    private readonly nextHops: NextHopCache,
    private readonly neighbours: Neighbours,
  ) {
    this.xmitEnv = {
      umem,
      nextHops,
      transmit: (ifindex, addr, len) => this.transmit(ifindex, addr, len),
      nextIpId: () => this.ipId++ & 0xffff,
    };
    this.tunnel = new TunnelXmit(this.xmitEnv, this.counters);
    this.fullnat = new FullnatXmit(this.xmitEnv, this.counters, director.conns.capacity);
  }

  /** The director's own address toward a real server: a FULLNAT service's LIP when it has no pool. */
  private defaultLip(dest: Dest): IpAddr | null {
    if (dest.addr.family !== 4) return null;
    const rs = dest.addr.v4Value;
    let lip = this.defaultLips.get(rs);
    if (lip === undefined) {
      const src = this.nextHops.sourceFor(rs);
      lip = src ? IpAddr.v4(src) : null;
      this.defaultLips.set(rs, lip);
    }
    return lip;
  }

  static async start(director: Director, opts: EngineOptions): Promise<PacketEngine> {
    const interfaces = await readInterfaces();
    const chosen = opts.interfaces?.length
      ? opts.interfaces.map((n) => {
          const i = interfaces.find((x) => x.name === n);
          if (!i) throw new Error(`no interface named ${n}`);
          return i;
        })
      : interfaces.filter((i) => !i.loopback && i.up);
    if (chosen.length === 0) throw new Error("no interface to serve (none is up besides loopback)");
    const served = new Set(chosen.map((i) => i.ifindex));
    const neighbours = new Neighbours();
    await neighbours.refresh();
    const routes = await RouteTable.read();
    const nextHops = new NextHopCache(routes, neighbours, interfaces, (ix) => served.has(ix));
    const maps = SteeringMaps.create();
    const umem = new Umem({ frames: 8192, frameSize: 2048 });
    const engine = new PacketEngine(director, opts, umem, maps, new SteeringSync(maps), nextHops, neighbours);
    try {
      for (const iface of chosen) engine.addPort(iface);
    } catch (e) {
      engine.stop();
      throw e;
    }
    director.setDefaultLocalAddress((dest) => engine.defaultLip(dest));
    engine.syncSteering();
    engine.loop = new PacketLoop(
      () => engine.step(),
      engine.ports.flatMap((p) => p.sockets),
      { idleTimeoutMs: 5 },
    );
    engine.running = engine.loop.run().catch((e: unknown) => {
      opts.log.error({ err: String(e) }, "packet loop stopped");
    });
    engine.refreshTimer = setInterval(() => void engine.refreshHostState(), 2000);
    engine.refreshTimer.unref();
    return engine;
  }

  private addPort(iface: HostInterface): void {
    const queues = rxQueueCount(iface.name);
    const shareWith = this.ports[0]?.sockets[0];
    const sockets: XskSocket[] = [];
    for (let q = 0; q < queues; q++) {
      sockets.push(
        XskSocket.open({ ifname: iface.name, queue: q, umem: this.umem, shareWith: shareWith ?? sockets[0] }),
      );
    }
    // Each interface has its own XSKMAP (keys are RX queue numbers, which repeat across interfaces),
    // hence its own copy of the program; the steering maps are shared.
    const xsksMap = mapCreate({
      type: MapType.XSKMAP,
      keySize: 4,
      valueSize: 4,
      maxEntries: 64,
      name: "tslvs_xsks",
    });
    const key = new Uint8Array(4);
    const value = new Uint8Array(4);
    sockets.forEach((s, q) => {
      new DataView(key.buffer).setUint32(0, q, true);
      new DataView(value.buffer).setUint32(0, s.fd, true);
      mapUpdate(xsksMap, key, value);
    });
    this.maps.setInterfaceMac(iface.ifindex, iface.mac);
    const prog = loadSteeringProgram({ ...this.maps.fds, xsks: xsksMap });
    const attachment = attachXdp(prog, iface.name, this.opts.xdpMode ?? "auto");
    for (const s of sockets) s.refill();
    const port: Port = { iface, mac: macToNumber(iface.mac), sockets, xsksMap, prog, attachment };
    this.ports.push(port);
    this.portByIfindex.set(iface.ifindex, port);
    this.opts.log.info(
      { interface: iface.name, queues, mode: this.opts.xdpMode ?? "auto" },
      "serving interface",
    );
  }

  /** Make the steering program's maps match the director's services (call after every change). */
  syncSteering(): void {
    // Default LIPs are steered before their first connection, so the first reply already arrives.
    this.defaultLips.clear();
    const lips: number[] = [];
    for (const svc of this.director.services()) {
      if (svc.key.kind !== "addr" || this.director.getLaddrs(svc.key).length > 0) continue;
      for (const d of svc.dests) {
        const lip = d.method === "fullnat" ? this.defaultLip(d) : null;
        if (lip) lips.push(lip.v4Value);
      }
    }
    this.steering.sync(this.director, lips);
    // Real servers' MACs are resolved ahead of their first packet.
    for (const svc of this.director.services()) {
      for (const d of svc.dests) {
        if (d.addr.family === 4) void this.nextHops.resolve(d.addr.v4Value);
      }
    }
  }

  private async refreshHostState(): Promise<void> {
    try {
      const [routes, interfaces] = await Promise.all([RouteTable.read(), readInterfaces()]);
      await this.nextHops.refresh(routes, interfaces);
    } catch (e) {
      this.opts.log.warn({ err: String(e) }, "could not read the host's routes or neighbours");
    }
  }

  /** One round: every RX socket's batch through the slow path, then one TX flush per touched port. */
  private step(): number {
    const bytes = this.umem.bytes;
    const batch = this.batch;
    let handled = 0;
    for (const port of this.ports) port.sockets[0]!.reapCompletions();
    for (const port of this.ports) {
      for (const rx of port.sockets) {
        rx.refill();
        const n = rx.receive(batch);
        for (let k = 0; k < n; k++) {
          const addr = batch.addrs[k]!;
          const len = batch.lens[k]!;
          let sent = false;
          try {
            sent = this.handleFrame(bytes, addr, len, port);
          } catch (e) {
            this.counters.errors++;
            if (this.counters.errors <= 10) this.opts.log.error({ err: String(e) }, "frame handling failed");
          }
          if (!sent) this.umem.free(addr);
        }
        handled += n;
        this.counters.rxFrames += n;
      }
    }
    for (const p of this.touched) {
      for (const s of p.sockets) s.flush();
    }
    this.touched.length = 0;
    return handled;
  }

  /** Returns true when the frame was queued for transmission (it then belongs to the TX ring). */
  private handleFrame(bytes: Uint8Array, addr: number, len: number, inPort: Port): boolean {
    const f = this.parsed;
    if (parseFrame(bytes, addr, len, f) !== PARSE_OK || f.family !== 4) {
      this.counters.malformed++;
      return false;
    }
    if (completePartialChecksum(bytes, f)) this.counters.partialChecksums++;
    const pkt = this.pkt;
    pkt.family = 4;
    pkt.protocol = f.protocol;
    pkt.saddr[0] = f.saddr[0]!;
    pkt.daddr[0] = f.daddr[0]!;
    pkt.sport = f.sport;
    pkt.dport = f.dport;
    pkt.tcpFlags = f.tcpFlags;
    pkt.length = f.ipLen;
    pkt.fwmark = 0;
    const now = this.opts.now();
    const v = this.verdict.reset();
    const inbound = this.steering.isVirtualAddress(f.daddr[0]!);
    if (inbound) this.director.inbound(pkt, now, v);
    else this.director.outbound(pkt, now, v);

    switch (v.action) {
      case ACTION_FORWARD:
        return this.forward(bytes, f, v, inbound);
      case ACTION_ICMP_UNREACH:
        this.sendUnreachable(bytes, f, inPort);
        return false;
      case ACTION_PASS:
        // Steered frames never reach the host's stack again: a VIP with no listener must not be
        // answered with a RST by the host, so what IPVS would pass on is dropped here and counted.
        this.counters.passedAndDropped++;
        return false;
      case ACTION_DROP:
        this.counters.dropped++;
        if (v.reason === "no-local-port") this.counters.noLocalPort++;
        return false;
    }
    return false;
  }

  private forward(bytes: Uint8Array, f: ParsedFrame, v: Verdict, inbound: boolean): boolean {
    const fwd = v.fwd;
    if (fwd === CONN_F_TUNNEL && v.dest && v.dest.addr.family === 4)
      return this.tunnel.send(bytes, f, v.dest.addr.v4Value);
    if (fwd === CONN_F_FULLNAT) {
      const svc = v.dest ? this.director.serviceOf(v.dest) : undefined;
      const toa = svc !== undefined && (svc.flags & SVC_F_TOA) !== 0;
      return this.fullnat.send(
        bytes,
        f,
        inbound,
        v.conn,
        v.isNew,
        toa,
        v.srcAddr,
        v.srcPort,
        v.dstAddr,
        v.dstPort,
      );
    }
    // DR sends the unchanged packet to the real server's MAC: the next hop is the real server.
    const hopAddr = fwd === CONN_F_DROUTE && v.dest ? v.dest.addr.v4Value : v.dstAddr[0]!;
    const hop: NextHop | null = this.nextHops.get(hopAddr);
    if (!hop) {
      this.counters.noRoute++;
      return false;
    }
    let rc: number;
    if (fwd === CONN_F_DROUTE) {
      rc = drRewrite(bytes, f, hop.dstMac, hop.srcMac);
    } else if (fwd === CONN_F_MASQ) {
      rc = inbound
        ? natInbound(bytes, f, v.dstAddr, 0, v.dstPort)
        : natOutbound(bytes, f, v.srcAddr, 0, v.srcPort);
    } else {
      // Local-node forwarding is not in this engine yet: counted, never mis-sent.
      this.counters.rewriteFailed++;
      return false;
    }
    if (rc !== RW_OK) {
      if (rc === 1) this.counters.ttlExpired++;
      else this.counters.rewriteFailed++;
      return false;
    }
    if (fwd !== CONN_F_DROUTE) {
      writeMac(bytes, f.frameOff, hop.dstMac);
      writeMac(bytes, f.frameOff + 6, hop.srcMac);
    }
    return this.transmit(hop.ifindex, f.frameOff, f.frameLen);
  }

  private transmit(ifindex: number, addr: number, len: number): boolean {
    const port = this.portByIfindex.get(ifindex);
    if (!port) {
      this.counters.noRoute++;
      return false;
    }
    if (!port.sockets[0]!.send(addr, len)) {
      this.counters.txFull++;
      return false;
    }
    if (!this.touched.includes(port)) this.touched.push(port);
    this.counters.txFrames++;
    return true;
  }

  /** ICMP port unreachable back to the sender, out of the interface the frame came in on. */
  private sendUnreachable(bytes: Uint8Array, f: ParsedFrame, port: Port): void {
    if (!icmpErrorAllowed(bytes, f.l3Off, f.ipLen) || this.umem.freeFrames === 0) return;
    const out = this.umem.alloc();
    const ipLen = buildIcmpError(
      bytes,
      out + 14,
      2048 - 14,
      bytes,
      f.l3Off,
      f.ipLen,
      ICMP_DEST_UNREACH,
      ICMP_PORT_UNREACH,
      0,
      f.daddr[0]!,
      this.ipId++ & 0xffff,
    );
    if (ipLen === 0) {
      this.umem.free(out);
      return;
    }
    writeMac(bytes, out, readMac(bytes, f.frameOff + 6));
    writeMac(bytes, out + 6, port.mac);
    bytes[out + 12] = 0x08;
    bytes[out + 13] = 0x00;
    if (this.transmit(port.iface.ifindex, out, 14 + ipLen)) this.counters.icmpSent++;
    else this.umem.free(out);
  }

  /** Detach from every interface and release the sockets (nothing stays on the interfaces). */
  stop(): void {
    this.director.setDefaultLocalAddress(null);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.loop?.stop();
    for (const p of this.ports) {
      try {
        p.attachment.detach();
      } catch {
        /* interface gone */
      }
      for (const s of p.sockets) s.close();
      closeFd(p.prog);
      closeFd(p.xsksMap);
    }
    this.ports.length = 0;
    this.maps.close();
    void this.neighbours;
  }

  /** Settles when the packet loop has ended after stop(). */
  async stopped(): Promise<void> {
    await this.running;
    this.umem.destroy();
  }
}

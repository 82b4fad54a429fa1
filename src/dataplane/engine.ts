import { IpAddr } from "../core/address.js";
import type { Dest } from "../core/dest.js";
import type { Director } from "../core/director.js";
import { IpvsError } from "../core/errors.js";
import { SVC_F_TOA } from "../core/service.js";
import { writeMac } from "../net/ethernet.js";
import { closeFd } from "../platform/bpf.js";
import { errnoCodes, SysError } from "../platform/libc.js";
import { FastPath } from "./fastpath/fast-path.js";
import type { FlowCapture } from "./flow-capture.js";
import { HeldFrames } from "./held-frames.js";
import { HostChangeListener } from "./host-change-listener.js";
import { type HostInterface, Neighbours, RouteTable, readInterfaces } from "./host-net.js";
import { EMPTY_MARK_PROGRAM, type MarkProgram } from "./marks/mark-rules.js";
import { macToNumber, type NextHop, NextHopCache } from "./next-hops.js";
import { PathMtuCache } from "./path-mtu.js";
import { DEFAULT_REFRESH_TIMING, RefreshScheduler } from "./refresh-scheduler.js";
import { FrameCounters, type IngressPort, SlowPath, TxDecision } from "./slow-path.js";
import { SteeringSync } from "./steering-sync.js";
import { attachTcIngress, attachXdp, ProgramAttachment, type XdpMode } from "./xdp/attach.js";
import { type HeldLink, linkIdOf, reopenHeldLink } from "./xdp/link-hold.js";
import { PacketLoop } from "./xdp/packet-loop.js";
import { openQueueSockets } from "./xdp/queue-sockets.js";
import { isSlowPathVeth, SlowPathVeth } from "./xdp/slow-path-veth.js";
import { SteeringMaps } from "./xdp/steering-maps.js";
import { loadSteeringProgram } from "./xdp/steering-program.js";
import { Umem } from "./xdp/umem.js";
import { loadXskRedirectProgram } from "./xdp/xsk-redirect-program.js";
import { FrameBatch, XskSocket } from "./xdp/xsk-socket.js";
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
  /** XDP links a previous daemon left held for this one (a restart): taken over, not re-attached. */
  heldLinks?: HeldLink[];
  /**
   * Where the steering program attaches; default "auto" (XDP: native where the driver has it, else
   * generic). "tc": at TC ingress, with a slow-path veth per interface (xdp/slow-path-veth.ts).
   */
  xdpMode?: XdpMode;
  /** Seconds, as the director's clock. */
  now: () => number;
  /** Serve established NAT/DR flows in XDP (src/dataplane/fastpath); default true. */
  fastPath?: boolean;
  log: EngineLog;
  /**
   * The firewall-mark rules at start (setMarkRules changes them): in the programs from the first
   * attach, so a restart does not pass a firewall-mark service's packets to the host meanwhile.
   */
  markRules?: MarkProgram;
}

/** Counters of the engine's own decisions (what the director does not see). */
export class EngineCounters extends FrameCounters {
  rxFrames = 0;
  txFrames = 0;
  txFull = 0;
  errors = 0;
  /** LVS-TUN (xmit-tunnel.ts). */
  tunnelled = 0;
  fragNeeded = 0;
  tooBig = 0;
  fragmented = 0;
  noHeadroom = 0;
  tunnelErrorsRelayed = 0;
  /** FULLNAT (xmit-fullnat.ts). */
  fullnatIn = 0;
  fullnatOut = 0;
  toaInserted = 0;
  toaNoRoom = 0;
  /** Re-reads of the host's interfaces, routes and neighbours (refreshHostState). */
  hostRefreshes = 0;
  /**
   * Frames the kernel dropped on their way into an AF_XDP socket (XDP_STATISTICS rx_dropped): one
   * larger than a UMEM frame (an aggregate under generic XDP), or no free buffer. Read at every host
   * refresh and at stop.
   */
  kernelRxDropped = 0;
  /** Frames the kernel dropped because a socket's RX ring was full (the slow path fell behind). */
  kernelRxRingFull = 0;
  /** Next-hop resolutions not started because too many were under way (a flood of new destinations). */
  nextHopRefused = 0;
}

/**
 * Opens an AF_XDP socket on a queue whose previous socket was just closed (a failed native-XDP
 * attempt falls back to the tc mode on the same interface): the kernel releases a queue's binding
 * after the close returns, so a bind right away can meet EBUSY. Retried for up to ~200 ms; this
 * happens only when an interface is set up.
 */
function openReleasedQueue(open: () => XskSocket): XskSocket {
  for (let tries = 0; ; tries++) {
    try {
      return open();
    } catch (e) {
      if (!(e instanceof SysError) || e.errno !== errnoCodes.EBUSY || tries >= 40) throw e;
      Atomics.wait(RETRY_WAIT, 0, 0, 5);
    }
  }
}
const RETRY_WAIT = new Int32Array(new SharedArrayBuffer(4));

/** Every address of the host's interfaces. */
function* hostAddresses(interfaces: readonly HostInterface[]): Iterable<IpAddr> {
  for (const i of interfaces) for (const a of i.addrs) yield a.addr;
}

/** The tc mode's way from the TC steering program to the AF_XDP sockets (xdp/slow-path-veth.ts). */
interface SlowPathVethPort {
  veth: SlowPathVeth;
  /** The XDP program on the veth that hands every frame to its sockets, and its link. */
  prog: number;
  link: ProgramAttachment;
}

/** One interface tslvs serves: its AF_XDP socket(s), program and attachment. */
interface Port extends IngressPort {
  iface: HostInterface;
  /** Where its steered frames arrive: the interface's RX queues, and/or its slow-path veth's. */
  rxSockets: XskSocket[];
  /** Where frames leave on the interface (in XDP modes, the socket of RX queue 0). */
  txSocket: XskSocket;
  /** Every socket of the port (to close). */
  sockets: XskSocket[];
  xsksMap: number;
  prog: number;
  /** Loads a fresh copy of its steering program (the firewall-mark rules changed). */
  load: () => number;
  attachment: ProgramAttachment;
  slowPath: SlowPathVethPort | null;
  /**
   * Generic XDP only: the TC ingress program that takes the aggregates generic XDP passes (it runs
   * after GRO; an aggregate fits no AF_XDP frame), with its own XSKMAP of the slow-path veth.
   */
  aggregates: { prog: number; load: () => number; xsksMap: number; attachment: ProgramAttachment } | null;
}

/** Swaps a loaded program in through the link; returns its fd (the old one is closed). */
function swapProgram(fresh: number, old: number, attachment: ProgramAttachment): number {
  try {
    attachment.replaceProgram(fresh);
  } catch (e) {
    closeFd(fresh);
    throw e;
  }
  closeFd(old);
  return fresh;
}

/** The longest frame an AF_XDP socket takes: a UMEM frame less the XDP headroom the kernel keeps. */
const XSK_MAX_FRAME = 2048 - 256;

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
  private readonly framePath: SlowPath;
  private readonly decision = new TxDecision();
  private readonly batch = new FrameBatch(BATCH);
  private readonly touched: Port[] = [];
  private readonly held = new HeldFrames(64);
  private loop: PacketLoop | null = null;
  private running: Promise<void> | null = null;
  /** Re-reads the host's state when it changes (see refreshHostState); null once stopped. */
  private refresher: RefreshScheduler | null = null;
  /** Kernel notifications of host changes; null when they could not be subscribed to. */
  private hostChanges: HostChangeListener | null = null;
  /** Interfaces with a port: the only ones next hops may use. */
  private served = new Set<number>();
  private fastPath: FastPath | null = null;
  private ipId = 1;
  private readonly xmitEnv: XmitEnv;
  private readonly tunnel: TunnelXmit;
  /** Path MTUs toward real servers lowered by routers' ICMP about tunnel packets. */
  readonly pathMtu: PathMtuCache;
  private readonly fullnat: FullnatXmit;
  /** The firewall-mark rules the steering programs and the slow path run (setMarkRules). */
  private markProgram: MarkProgram = EMPTY_MARK_PROGRAM;
  /** Default FULLNAT LIPs: the director's own address toward each real server. */
  private readonly defaultLips = new Map<Dest, IpAddr | null>();

  private constructor(
    private readonly director: Director,
    private readonly opts: EngineOptions,
    private readonly umem: Umem,
    private readonly maps: SteeringMaps,
    private readonly steering: SteeringSync,
    private readonly nextHops: NextHopCache,
    private readonly neighbours: Neighbours,
  ) {
    this.framePath = new SlowPath(director, nextHops, steering, this.counters);
    if (opts.markRules) {
      this.markProgram = opts.markRules;
      this.framePath.marks.program = opts.markRules;
      steering.setMarkProgram(opts.markRules);
    }
    this.xmitEnv = {
      umem,
      nextHops,
      transmit: (ifindex, addr, len) => {
        // TUN and FULLNAT send a captured connection's frames themselves.
        const cap = this.framePath.capture;
        if (cap?.sending) cap.record(this.umem.bytes, addr, len, "out", ifindex);
        return this.transmit(ifindex, addr, len);
      },
      nextIpId: () => this.ipId++ & 0xffff,
      hold: (addr, len, hopKey) => this.held.hold(addr, len, hopKey),
    };
    this.pathMtu = new PathMtuCache(opts.now);
    this.tunnel = new TunnelXmit(this.xmitEnv, this.counters, this.pathMtu);
    this.fullnat = new FullnatXmit(this.xmitEnv, this.counters, director.conns.capacity);
  }

  /** The director's own address toward a real server: a FULLNAT service's LIP when it has no pool. */
  private defaultLip(dest: Dest): IpAddr | null {
    let lip = this.defaultLips.get(dest);
    if (lip === undefined) {
      if (dest.addr.family === 4) {
        const src = this.nextHops.sourceFor(dest.addr.v4Value);
        lip = src ? IpAddr.v4(src) : null;
      } else {
        lip = this.nextHops.sourceFor6(dest.addr);
      }
      this.defaultLips.set(dest, lip);
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
      : interfaces.filter((i) => !i.loopback && i.up && !isSlowPathVeth(i.name));
    // In every mode: a killed daemon of any mode may have left them, and no running one owns them.
    const gone = SlowPathVeth.removeLeftovers();
    if (gone.length) opts.log.info({ interfaces: gone }, "removed slow-path veths left by a previous daemon");
    if (chosen.length === 0) throw new Error("no interface to serve (none is up besides loopback)");
    const served = new Set<number>();
    const neighbours = new Neighbours();
    await neighbours.refresh();
    const routes = await RouteTable.read();
    const nextHops = new NextHopCache(routes, neighbours, interfaces, (ix) => served.has(ix));
    // Interfaces come and go: the ports are reconciled with the host's list every refresh.
    const maps = SteeringMaps.create();
    const umem = new Umem({ frames: 8192, frameSize: 2048 });
    const engine = new PacketEngine(director, opts, umem, maps, new SteeringSync(maps), nextHops, neighbours);
    engine.served = served;
    engine.steering.setHostAddresses(hostAddresses(interfaces));
    // The maps are filled before any program runs over them: a link taken over from a previous
    // daemon steers with them from its first frame.
    engine.syncSteering();
    nextHops.onResolved = (addr, hop) => engine.releaseHeld(addr, hop);
    engine.framePath.holder = engine.held;
    try {
      if (opts.fastPath ?? true) {
        engine.fastPath = FastPath.start(
          director,
          opts.now,
          (ix) => {
            const p = engine.portByIfindex.get(ix);
            return p ? { mode: p.attachment.mode, mtu: p.iface.mtu } : undefined;
          },
          (addr) => nextHops.get(addr),
        );
        engine.framePath.forwarded = engine.fastPath;
      }
      for (const iface of chosen) engine.addPort(iface);
    } catch (e) {
      engine.stop();
      throw e;
    }
    director.setDefaultLocalAddress((dest) => engine.defaultLip(dest));
    engine.framePath.methods = {
      tunnel: (bytes, f, v) => v.dest !== null && engine.tunnel.send(bytes, f, v.dest.addr, v.dest),
      tunnelError: (bytes, innerOff, innerEnd, rsV4, type, code, rest) =>
        engine.tunnel.relayError(bytes, innerOff, innerEnd, rsV4, type, code, rest),
      fullnat: (bytes, f, v, inbound) => {
        const svc = v.dest ? director.serviceOf(v.dest) : undefined;
        const toa = svc !== undefined && (svc.flags & SVC_F_TOA) !== 0;
        return engine.fullnat.send(
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
      },
      sentHop: (tunnel) => (tunnel ? engine.tunnel.lastHop : engine.fullnat.lastHop),
    };
    engine.startLoop();
    engine.watchHost();
    return engine;
  }

  /**
   * Interfaces, addresses, routes and neighbours change under the engine: the kernel's rtnetlink
   * notifications ask for a refresh (debounced, rate-limited), and a slow timer refreshes anyway in
   * case one was missed (docs/decisions/0770-host-change-events.md). Without the notifications the
   * engine polls every 2 s instead.
   */
  private watchHost(): void {
    const log = this.opts.log;
    let timing = DEFAULT_REFRESH_TIMING;
    try {
      this.hostChanges = HostChangeListener.start(() => this.refresher?.request(), {
        onFailure: (err) => {
          log.warn({ err: err.message }, "host change notifications failed; polling the host every 2 s");
          this.refresher?.stop();
          this.refresher = new RefreshScheduler(() => this.refreshHostState(), { ...timing, safetyMs: 2000 });
        },
      });
    } catch (e) {
      log.warn({ err: String(e) }, "no host change notifications; polling the host every 2 s");
      timing = { ...timing, safetyMs: 2000 };
    }
    this.refresher = new RefreshScheduler(() => this.refreshHostState(), timing);
    // What changed between the first reads in start() and the subscription was not notified.
    this.refresher.request();
  }

  private stopWatchingHost(): void {
    this.hostChanges?.stop();
    this.hostChanges = null;
    this.refresher?.stop();
    this.refresher = null;
  }

  /** A packet loop over the current ports' sockets (rebuilt when ports come or go). */
  private startLoop(): void {
    const loop = new PacketLoop(
      () => this.step(),
      this.ports.flatMap((p) => p.rxSockets),
      { idleTimeoutMs: 5 },
    );
    this.loop = loop;
    const previous = this.running ?? Promise.resolve();
    this.running = previous.then(() =>
      loop.run().catch((e: unknown) => {
        this.opts.log.error({ err: String(e) }, "packet loop stopped");
      }),
    );
  }

  /**
   * Serve what should be served now: interfaces that appeared (or came up) get a port, ports whose
   * interface was set down or went away are closed. Without --interface every non-loopback interface
   * that is up is served; with it, the named ones whenever they exist and are up. A served interface
   * that only lost its carrier keeps its port: attaching XDP in native mode resets many NICs, which
   * drops the carrier for a moment, and the refresh that follows the change at once must not detach
   * (and then re-attach, and reset again).
   */
  private reconcilePorts(interfaces: HostInterface[]): void {
    const named = this.opts.interfaces ?? [];
    const eligible = (i: HostInterface) =>
      named.length ? named.includes(i.name) : !i.loopback && !isSlowPathVeth(i.name);
    const wanted = interfaces.filter((i) => i.up && eligible(i));
    let changed = false;
    for (const p of [...this.ports]) {
      const keep = (i: HostInterface) => i.ifindex === p.ifindex && i.name === p.iface.name && i.adminUp;
      if (interfaces.some((i) => keep(i) && eligible(i))) continue;
      this.removePort(p);
      changed = true;
    }
    for (const w of wanted) {
      if (this.portByIfindex.has(w.ifindex)) continue;
      try {
        this.addPort(w);
        changed = true;
      } catch (e) {
        this.opts.log.warn({ interface: w.name, err: (e as Error).message }, "cannot serve interface");
      }
    }
    if (changed && this.loop) {
      this.loop.stop();
      this.startLoop();
    }
  }

  private removePort(p: Port): void {
    this.releasePort(p);
    this.maps.removeInterface(p.ifindex);
    this.ports.splice(this.ports.indexOf(p), 1);
    this.portByIfindex.delete(p.ifindex);
    this.served.delete(p.ifindex);
    this.opts.log.info({ interface: p.iface.name }, "interface no longer served (down or gone)");
  }

  /** Detaches a port's programs and closes its sockets, maps and slow-path veth. */
  /**
   * The engine's counters now (what the stop line logs), and the fast path's: for `tslvs stats`
   * and the metrics, without stopping anything. Reads the sockets' kernel drop counters first.
   */
  /**
   * Attaches a connection capture to the slow path (one at a time: EBUSY otherwise); its connection,
   * once known, is kept off the fast path until endCapture().
   */
  startCapture(cap: FlowCapture): void {
    if (this.framePath.capture !== null)
      throw new IpvsError("EBUSY", "a capture is running already: one at a time");
    cap.onConn = (i) => this.fastPath?.offload.keepOff(i);
    this.framePath.capture = cap;
    if (cap.conn >= 0) cap.onConn(cap.conn);
  }

  /** Detaches the capture; its connection may take the fast path again. */
  endCapture(cap: FlowCapture): void {
    if (this.framePath.capture !== cap) return;
    this.framePath.capture = null;
    cap.onConn = null;
    this.fastPath?.offload.keepOff(-1);
  }

  /** The name of a served interface (a capture's frames say where they passed). */
  interfaceName(ifindex: number): string | undefined {
    return this.portByIfindex.get(ifindex)?.iface.name;
  }

  /** Whether the fast path forwards connection `index` now; null without a fast path. */
  fastPathHolds(index: number): boolean | null {
    return this.fastPath ? this.fastPath.offload.holds(index) : null;
  }

  liveCounters(): {
    engine: Record<string, number>;
    fastPath: Record<string, number> | null;
    steering?: Record<string, number>;
    fastPathDecisions?: Record<string, number>;
  } {
    this.collectOutsideCounters();
    const steering = this.steeringCounters();
    return {
      engine: { ...this.counters },
      fastPath: this.fastPath ? { ...this.fastPath.offload.counters } : null,
      ...(steering ? { steering } : {}),
      ...(this.fastPath ? { fastPathDecisions: { ...this.fastPath.maps.counters() } } : {}),
    };
  }

  /**
   * The steering program's counters summed over CPUs, by name: one map lookup per counter (eleven
   * system calls), cheap enough for a scrape. Undefined once the maps are closed (after stop).
   */
  steeringCounters(): Record<string, number> | undefined {
    try {
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(this.maps.counters())) out[k] = Number(v);
      return out;
    } catch {
      return undefined;
    }
  }

  /** Kernel drop counters of sockets already closed (released ports). */
  private closedDrops = { rxDropped: 0, rxRingFull: 0 };

  /** Updates the counters the kernel and the next-hop cache keep outside the slow path. */
  private collectOutsideCounters(): void {
    let dropped = this.closedDrops.rxDropped;
    let ringFull = this.closedDrops.rxRingFull;
    for (const p of this.ports)
      for (const s of p.rxSockets) {
        const st = s.statistics();
        dropped += Number(st.rxDropped);
        ringFull += Number(st.rxRingFull);
      }
    this.counters.kernelRxDropped = dropped;
    this.counters.kernelRxRingFull = ringFull;
    this.counters.nextHopRefused = this.nextHops.refused;
  }

  private releasePort(p: Port): void {
    for (const s of p.rxSockets) {
      try {
        const st = s.statistics();
        this.closedDrops.rxDropped += Number(st.rxDropped);
        this.closedDrops.rxRingFull += Number(st.rxRingFull);
      } catch {
        /* closed already */
      }
    }
    try {
      p.attachment.detach();
    } catch {
      /* the interface is gone, and its program with it */
    }
    if (p.aggregates) {
      try {
        p.aggregates.attachment.detach();
      } catch {
        /* gone with the interface */
      }
      closeFd(p.aggregates.prog);
      closeFd(p.aggregates.xsksMap);
    }
    for (const s of p.sockets) s.close();
    closeFd(p.prog);
    closeFd(p.xsksMap);
    if (p.slowPath) {
      p.slowPath.link.detach();
      closeFd(p.slowPath.prog);
      p.slowPath.veth.remove();
    }
  }

  /**
   * Serves an interface. "auto" picks the tc mode for a veth (native XDP on veth copies every frame
   * that comes from its peer, and redirects only to peers with NAPI; TC ingress does neither) and
   * for a driver that refuses native XDP; native XDP otherwise (docs/decisions/0850).
   */
  private addPort(iface: HostInterface): void {
    const mode = this.opts.xdpMode ?? "auto";
    if (mode === "tc" || (mode === "auto" && iface.kind === "veth")) {
      this.addTcPort(iface, mode === "auto" ? "veth: TC ingress takes its frames without a copy" : null);
      return;
    }
    const { sockets, xsksMap } = openQueueSockets(
      iface.name,
      this.umem,
      this.ports[0]?.sockets[0],
      "tslvs_xsks",
    );
    // The steering maps are shared by every interface's copy of the program.
    this.maps.setInterfaceMac(iface.ifindex, iface.mac);
    // Generic XDP is handed GRO's aggregates: it passes those on to the TC program beside it.
    const load = () =>
      loadSteeringProgram(
        { ...this.maps.fds, xsks: xsksMap },
        {
          ...(this.fastPath ? { fastPath: this.fastPath.maps.fds } : {}),
          ...(mode === "generic" ? { passLongerThan: XSK_MAX_FRAME } : {}),
          marks: this.markProgram,
        },
      );
    const prog = load();
    for (const s of sockets) s.refill();
    let attachment: ProgramAttachment;
    try {
      attachment =
        this.takeHeldLink(iface, prog) ??
        attachXdp(prog, iface.name, mode === "generic" ? "generic" : "native");
    } catch (e) {
      for (const s of sockets) s.close();
      closeFd(prog);
      closeFd(xsksMap);
      if (mode !== "auto" || !(e instanceof SysError)) throw e;
      this.addTcPort(iface, `no native XDP: ${e.message}`);
      return;
    }
    const port: Port = {
      iface,
      ifindex: iface.ifindex,
      mac: macToNumber(iface.mac),
      rxSockets: sockets,
      txSocket: sockets[0]!,
      sockets,
      xsksMap,
      prog,
      load,
      attachment,
      slowPath: null,
      aggregates: null,
    };
    if (attachment.mode === "generic") {
      try {
        this.addAggregatePath(port);
      } catch (e) {
        this.releasePort(port);
        throw e;
      }
    }
    this.addedPort(port);
  }

  /**
   * Generic XDP runs after GRO, so it is handed aggregates no AF_XDP frame holds (the program
   * passes them, `passLongerThan`). The tc mode's machinery takes them at TC ingress: the fast
   * path for established flows, else a slow-path veth that segments them on their way to AF_XDP
   * sockets of this port (frames leave through the port's own socket).
   */
  private addAggregatePath(port: Port): void {
    const iface = port.iface;
    const veth = SlowPathVeth.create(iface.ifindex, iface.mtu);
    let xsksMap = -1;
    let toXsk = -1;
    let prog = -1;
    let link: ProgramAttachment | null = null;
    const opened: XskSocket[] = [];
    try {
      const rx = openQueueSockets(
        veth.name,
        this.umem,
        this.ports[0]?.sockets[0] ?? port.sockets[0],
        "tslvs_xsks",
      );
      opened.push(...rx.sockets);
      xsksMap = rx.xsksMap;
      for (const s of rx.sockets) s.refill();
      toXsk = loadXskRedirectProgram(xsksMap);
      link = attachXdp(toXsk, veth.name, "native");
      const load = this.tcLoader(xsksMap, veth.peerIfindex);
      prog = load();
      const attachment = attachTcIngress(prog, iface.name, "generic XDP's aggregates");
      port.rxSockets = [...port.rxSockets, ...rx.sockets];
      port.sockets = [...port.sockets, ...rx.sockets];
      port.slowPath = { veth, prog: toXsk, link };
      port.aggregates = { prog, load, xsksMap, attachment };
    } catch (e) {
      for (const s of opened) s.close();
      link?.detach();
      for (const fd of [prog, toXsk, xsksMap]) if (fd >= 0) closeFd(fd);
      veth.remove();
      throw e;
    }
  }

  /**
   * The tc mode: the steering program and the fast path at the interface's TC ingress; steered
   * frames come to AF_XDP sockets on the interface's slow-path veth; frames leave through an
   * AF_XDP socket on the interface's queue 0 (transmitting needs no XDP program).
   */
  private addTcPort(iface: HostInterface, why: string | null): void {
    const opened: XskSocket[] = [];
    let veth: SlowPathVeth | null = null;
    let xsksMap = -1;
    let toXsk = -1;
    let link: ProgramAttachment | null = null;
    let prog = -1;
    try {
      veth = SlowPathVeth.create(iface.ifindex, iface.mtu);
      const rx = openQueueSockets(veth.name, this.umem, this.ports[0]?.sockets[0], "tslvs_xsks");
      opened.push(...rx.sockets);
      xsksMap = rx.xsksMap;
      const tx = openReleasedQueue(() =>
        XskSocket.open({ ifname: iface.name, queue: 0, umem: this.umem, shareWith: opened[0] }),
      );
      opened.push(tx);
      toXsk = loadXskRedirectProgram(xsksMap);
      for (const s of rx.sockets) s.refill();
      // Native XDP on a veth runs on what its peer transmits (veth_xmit), and takes the frame to
      // AF_XDP without generic XDP's skip of redirected skbs; it also drops the peer's GSO features.
      link = attachXdp(toXsk, veth.name, "native");
      this.maps.setInterfaceMac(iface.ifindex, iface.mac);
      const load = this.tcLoader(xsksMap, veth.peerIfindex);
      prog = load();
      const attachment = this.takeHeldLink(iface, prog, "tc") ?? attachTcIngress(prog, iface.name, why);
      this.addedPort({
        iface,
        ifindex: iface.ifindex,
        mac: macToNumber(iface.mac),
        rxSockets: rx.sockets,
        txSocket: tx,
        sockets: opened,
        xsksMap,
        prog,
        load,
        attachment,
        slowPath: { veth, prog: toXsk, link },
        aggregates: null,
      });
    } catch (e) {
      for (const s of opened) s.close();
      link?.detach();
      for (const fd of [prog, toXsk, xsksMap]) if (fd >= 0) closeFd(fd);
      veth?.remove();
      throw e;
    }
  }

  /** Loads the TC steering program whose steered frames go to the slow-path veth end `peerIfindex`. */
  private tcLoader(xsksMap: number, peerIfindex: number): () => number {
    return () =>
      loadSteeringProgram(
        { ...this.maps.fds, xsks: xsksMap },
        {
          hook: { tc: peerIfindex },
          ...(this.fastPath ? { fastPath: this.fastPath.maps.fds } : {}),
          marks: this.markProgram,
        },
      );
  }

  /**
   * The firewall-mark rules changed (the host's nftables ruleset or the config): every served
   * interface gets a program with the new rules, swapped in atomically through its link, and the
   * slow path evaluates them from its next frame.
   */
  setMarkRules(program: MarkProgram): void {
    const previous = this.markProgram;
    this.markProgram = program;
    // Every program is loaded before any is swapped in: one the verifier refuses changes nothing.
    const loaded: { port: Port; prog: number; aggregates: number | null }[] = [];
    try {
      for (const port of this.ports)
        loaded.push({ port, prog: port.load(), aggregates: port.aggregates ? port.aggregates.load() : null });
    } catch (e) {
      for (const l of loaded) {
        closeFd(l.prog);
        if (l.aggregates !== null) closeFd(l.aggregates);
      }
      this.markProgram = previous;
      throw e;
    }
    this.framePath.marks.program = program;
    this.steering.setMarkProgram(program);
    this.syncSteering();
    // An interface that went away meanwhile fails its swap; the others still get theirs.
    let failed: unknown = null;
    for (const l of loaded) {
      const agg = l.port.aggregates;
      try {
        l.port.prog = swapProgram(l.prog, l.port.prog, l.port.attachment);
      } catch (e) {
        failed ??= e;
      }
      if (agg && l.aggregates !== null) {
        try {
          agg.prog = swapProgram(l.aggregates, agg.prog, agg.attachment);
        } catch (e) {
          failed ??= e;
        }
      }
    }
    if (failed) throw failed;
  }

  private addedPort(port: Port): void {
    const { iface, attachment } = port;
    const queues = port.rxSockets.length;
    this.ports.push(port);
    this.portByIfindex.set(iface.ifindex, port);
    this.served.add(iface.ifindex);
    this.opts.log.info(
      { interface: iface.name, queues, mode: attachment.mode, fallback: attachment.fallbackReason },
      "serving interface",
    );
    if (attachment.mode === "generic") {
      // Generic XDP costs a copy of every frame; its aggregates take the TC path beside it.
      this.opts.log.info(
        { interface: iface.name },
        "generic XDP: GRO/TSO aggregates are passed to TC ingress, where the fast path or the slow-path veth takes them",
      );
    }
    // The tc mode takes aggregates whole: the fast path rewrites TCP ones of established flows, and
    // the slow-path veth segments every other one on its way to AF_XDP (slow-path-veth.ts).
  }

  /** The link a previous daemon held on this interface, now running `prog`; null when there is none. */
  private takeHeldLink(
    iface: HostInterface,
    prog: number,
    hook: "xdp" | "tc" = "xdp",
  ): ProgramAttachment | null {
    const held = this.opts.heldLinks?.find(
      (h) => h.ifindex === iface.ifindex && h.ifname === iface.name && (h.mode === "tc") === (hook === "tc"),
    );
    const linkFd = held ? reopenHeldLink(held) : null;
    if (!held || linkFd === null) return null;
    const attachment = new ProgramAttachment(linkFd, iface.ifindex, iface.name, held.mode, null);
    try {
      attachment.replaceProgram(prog);
    } catch (e) {
      attachment.detach();
      throw new Error(`could not take over the XDP link held on ${iface.name}: ${(e as Error).message}`);
    }
    this.opts.log.info({ interface: iface.name, linkId: held.linkId }, "took over the held XDP link");
    return attachment;
  }

  /** Make the steering program's maps match the director's services (call after every change). */
  syncSteering(): void {
    // Default LIPs are steered before their first connection, so the first reply already arrives.
    this.defaultLips.clear();
    const lips: IpAddr[] = [];
    for (const svc of this.director.services()) {
      if (svc.key.kind !== "addr" || this.director.getLaddrs(svc.key).length > 0) continue;
      for (const d of svc.dests) {
        const lip = d.method === "fullnat" ? this.defaultLip(d) : null;
        if (lip) lips.push(lip);
      }
    }
    this.steering.sync(this.director, lips);
    this.fastPath?.offload.revalidate();
    // Real servers' MACs are resolved ahead of their first packet: those not cached yet, each
    // once (a rule change must not cost a resolution per real server of every service).
    const asked = new Set<number | string>();
    for (const svc of this.director.services()) {
      for (const d of svc.dests) {
        const key = d.addr.family === 4 ? d.addr.v4Value : d.addr.toString();
        if (asked.has(key)) continue;
        asked.add(key);
        if (!this.nextHops.has(d.addr)) void this.nextHops.resolveAddr(d.addr);
      }
    }
  }

  /**
   * Re-reads the host's interfaces, routes and neighbours and follows them: ports for interfaces that
   * came or went, next hops, the fast path's view of both. Run by the refresher, one at a time.
   */
  private async refreshHostState(): Promise<void> {
    try {
      const [routes, interfaces] = await Promise.all([RouteTable.read(), readInterfaces()]);
      if (this.refresher === null) return; // stopped meanwhile
      this.counters.hostRefreshes++;
      this.collectOutsideCounters();
      this.reconcilePorts(interfaces);
      // Replies to the host's own sockets (health checks) pass: follow its addresses as they change.
      this.steering.setHostAddresses(hostAddresses(interfaces));
      await this.nextHops.refresh(routes, interfaces);
      this.fastPath?.hostStateChanged(this.nextHops);
    } catch (e) {
      this.opts.log.warn({ err: String(e) }, "could not read the host's routes or neighbours");
    }
  }

  /** One round: every RX socket's batch through the slow path, then one TX flush per touched port. */
  private step(): number {
    const bytes = this.umem.bytes;
    const batch = this.batch;
    const frameSize = this.umem.frameSize;
    const decision = this.decision;
    const now = this.opts.now();
    let handled = 0;
    for (const port of this.ports) port.txSocket.reapCompletions();
    for (const port of this.ports) {
      for (const rx of port.rxSockets) {
        rx.refill();
        const n = rx.receive(batch);
        for (let k = 0; k < n; k++) {
          const addr = batch.addrs[k]!;
          const len = batch.lens[k]!;
          let sent = false;
          try {
            // The frame's slot ends at the end of its UMEM chunk.
            const room = frameSize - (addr % frameSize);
            sent =
              this.framePath.process(bytes, addr, len, room, port, now, decision) &&
              this.transmit(decision.ifindex, decision.offset, decision.length);
          } catch (e) {
            this.counters.errors++;
            if (this.counters.errors <= 10) this.opts.log.error({ err: String(e) }, "frame handling failed");
          }
          if (!sent && !decision.held) this.umem.free(addr);
        }
        handled += n;
        this.counters.rxFrames += n;
      }
    }
    for (const p of this.touched) p.txSocket.flush();
    this.touched.length = 0;
    this.fastPath?.offload.flush();
    return handled;
  }

  /** A resolution finished: send the frames held for that next hop, or drop them when it failed. */
  private releaseHeld(hopAddr: number, hop: NextHop | null): void {
    if (this.ports.length === 0) return; // stopped: the frames went with the UMEM
    const bytes = this.umem.bytes;
    this.held.release(hopAddr, (addr, len) => {
      if (hop) {
        writeMac(bytes, addr, hop.dstMac);
        writeMac(bytes, addr + 6, hop.srcMac);
        if (this.transmit(hop.ifindex, addr, len)) return;
      } else {
        this.counters.noRoute++;
      }
      this.umem.free(addr);
    });
    for (const p of this.touched) p.txSocket.flush();
    this.touched.length = 0;
  }

  private transmit(ifindex: number, addr: number, len: number): boolean {
    const port = this.portByIfindex.get(ifindex);
    if (!port) {
      this.counters.noRoute++;
      return false;
    }
    if (!port.txSocket.send(addr, len)) {
      this.counters.txFull++;
      return false;
    }
    if (!this.touched.includes(port)) this.touched.push(port);
    this.counters.txFrames++;
    return true;
  }

  /**
   * Before a stop that a new daemon will follow: stops the packet loop and swaps into every link a
   * copy of the steering program that drops what it steers once this engine's sockets are closed
   * (instead of passing it to the host, which would reset the clients' connections). Returns the
   * links to hand over (their fds stay this engine's until stop()).
   */
  holdForRestart(): { links: HeldLink[]; fds: number[] } {
    this.stopWatchingHost();
    this.loop?.stop();
    const links: HeldLink[] = [];
    const fds: number[] = [];
    for (const p of this.ports) {
      const hold = loadSteeringProgram(
        { ...this.maps.fds, xsks: p.xsksMap },
        {
          missAction: "drop",
          hook: p.attachment.mode === "tc" ? { tc: 0 } : "xdp",
          marks: this.markProgram,
        },
      );
      try {
        p.attachment.replaceProgram(hold);
      } finally {
        closeFd(hold);
      }
      links.push({
        ifname: p.iface.name,
        ifindex: p.iface.ifindex,
        linkId: linkIdOf(p.attachment.linkFd),
        mode: p.attachment.mode,
      });
      fds.push(p.attachment.linkFd);
    }
    return { links, fds };
  }

  /** Detach from every interface and release the sockets (nothing stays on the interfaces). */
  stop(): void {
    this.director.setDefaultLocalAddress(null);
    this.stopWatchingHost();
    this.loop?.stop();
    this.collectOutsideCounters();
    for (const p of this.ports) this.releasePort(p);
    this.ports.length = 0;
    // Undefined on a second stop(): the maps are closed already.
    const steering = this.steeringCounters();
    if (steering) this.opts.log.info({ steering }, "steering program counters");
    this.maps.close();
    this.fastPath?.stop(this.opts.log);
    this.neighbours.close();
  }

  /** Settles when the packet loop has ended after stop(). */
  async stopped(): Promise<void> {
    await this.running;
    this.umem.destroy();
  }
}

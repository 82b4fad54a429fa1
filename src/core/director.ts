/**
 * The Director: the kernel's ip_vs_ctl (management with its refusals), ip_vs_core (the inbound and
 * outbound packet algorithms), ip_vs_conn (binding conns to dests, expiry) and the TCP/UDP protocol
 * handlers, without packet I/O. Time is passed in as seconds; nothing here reads a clock.
 */
import { IpAddr } from "./address.js";
import {
  type CheckedConn,
  type ConnRecord,
  type ConnSnapshot,
  type CounterRecord,
  checkConnRecord,
  type ImportResult,
  isInt,
  serviceKeyOf,
  serviceKeyRecord,
} from "./conn-snapshot.js";
import {
  CONN_F_BYPASS,
  CONN_F_DROUTE,
  CONN_F_FULLNAT,
  CONN_F_FWD_MASK,
  CONN_F_HASHED,
  CONN_F_INACTIVE,
  CONN_F_LOCALNODE,
  CONN_F_MASQ,
  CONN_F_NOOUTPUT,
  CONN_F_ONE_PACKET,
  CONN_F_OUT_HASHED,
  CONN_F_TEMPLATE,
  CONN_F_TUNNEL,
  ConnTable,
  CTPL_S_ASSURED,
} from "./conn-table.js";
import { DEST_F_AVAILABLE, Dest, type DestSpec, type FwdMethod } from "./dest.js";
import { IpvsError } from "./errors.js";
import type { Rates } from "./estimator.js";
import {
  type FlowPacket,
  IPPROTO_IP,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_RST,
  TCP_SYN,
} from "./flow.js";
import {
  DEFAULT_LOCAL_PORTS,
  LADDR_TRIES,
  LocalAddress,
  type LocalPortRange,
  ServiceLaddrs,
  validatePortRange,
} from "./laddr-pool.js";
import { fillTemplateKey, TemplateKey } from "./persistence.js";
import { RateBook } from "./rate-book.js";
import type { SchedulerContext, SchedulerModule } from "./scheduler.js";
import { getScheduler } from "./schedulers/registry.js";
import {
  type ServiceKey,
  type ServiceSpec,
  SVC_F_HASHED,
  SVC_F_ONEPACKET,
  VirtualService,
} from "./service.js";
import { FTP_DATA_PORT, FTP_PORT, ServiceTable, serviceKeyEquals } from "./service-table.js";
import { type COUNTER_FIELDS, Counters } from "./stats.js";
import { Sysctls } from "./sysctls.js";
import {
  DIR_INPUT,
  DIR_INPUT_ONLY,
  DIR_OUTPUT,
  TCP_S_CLOSE,
  TCP_S_ESTABLISHED,
  TCP_S_FIN_WAIT,
  TCP_S_TIME_WAIT,
  TCP_STATE_NAMES,
  TCP_STATES,
  TCP_STATES_SECURE,
  tcpNextState,
  tcpStateActive,
} from "./tcp-state.js";
import { overloadAfterBind, overloadAfterUnbind, overloadOnUpdate } from "./thresholds.js";
import { NEW_CONN_TIMEOUT, Timeouts, type TimeoutValues } from "./timeouts.js";
import {
  ACTION_DROP,
  ACTION_FORWARD,
  ACTION_ICMP_UNREACH,
  ACTION_PASS,
  type Verdict,
  type VerdictReason,
} from "./verdict.js";

/** Host address classes the director needs to validate a real server address (kernel inet_addr_type). */
export type AddrType = "local" | "unicast" | "broadcast" | "multicast" | "invalid";

/** Hooks for the rate estimator (kernel ip_vs_est.c), which lives apart from the director. */
export interface StatsHooks {
  /** Called from `tick` once per 2 s of passed time, with that sample's time. */
  tick?(now: number): void;
  /** A counters object was zeroed (`ipvsadm -Z`): its rates restart at 0. */
  zeroed?(counters: Counters): void;
  /** A counters object started / stopped being listed (service or dest added / freed). */
  added?(counters: Counters): void;
  removed?(counters: Counters): void;
}

/** Why a conn's fast-path offload (if any) must end: see `ConnEvents`. */
export const CONN_EVENT_LEFT_ESTABLISHED = 0;
export const CONN_EVENT_FREED = 1;

/**
 * Optional observer of conn life-cycle events, for a data plane that serves some packets of a conn
 * outside the director (an in-kernel fast path) and credits them back with `creditFlow`. Called
 * synchronously: a TCP conn leaving ESTABLISHED (the fast path must hand the conn back to the state
 * machine), and a conn about to be freed (its index will be reused). `beforeExpiry` runs at the
 * start of every `tick`, before due conns expire, so traffic served elsewhere re-arms their timers
 * first.
 */
export interface ConnEvents {
  connEvent(i: number, event: number): void;
  beforeExpiry?(now: number): void;
}

export interface DirectorOptions {
  /**
   * Scheduler lookup by name ("none" is handled by the director: no scheduler); default: the
   * registry of built-in and loaded plugin schedulers.
   */
  schedulers?: (name: string) => SchedulerModule | undefined;
  /** Uniform random in [0, 1) for twos and FULLNAT's LIP step; default Math.random. */
  random?: () => number;
  /** Maximum connections + templates; default 1,048,576. */
  connCapacity?: number;
  /** log2 of the connection hash's bucket count, 8..27 (kernel conn_tab_bits); default 12. */
  connTabBits?: number;
  /** Memory for the connection table's arrays (ConnTableOptions.allocate); default ArrayBuffer. */
  connMemory?: (bytes: number) => ArrayBuffer;
  /** Persistence engines accepted by name (kernel: "sip"). */
  persistenceEngines?: readonly string[];
  /** Classify a real server address; default: by address alone (no host addresses known). */
  addrType?: (addr: IpAddr) => AddrType;
  /** FULLNAT local ports; default 1025..65535, no exclusion. */
  localPorts?: LocalPortRange;
  /** Rate-estimator hooks; default: a RateBook (the kernel's estimator), read with `rates()`. */
  statsHooks?: StatsHooks;
}

/** One entry of `ipvsadm -Lc` (/proc/net/ip_vs_conn). */
export interface ConnInfo {
  protocol: string;
  af: 4 | 6;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daf: 4 | 6;
  daddr: string;
  dport: number;
  state: string;
  /** Whole seconds to expiry. */
  expires: number;
  template: boolean;
  /** FULLNAT only. */
  laddr?: string;
  lport?: number;
  /** Forwarding method name (bypass for cache-bypass conns). */
  method: FwdMethod | "bypass";
  peName: string;
  peData: string;
}

/** A listed entry and its record number in the connection table (`connectionsFrom`). */
export interface IndexedConnInfo {
  index: number;
  conn: ConnInfo;
}

export type CounterValues = Record<(typeof COUNTER_FIELDS)[number], number>;

/** Retry delay when a conn that still controls others is due (kernel "expire later"). */
const EXPIRE_LATER = 60;
/** How long an unreferenced deleted dest stays reusable (kernel IP_VS_DEST_TRASH_PERIOD). */
const DEST_TRASH_PERIOD = 120;
/** Estimator period. */
const RATE_PERIOD = 2;

const FWD_CODES: Record<FwdMethod, number> = {
  masq: CONN_F_MASQ,
  local: CONN_F_LOCALNODE,
  tunnel: CONN_F_TUNNEL,
  route: CONN_F_DROUTE,
  fullnat: CONN_F_FULLNAT,
};
const FWD_NAMES = ["masq", "local", "tunnel", "route", "bypass", "fullnat"] as const;

/** Conn flags a new conn to `dest` starts with (kernel dest->conn_flags). */
function destConnFlags(d: Dest): number {
  const fwd = FWD_CODES[d.method];
  let f = fwd | CONN_F_INACTIVE;
  if (fwd !== CONN_F_MASQ && fwd !== CONN_F_FULLNAT) f |= CONN_F_NOOUTPUT;
  return f;
}

function addTo(c: Counters, inPkts: number, inBytes: number, outPkts: number, outBytes: number): void {
  c.inPkts += inPkts;
  c.inBytes += inBytes;
  c.outPkts += outPkts;
  c.outBytes += outBytes;
}

/** Static address classification when the host's own addresses are unknown. */
export function defaultAddrType(a: IpAddr): AddrType {
  const w = a.words;
  if (a.family === 4) {
    const v = w[0]!;
    if (v >>> 24 === 0 || v === 0xffffffff) return "broadcast";
    if (v >>> 28 === 0xe) return "multicast";
    if (v >>> 24 === 127) return "local";
    return "unicast";
  }
  if (a.isUnspecified()) return "invalid";
  if (w[0]! >>> 24 === 0xff) return "multicast";
  if (w[0]! >>> 22 === 0x3fa) return "invalid"; // fe80::/10 link-local
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 1) return "local";
  return "unicast";
}

function checkInt(x: unknown, lo: number, hi: number): boolean {
  return typeof x === "number" && Number.isInteger(x) && x >= lo && x <= hi;
}

export class Director {
  readonly conns: ConnTable;
  readonly timeouts = new Timeouts();
  readonly sysctls = new Sysctls();
  /** Global counters (/proc/net/ip_vs_stats). */
  readonly totals = new Counters();
  /** Packets dropped because a new conn could not get a FULLNAT local port. */
  noLocalPort = 0;
  /** Observer of conn events (a fast path's offload); null when none. */
  connEvents: ConnEvents | null = null;

  private readonly lookupScheduler: (name: string) => SchedulerModule | undefined;
  private readonly random: () => number;
  private readonly pes: readonly string[];
  private readonly addrType: (a: IpAddr) => AddrType;
  private readonly localPorts: LocalPortRange;
  private readonly hooks: StatsHooks;
  private readonly rateBook: RateBook | null;
  private readonly svcs = new ServiceTable();
  private nextSvcId = 1;
  /** Dests by id (live and trashed); the table stores ids. */
  private readonly destById: (Dest | undefined)[] = [];
  /** The service each dest id belongs (or last belonged) to. */
  private readonly destSvc: (VirtualService | undefined)[] = [];
  private readonly freeDestIds: number[] = [];
  /** Deleted dests kept while conns reference them; value = when they became unreferenced (NaN: still referenced). */
  private readonly trash = new Map<Dest, number>();
  private readonly baselines = new WeakMap<Counters, CounterValues>();
  private readonly svcLaddrs = new Map<number, ServiceLaddrs>();
  private readonly localAddrs: (LocalAddress | undefined)[] = [];
  private defaultLaddr: ((dest: Dest) => IpAddr | null) | null = null;
  private nodestSweepPending = false;
  private nextRateTick = Number.NaN;
  private nowValue = 0;
  private readonly ctx: SchedulerContext;
  private readonly tkey = new TemplateKey();
  private readonly scratch = new Uint32Array(4);
  private readonly scratch2 = new Uint32Array(4);

  constructor(opts: DirectorOptions) {
    const bits = opts.connTabBits ?? 12;
    if (!checkInt(bits, 8, 27)) throw new RangeError(`connTabBits must be 8..27, not ${bits}`);
    const cap = opts.connCapacity ?? 1 << 20;
    this.conns = new ConnTable({
      capacity: cap,
      bucketBits: bits,
      seed: Math.floor((opts.random ?? Math.random)() * 0x100000000),
      allocate: opts.connMemory,
    });
    this.lookupScheduler = opts.schedulers ?? getScheduler;
    this.random = opts.random ?? Math.random;
    this.pes = opts.persistenceEngines ?? ["sip"];
    this.addrType = opts.addrType ?? defaultAddrType;
    this.localPorts = opts.localPorts ?? DEFAULT_LOCAL_PORTS;
    validatePortRange(this.localPorts);
    this.rateBook = opts.statsHooks ? null : new RateBook();
    this.hooks = opts.statsHooks ?? this.rateBook!;
    const random = this.random;
    this.ctx = {
      now: () => this.nowValue,
      randomBelow: (n: number) => Math.floor(random() * n),
    };
    this.hooks.added?.(this.totals);
  }

  /** Current rates of a counters object (kernel estimator); zeros when custom statsHooks replace it. */
  rates(c: Counters): Rates {
    return this.rateBook ? this.rateBook.rates(c) : { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
  }

  /** The connection hash's bucket count ("size=" of `ipvsadm -L`). */
  get bucketCount(): number {
    return this.conns.bucketCount;
  }

  // ---------------------------------------------------------------- services

  findService(key: ServiceKey): VirtualService | undefined {
    return this.svcs.find(key);
  }

  /** Services in a stable order (the order they were added). */
  services(): VirtualService[] {
    return [...this.svcs.all()];
  }

  private validateServiceSpec(spec: ServiceSpec): void {
    const k = spec.key;
    if (k.kind === "addr") {
      if (!checkInt(k.protocol, 0, 255) || !checkInt(k.port, 0, 65535))
        throw new IpvsError("EINVAL", "service protocol must be 0..255 and port 0..65535");
    } else {
      if (k.family !== 4 && k.family !== 6) throw new IpvsError("EAFNOSUPPORT", "family must be 4 or 6");
      if (!checkInt(k.fwmark, 1, 0xffffffff)) throw new IpvsError("EINVAL", "fwmark must be 1..4294967295");
    }
    if (!checkInt(spec.timeout, 0, 0xffffffff)) throw new IpvsError("EINVAL", "bad persistence timeout");
    if (!checkInt(spec.flags, 0, 0xffffffff)) throw new IpvsError("EINVAL", "bad service flags");
  }

  /** Kernel order of checks after the existence check: scheduler, PE, IPv6 netmask. */
  private checkSchedPeMask(spec: ServiceSpec): SchedulerModule | null {
    let mod: SchedulerModule | null = null;
    if (spec.scheduler !== "none") {
      mod = this.lookupScheduler(spec.scheduler) ?? null;
      if (!mod) throw new IpvsError("ENOENT", `scheduler ${JSON.stringify(spec.scheduler)} not found`);
    }
    if (spec.pe && !this.pes.includes(spec.pe))
      throw new IpvsError("ENOENT", `persistence engine ${JSON.stringify(spec.pe)} not found`);
    const family = spec.key.kind === "addr" ? spec.key.addr.family : spec.key.family;
    if (family === 6 && !checkInt(spec.netmask, 1, 128))
      throw new IpvsError("EINVAL", `IPv6 prefix length must be 1..128, not ${spec.netmask}`);
    if (family === 4 && !checkInt(spec.netmask, 0, 0xffffffff)) throw new IpvsError("EINVAL", "bad netmask");
    return mod;
  }

  addService(spec: ServiceSpec): VirtualService {
    this.validateServiceSpec(spec);
    if (this.svcs.find(spec.key)) throw new IpvsError("EEXIST", "service already exists");
    const mod = this.checkSchedPeMask(spec);
    const svc = new VirtualService(this.nextSvcId++, { ...spec, flags: spec.flags & ~SVC_F_HASHED });
    if (mod) svc.scheduler = mod.create(svc, this.ctx);
    this.svcs.add(svc);
    this.hooks.added?.(svc.stats);
    return svc;
  }

  /** `-E`: replaces scheduler, flags, timeout, netmask and PE; rebinds the scheduler if its name changed. */
  editService(spec: ServiceSpec): VirtualService {
    this.validateServiceSpec(spec);
    const svc = this.svcs.find(spec.key);
    if (!svc) throw new IpvsError("ESRCH", "no such service");
    const mod = this.checkSchedPeMask(spec);
    if (spec.scheduler !== svc.schedName) {
      const old = svc.scheduler;
      svc.scheduler = null;
      old?.done?.(svc);
      svc.schedName = spec.scheduler;
      if (mod) svc.scheduler = mod.create(svc, this.ctx);
    }
    svc.flags = spec.flags & ~SVC_F_HASHED;
    svc.timeout = spec.timeout;
    svc.netmask = spec.netmask;
    svc.pe = spec.pe;
    return svc;
  }

  delService(key: ServiceKey): void {
    const svc = this.svcs.find(key);
    if (!svc) throw new IpvsError("ESRCH", "no such service");
    this.removeService(svc);
  }

  private removeService(svc: VirtualService): void {
    const sched = svc.scheduler;
    svc.scheduler = null;
    sched?.done?.(svc);
    for (const d of svc.dests.splice(0)) this.trashDest(d);
    const la = this.svcLaddrs.get(svc.id);
    if (la) {
      for (const lip of la.list) this.releaseLip(lip);
      this.svcLaddrs.delete(svc.id);
    }
    this.svcs.remove(svc);
    this.hooks.removed?.(svc.stats);
  }

  /** `-C`: every service and its real servers. */
  flush(): void {
    for (const svc of this.services()) this.removeService(svc);
  }

  // ---------------------------------------------------------------- real servers

  private checkDestSpec(svc: VirtualService, spec: DestSpec, forAdd: boolean): void {
    if (!checkInt(spec.port, 0, 65535)) throw new IpvsError("EINVAL", "port must be 0..65535");
    if (!(spec.method in FWD_CODES))
      throw new IpvsError("EINVAL", `unknown forwarding method ${spec.method}`);
    if (!checkInt(spec.uThreshold, 0, 0x7fffffff) || !checkInt(spec.lThreshold, 0, 0x7fffffff))
      throw new IpvsError("EINVAL", "thresholds must be 0..2147483647");
    if (spec.addr.family !== svc.family && spec.method !== "tunnel")
      throw new IpvsError("EINVAL", "a real server of another family must use tunnelling");
    if (!Number.isInteger(spec.weight) || spec.weight < 0 || spec.weight > 0x7fffffff)
      throw new IpvsError("ERANGE", "weight must be 0..2147483647");
    if (spec.lThreshold > spec.uThreshold)
      throw new IpvsError("ERANGE", "lower threshold is above the upper threshold");
    if (spec.method === "tunnel" && spec.tunType === "gue" && spec.tunPort === 0)
      throw new IpvsError("EINVAL", "GUE tunnels need a port");
    void forAdd;
  }

  private findDest(svc: VirtualService, addr: IpAddr, port: number): Dest | undefined {
    return svc.dests.find((d) => d.port === port && d.addr.equals(addr));
  }

  /** `-a`: the new dest goes to the head of svc.dests; a matching dest from the trash is reused. */
  addDest(key: ServiceKey, spec: DestSpec): Dest {
    const svc = this.svcs.find(key);
    if (!svc) throw new IpvsError("ESRCH", "service not defined");
    this.checkDestSpec(svc, spec, true);
    if (this.findDest(svc, spec.addr, spec.port)) throw new IpvsError("EEXIST", "destination already exists");
    let dest: Dest | undefined;
    for (const d of this.trash.keys()) {
      const owner = this.destSvc[d.id];
      if (d.port === spec.port && d.addr.equals(spec.addr) && owner && serviceKeyEquals(owner.key, svc.key)) {
        dest = d;
        break;
      }
    }
    if (dest) {
      this.trash.delete(dest);
    } else {
      const t = this.addrType(spec.addr);
      if (t !== "local" && t !== "unicast")
        throw new IpvsError("EINVAL", `${spec.addr} is not a unicast address a real server can have`);
      const id = this.freeDestIds.length > 0 ? this.freeDestIds.pop()! : this.destById.length;
      dest = new Dest(id, spec);
      this.destById[id] = dest;
      this.hooks.added?.(dest.stats);
    }
    this.updateDest(svc, dest, spec, true);
    return dest;
  }

  editDest(key: ServiceKey, spec: DestSpec): Dest {
    const svc = this.svcs.find(key);
    if (!svc) throw new IpvsError("ESRCH", "service not defined");
    this.checkDestSpec(svc, spec, false);
    const dest = this.findDest(svc, spec.addr, spec.port);
    if (!dest) throw new IpvsError("ENOENT", "no such destination");
    this.updateDest(svc, dest, spec, false);
    return dest;
  }

  private updateDest(svc: VirtualService, dest: Dest, spec: DestSpec, add: boolean): void {
    dest.weight = spec.weight;
    dest.method = spec.method;
    dest.tunType = spec.tunType;
    dest.tunPort = spec.tunPort;
    dest.tunCsum = spec.tunCsum;
    const owner = this.destSvc[dest.id];
    if (owner !== svc) {
      // Rebound to another service object (a re-created service reusing a trashed dest): fresh counters.
      if (owner) this.zeroCounters(dest.stats);
      this.destSvc[dest.id] = svc;
    }
    dest.flags |= DEST_F_AVAILABLE;
    overloadOnUpdate(dest, spec.uThreshold);
    dest.uThreshold = spec.uThreshold;
    dest.lThreshold = spec.lThreshold;
    if (add) {
      svc.dests.unshift(dest);
      svc.scheduler?.addDest?.(svc, dest);
    } else {
      svc.scheduler?.updDest?.(svc, dest);
    }
  }

  /** `-d`: the dest stops being AVAILABLE and lingers in the trash while conns reference it. */
  delDest(key: ServiceKey, addr: IpAddr, port: number): void {
    const svc = this.svcs.find(key);
    if (!svc) throw new IpvsError("ESRCH", "service not defined");
    const dest = this.findDest(svc, addr, port);
    if (!dest) throw new IpvsError("ENOENT", "no such destination");
    svc.dests.splice(svc.dests.indexOf(dest), 1);
    this.trashDest(dest);
    svc.scheduler?.delDest?.(svc, dest);
  }

  private trashDest(dest: Dest): void {
    dest.flags &= ~DEST_F_AVAILABLE;
    this.trash.set(dest, Number.NaN);
    if (this.sysctls.expire_nodest_conn) this.nodestSweepPending = true;
  }

  /** Dests deleted but still referenced (or recently unreferenced), kernel "dest trash". */
  trashedDests(): Dest[] {
    return [...this.trash.keys()];
  }

  /** The dest a conn's `destId` names (live or trashed). */
  destOfId(id: number): Dest | undefined {
    return this.destById[id];
  }

  /** The service a dest belongs to (or last belonged to). */
  serviceOf(dest: Dest): VirtualService | undefined {
    return this.destSvc[dest.id];
  }

  // ---------------------------------------------------------------- counters

  private zeroCounters(c: Counters): void {
    this.baselines.set(c, {
      conns: c.conns,
      inPkts: c.inPkts,
      outPkts: c.outPkts,
      inBytes: c.inBytes,
      outBytes: c.outBytes,
    });
    this.hooks.zeroed?.(c);
  }

  /** `-Z`: one service and its dests, or everything including the totals. Listed = current - baseline. */
  zero(key?: ServiceKey): void {
    if (key) {
      const svc = this.svcs.find(key);
      if (!svc) throw new IpvsError("ESRCH", "no such service");
      this.zeroService(svc);
      return;
    }
    for (const svc of this.svcs.all()) this.zeroService(svc);
    this.zeroCounters(this.totals);
  }

  private zeroService(svc: VirtualService): void {
    this.zeroCounters(svc.stats);
    for (const d of svc.dests) this.zeroCounters(d.stats);
  }

  /** The values `ipvsadm --stats` lists: raw counters minus the last zeroing's baseline. */
  displayed(c: Counters): CounterValues {
    const b = this.baselines.get(c);
    return {
      conns: c.conns - (b?.conns ?? 0),
      inPkts: c.inPkts - (b?.inPkts ?? 0),
      outPkts: c.outPkts - (b?.outPkts ?? 0),
      inBytes: c.inBytes - (b?.inBytes ?? 0),
      outBytes: c.outBytes - (b?.outBytes ?? 0),
    };
  }

  /** Every counters object that is listed: totals, services, their dests. For the rate estimator. */
  *statsObjects(): Generator<Counters> {
    yield this.totals;
    for (const svc of this.svcs.all()) {
      yield svc.stats;
      for (const d of svc.dests) yield d.stats;
    }
  }

  // ---------------------------------------------------------------- timeouts

  setTimeouts(v: TimeoutValues): void {
    this.timeouts.set(v);
  }

  getTimeouts(): TimeoutValues {
    return this.timeouts.get();
  }

  // ---------------------------------------------------------------- FULLNAT local addresses

  /** Add a local address to a service's FULLNAT pool (DPVS `dpip laddr add`). */
  addLaddr(key: ServiceKey, addr: IpAddr, ifname: string): void {
    const svc = this.svcs.find(key);
    if (!svc) throw new IpvsError("ESRCH", "no such service");
    if (addr.family !== svc.family && svc.key.kind === "addr")
      throw new IpvsError("EINVAL", "local address family differs from the service's");
    let la = this.svcLaddrs.get(svc.id);
    if (!la) {
      la = new ServiceLaddrs();
      this.svcLaddrs.set(svc.id, la);
    }
    if (la.list.some((l) => l.addr.equals(addr)))
      throw new IpvsError("EEXIST", "local address already exists");
    let lip = this.localAddrs.find((l) => l?.addr.equals(addr));
    if (!lip) {
      let id = this.localAddrs.indexOf(undefined);
      if (id < 0) id = this.localAddrs.length;
      lip = new LocalAddress(id, addr, ifname, this.localPorts);
      this.localAddrs[id] = lip;
    }
    lip.ifname = ifname;
    lip.services++;
    la.list.push(lip);
  }

  /** Remove a local address from a service; conns using it keep their ports until they expire. */
  delLaddr(key: ServiceKey, addr: IpAddr): void {
    const svc = this.svcs.find(key);
    if (!svc) throw new IpvsError("ESRCH", "no such service");
    const la = this.svcLaddrs.get(svc.id);
    const at = la ? la.list.findIndex((l) => l.addr.equals(addr)) : -1;
    if (!la || at < 0) throw new IpvsError("ENOENT", "no such local address");
    const [lip] = la.list.splice(at, 1);
    if (la.cursor >= la.list.length) la.cursor = 0;
    this.releaseLip(lip!);
  }

  getLaddrs(key: ServiceKey): { addr: IpAddr; ifname: string; portsInUse: number }[] {
    const svc = this.svcs.find(key);
    if (!svc) throw new IpvsError("ESRCH", "no such service");
    return (this.svcLaddrs.get(svc.id)?.list ?? []).map((l) => ({
      addr: l.addr,
      ifname: l.ifname,
      portsInUse: l.portsInUse,
    }));
  }

  private releaseLip(lip: LocalAddress): void {
    lip.services--;
    if (lip.services === 0 && lip.portsInUse === 0 && !lip.pinned) this.localAddrs[lip.id] = undefined;
  }

  /** The FULLNAT local port range every LIP allocates from. */
  get localPortRange(): LocalPortRange {
    return this.localPorts;
  }

  /**
   * Where a FULLNAT service without a local-address pool takes its source address: the data plane
   * supplies the director's own address toward the real server (its route's preferred source). With
   * no supplier, or when it returns null, such a service refuses new connections (counted).
   */
  setDefaultLocalAddress(supplier: ((dest: Dest) => IpAddr | null) | null): void {
    this.defaultLaddr = supplier;
  }

  /** Every local address conns may use now or still hold ports on (pools and defaults). */
  localAddresses(): IpAddr[] {
    return this.localAddrs.filter((l): l is LocalAddress => l !== undefined).map((l) => l.addr);
  }

  /** The pinned default LIP for `addr`, made on first use. */
  private defaultLip(addr: IpAddr): LocalAddress {
    let lip = this.localAddrs.find((l) => l?.addr.equals(addr));
    if (!lip) {
      let id = this.localAddrs.indexOf(undefined);
      if (id < 0) id = this.localAddrs.length;
      lip = new LocalAddress(id, addr, "", this.localPorts);
      this.localAddrs[id] = lip;
    }
    lip.pinned = true;
    return lip;
  }

  /** Give conn i a local address and port from its service's pool; false when none is free. */
  private bindLocal(i: number, svc: VirtualService, dest: Dest | null): boolean {
    const la = this.svcLaddrs.get(svc.id);
    if (!la || la.list.length === 0) {
      const addr = dest && this.defaultLaddr ? this.defaultLaddr(dest) : null;
      if (!addr || addr.family !== dest!.addr.family) return false;
      const lip = this.defaultLip(addr);
      const port = lip.ring(this.conns.protoOf(i)).take();
      if (port < 0) return false;
      this.conns.setLocal(i, lip.addr.words, port);
      this.conns.lpool[i] = lip.id;
      return true;
    }
    const n = la.list.length;
    const tries = Math.min(LADDR_TRIES, n);
    const rrLike = svc.schedName === "rr" || svc.schedName === "wrr";
    const proto = this.conns.protoOf(i);
    for (let t = 0; t < tries; t++) {
      const lip = la.list[la.cursor % n]!;
      // DPVS steps two LIPs 5 % of the time under rr/wrr, to avoid lock-step with the RS rotation.
      const step = rrLike && this.random() < 0.05 ? 2 : 1;
      la.cursor = (la.cursor + step) % n;
      const port = lip.ring(proto).take();
      if (port >= 0) {
        this.conns.setLocal(i, lip.addr.words, port);
        this.conns.lpool[i] = lip.id;
        return true;
      }
    }
    return false;
  }

  private unbindLocal(i: number): void {
    const id = this.conns.lpool[i]!;
    if (id < 0) return;
    const lip = this.localAddrs[id];
    this.conns.lpool[i] = -1;
    if (!lip) return;
    lip.ring(this.conns.protoOf(i)).give(this.conns.lportOf(i));
    if (lip.services === 0 && lip.portsInUse === 0 && !lip.pinned) this.localAddrs[lip.id] = undefined;
  }

  // ---------------------------------------------------------------- conn binding

  private bindDest(i: number, dest: Dest): void {
    const t = this.conns;
    t.destId[i] = dest.id;
    if (t.flags[i]! & CONN_F_TEMPLATE) dest.persistConns++;
    else if (t.flags[i]! & CONN_F_INACTIVE) dest.inactConns++;
    else dest.activeConns++;
    overloadAfterBind(dest);
    this.notifyDest(dest);
  }

  private unbindDest(i: number): void {
    const t = this.conns;
    const id = t.destId[i]!;
    if (id < 0) return;
    t.destId[i] = -1;
    const dest = this.destById[id]!;
    if (t.flags[i]! & CONN_F_TEMPLATE) dest.persistConns--;
    else if (t.flags[i]! & CONN_F_INACTIVE) dest.inactConns--;
    else dest.activeConns--;
    overloadAfterUnbind(dest);
    this.notifyDest(dest);
    if (
      !dest.available &&
      dest.activeConns + dest.inactConns + dest.persistConns === 0 &&
      this.trash.has(dest)
    )
      this.trash.set(dest, this.nowValue);
  }

  private notifyDest(dest: Dest): void {
    if (!dest.available) return;
    const svc = this.destSvc[dest.id];
    svc?.scheduler?.destChanged?.(svc, dest);
  }

  /**
   * Create and hash a conn or template. Returns its index, or -1 when the table is full, -2 when
   * no FULLNAT local port is free (both counted).
   */
  private newConn(
    svc: VirtualService | null,
    proto: number,
    af: number,
    caddr: ArrayLike<number>,
    cport: number,
    vaddr: ArrayLike<number>,
    vport: number,
    dest: Dest | null,
    daf: number,
    daddr: ArrayLike<number>,
    dport: number,
    flags: number,
    fwmark: number,
    now: number,
  ): number {
    if (dest) flags |= destConnFlags(dest);
    if (proto !== IPPROTO_UDP) flags &= ~CONN_F_ONE_PACKET;
    const t = this.conns;
    const i = t.alloc(proto, af, caddr, cport, vaddr, vport, daf, daddr, dport, flags);
    if (i < 0) return -1;
    t.fwmark[i] = fwmark;
    t.timeout[i] = NEW_CONN_TIMEOUT;
    if (dest) this.bindDest(i, dest);
    const fwd = flags & CONN_F_FWD_MASK;
    if (fwd === CONN_F_FULLNAT && !(flags & CONN_F_TEMPLATE) && svc) {
      if (!this.bindLocal(i, svc, dest)) {
        this.unbindDest(i);
        t.free(i);
        this.noLocalPort++;
        return -2;
      }
    }
    if (!(flags & CONN_F_ONE_PACKET)) {
      t.hashIn(i);
      if ((fwd === CONN_F_MASQ || fwd === CONN_F_FULLNAT) && !(flags & CONN_F_TEMPLATE)) t.hashOut(i);
    }
    t.wheel.arm(i, now + NEW_CONN_TIMEOUT);
    return i;
  }

  /**
   * Expire conn i (kernel ip_vs_conn_expire). A conn that still controls others is re-armed for 60 s
   * instead, and its timeout becomes 60 s. `forced` (a drop, not a timeout) also drops an unused
   * controlling template that is not ASSURED.
   */
  private expire(i: number, now: number, forced: boolean): void {
    const t = this.conns;
    if (t.nControl[i]! > 0) {
      t.timeout[i] = EXPIRE_LATER;
      t.wheel.arm(i, now + EXPIRE_LATER);
      return;
    }
    this.connEvents?.connEvent(i, CONN_EVENT_FREED);
    if (t.flags[i]! & CONN_F_HASHED) t.unhashIn(i);
    if (t.flags[i]! & CONN_F_OUT_HASHED) t.unhashOut(i);
    t.wheel.disarm(i);
    const ct = t.control[i]!;
    if (ct >= 0) {
      t.control[i] = -1;
      t.nControl[ct]!--;
      if (
        forced &&
        t.nControl[ct] === 0 &&
        (!(t.flags[ct]! & CONN_F_TEMPLATE) || !(t.state[ct]! & CTPL_S_ASSURED))
      )
        this.expire(ct, now, false);
    }
    this.unbindLocal(i);
    this.unbindDest(i);
    t.free(i);
  }

  /** A conn that still controls others is only re-armed; otherwise gone now. */
  private expireNow(i: number, now: number, forced = false): void {
    this.expire(i, now, forced);
  }

  /** Kernel ip_vs_check_template: a template to a dead or (optionally) quiesced dest is neutralised. */
  private templateValid(ct: number): boolean {
    const t = this.conns;
    const id = t.destId[ct]!;
    const dest = id >= 0 ? this.destById[id] : undefined;
    if (dest?.available && !(this.sysctls.expire_quiescent_template && dest.weight === 0)) return true;
    if (t.vportOf(ct) !== 0xffff) {
      // Rehash under ports that no packet can carry, so it is never found again; it just expires.
      t.unhashIn(ct);
      t.setPorts(ct, 0, 0xffff, 0xffff);
      t.hashIn(ct);
    }
    return false;
  }

  private controlAdd(cp: number, ct: number): void {
    this.conns.control[cp] = ct;
    this.conns.nControl[ct]!++;
  }

  /** Mark the controlling template of conn i ASSURED. */
  private assureControl(i: number): void {
    const ct = this.conns.control[i]!;
    if (ct >= 0 && this.conns.flags[ct]! & CONN_F_TEMPLATE) this.conns.state[ct]! |= CTPL_S_ASSURED;
  }

  // ---------------------------------------------------------------- state machine

  private setState(i: number, dir: number, pkt: FlowPacket): void {
    const t = this.conns;
    const proto = t.protoOf(i);
    if (proto === IPPROTO_TCP) {
      let off = dir;
      const f = t.flags[i]!;
      if (f & CONN_F_NOOUTPUT) {
        if (dir === DIR_OUTPUT) t.flags[i] = f & ~CONN_F_NOOUTPUT;
        else off = DIR_INPUT_ONLY;
      }
      const table = this.sysctls.secure_tcp === 3 ? TCP_STATES_SECURE : TCP_STATES;
      const old = t.state[i]!;
      const next = tcpNextState(table, off, old, pkt.tcpFlags);
      if (next !== old) {
        const id = t.destId[i]!;
        if (id >= 0) {
          const dest = this.destById[id]!;
          const fl = t.flags[i]!;
          if (!(fl & CONN_F_INACTIVE) && !tcpStateActive(next)) {
            dest.activeConns--;
            dest.inactConns++;
            t.flags[i] = fl | CONN_F_INACTIVE;
            this.notifyDest(dest);
          } else if (fl & CONN_F_INACTIVE && tcpStateActive(next)) {
            dest.activeConns++;
            dest.inactConns--;
            t.flags[i] = fl & ~CONN_F_INACTIVE;
            this.notifyDest(dest);
          }
        }
        if (next === TCP_S_ESTABLISHED) this.assureControl(i);
        else if (old === TCP_S_ESTABLISHED) this.connEvents?.connEvent(i, CONN_EVENT_LEFT_ESTABLISHED);
      }
      t.state[i] = next;
      t.timeout[i] = this.timeouts.tcp[next]!;
    } else if (proto === IPPROTO_UDP) {
      t.timeout[i] = this.timeouts.udp;
      if (dir === DIR_OUTPUT) this.assureControl(i);
    }
  }

  // ---------------------------------------------------------------- packet path

  private inStats(i: number, bytes: number): void {
    this.addTraffic(this.conns.destId[i]!, 1, bytes, 0, 0);
  }

  private outStats(i: number, bytes: number): void {
    this.addTraffic(this.conns.destId[i]!, 0, 0, 1, bytes);
  }

  /** Adds traffic to dest `id`'s counters, its service's and the totals (none for an unavailable dest). */
  private addTraffic(id: number, inPkts: number, inBytes: number, outPkts: number, outBytes: number): void {
    if (id < 0) return;
    const dest = this.destById[id]!;
    if (!dest.available) return;
    addTo(dest.stats, inPkts, inBytes, outPkts, outBytes);
    addTo(this.destSvc[id]!.stats, inPkts, inBytes, outPkts, outBytes);
    addTo(this.totals, inPkts, inBytes, outPkts, outBytes);
  }

  /**
   * Credits packets of conn i that a fast path forwarded without the director (kernel: the packets
   * IPVS would have counted in ip_vs_in/ip_vs_out): the dest, service and global in/out counters,
   * and the idle timer re-armed from `lastSeen` (seconds, the director's clock) when that is later
   * than what it was armed from. Only live, non-template conns are credited; returns false otherwise.
   */
  creditFlow(
    i: number,
    inPkts: number,
    inBytes: number,
    outPkts: number,
    outBytes: number,
    lastSeen: number,
  ): boolean {
    const t = this.conns;
    if (i < 0 || i >= t.capacity || !t.isLive(i) || t.flags[i]! & CONN_F_TEMPLATE) return false;
    this.addTraffic(t.destId[i]!, inPkts, inBytes, outPkts, outBytes);
    t.inPkts[i] = t.inPkts[i]! + inPkts;
    const at = lastSeen + t.timeout[i]!;
    if (at > t.wheel.expireAt[i]!) t.wheel.arm(i, at);
    return true;
  }

  private connStats(dest: Dest, svc: VirtualService): void {
    dest.stats.conns++;
    svc.stats.conns++;
    this.totals.conns++;
  }

  private static result(out: Verdict, action: Verdict["action"], reason: VerdictReason): Verdict {
    out.action = action;
    out.reason = reason;
    return out;
  }

  /** The packet-path service lookup: fwmark, then (proto, addr, port), FTP's port 21, the port-0 service. */
  findServiceFor(pkt: FlowPacket): VirtualService | undefined {
    const af = pkt.family;
    if (pkt.fwmark !== 0) {
      const s = this.svcs.findMark(af, pkt.fwmark >>> 0);
      if (s) return s;
    }
    let s = this.svcs.findAddr(af, pkt.protocol, pkt.daddr, pkt.dport);
    if (
      !s &&
      pkt.protocol === IPPROTO_TCP &&
      this.svcs.ftpServices > 0 &&
      (pkt.dport === FTP_DATA_PORT || pkt.dport >= 1024)
    )
      s = this.svcs.findAddr(af, pkt.protocol, pkt.daddr, FTP_PORT);
    if (!s && this.svcs.nullServices > 0) s = this.svcs.findAddr(af, pkt.protocol, pkt.daddr, 0);
    return s;
  }

  /** Kernel is_new_conn_expected: may a new SYN replace this (closing) conn? */
  private reusable(i: number, mode: number): boolean {
    const t = this.conns;
    if (t.control[i]! >= 0) return false;
    if (t.protoOf(i) !== IPPROTO_TCP) return false;
    const s = t.state[i]!;
    return (
      s === TCP_S_TIME_WAIT ||
      s === TCP_S_CLOSE ||
      ((mode & 2) !== 0 && s === TCP_S_FIN_WAIT && (t.flags[i]! & CONN_F_NOOUTPUT) !== 0)
    );
  }

  /**
   * A client -> virtual service packet (kernel ip_vs_in, §2.6). Fills and returns `out`.
   * `now` is the time in seconds.
   */
  inbound(pkt: FlowPacket, now: number, out: Verdict): Verdict {
    out.reset();
    this.nowValue = now;
    const proto = pkt.protocol;
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP)
      return Director.result(out, ACTION_PASS, "unsupported-protocol");
    if (this.sysctls.backup_only) return Director.result(out, ACTION_PASS, "not-ours");
    const t = this.conns;
    const sys = this.sysctls;
    let i = t.lookupIn(proto, pkt.family, pkt.saddr, pkt.sport, pkt.daddr, pkt.dport, false);

    if (i >= 0 && sys.conn_reuse_mode && proto === IPPROTO_TCP && pkt.tcpFlags & TCP_SYN) {
      const id = t.destId[i]!;
      const dest = id >= 0 ? this.destById[id] : undefined;
      let resched = false;
      if (sys.expire_nodest_conn && dest && dest.weight === 0) resched = true;
      else if (this.reusable(i, sys.conn_reuse_mode)) resched = true;
      if (resched) {
        if (t.nControl[i] === 0) this.expireNow(i, now);
        i = -1;
      }
    }

    if (i >= 0) {
      const id = t.destId[i]!;
      if (id >= 0 && !this.destById[id]!.available) {
        if (!sys.expire_nodest_conn) return Director.result(out, ACTION_DROP, "dest-unavailable");
        this.expireNow(i, now);
        i = -1;
      }
    }

    let isNew = false;
    if (i < 0) {
      if (proto === IPPROTO_TCP) {
        const f = pkt.tcpFlags;
        if (f & TCP_RST || !(sys.sloppy_tcp || f & TCP_SYN))
          return Director.result(out, ACTION_PASS, "not-schedulable");
      }
      const svc = this.findServiceFor(pkt);
      if (!svc) return Director.result(out, ACTION_PASS, "no-service");
      i = this.schedule(svc, pkt, now, out);
      if (i < 0) return out;
      isNew = true;
    }

    // Count, move the state machine, decide the rewrite, re-arm the idle timer.
    this.inStats(i, pkt.length);
    this.setState(i, DIR_INPUT, pkt);
    t.inPkts[i]!++;
    this.fillInbound(i, pkt, out);
    out.isNew = isNew;
    if (t.flags[i]! & CONN_F_ONE_PACKET) {
      // One-packet scheduling: the conn ends with its packet.
      this.expire(i, now, false);
      out.conn = -1;
    } else {
      t.wheel.arm(i, now + t.timeout[i]!);
    }
    return out;
  }

  private fillInbound(i: number, pkt: FlowPacket, out: Verdict): void {
    const t = this.conns;
    const fwd = t.flags[i]! & CONN_F_FWD_MASK;
    const id = t.destId[i]!;
    out.action = ACTION_FORWARD;
    out.conn = i;
    out.fwd = fwd;
    out.dest = id >= 0 ? this.destById[id]! : null;
    out.srcAddr.set(pkt.saddr);
    out.srcPort = pkt.sport;
    if (fwd === CONN_F_MASQ || fwd === CONN_F_FULLNAT) {
      out.family = t.dafOf(i);
      t.readDaddr(i, out.dstAddr);
      out.dstPort = t.dportOf(i);
      out.rewriteDst = true;
      if (fwd === CONN_F_FULLNAT) {
        t.readLaddr(i, out.srcAddr);
        out.srcPort = t.lportOf(i);
        out.rewriteSrc = true;
      }
    } else {
      // DR, tunnel, local, bypass: the packet keeps its addresses; `dest` says where it goes.
      out.family = pkt.family;
      out.dstAddr.set(pkt.daddr);
      out.dstPort = pkt.dport;
    }
  }

  /**
   * Kernel ip_vs_schedule + ip_vs_leave: create the conn for a packet of `svc`, or fill `out` with
   * why not and return -1.
   */
  private schedule(svc: VirtualService, pkt: FlowPacket, now: number, out: Verdict): number {
    if (pkt.sport === FTP_DATA_PORT) {
      Director.result(out, ACTION_PASS, "ftp-data");
      return -1;
    }
    if (svc.persistent) return this.schedulePersistent(svc, pkt, now, out);
    if (svc.key.kind === "addr" && pkt.dport !== svc.port) return this.leave(svc, pkt, now, out);
    const dest = svc.scheduler ? svc.scheduler.schedule(svc, pkt) : null;
    if (!dest) return this.leave(svc, pkt, now, out);
    const flags = svc.flags & SVC_F_ONEPACKET && pkt.protocol === IPPROTO_UDP ? CONN_F_ONE_PACKET : 0;
    const i = this.newConn(
      svc,
      pkt.protocol,
      pkt.family,
      pkt.saddr,
      pkt.sport,
      pkt.daddr,
      pkt.dport,
      dest,
      dest.addr.family,
      dest.addr.words,
      dest.port !== 0 ? dest.port : pkt.dport,
      flags,
      pkt.fwmark,
      now,
    );
    if (i < 0) return this.refused(i, out);
    this.connStats(dest, svc);
    return i;
  }

  private refused(code: number, out: Verdict): number {
    Director.result(out, ACTION_DROP, code === -2 ? "no-local-port" : "table-full");
    return -1;
  }

  private schedulePersistent(svc: VirtualService, pkt: FlowPacket, now: number, out: Verdict): number {
    const t = this.conns;
    const key = this.tkey;
    fillTemplateKey(svc, pkt.protocol, pkt.family, pkt.saddr, pkt.daddr, pkt.dport, key);
    let ct = t.lookupIn(key.proto, pkt.family, key.caddr, 0, key.vaddr, key.vport, true);
    let dest: Dest;
    if (ct < 0 || !this.templateValid(ct)) {
      const picked = svc.scheduler ? svc.scheduler.schedule(svc, pkt) : null;
      if (!picked) return this.leave(svc, pkt, now, out);
      dest = picked;
      const tdport = pkt.dport === svc.port && svc.port !== FTP_PORT ? dest.port : 0;
      ct = this.newConn(
        svc,
        key.proto,
        pkt.family,
        key.caddr,
        0,
        key.vaddr,
        key.vport,
        dest,
        dest.addr.family,
        dest.addr.words,
        tdport,
        CONN_F_TEMPLATE,
        pkt.fwmark,
        now,
      );
      if (ct < 0) return this.refused(ct, out);
      t.timeout[ct] = svc.timeout;
    } else {
      dest = this.destById[t.destId[ct]!]!;
    }
    const dport = pkt.dport === svc.port && dest.port !== 0 ? dest.port : pkt.dport;
    const flags = svc.flags & SVC_F_ONEPACKET && pkt.protocol === IPPROTO_UDP ? CONN_F_ONE_PACKET : 0;
    const i = this.newConn(
      svc,
      pkt.protocol,
      pkt.family,
      pkt.saddr,
      pkt.sport,
      pkt.daddr,
      pkt.dport,
      dest,
      dest.addr.family,
      dest.addr.words,
      dport,
      flags,
      pkt.fwmark,
      now,
    );
    if (i < 0) {
      t.wheel.arm(ct, now + t.timeout[ct]!);
      return this.refused(i, out);
    }
    this.controlAdd(i, ct);
    // Each new conn through the template restarts the template's timer (not each packet).
    t.wheel.arm(ct, now + t.timeout[ct]!);
    this.connStats(dest, svc);
    return i;
  }

  /** Kernel ip_vs_leave: no real server for a new conn. */
  private leave(svc: VirtualService, pkt: FlowPacket, now: number, out: Verdict): number {
    if (this.sysctls.cache_bypass && svc.key.kind === "fwmark") {
      // Forward to the original destination, remembered as a BYPASS conn without a dest.
      const i = this.newConn(
        null,
        pkt.protocol,
        pkt.family,
        pkt.saddr,
        pkt.sport,
        pkt.daddr,
        pkt.dport,
        null,
        pkt.family,
        pkt.daddr,
        0,
        CONN_F_BYPASS,
        pkt.fwmark,
        now,
      );
      if (i < 0) return this.refused(i, out);
      return i;
    }
    if (svc.port === FTP_PORT && pkt.dport !== FTP_PORT) {
      Director.result(out, ACTION_PASS, "no-dest");
      return -1;
    }
    Director.result(out, ACTION_ICMP_UNREACH, "no-dest");
    return -1;
  }

  /** A real server -> client packet (kernel ip_vs_out, §2.7): NAT and FULLNAT replies. */
  outbound(pkt: FlowPacket, now: number, out: Verdict): Verdict {
    out.reset();
    this.nowValue = now;
    const proto = pkt.protocol;
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP)
      return Director.result(out, ACTION_PASS, "unsupported-protocol");
    const t = this.conns;
    const i = t.lookupOut(proto, pkt.family, pkt.saddr, pkt.sport, pkt.daddr, pkt.dport);
    if (i < 0) {
      if (
        this.sysctls.nat_icmp_send &&
        !(proto === IPPROTO_TCP && pkt.tcpFlags & TCP_RST) &&
        this.isNatRealServer(pkt)
      )
        return Director.result(out, ACTION_ICMP_UNREACH, "nat-icmp");
      return Director.result(out, ACTION_PASS, "not-ours");
    }
    this.outStats(i, pkt.length);
    this.setState(i, DIR_OUTPUT, pkt);
    const fwd = t.flags[i]! & CONN_F_FWD_MASK;
    out.action = ACTION_FORWARD;
    out.conn = i;
    out.fwd = fwd;
    const id = t.destId[i]!;
    out.dest = id >= 0 ? this.destById[id]! : null;
    out.family = t.afOf(i);
    t.readVaddr(i, out.srcAddr);
    out.srcPort = t.vportOf(i);
    out.rewriteSrc = true;
    if (fwd === CONN_F_FULLNAT) {
      t.readCaddr(i, out.dstAddr);
      out.dstPort = t.cportOf(i);
      out.rewriteDst = true;
    } else {
      out.dstAddr.set(pkt.daddr);
      out.dstPort = pkt.dport;
    }
    t.wheel.arm(i, now + t.timeout[i]!);
    return out;
  }

  /**
   * An ICMP error about a connection (kernel ip_vs_in_icmp / ip_vs_out_icmp, §7.4). `quoted` is the
   * packet the error quotes; `length` the error's own IP length (counted in the conn's stats).
   * - `fromClientSide` (the error is addressed to a VIP): the quote is a packet the service sent to
   *   a client, VIP:vport -> client; its conn is looked up reversed. The verdict says where the
   *   error goes on to: the real server (dstAddr/dstPort: RS:rport, as `inbound` fills them).
   * - otherwise (from a NAT/FULLNAT real server): the quote is client -> RS:rport as the RS
   *   received it; the verdict's srcAddr/srcPort are VIP:vport (and for FULLNAT dstAddr/dstPort
   *   the client), as `outbound` fills them.
   * Only TCP and UDP quotes with ports; the conn's state is not changed, its timer is re-armed.
   * No conn: ACTION_PASS ("not-ours").
   */
  icmpRelated(
    fromClientSide: boolean,
    quoted: FlowPacket,
    length: number,
    now: number,
    out: Verdict,
  ): Verdict {
    out.reset();
    this.nowValue = now;
    const proto = quoted.protocol;
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP)
      return Director.result(out, ACTION_PASS, "unsupported-protocol");
    const t = this.conns;
    const q = quoted;
    if (fromClientSide) {
      const i = t.lookupIn(proto, q.family, q.daddr, q.dport, q.saddr, q.sport, false);
      if (i < 0) return Director.result(out, ACTION_PASS, "not-ours");
      const id = t.destId[i]!;
      if (id >= 0 && !this.destById[id]!.available && !this.sysctls.expire_nodest_conn)
        return Director.result(out, ACTION_DROP, "dest-unavailable");
      this.inStats(i, length);
      // The rewrite toward the RS is the one a packet of the client would get.
      this.fillInbound(i, q, out);
      t.readCaddr(i, out.srcAddr);
      out.srcPort = t.cportOf(i);
      if ((t.flags[i]! & CONN_F_FWD_MASK) === CONN_F_FULLNAT) {
        t.readLaddr(i, out.srcAddr);
        out.srcPort = t.lportOf(i);
      }
      t.wheel.arm(i, now + t.timeout[i]!);
      return out;
    }
    const i = t.lookupOut(proto, q.family, q.daddr, q.dport, q.saddr, q.sport);
    if (i < 0) return Director.result(out, ACTION_PASS, "not-ours");
    this.outStats(i, length);
    const fwd = t.flags[i]! & CONN_F_FWD_MASK;
    out.action = ACTION_FORWARD;
    out.conn = i;
    out.fwd = fwd;
    const id = t.destId[i]!;
    out.dest = id >= 0 ? this.destById[id]! : null;
    out.family = t.afOf(i);
    t.readVaddr(i, out.srcAddr);
    out.srcPort = t.vportOf(i);
    out.rewriteSrc = true;
    t.readCaddr(i, out.dstAddr);
    out.dstPort = t.cportOf(i);
    out.rewriteDst = fwd === CONN_F_FULLNAT;
    t.wheel.arm(i, now + t.timeout[i]!);
    return out;
  }

  /** Kernel ip_vs_has_real_service: is the packet's source a NAT real server of some service? */
  private isNatRealServer(pkt: FlowPacket): boolean {
    for (const svc of this.svcs.all()) {
      if (svc.key.kind === "addr" && svc.key.protocol !== pkt.protocol) continue;
      for (const d of svc.dests) {
        if (d.method !== "masq" || d.port !== pkt.sport || d.addr.family !== pkt.family) continue;
        const w = d.addr.words;
        if (
          w[0] === pkt.saddr[0] &&
          (pkt.family === 4 || (w[1] === pkt.saddr[1] && w[2] === pkt.saddr[2] && w[3] === pkt.saddr[3]))
        )
          return true;
      }
    }
    return false;
  }

  // ---------------------------------------------------------------- time

  /**
   * Advance time to `now` (seconds): expire due conns and templates, sweep conns of deleted dests
   * (expire_nodest_conn), free unreferenced trashed dests after 120 s, and call the rate hook every 2 s.
   */
  tick(now: number): void {
    this.nowValue = now;
    this.connEvents?.beforeExpiry?.(now);
    const t = this.conns;
    const n = t.wheel.collect(now);
    const due = t.wheel.due();
    for (let k = 0; k < n; k++) {
      const i = due[k]!;
      if (t.isLive(i) && t.wheel.isDue(i, now)) this.expire(i, now, false);
    }
    if (this.nodestSweepPending) {
      this.nodestSweepPending = false;
      if (this.sysctls.expire_nodest_conn) this.sweepNodest(now);
    }
    for (const [d, since] of this.trash) {
      const refs = d.activeConns + d.inactConns + d.persistConns;
      if (refs > 0) {
        this.trash.set(d, Number.NaN);
      } else if (Number.isNaN(since)) {
        this.trash.set(d, now);
      } else if (now - since >= DEST_TRASH_PERIOD) {
        this.trash.delete(d);
        this.destById[d.id] = undefined;
        this.destSvc[d.id] = undefined;
        this.freeDestIds.push(d.id);
        this.hooks.removed?.(d.stats);
      }
    }
    if (this.hooks.tick) {
      if (Number.isNaN(this.nextRateTick)) this.nextRateTick = now + RATE_PERIOD;
      let calls = 0;
      while (now >= this.nextRateTick && calls < 64) {
        this.hooks.tick(this.nextRateTick);
        this.nextRateTick += RATE_PERIOD;
        calls++;
      }
      if (now >= this.nextRateTick) this.nextRateTick = now + RATE_PERIOD;
    }
  }

  /** Kernel ip_vs_expire_nodest_conn_flush: drop every conn whose dest was deleted. */
  private sweepNodest(now: number): void {
    const t = this.conns;
    for (let i = 0; i < t.highWater; i++) {
      if (!t.isLive(i)) continue;
      const id = t.destId[i]!;
      if (id < 0 || this.destById[id]!.available || t.nControl[i]! > 0) continue;
      const ct = t.control[i]!;
      this.expireNow(i, now, true);
      if (ct >= 0 && t.isLive(ct) && t.nControl[ct] === 0) this.expireNow(ct, now, true);
    }
  }

  // ---------------------------------------------------------------- listing

  /** Every conn and template, as `ipvsadm -Lc` lists them (table order, never sorted). */
  connections(now: number): ConnInfo[] {
    const t = this.conns;
    const res: ConnInfo[] = [];
    for (let i = 0; i < t.highWater; i++) if (t.isLive(i)) res.push(this.connInfo(i, now));
    return res;
  }

  /**
   * The conns and templates of `connections`, from table record `from` on, each with its record
   * number, produced one at a time: a listing can stop after any entry and resume at its
   * `index + 1`. An entry keeps its record while it lives, so one that lives throughout such a
   * listing is seen exactly once; an entry created or expired meanwhile may be missed, never seen
   * twice (the way readers of /proc/net/ip_vs_conn see the kernel's table).
   */
  *connectionsFrom(now: number, from = 0): Generator<IndexedConnInfo, void, undefined> {
    const t = this.conns;
    for (let i = Math.max(0, Math.floor(from)); i < t.highWater; i++)
      if (t.isLive(i)) yield { index: i, conn: this.connInfo(i, now) };
  }

  /** The listing of live record `i`. */
  private connInfo(i: number, now: number): ConnInfo {
    const t = this.conns;
    const w = this.scratch;
    const w2 = this.scratch2;
    const af = t.afOf(i);
    const daf = t.dafOf(i);
    const proto = t.protoOf(i);
    const tmpl = (t.flags[i]! & CONN_F_TEMPLATE) !== 0;
    const fwd = t.flags[i]! & CONN_F_FWD_MASK;
    let state: string;
    if (tmpl) state = t.state[i]! & CTPL_S_ASSURED ? "ASSURED" : "NONE";
    else if (proto === IPPROTO_TCP) state = TCP_STATE_NAMES[t.state[i]!]!;
    else if (proto === IPPROTO_UDP) state = "UDP";
    else state = "NONE";
    const info: ConnInfo = {
      protocol: protoName(proto),
      af,
      caddr: IpAddr.fromWords(af, t.readCaddr(i, w)).toString(),
      cport: t.cportOf(i),
      vaddr: IpAddr.fromWords(af, t.readVaddr(i, w)).toString(),
      vport: t.vportOf(i),
      daf,
      daddr: IpAddr.fromWords(daf, t.readDaddr(i, w2)).toString(),
      dport: t.dportOf(i),
      state,
      expires: Math.max(0, Math.floor(t.wheel.expireAt[i]! - now)),
      template: tmpl,
      method: FWD_NAMES[fwd] ?? "masq",
      peName: "",
      peData: "",
    };
    if (fwd === CONN_F_FULLNAT && !tmpl) {
      info.laddr = IpAddr.fromWords(daf, t.readLaddr(i, w)).toString();
      info.lport = t.lportOf(i);
    }
    return info;
  }

  /** Number of live conns + templates. */
  get connCount(): number {
    return this.conns.size;
  }

  /** Live entries, the table's capacity, and the new entries refused because it was full. */
  tableFill(): { entries: number; capacity: number; refusedFull: number } {
    return { entries: this.conns.size, capacity: this.conns.capacity, refusedFull: this.conns.refusedFull };
  }

  // ---------------------------------------------------------------- handover

  /**
   * Every conn and template (one-packet conns excepted: they never stay) and the listed counters,
   * as plain data a next director can take over with `importConnections` (a daemon restart).
   */
  exportConnections(now: number): ConnSnapshot {
    const t = this.conns;
    const conns: ConnRecord[] = [];
    const tableIndex: number[] = [];
    const recordOf = new Map<number, number>();
    const w = this.scratch;
    for (let i = 0; i < t.highWater; i++) {
      if (!t.isLive(i) || t.flags[i]! & CONN_F_ONE_PACKET) continue;
      const af = t.afOf(i);
      const daf = t.dafOf(i);
      const flags = t.flags[i]! & ~(CONN_F_HASHED | CONN_F_OUT_HASHED);
      const rec: ConnRecord = {
        protocol: t.protoOf(i),
        af,
        caddr: IpAddr.fromWords(af, t.readCaddr(i, w)).toString(),
        cport: t.cportOf(i),
        vaddr: IpAddr.fromWords(af, t.readVaddr(i, w)).toString(),
        vport: t.vportOf(i),
        daf,
        daddr: IpAddr.fromWords(daf, t.readDaddr(i, w)).toString(),
        dport: t.dportOf(i),
        flags,
        state: t.state[i]!,
        timeout: t.timeout[i]!,
        expiresIn: Math.max(0, t.wheel.expireAt[i]! - now),
        fwmark: t.fwmark[i]!,
        inPkts: t.inPkts[i]!,
        control: -1,
      };
      if (t.lpool[i]! >= 0) {
        rec.laddr = IpAddr.fromWords(daf, t.readLaddr(i, w)).toString();
        rec.lport = t.lportOf(i);
      }
      const id = t.destId[i]!;
      const dest = id >= 0 ? this.destById[id] : undefined;
      const svc = id >= 0 ? this.destSvc[id] : undefined;
      if (dest && svc) {
        rec.service = serviceKeyRecord(svc.key);
        rec.dest = { addr: dest.addr.toString(), port: dest.port };
      }
      recordOf.set(i, conns.length);
      tableIndex.push(i);
      conns.push(rec);
    }
    for (let k = 0; k < conns.length; k++) {
      const ct = t.control[tableIndex[k]!]!;
      if (ct >= 0) conns[k]!.control = recordOf.get(ct) ?? -1;
    }
    const counters: CounterRecord[] = [{ ...this.displayed(this.totals) }];
    for (const svc of this.svcs.all()) {
      const service = serviceKeyRecord(svc.key);
      counters.push({ service, ...this.displayed(svc.stats) });
      for (const d of svc.dests)
        counters.push({
          service,
          dest: { addr: d.addr.toString(), port: d.port },
          ...this.displayed(d.stats),
        });
    }
    return { version: 1, conns, counters };
  }

  /**
   * Takes over the conns and templates of a snapshot from `exportConnections` (possibly read back
   * from a file: every record is validated). Only entries whose real server is still a live dest of
   * its service are taken (and bound to it, counted active or inactive as their flags say); their
   * timers run on from `now`; controlling templates are relinked. Counters of services and dests
   * that still exist are set to the snapshot's values (their rates restart). Throws only when
   * `snapshot` is not a snapshot at all.
   */
  importConnections(snapshot: unknown, now: number): ImportResult {
    const snap = snapshot as Partial<ConnSnapshot> | null;
    if (typeof snap !== "object" || snap === null || snap.version !== 1 || !Array.isArray(snap.conns))
      throw new IpvsError("EINVAL", "not a connection snapshot (version 1)");
    this.nowValue = now;
    const res: ImportResult = { imported: 0, noDest: 0, refused: 0, invalid: 0 };
    const list = snap.conns as unknown[];
    const made = new Int32Array(list.length).fill(-1);
    for (let k = 0; k < list.length; k++) {
      const c = checkConnRecord(list[k], list.length);
      if (!c) {
        res.invalid++;
        continue;
      }
      const r = this.importOne(c, now);
      if (r >= 0) {
        made[k] = r;
        res.imported++;
      } else if (r === -1) res.refused++;
      else if (r === -2) res.noDest++;
      else res.invalid++;
    }
    const t = this.conns;
    for (let k = 0; k < list.length; k++) {
      const i = made[k]!;
      const ctRec = (list[k] as ConnRecord).control;
      if (i < 0 || ctRec < 0) continue;
      const ct = made[ctRec]!;
      if (ct >= 0 && ct !== i && t.flags[ct]! & CONN_F_TEMPLATE) this.controlAdd(i, ct);
    }
    if (Array.isArray(snap.counters)) for (const c of snap.counters as unknown[]) this.importCounters(c);
    return res;
  }

  /** Index of the new entry; -1 duplicate or table full, -2 no such dest, -3 inconsistent. */
  private importOne(c: CheckedConn, now: number): number {
    const t = this.conns;
    const rec = c.rec;
    const flags = rec.flags & ~(CONN_F_HASHED | CONN_F_OUT_HASHED);
    const fwd = flags & CONN_F_FWD_MASK;
    const tmpl = (flags & CONN_F_TEMPLATE) !== 0;
    if (flags & CONN_F_ONE_PACKET || fwd > CONN_F_FULLNAT) return -3;
    let dest: Dest | undefined;
    let svc: VirtualService | undefined;
    if (c.service && c.destAddr) {
      svc = this.svcs.find(c.service);
      dest = svc ? this.findDest(svc, c.destAddr, rec.dest!.port) : undefined;
      if (!dest) return -2;
    } else if (fwd !== CONN_F_BYPASS) {
      return -2;
    }
    const fullnatConn = fwd === CONN_F_FULLNAT && !tmpl;
    if (fullnatConn !== (c.laddr !== null)) return -3;
    if (t.lookupIn(rec.protocol, rec.af, c.caddr.words, rec.cport, c.vaddr.words, rec.vport, tmpl) >= 0)
      return -1;
    const i = t.alloc(
      rec.protocol,
      rec.af,
      c.caddr.words,
      rec.cport,
      c.vaddr.words,
      rec.vport,
      rec.daf,
      c.daddr.words,
      rec.dport,
      flags,
    );
    if (i < 0) return -1;
    t.state[i] = rec.state;
    t.timeout[i] = rec.timeout;
    t.fwmark[i] = rec.fwmark;
    t.inPkts[i] = rec.inPkts;
    if (fullnatConn) {
      const laddr = c.laddr!;
      const lip = this.localAddrs.find((l) => l?.addr.equals(laddr));
      if (!lip?.ring(rec.protocol).reserve(rec.lport!)) {
        t.free(i);
        return -2;
      }
      t.setLocal(i, laddr.words, rec.lport!);
      t.lpool[i] = lip.id;
    }
    if (dest) this.bindDest(i, dest);
    t.hashIn(i);
    if ((fwd === CONN_F_MASQ || fwd === CONN_F_FULLNAT) && !tmpl) t.hashOut(i);
    t.wheel.arm(i, now + rec.expiresIn);
    return i;
  }

  private importCounters(r: unknown): void {
    if (typeof r !== "object" || r === null) return;
    const rec = r as Partial<CounterRecord>;
    let target: Counters | undefined;
    if (rec.service === undefined) {
      target = this.totals;
    } else {
      const key = serviceKeyOf(rec.service);
      const svc = key ? this.svcs.find(key) : undefined;
      if (!svc) return;
      if (rec.dest === undefined) {
        target = svc.stats;
      } else {
        const addr = typeof rec.dest?.addr === "string" ? IpAddr.parse(rec.dest.addr) : null;
        target =
          addr && isInt(rec.dest.port, 0, 65535) ? this.findDest(svc, addr, rec.dest.port)?.stats : undefined;
      }
    }
    if (!target) return;
    const fields = ["conns", "inPkts", "outPkts", "inBytes", "outBytes"] as const;
    if (!fields.every((f) => isInt(rec[f], 0, Number.MAX_SAFE_INTEGER))) return;
    for (const f of fields) target[f] = rec[f]!;
    this.baselines.delete(target);
    // The estimator starts over from these values instead of seeing them as one period's traffic.
    this.hooks.zeroed?.(target);
  }
}

function protoName(p: number): string {
  switch (p) {
    case IPPROTO_TCP:
      return "TCP";
    case IPPROTO_UDP:
      return "UDP";
    case IPPROTO_SCTP:
      return "SCTP";
    case IPPROTO_IP:
      return "IP";
    default:
      return String(p);
  }
}

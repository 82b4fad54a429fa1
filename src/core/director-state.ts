/**
 * The director's state, shared by the files that act on it as the kernel's net/netfilter/ipvs files
 * share theirs: management (ctl.ts, ip_vs_ctl.c), connections (conn.ts, ip_vs_conn.c), the packet
 * path (core.ts, ip_vs_core.c), the protocols (proto-*.ts, ip_vs_proto_*.c) and listing/handover
 * (conn-listing.ts). Not part of the library's API: `Director` (director.ts) is.
 */
import type { IpAddr } from "./address.js";
import {
  CONN_F_DROUTE,
  CONN_F_FULLNAT,
  CONN_F_INACTIVE,
  CONN_F_LOCALNODE,
  CONN_F_MASQ,
  CONN_F_NOOUTPUT,
  CONN_F_TUNNEL,
  ConnTable,
} from "./conn-table.js";
import { DefenseState, updateDefenseLevel } from "./defense.js";
import type { Dest, FwdMethod } from "./dest.js";
import {
  DEFAULT_LOCAL_PORTS,
  type LocalAddress,
  type LocalPortRange,
  type ServiceLaddrs,
  validatePortRange,
} from "./laddr-pool.js";
import { SipMatch } from "./pe-sip.js";
import { TemplateKey } from "./persistence.js";
import { RateBook } from "./rate-book.js";
import type { SchedulerContext, SchedulerModule } from "./scheduler.js";
import { getScheduler } from "./schedulers/registry.js";
import type { VirtualService } from "./service.js";
import { ServiceTable } from "./service-table.js";
import type { COUNTER_FIELDS } from "./stats.js";
import { Counters } from "./stats.js";
import { Sysctls } from "./sysctls.js";
import { Timeouts } from "./timeouts.js";

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
export const EXPIRE_LATER = 60;
/** How long an unreferenced deleted dest stays reusable (kernel IP_VS_DEST_TRASH_PERIOD). */
export const DEST_TRASH_PERIOD = 120;
/** Estimator period. */
export const RATE_PERIOD = 2;

export const FWD_CODES: Record<FwdMethod, number> = {
  masq: CONN_F_MASQ,
  local: CONN_F_LOCALNODE,
  tunnel: CONN_F_TUNNEL,
  route: CONN_F_DROUTE,
  fullnat: CONN_F_FULLNAT,
};
export const FWD_NAMES = ["masq", "local", "tunnel", "route", "bypass", "fullnat"] as const;

/** Conn flags a new conn to `dest` starts with (kernel dest->conn_flags). */
export function destConnFlags(d: Dest): number {
  const fwd = FWD_CODES[d.method];
  let f = fwd | CONN_F_INACTIVE;
  if (fwd !== CONN_F_MASQ && fwd !== CONN_F_FULLNAT) f |= CONN_F_NOOUTPUT;
  return f;
}

export function addTo(c: Counters, inPkts: number, inBytes: number, outPkts: number, outBytes: number): void {
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

export function checkInt(x: unknown, lo: number, hi: number): boolean {
  return typeof x === "number" && Number.isInteger(x) && x >= lo && x <= hi;
}

export class DirectorState {
  readonly conns: ConnTable;
  readonly timeouts = new Timeouts();
  readonly sysctls = new Sysctls();
  /** The memory-defence strategies' state (defense.ts), moved by the sysctls and the tick. */
  readonly defense = new DefenseState();
  /** Global counters (/proc/net/ip_vs_stats). */
  readonly totals = new Counters();
  /** Packets dropped because a new conn could not get a FULLNAT local port. */
  noLocalPort = 0;
  /** Observer of conn events (a fast path's offload); null when none. */
  connEvents: ConnEvents | null = null;

  readonly lookupScheduler: (name: string) => SchedulerModule | undefined;
  readonly random: () => number;
  readonly pes: readonly string[];
  readonly addrType: (a: IpAddr) => AddrType;
  readonly localPorts: LocalPortRange;
  readonly hooks: StatsHooks;
  readonly rateBook: RateBook | null;
  readonly svcs = new ServiceTable();
  nextSvcId = 1;
  /** Dests by id (live and trashed); the table stores ids. */
  readonly destById: (Dest | undefined)[] = [];
  /** The service each dest id belongs (or last belonged) to. */
  readonly destSvc: (VirtualService | undefined)[] = [];
  readonly freeDestIds: number[] = [];
  /** Deleted dests kept while conns reference them; value = when they became unreferenced (NaN: still referenced). */
  readonly trash = new Map<Dest, number>();
  readonly baselines = new WeakMap<Counters, CounterValues>();
  readonly svcLaddrs = new Map<number, ServiceLaddrs>();
  readonly localAddrs: (LocalAddress | undefined)[] = [];
  defaultLaddr: ((dest: Dest) => IpAddr | null) | null = null;
  nodestSweepPending = false;
  nextRateTick = Number.NaN;
  nowValue = 0;
  readonly ctx: SchedulerContext;
  readonly tkey = new TemplateKey();
  /**
   * Persistence-engine data of PE templates, by template index (a SIP Call-ID's bytes): set once
   * when such a template is made, dropped when it is freed.
   */
  readonly peData = new Map<number, Uint8Array>();
  readonly sipMatch = new SipMatch();
  readonly scratch = new Uint32Array(4);
  readonly scratch2 = new Uint32Array(4);

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
    this.sysctls.onDefenseChange = () => updateDefenseLevel(this);
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
      // Read at each use, as the kernel reads its sysctls.
      lblcExpiration: () => this.sysctls.lblc_expiration,
      lblcrExpiration: () => this.sysctls.lblcr_expiration,
    };
    this.hooks.added?.(this.totals);
  }
}

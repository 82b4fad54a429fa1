import type { IpAddr } from "../core/address.js";
import type { Dest, DestSpec } from "../core/dest.js";
import type { ServiceKey, ServiceSpec, VirtualService } from "../core/service.js";
import type { TraceQuery, TraceResult } from "../core/trace.js";
import type { DefenseFill, SysctlValue } from "./api.js";

/**
 * What the control plane needs from the core Director. The daemon is written against this port so
 * that the administrative code (socket, config, reconcile) does not depend on how the core keeps
 * its tables. Every method that the kernel can refuse throws an error object carrying the kernel's
 * errno name in a string `errno` property ("ESRCH", "EEXIST", "ENOENT", "EINVAL", "ERANGE" ...).
 * Times are seconds from the clock the daemon passes in.
 */
export interface DirectorPort {
  addService(spec: ServiceSpec): VirtualService;
  /** Replaces scheduler, flags, timeout, netmask and PE of an existing service (ipvsadm -E). */
  editService(spec: ServiceSpec): void;
  delService(key: ServiceKey): void;
  /** Removes every service (ipvsadm -C). */
  flush(): void;
  findService(key: ServiceKey): VirtualService | null | undefined;
  /** Every service, in the director's (kernel's) listing order. */
  services(): readonly VirtualService[];

  addDest(key: ServiceKey, spec: DestSpec): Dest;
  editDest(key: ServiceKey, spec: DestSpec): void;
  delDest(key: ServiceKey, addr: IpAddr, port: number): void;

  /** Zero the counters (and rates) of one service and its dests, or of everything. */
  zero(key?: ServiceKey): void;

  /** ipvsadm --set: a 0 leaves that timeout unchanged. */
  setTimeouts(t: TimeoutSet): void;
  getTimeouts(): TimeoutSet;

  /** IPVS sysctls by their kernel names (expire_nodest_conn, conn_reuse_mode, ...). */
  readonly sysctls: SysctlPort;

  /** FULLNAT local addresses of a service. */
  addLaddr(key: ServiceKey, addr: IpAddr, ifname: string): void;
  delLaddr(key: ServiceKey, addr: IpAddr): void;
  getLaddrs(key: ServiceKey): readonly LaddrInfo[];

  /**
   * Every connection entry (templates included), with seconds left computed against `now`, in the
   * director's table order; from position `from` on when given. Each entry carries its position
   * (`index`): a listing that stops after an entry resumes with `connections(now, index + 1)`, and
   * sees each entry that lived meanwhile once (entries that came or went may be missed, none is
   * repeated). Entries are produced as they are read, so a caller may take only some.
   */
  connections(now: number, from?: number): Iterable<ConnInfo>;
  /** Connection hash bucket count (the listing's "size="). */
  readonly bucketCount: number;
  /** How full the connection table is, and how many new entries it refused for want of room. */
  tableFill(): TableFill;
  /** Live connections by `-Lnc` state name, and persistence templates, without a table walk. */
  connStates?(): { byState: Record<string, number>; templates: number };
  /** The director's totals (/proc/net/ip_vs_stats: what `-Z` last left) and their rates. */
  totals(): { stats: CounterValuesLike; rates: RateValuesLike };
  /**
   * How a new packet client:cport -> vaddr:vport (protocol 6 or 17) would be handled, changing
   * nothing; `fwmark` names a fwmark service. The connection's `index` is its table position.
   * Throws errno ESRCH when no service matches, EINVAL for a malformed tuple.
   */
  trace(q: TraceRequest, now: number): TracePortResult;
  /** Timers: expire connections, run the estimator. Called about once a second. */
  tick(now: number): void;
}

/** The core's trace query and answer, as the daemon passes them through. */
export type TraceRequest = TraceQuery;
export type TracePortResult = TraceResult;

export interface CounterValuesLike {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

export interface RateValuesLike {
  cps: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

export interface TableFill {
  /** Live connections and templates. */
  entries: number;
  /** Entries the table holds at most (--conn-capacity). */
  capacity: number;
  /** New connections (or templates) refused because every entry was in use, since start. */
  refusedFull: number;
  /** The memory-defence strategies (drop_entry, drop_packet, secure_tcp) now, and what they dropped. */
  defense?: DefenseFill;
}

export interface TimeoutSet {
  tcp: number;
  tcpfin: number;
  udp: number;
}

export interface SysctlPort {
  /** Every sysctl name, in a stable order. */
  names(): readonly string[];
  /** Throws errno ENOENT for an unknown name. */
  get(name: string): SysctlValue;
  /** Throws errno ENOENT for an unknown name, EINVAL for a value out of the sysctl's range. */
  set(name: string, value: SysctlValue): void;
}

export interface LaddrInfo {
  addr: IpAddr;
  ifname: string;
  /** Times no source port was free on this address (new connections refused). */
  portConflicts?: number;
  /** Connections (source ports) currently using this address. */
  conns?: number;
}

/** One connection entry as /proc/net/ip_vs_conn shows it. */
export interface ConnInfo {
  /** The entry's position in the director's table (see `DirectorPort.connections`). */
  index: number;
  /** IPPROTO_TCP / UDP / SCTP, or 0 (IPPROTO_IP) for fwmark persistence templates. */
  protocol: number;
  caddr: IpAddr;
  cport: number;
  vaddr: IpAddr;
  vport: number;
  daddr: IpAddr;
  dport: number;
  /** Kernel state name: ESTABLISHED, SYN_RECV, UDP, NONE, ASSURED ... */
  state: string;
  /** Seconds until expiry. */
  expires: number;
  peName: string;
  peData: string;
  laddr?: IpAddr;
  lport?: number;
}

/** The errno name carried by an error the director threw, or undefined for any other error. */
export function errnoOf(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "errno" in err) {
    const e = (err as { errno: unknown }).errno;
    if (typeof e === "string" && /^E[A-Z0-9]+$/.test(e)) return e;
  }
  return undefined;
}

/**
 * The director's administrative API: what the kernel's IPVS generic-netlink family offers to
 * ipvsadm, as JSON-shaped values. The daemon serves it over the control socket (see
 * docs/control-protocol.md); tslvsadm is its main client. Errors are the errno names the kernel
 * would return, so the CLI can print ipvsadm's exact messages.
 *
 * Addresses are strings (IPv4 dotted quad, IPv6 RFC 5952 text); protocol is "tcp" | "udp" | "sctp".
 */

import type { TraceDest, TraceResult } from "../core/trace.js";
import type { VrrpListing } from "./vrrp/vrrp-engine.js";

export const API_VERSION = 1;

export type Protocol = "tcp" | "udp" | "sctp";
export type FwdMethodName = "masq" | "local" | "tunnel" | "route" | "fullnat";

/** A virtual service's identity: by address or by firewall mark. */
export type ServiceId =
  | { protocol: Protocol; addr: string; port: number; fwmark?: undefined; af?: undefined }
  | { fwmark: number; af: 4 | 6; protocol?: undefined; addr?: undefined; port?: undefined };

export interface ServiceConfig {
  id: ServiceId;
  /** "wlc" when ipvsadm got no -s. */
  scheduler: string;
  /** SVC_F_* bits: PERSISTENT 1, ONEPACKET 4, SCHED1 8, SCHED2 16, SCHED3 32; tslvs's TOA 0x100. */
  flags: number;
  /** Persistence timeout, seconds. */
  timeout: number;
  /** IPv4: the mask as dotted quad text ("255.255.255.255"); IPv6: the prefix length as text ("128"). */
  netmask: string;
  /** Persistence engine name, "" for none. */
  pe: string;
}

export interface DestConfig {
  addr: string;
  port: number;
  method: FwdMethodName;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: "ipip" | "gue" | "gre";
  tunPort: number;
  tunCsum: "nocsum" | "csum" | "remcsum";
}

/** Just the DestConfig fields of anything that carries them (a DestEntry, a parsed `-a` line). */
export function pickDestConfig(d: DestConfig): DestConfig {
  return {
    addr: d.addr,
    port: d.port,
    method: d.method,
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
    tunType: d.tunType,
    tunPort: d.tunPort,
    tunCsum: d.tunCsum,
  };
}

export interface CounterValues {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

export interface RateValues {
  cps: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

export interface DestEntry extends DestConfig {
  af: 4 | 6;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  /** DEST_F_* bits: AVAILABLE 1, OVERLOAD 2. */
  flags: number;
  stats: CounterValues;
  rates: RateValues;
  /** Options stored and listed but not acted on yet (e.g. "gue tunnel"); absent when none. */
  notActedOn?: string[];
  /** The health checker's view of this real server; absent when it is not checked. */
  health?: DestHealthEntry;
}

/** A checked real server's health in listings (`tslvsadm -L --json`); `tslvs health` has the detail. */
export interface DestHealthEntry {
  state: "alive" | "failed" | "draining";
  checkers: number;
  /** Checkers that fail now. */
  failing: number;
}

export interface ServiceEntry extends ServiceConfig {
  af: 4 | 6;
  stats: CounterValues;
  rates: RateValues;
  /** Kernel list order: newest-added first. ipvsadm sorts for display unless --nosort. */
  dests: DestEntry[];
  /** Options stored and listed but not acted on yet (e.g. "gue tunnel"); absent when none. */
  notActedOn?: string[];
  /** New connections that found no real server, since start (the metrics' render only). */
  noDestination?: number;
}

export interface InfoEntry {
  /** "1.2.1", as IP_VS_VERSION_CODE 0x010201. */
  version: string;
  versionCode: number;
  /** Connection hash bucket count ("size=" in the listing header). */
  connTabSize: number;
  /**
   * True once the daemon does what it was started for: the packet data plane attached on every
   * served interface (frames are forwarded), or its rules loaded under --no-dataplane. The control
   * socket answers before that; scripts wait for this (`tslvs wait-ready`), systemd is told.
   */
  ready: boolean;
  /** "af_xdp" when packets are forwarded, null when the rules are only held. */
  dataPlane: string | null;
  /** Live connections and templates, the table's capacity, and new entries refused when it was full. */
  connections: number;
  connCapacity: number;
  connRefusedFull: number;
  /** The memory-defence strategies in force and what they dropped (docs/tslvsadm.md, "Defence"). */
  defense?: DefenseFill;
  /** What the rules and the config file hold that is accepted but not acted on ("vrrp_instance", "sync daemon"...). */
  notActedOn: string[];
  /**
   * The firewall-mark rules the data plane runs (null without one): whether the host's nftables
   * ruleset is read, how many rules were compiled from it and from the config's `fwmarks:`, and
   * the host's rules left out, by handle, with why.
   */
  fwmarkRules: FwmarkRulesInfo | null;
  /** The VRRP instances of a --keepalived-conf (state, priority, master, drops); absent without any. */
  vrrp?: VrrpListing;
}

/** getInfo's `fwmarkRules`. */
export interface FwmarkRulesInfo {
  /** "read", or why the host's ruleset is not read ("nft is not installed: ..."). */
  nftables: string;
  /** Rules compiled from the host's ruleset, and the config's fwmarks entries. */
  nftRules: number;
  configRules: number;
  /** The host's rules left out, by handle, with why. */
  uncompiled: { family: string; table: string; chain: string; handle: number; reason: string }[];
}

/** The kernel's /proc/net/ip_vs and /proc/net/ip_vs_stats texts, rendered from the running state. */
/** The memory-defence strategies now (the core's defense.ts), and what they dropped since start. */
export interface DefenseFill {
  /** drop_entry in force. */
  dropEntry: boolean;
  /** drop_packet's 1-in-N rate in force (0: off). */
  dropRate: number;
  /** secure_tcp's state table in force. */
  secureTcp: boolean;
  packetsDropped: number;
  entriesDropped: number;
}

/** `getStats`: the packet engine's counters live (null without a data plane). */
export interface StatsEntry {
  dataPlane: string | null;
  /** Slow-path frames, drops by reason, transmits, kernel drops (the engine's stop line). */
  engine: Record<string, number> | null;
  /** Flows installed in the in-kernel fast path, and the packets and bytes it forwarded. */
  fastPath: Record<string, number> | null;
  /**
   * The steering program's decisions, summed over CPUs, by SteerCounter name (`SERVICE`,
   * `PASS_NO_MATCH`...): what was sent to the slow path and what was passed to the host, and why.
   */
  steering?: Record<string, number>;
  /**
   * The fast-path program's decisions, summed over CPUs, by FastPathCounter name (`FORWARDED`,
   * `MISS`, `SLOW_CONTROL`...): what it forwarded, and why it handed the rest to the slow path.
   */
  fastPathDecisions?: Record<string, number>;
}

/** A sysctl's value: an integer, or a pair (sync_threshold: threshold and period). */
export type SysctlValue = number | readonly [number, number];

/** Equal sysctl values (pairs compared by their members). */
export function sameSysctlValue(a: SysctlValue | undefined, b: SysctlValue | undefined): boolean {
  if (typeof a === "number" || typeof b === "number" || a === undefined || b === undefined) return a === b;
  return a[0] === b[0] && a[1] === b[1];
}

/** A sysctl value as the kernel prints it under /proc/sys (a pair tab-separated). */
export function sysctlValueText(v: SysctlValue): string {
  return typeof v === "number" ? String(v) : `${v[0]}\t${v[1]}`;
}

export interface ProcEntry {
  ipVs: string;
  ipVsStats: string;
}

export interface TimeoutValues {
  tcp: number;
  tcpfin: number;
  udp: number;
}

export interface DaemonConfig {
  state: "master" | "backup";
  mcastIfn: string;
  syncId: number;
  syncMaxLen: number;
  mcastGroup: string;
  mcastPort: number;
  mcastTtl: number;
}

/** A running sync daemon as getDaemons lists it: the configuration with the kernel's defaults filled. */
export interface DaemonEntry extends DaemonConfig {
  /** Options stored and listed but not acted on yet ("sync daemon"); absent when none. */
  notActedOn?: string[];
  /** What the running daemon did (absent when it does not run: no data plane). */
  counters?: SyncCountersEntry;
}

/** A sync daemon's work since it started. */
export interface SyncCountersEntry {
  /** Messages sent (master) or received (backup). */
  messages: number;
  /** Connections sent, or received. */
  conns: number;
  /** Master: send errors. Backup: what became of each connection (added, updated, stale,
   * bad-state, fullnat, table-full...) and why messages were refused (bad-size, other-syncid...). */
  byReason: Record<string, number>;
}

/** One line of /proc/net/ip_vs_conn, as `ipvsadm -Lc` reads it. */
export interface ConnEntry {
  /** "TCP" | "UDP" | "SCTP" | "IP" (fwmark templates). */
  protocol: string;
  af: 4 | 6;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daddr: string;
  dport: number;
  /** Kernel state name: ESTABLISHED, SYN_RECV, TIME_WAIT, UDP, NONE (template), ASSURED ... */
  state: string;
  /** Seconds until expiry (whole, as the kernel prints). */
  expires: number;
  /** Persistence engine name and data, "" when none. */
  peName: string;
  peData: string;
  /** For FULLNAT: the local address and port used toward the real server. */
  laddr?: string;
  lport?: number;
}

/**
 * Where a paged `getConns` resumes: the reply's `next`, passed back as `after`. Clients treat it
 * as opaque (today it is a position in the director's connection table).
 */
export type ConnCursor = number;

/** The most entries one `getConns` page holds, and the page size when a request names none. */
export const MAX_CONN_PAGE = 10_000;

/** One page of the connection table: `next` is the cursor of the next page, null after the last. */
export interface ConnPage {
  conns: ConnEntry[];
  next: ConnCursor | null;
}

/** A local (source) address of a FULLNAT service's pool, as `getLaddrs` returns it (DPVS's -G). */
export interface LaddrEntry {
  addr: string;
  ifname: string;
  /** Times a source port could not be allocated on this address. */
  portConflicts: number;
  /** Connections currently using this address. */
  conns: number;
}

/** Requests, one JSON object per line: {v, id, op, ...args}. */
export type Request =
  | { op: "getInfo" }
  | { op: "getProc" }
  | { op: "getStats" }
  | { op: "getHealth" }
  /** Re-read the config file (--config or --keepalived-conf) and apply the difference, as SIGHUP does. */
  | { op: "reload" }
  /**
   * `counters: false` leaves out each entry's `stats` and `rates` (the plain listing does not show
   * them; a table of 100,000 real servers then travels in half the bytes).
   */
  | { op: "getServices"; counters?: boolean }
  | { op: "getService"; service: ServiceId }
  | { op: "addService"; config: ServiceConfig }
  | { op: "editService"; config: ServiceConfig }
  | { op: "delService"; service: ServiceId }
  | { op: "flush" }
  | { op: "addDest"; service: ServiceId; dest: DestConfig }
  | { op: "editDest"; service: ServiceId; dest: DestConfig }
  | { op: "delDest"; service: ServiceId; addr: string; port: number }
  | { op: "zero"; service?: ServiceId }
  | { op: "setTimeout"; timeout: TimeoutValues }
  | { op: "getTimeout" }
  | { op: "startDaemon"; config: DaemonConfig }
  | { op: "stopDaemon"; state: "master" | "backup" }
  | { op: "getDaemons" }
  /**
   * Without `after` and `limit`: every entry as one `ConnEntry[]`. With either: one page of at
   * most `limit` entries (at most MAX_CONN_PAGE, the default), from the start of the table or
   * from the cursor `after` a previous page returned, as a `ConnPage`.
   */
  | { op: "getConns"; after?: ConnCursor | null; limit?: number }
  | { op: "getSysctl"; name?: string }
  | { op: "setSysctl"; name: string; value: SysctlValue }
  | { op: "addLaddr"; service: ServiceId; addr: string; ifname: string }
  | { op: "delLaddr"; service: ServiceId; addr: string }
  | { op: "getLaddrs"; service: ServiceId }
  /**
   * Explain, changing nothing, what a new packet client:cport -> vaddr:vport would meet: with
   * `fwmark`, the fwmark service of that mark (of the client's family) is the one traced.
   */
  | {
      op: "trace";
      protocol: "tcp" | "udp";
      client: string;
      cport: number;
      vaddr: string;
      vport: number;
      fwmark?: number;
    }
  /**
   * Record, for `seconds` (default 10, at most 300), the frames of the connection the trace
   * fields name, both directions, as received and as sent: that connection existing now, or the
   * first one made for the tuple meanwhile. The reply comes when the time is up.
   */
  | {
      op: "capture";
      protocol: "tcp" | "udp";
      client: string;
      cport: number;
      vaddr: string;
      vport: number;
      fwmark?: number;
      seconds?: number;
    };

export type RequestOp = Request["op"];

/** Replies: {v, id, ok: true, result} or {v, id, ok: false, errno, message}. */
export type Reply =
  | { v: number; id: number; ok: true; result: unknown }
  | { v: number; id: number; ok: false; errno: string; message: string };

/** A FULLNAT local address of a service. */
/** What each request's `result` holds on success. */
export interface ResultMap {
  getInfo: InfoEntry;
  getProc: ProcEntry;
  getStats: StatsEntry;
  getHealth: HealthServiceEntry[];
  reload: ReloadResult;
  getServices: ServiceEntry[];
  getService: ServiceEntry;
  addService: null;
  editService: null;
  delService: null;
  flush: null;
  addDest: null;
  editDest: null;
  delDest: null;
  zero: null;
  setTimeout: null;
  getTimeout: TimeoutValues;
  startDaemon: null;
  stopDaemon: null;
  getDaemons: DaemonEntry[];
  /** `ConnEntry[]` when neither `after` nor `limit` was given, else a `ConnPage`. */
  getConns: ConnEntry[] | ConnPage;
  /** Every sysctl, or only the one named, as {name: value}. */
  getSysctl: Record<string, SysctlValue>;
  setSysctl: null;
  addLaddr: null;
  delLaddr: null;
  getLaddrs: LaddrEntry[];
  trace: TraceEntry;
  capture: CaptureEntry;
}

/** One captured frame: when (µs since the epoch), received ("in") or sent ("out"), where, its bytes. */
export interface CapturedFrameEntry {
  t: number;
  dir: "in" | "out";
  iface?: string;
  /** The Ethernet frame, base64. */
  data: string;
}

/** A capture's length in seconds when the request names none, and the longest. */
export const CAPTURE_DEFAULT_SECONDS = 10;
export const CAPTURE_MAX_SECONDS = 300;

/** `capture`: the frames, and whether a limit (frames or bytes) left some out. */
export interface CaptureEntry {
  frames: CapturedFrameEntry[];
  truncated: boolean;
  /** Whether the tuple's connection was seen at all during the capture. */
  connection: boolean;
}

/** A real server as the scheduler sees it at the traced moment (the core's record, as sent). */
export type TraceDestEntry = TraceDest;

/**
 * `trace`: how a new packet of a tuple would be handled, computed without acting on it: the
 * core's answer, with whether the fast path holds the connection (null when the daemon cannot tell).
 */
export interface TraceEntry extends Omit<TraceResult, "connection"> {
  connection?: Omit<NonNullable<TraceResult["connection"]>, "index"> & { fastPath?: boolean | null };
}

export type ResultOf<Op extends RequestOp> = ResultMap[Op];

/** `getHealth`: the health of every checked service (an empty list when nothing is checked). */
export interface HealthServiceEntry {
  /** "tcp 198.18.0.10:80", or "group NAME" for a virtual_server group. */
  service: string;
  /** The services it programs (a group has several). */
  services: string[];
  quorum: { quorum: number; hysteresis: number; up: boolean; liveWeight: number };
  /** "198.18.0.99:443" and whether it serves now; null without a sorry server. */
  sorryServer: { target: string; active: boolean } | null;
  realServers: HealthRsEntry[];
}

export interface HealthRsEntry {
  target: string;
  /** alive: every checker passes; failed: one does not; draining: removed from the config, weight 0 until its connections end. */
  state: "alive" | "failed" | "draining";
  /** Weight the config gives, and the weight in service now (MISC/FILE contributions, 0 when inhibited). */
  weight: number;
  effectiveWeight: number;
  inService: boolean;
  /** ISO time of the last up/down change; null before the first. */
  lastTransition: string | null;
  checkers: HealthCheckerEntry[];
}

export interface HealthCheckerEntry {
  kind: string;
  /** "198.19.0.1:8080", a script, or a file. */
  target: string;
  up: boolean;
  hasRun: boolean;
  retries: number;
  last: { ok: boolean; reason: string; latencyMs: number; at: string } | null;
}

/** What a reload did: applied, or refused with the running state unchanged (and why). */
export interface ReloadResult {
  applied: boolean;
  message: string;
}

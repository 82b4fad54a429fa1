import { IpvsError } from "../core/errors.js";
import type { ServiceKey } from "../core/service.js";
import type { CaptureTuple } from "../dataplane/flow-capture.js";
import {
  CAPTURE_DEFAULT_SECONDS,
  CAPTURE_MAX_SECONDS,
  type CaptureEntry,
  type ConnEntry,
  type ConnPage,
  type DaemonConfig,
  type DestHealthEntry,
  type FwmarkRulesInfo,
  type HealthServiceEntry,
  type InfoEntry,
  type LaddrEntry,
  MAX_CONN_PAGE,
  type ProcEntry,
  type ReloadResult,
  type RequestOp,
  type ServiceEntry,
  type StatsEntry,
  type SysctlValue,
  type TimeoutValues,
  type TraceEntry,
} from "./api.js";
import {
  connProtocolLabel,
  destConfigToSpec,
  intIn,
  keyText,
  parseAddr,
  type RateSource,
  serviceConfigToSpec,
  serviceIdToKey,
  serviceToEntry,
  ZERO_RATES,
} from "./api-mapping.js";
import type { ConnInfo, DirectorPort, TableFill, TraceRequest } from "./director-port.js";
import { renderIpVs, renderIpVsStats } from "./ipvs-proc.js";
import { SyncDaemons } from "./sync-daemons.js";
import type { VrrpListing } from "./vrrp/vrrp-engine.js";

/** IP_VS_VERSION_CODE of the kernel IPVS this director behaves like (1.2.1). */
export const IPVS_VERSION_CODE = 0x010201;
/** ipvsadm --set accepts 0..31 days per timeout. */
const MAX_TIMEOUT = 2678400;

/** Requests that change the running state (the daemon persists the state after each). */
export const MUTATING_OPS: ReadonlySet<RequestOp> = new Set<RequestOp>([
  "addService",
  "editService",
  "delService",
  "flush",
  "addDest",
  "editDest",
  "delDest",
  "setTimeout",
  "startDaemon",
  "stopDaemon",
  "setSysctl",
  "addLaddr",
  "delLaddr",
]);

export const KNOWN_OPS: ReadonlySet<string> = new Set<string>([
  ...MUTATING_OPS,
  "getInfo",
  "getProc",
  "getStats",
  "getHealth",
  "reload",
  "getServices",
  "getService",
  "zero",
  "getTimeout",
  "getDaemons",
  "getConns",
  "getSysctl",
  "getLaddrs",
  "trace",
  "capture",
]);

/** A capture the handler asks the data plane for: the tuple, its existing connection (-1: none yet). */
export interface CaptureQuery extends CaptureTuple {
  conn: number;
  seconds: number;
}

export interface ApiHandlerOptions {
  /** Rate estimator figures per service/dest; zeros until an estimator is attached. */
  rates?: RateSource;
  /** Seconds on the clock the core runs on (for connection expiry times). */
  now: () => number;
  syncDaemons?: SyncDaemons;
  /** Whether the daemon forwards yet, and with what (getInfo); not ready when absent. */
  readiness?: () => { ready: boolean; dataPlane: string | null };
  /** The packet engine's live counters; absent or null without a data plane. */
  engineStats?: () => Omit<StatsEntry, "dataPlane"> | null;
  /** The health checker's view (getHealth); an empty list without checkers. */
  health?: () => HealthServiceEntry[];
  /** The health of checked real servers, by `${keyText(service)}|${addr:port}` (listings). */
  destHealth?: () => ReadonlyMap<string, DestHealthEntry>;
  /** Kinds accepted but not acted on (getInfo). */
  notActedOn?: () => string[];
  /** The firewall-mark rules' state (getInfo); null or absent without a data plane. */
  fwmarkRules?: () => FwmarkRulesInfo | null;
  /** The VRRP engine's instances (getInfo); absent or null without one. */
  vrrp?: () => VrrpListing | null;
  /** Re-reads the config file (the daemon's reload); absent: nothing to reload. */
  reload?: () => ReloadResult;
  /** Whether the fast path holds connection `index` now; null or absent: cannot tell. */
  fastPathHolds?: (index: number) => boolean | null;
  /** Runs a connection capture (tslvs trace --capture); absent or null: no data plane to capture on. */
  capture?: (q: CaptureQuery) => Promise<CaptureEntry> | null;
}

function fillOf(f: TableFill) {
  return {
    connections: f.entries,
    connCapacity: f.capacity,
    connRefusedFull: f.refusedFull,
    ...(f.defense ? { defense: f.defense } : {}),
  };
}

/**
 * Carries out one control request against the director. Arguments are validated here (a malformed
 * argument is EINVAL); what the kernel would refuse is refused by the director with its errno.
 * Returns the request's result; throws an error carrying `errno` on refusal.
 */
export class ApiHandler {
  readonly syncDaemons: SyncDaemons;
  private readonly rates: RateSource;
  private readonly now: () => number;
  private readonly readiness: () => { ready: boolean; dataPlane: string | null };
  private readonly engineStats: () => Omit<StatsEntry, "dataPlane"> | null;
  private readonly health: () => HealthServiceEntry[];
  private readonly reload: () => ReloadResult;
  private readonly notActedOn: () => string[];
  private readonly fwmarkRules: () => FwmarkRulesInfo | null;
  private readonly vrrp: () => VrrpListing | null;
  private readonly destHealth: (() => ReadonlyMap<string, DestHealthEntry>) | undefined;
  private readonly fastPathHolds: (index: number) => boolean | null;
  private readonly captureRun: (q: CaptureQuery) => Promise<CaptureEntry> | null;

  constructor(
    readonly director: DirectorPort,
    options: ApiHandlerOptions,
  ) {
    this.rates = options.rates ?? ZERO_RATES;
    this.now = options.now;
    this.readiness = options.readiness ?? (() => ({ ready: false, dataPlane: null }));
    this.engineStats = options.engineStats ?? (() => null);
    this.health = options.health ?? (() => []);
    this.notActedOn = options.notActedOn ?? (() => []);
    this.fwmarkRules = options.fwmarkRules ?? (() => null);
    this.vrrp = options.vrrp ?? (() => null);
    this.destHealth = options.destHealth;
    this.reload = options.reload ?? (() => ({ applied: false, message: "no config file to reload" }));
    this.syncDaemons = options.syncDaemons ?? new SyncDaemons();
    this.fastPathHolds = options.fastPathHolds ?? (() => null);
    this.captureRun = options.capture ?? (() => null);
  }

  handle(req: Record<string, unknown>): unknown {
    const d = this.director;
    switch (req.op) {
      case "getInfo": {
        const vrrp = this.vrrp();
        return {
          version: "1.2.1",
          versionCode: IPVS_VERSION_CODE,
          connTabSize: d.bucketCount,
          ...this.readiness(),
          ...fillOf(d.tableFill()),
          notActedOn: this.notActedOn(),
          fwmarkRules: this.fwmarkRules(),
          ...(vrrp ? { vrrp } : {}),
        } satisfies InfoEntry;
      }
      case "getStats": {
        const live = this.engineStats();
        return {
          dataPlane: this.readiness().dataPlane,
          engine: live?.engine ?? null,
          fastPath: live?.fastPath ?? null,
          ...(live?.steering ? { steering: live.steering } : {}),
          ...(live?.fastPathDecisions ? { fastPathDecisions: live.fastPathDecisions } : {}),
        } satisfies StatsEntry;
      }
      case "getHealth":
        return this.health();
      case "reload":
        return this.reload();
      case "getProc": {
        const t = d.totals();
        return {
          ipVs: renderIpVs(
            d.services().map((s) => serviceToEntry(s, this.rates, true)),
            d.bucketCount,
          ),
          ipVsStats: renderIpVsStats(t.stats, t.rates),
        } satisfies ProcEntry;
      }
      case "getServices":
        return this.withHealth(
          d.services().map((s) => serviceToEntry(s, this.rates, req.counters !== false)),
        );
      case "getService":
        return this.getService(serviceIdToKey(req.service));
      case "addService":
        d.addService(serviceConfigToSpec(req.config));
        return null;
      case "editService":
        d.editService(serviceConfigToSpec(req.config));
        return null;
      case "delService":
        d.delService(serviceIdToKey(req.service));
        return null;
      case "flush":
        d.flush();
        return null;
      case "addDest":
        d.addDest(serviceIdToKey(req.service), destConfigToSpec(req.dest));
        return null;
      case "editDest":
        d.editDest(serviceIdToKey(req.service), destConfigToSpec(req.dest));
        return null;
      case "delDest":
        d.delDest(
          serviceIdToKey(req.service),
          parseAddr(req.addr, "real server address"),
          intIn(req.port, 0, 65535, "port"),
        );
        return null;
      case "zero":
        d.zero(req.service === undefined || req.service === null ? undefined : serviceIdToKey(req.service));
        return null;
      case "setTimeout":
        d.setTimeouts(parseTimeouts(req.timeout));
        return null;
      case "getTimeout":
        return { ...d.getTimeouts() } satisfies TimeoutValues;
      case "startDaemon":
        this.syncDaemons.start(parseDaemonConfig(req.config));
        return null;
      case "stopDaemon":
        if (req.state !== "master" && req.state !== "backup")
          throw new IpvsError("EINVAL", "state must be master or backup");
        this.syncDaemons.stop(req.state);
        return null;
      case "getDaemons":
        return this.syncDaemons.list();
      case "getConns":
        return req.after === undefined && req.limit === undefined
          ? this.connections()
          : this.connectionPage(req.after, req.limit);
      case "getSysctl":
        return this.getSysctl(req.name);
      case "setSysctl":
        if (typeof req.name !== "string") throw new IpvsError("EINVAL", "name must be a string");
        d.sysctls.set(
          req.name,
          Array.isArray(req.value)
            ? [intIn(req.value[0], 0, 2147483647, "value"), intIn(req.value[1], 0, 2147483647, "value")]
            : intIn(req.value, -2147483648, 2147483647, "value"),
        );
        return null;
      case "addLaddr":
        if (typeof req.ifname !== "string" || req.ifname.length > 15)
          throw new IpvsError("EINVAL", "ifname must be an interface name (at most 15 characters)");
        d.addLaddr(serviceIdToKey(req.service), parseAddr(req.addr, "local address"), req.ifname);
        return null;
      case "delLaddr":
        d.delLaddr(serviceIdToKey(req.service), parseAddr(req.addr, "local address"));
        return null;
      case "getLaddrs":
        return d.getLaddrs(serviceIdToKey(req.service)).map(
          (l): LaddrEntry => ({
            addr: l.addr.toString(),
            ifname: l.ifname,
            portConflicts: l.portConflicts ?? 0,
            conns: l.conns ?? 0,
          }),
        );
      case "trace":
        return this.trace(req);
      case "capture":
        return this.capture(req);
      default:
        throw new IpvsError("ENOSYS", `unknown op ${JSON.stringify(req.op)}`);
    }
  }

  /** A trace: the tuple checked here, the explanation from the director, the fast path's word added. */
  private trace(req: Record<string, unknown>): TraceEntry {
    const q = traceQuery(req);
    const { connection, ...rest } = this.director.trace(q, this.now());
    if (!connection) return rest;
    const { index, ...c } = connection;
    return { ...rest, connection: { ...c, fastPath: this.fastPathHolds(index) } };
  }

  /**
   * A capture: the tuple checked as a trace's (its service must exist), its connection now if there
   * is one; the data plane records for `seconds` and the reply is a promise of the frames.
   */
  private capture(req: Record<string, unknown>): Promise<CaptureEntry> {
    const q = traceQuery(req);
    const seconds =
      req.seconds === undefined || req.seconds === null
        ? CAPTURE_DEFAULT_SECONDS
        : intIn(req.seconds, 1, CAPTURE_MAX_SECONDS, "seconds");
    const t = this.director.trace(q, this.now());
    const run = this.captureRun({
      family: q.caddr.family,
      protocol: q.protocol,
      caddr: q.caddr.words,
      cport: q.cport,
      vaddr: q.vaddr.words,
      vport: q.vport,
      conn: t.connection?.index ?? -1,
      seconds,
    });
    if (run === null)
      throw new IpvsError("ENODEV", "no data plane: this daemon forwards no packets to capture");
    return run;
  }

  /** Adds the health checker's view to the checked real servers of `entries` (in place). */
  private withHealth(entries: ServiceEntry[]): ServiceEntry[] {
    const health = this.destHealth?.();
    if (!health || health.size === 0) return entries;
    for (const e of entries) {
      const svc = keyText(serviceIdToKey(e.id));
      for (const d of e.dests) {
        const h = health.get(`${svc}|${d.af === 6 ? `[${d.addr}]` : d.addr}:${d.port}`);
        if (h) d.health = h;
      }
    }
    return entries;
  }

  private getService(key: ServiceKey): ServiceEntry {
    const svc = this.director.findService(key);
    if (!svc) throw new IpvsError("ESRCH", `no such service: ${keyText(key)}`);
    return this.withHealth([serviceToEntry(svc, this.rates)])[0]!;
  }

  private getSysctl(name: unknown): Record<string, SysctlValue> {
    const s = this.director.sysctls;
    if (name === undefined || name === null) {
      const out: Record<string, SysctlValue> = {};
      for (const n of s.names()) out[n] = s.get(n);
      return out;
    }
    if (typeof name !== "string") throw new IpvsError("EINVAL", "name must be a string");
    return { [name]: s.get(name) };
  }

  /** The whole connection table in one answer (a getConns without paging). */
  private connections(): ConnEntry[] {
    const out: ConnEntry[] = [];
    for (const c of this.director.connections(this.now())) out.push(connEntry(c));
    return out;
  }

  /**
   * One page of the connection table: at most `limit` entries from the cursor `after` on (from
   * the start when null), and the cursor of the first entry left for the next page.
   */
  private connectionPage(after: unknown, limit: unknown): ConnPage {
    const from =
      after === undefined || after === null ? 0 : intIn(after, 0, Number.MAX_SAFE_INTEGER, "after");
    const max =
      limit === undefined || limit === null
        ? MAX_CONN_PAGE
        : Math.min(intIn(limit, 1, Number.MAX_SAFE_INTEGER, "limit"), MAX_CONN_PAGE);
    const conns: ConnEntry[] = [];
    let next: number | null = null;
    const it = this.director.connections(this.now(), from)[Symbol.iterator]();
    try {
      for (let r = it.next(); !r.done; r = it.next()) {
        if (conns.length === max) {
          next = r.value.index;
          break;
        }
        conns.push(connEntry(r.value));
      }
    } finally {
      it.return?.();
    }
    return { conns, next };
  }
}

/** The trace fields of a request (trace, capture), checked. */
function traceQuery(req: Record<string, unknown>): TraceRequest {
  if (req.protocol !== "tcp" && req.protocol !== "udp")
    throw new IpvsError("EINVAL", "protocol must be tcp or udp");
  const q = {
    protocol: req.protocol === "tcp" ? 6 : 17,
    caddr: parseAddr(req.client, "client address"),
    cport: intIn(req.cport, 1, 65535, "client port"),
    vaddr: parseAddr(req.vaddr, "virtual address"),
    vport: intIn(req.vport, 1, 65535, "virtual port"),
    ...(req.fwmark === undefined || req.fwmark === null
      ? {}
      : { fwmark: intIn(req.fwmark, 1, 0xffffffff, "fwmark") }),
  };
  if (q.caddr.family !== q.vaddr.family)
    throw new IpvsError("EINVAL", "client and virtual address must be of one family");
  return q;
}

/** A connection entry as the protocol carries it. */
function connEntry(c: ConnInfo): ConnEntry {
  const e: ConnEntry = {
    protocol: connProtocolLabel(c.protocol),
    af: c.daddr.family,
    caddr: c.caddr.toString(),
    cport: c.cport,
    vaddr: c.vaddr.toString(),
    vport: c.vport,
    daddr: c.daddr.toString(),
    dport: c.dport,
    state: c.state,
    expires: Math.max(0, Math.floor(c.expires)),
    peName: c.peName,
    peData: c.peData,
  };
  if (c.laddr) {
    e.laddr = c.laddr.toString();
    e.lport = c.lport ?? 0;
  }
  return e;
}

function parseTimeouts(t: unknown): TimeoutValues {
  if (typeof t !== "object" || t === null)
    throw new IpvsError("EINVAL", "timeout must be {tcp, tcpfin, udp}");
  const o = t as Record<string, unknown>;
  return {
    tcp: intIn(o.tcp ?? 0, 0, MAX_TIMEOUT, "tcp timeout"),
    tcpfin: intIn(o.tcpfin ?? 0, 0, MAX_TIMEOUT, "tcpfin timeout"),
    udp: intIn(o.udp ?? 0, 0, MAX_TIMEOUT, "udp timeout"),
  };
}

export function parseDaemonConfig(c: unknown): DaemonConfig {
  if (typeof c !== "object" || c === null) throw new IpvsError("EINVAL", "config must be an object");
  const o = c as Record<string, unknown>;
  if (o.state !== "master" && o.state !== "backup")
    throw new IpvsError("EINVAL", "state must be master or backup");
  const ifn = o.mcastIfn ?? "eth0";
  if (typeof ifn !== "string" || ifn.length === 0 || ifn.length > 15)
    throw new IpvsError("EINVAL", "mcastIfn must be an interface name (at most 15 characters)");
  const group = o.mcastGroup ?? "";
  if (typeof group !== "string") throw new IpvsError("EINVAL", "mcastGroup must be an address string");
  return {
    state: o.state,
    mcastIfn: ifn,
    syncId: intIn(o.syncId ?? 0, 0, 255, "syncId"),
    syncMaxLen: intIn(o.syncMaxLen ?? 0, 0, 65507, "syncMaxLen"),
    mcastGroup: group,
    mcastPort: intIn(o.mcastPort ?? 0, 0, 65535, "mcastPort"),
    mcastTtl: intIn(o.mcastTtl ?? 0, 0, 255, "mcastTtl"),
  };
}

/**
 * `tslvs trace`: how the director would treat a new packet of a (client -> virtual address) tuple,
 * explained without acting on it. Nothing is written: no conn or template is created, no scheduler
 * position moves, no locality cache entry is refreshed, no counter or timer changes.
 */
import { IpAddr } from "./address.js";
import { connInfo } from "./conn-listing.js";
import { DEST_F_OVERLOAD, type Dest } from "./dest.js";
import type { DirectorState } from "./director-state.js";
import { IpvsError } from "./errors.js";
import { FlowPacket, IPPROTO_TCP, IPPROTO_UDP } from "./flow.js";
import { findServiceFor } from "./packet-path.js";
import { fillTemplateKey, PE_SIP, TemplateKey } from "./persistence.js";
import type { Scheduler, SchedulerDryRun } from "./scheduler.js";
import { GuardedScheduler } from "./schedulers/registry.js";
import type { VirtualService } from "./service.js";
import { FTP_DATA_PORT, FTP_PORT } from "./service-table.js";

export interface TraceQuery {
  /** IPPROTO_TCP or IPPROTO_UDP. */
  protocol: number;
  caddr: IpAddr;
  cport: number;
  vaddr: IpAddr;
  vport: number;
  /** A tuple carries no firewall mark: with one, the fwmark service of that mark is the one traced. */
  fwmark?: number;
}

/** A real server as the scheduler sees it at this moment. */
export interface TraceDest {
  addr: string;
  port: number;
  weight: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  /** Kernel ip_vs_dest_conn_overhead: 256·active + (active + inactive). */
  overhead: number;
  /** The load the scheduler compares (e.g. overhead/weight for wlc); null when it compares none. */
  load: number | null;
  overloaded: boolean;
  available: boolean;
  uThreshold: number;
  lThreshold: number;
}

export interface TraceResult {
  /** "TCP 198.18.0.10:80" or "FWM 7". */
  service: string;
  /** Why that service matches the tuple. */
  match: string;
  scheduler: string;
  persistent: boolean;
  /**
   * connection: an entry for this exact tuple exists; template: a persistence template decides;
   * scheduler: a dry run of the scheduler decides (random for twos: see `odds`);
   * no-destination: nothing would be chosen; untraceable: the scheduler has no dry run.
   */
  outcome: "connection" | "template" | "scheduler" | "no-destination" | "untraceable";
  /** The real server ("addr:port") the packet goes to; null when none or random. */
  dest: string | null;
  connection?: { state: string; expires: number; method: string; index: number };
  template?: { client: string; state: string; expires: number };
  dests?: TraceDest[];
  /** What `load` is for this scheduler. */
  loadRule?: string;
  odds?: { dest: string; p: number }[];
  notes: string[];
}

/** Schedulers whose schedule() changes nothing (checked in each file): their dry run is a call. */
const STATELESS = new Set(["lc", "wlc", "sed", "nq", "sh", "dh", "mh", "fo", "ovf"]);

const LOAD_RULES: Record<string, [string, (d: Dest) => number | null]> = {
  lc: ["overhead", (d) => d.overhead],
  wlc: ["overhead/weight", (d) => (d.weight > 0 ? d.overhead / d.weight : null)],
  lblc: ["overhead/weight", (d) => (d.weight > 0 ? d.overhead / d.weight : null)],
  lblcr: ["overhead/weight", (d) => (d.weight > 0 ? d.overhead / d.weight : null)],
  twos: ["overhead/weight", (d) => (d.weight > 0 ? d.overhead / d.weight : null)],
  sed: ["(active+1)/weight", (d) => (d.weight > 0 ? (d.activeConns + 1) / d.weight : null)],
  nq: [
    "(active+1)/weight, an idle dest first",
    (d) => (d.weight > 0 ? (d.activeConns + 1) / d.weight : null),
  ],
  ovf: ["active (against weight)", (d) => d.activeConns],
};

export function trace(ds: DirectorState, q: TraceQuery, now: number): TraceResult {
  if (q.protocol !== IPPROTO_TCP && q.protocol !== IPPROTO_UDP)
    throw new IpvsError("EINVAL", "trace: protocol must be TCP or UDP");
  if (q.caddr.family !== q.vaddr.family)
    throw new IpvsError("EINVAL", "trace: client and virtual address are of different families");
  for (const [p, what] of [
    [q.cport, "client port"],
    [q.vport, "virtual port"],
  ] as const)
    if (!Number.isInteger(p) || p < 1 || p > 65535)
      throw new IpvsError("EINVAL", `trace: ${what} must be 1..65535`);
  const pkt = new FlowPacket();
  pkt.family = q.caddr.family;
  pkt.protocol = q.protocol;
  pkt.saddr.set(q.caddr.words);
  pkt.daddr.set(q.vaddr.words);
  pkt.sport = q.cport;
  pkt.dport = q.vport;
  pkt.fwmark = q.fwmark ?? 0;

  let svc: VirtualService | undefined;
  if (q.fwmark !== undefined) {
    svc = ds.svcs.findMark(pkt.family, q.fwmark >>> 0);
    if (!svc) throw new IpvsError("ESRCH", `trace: no fwmark service ${q.fwmark} (IPv${pkt.family})`);
  } else {
    pkt.fwmark = 0;
    svc = findServiceFor(ds, pkt);
    if (!svc)
      throw new IpvsError(
        "ESRCH",
        `trace: no service matches ${proto(q.protocol)} ${hostPort(q.vaddr, q.vport)}`,
      );
  }
  const res: TraceResult = {
    service: serviceText(svc),
    match: matchReason(svc, q),
    scheduler: svc.schedName,
    persistent: svc.persistent,
    outcome: "no-destination",
    dest: null,
    notes: [],
  };

  // 2. An entry for this exact tuple: its packets follow it.
  const t = ds.conns;
  const i = t.lookupIn(q.protocol, pkt.family, pkt.saddr, q.cport, pkt.daddr, q.vport, false);
  if (i >= 0) {
    const c = connInfo(ds, i, now);
    res.outcome = "connection";
    res.dest = c.method === "bypass" ? null : hostPortText(c.daf, c.daddr, c.dport);
    res.connection = { state: c.state, expires: c.expires, method: c.method, index: i };
    const id = t.destId[i]!;
    if (id >= 0 && !ds.destById[id]!.available)
      res.notes.push(
        ds.sysctls.expire_nodest_conn
          ? "its real server was removed: the next packet expires it and is scheduled anew"
          : "its real server was removed: its packets are dropped until it expires",
      );
    if (ds.sysctls.conn_reuse_mode)
      res.notes.push("a new connection attempt (SYN) on it may be rescheduled (conn_reuse_mode)");
    return res;
  }

  if (q.cport === FTP_DATA_PORT) {
    res.notes.push("client port 20 (FTP data) is never scheduled: the packet passes to the host");
    return res;
  }
  if (!svc.persistent && svc.key.kind === "addr" && q.vport !== svc.port) {
    res.notes.push(
      `port ${q.vport} reaches service port ${svc.port} only through persistence: no destination`,
    );
    return res;
  }

  // 3. A persistence template for the client (masked to the service's netmask).
  if (svc.persistent) {
    if (svc.pe === PE_SIP) {
      res.notes.push(
        "persistence engine sip: templates are keyed by the Call-ID, which a tuple does not carry",
      );
    } else {
      const key = new TemplateKey();
      fillTemplateKey(svc, q.protocol, pkt.family, pkt.saddr, pkt.daddr, q.vport, key);
      const ct = t.lookupIn(key.proto, pkt.family, key.caddr, 0, key.vaddr, key.vport, true);
      if (ct >= 0) {
        const c = connInfo(ds, ct, now);
        const dest = ds.destById[t.destId[ct]!];
        // packet-path templateValid, without its rehash of an invalid template.
        const valid =
          dest?.available === true && !(ds.sysctls.expire_quiescent_template && dest.weight === 0);
        if (valid && dest) {
          res.outcome = "template";
          res.dest = hostPort(dest.addr, dest.port !== 0 ? dest.port : q.vport);
          res.template = {
            client: IpAddr.fromWords(pkt.family, key.caddr).toString(),
            state: c.state,
            expires: c.expires,
          };
          return res;
        }
        res.notes.push(
          `a persistence template (${c.caddr} -> ${c.daddr}:${c.dport}) exists but its real server is unavailable or quiescent: a new one is scheduled`,
        );
      } else {
        res.notes.push("no persistence template for the client: the scheduler picks, and a template is made");
      }
    }
  }

  // 4. The scheduler's inputs and a dry run of its choice.
  const sched = svc.scheduler;
  const rule = LOAD_RULES[svc.schedName];
  res.dests = svc.dests.map((d) => traceDest(d, rule?.[1]));
  if (rule) res.loadRule = rule[0];
  if (!sched) {
    res.notes.push("the service has no scheduler: no destination");
    return res;
  }
  const run = dryRun(sched, svc, pkt, now);
  if (!run) {
    res.outcome = "untraceable";
    res.notes.push(`scheduler "${svc.schedName}" cannot be traced without side effects (it has no dry run)`);
    return res;
  }
  res.notes.push(...run.notes);
  if (run.odds) {
    res.outcome = run.odds.length > 0 ? "scheduler" : "no-destination";
    res.odds = run.odds.map((o) => ({ dest: hostPort(o.dest.addr, o.dest.port), p: o.p }));
    return res;
  }
  if (run.dest && svc.dests.includes(run.dest) && run.dest.available) {
    res.outcome = "scheduler";
    res.dest = hostPort(run.dest.addr, run.dest.port !== 0 ? run.dest.port : q.vport);
  }
  return res;
}

function dryRun(sched: Scheduler, svc: VirtualService, pkt: FlowPacket, now: number): SchedulerDryRun | null {
  // A plugin is wrapped: its own dryRun, if it has one, is what counts.
  const inner = sched instanceof GuardedScheduler ? sched.inner : sched;
  if (typeof inner.dryRun === "function") {
    try {
      return inner.dryRun(svc, pkt, now);
    } catch (err) {
      return { dest: null, notes: [`dryRun() threw: ${err instanceof Error ? err.message : String(err)}`] };
    }
  }
  // Built-in names cannot be taken by plugins, so a name here is the built-in scheduler.
  if (inner === sched && STATELESS.has(sched.name)) return { dest: sched.schedule(svc, pkt), notes: [] };
  return null;
}

function traceDest(d: Dest, load: ((d: Dest) => number | null) | undefined): TraceDest {
  return {
    addr: d.addr.toString(),
    port: d.port,
    weight: d.weight,
    activeConns: d.activeConns,
    inactConns: d.inactConns,
    persistConns: d.persistConns,
    overhead: d.overhead,
    load: load ? load(d) : null,
    overloaded: (d.flags & DEST_F_OVERLOAD) !== 0,
    available: d.available,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
  };
}

function matchReason(svc: VirtualService, q: TraceQuery): string {
  if (svc.key.kind === "fwmark")
    return `fwmark service ${svc.key.fwmark}, as named (a tuple alone carries no mark)`;
  if (svc.port === q.vport) return "address, protocol and port match";
  if (svc.port === FTP_PORT) return `FTP service (port 21): it also takes port ${q.vport} (data connections)`;
  return `port-0 service: it takes every port of ${svc.key.addr}`;
}

function serviceText(svc: VirtualService): string {
  const k = svc.key;
  return k.kind === "fwmark"
    ? `FWM ${k.fwmark}${k.family === 6 ? " IPv6" : ""}`
    : `${proto(k.protocol)} ${hostPort(k.addr, k.port)}`;
}

function proto(p: number): string {
  return p === IPPROTO_TCP ? "TCP" : p === IPPROTO_UDP ? "UDP" : p === 132 ? "SCTP" : String(p);
}

function hostPort(a: IpAddr, port: number): string {
  return a.family === 6 ? `[${a}]:${port}` : `${a}:${port}`;
}

function hostPortText(family: 4 | 6, addr: string, port: number): string {
  return family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

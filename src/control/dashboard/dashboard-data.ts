/**
 * `GET /api/dashboard`: the one JSON document the dashboard page polls, built from what the daemon
 * already keeps: the services and their real servers with counters (the listing's entries), the
 * health checker's view, the connection table's fill, the packet engine's counters and the recent
 * events. Bounded: at most MAX_SERVICES services and MAX_REAL_SERVERS real servers in all (each
 * service says how many it has), so that a table of 10,000 services costs the packet loop's thread
 * the same as one of 500, and the browser gets a page it can draw every two seconds.
 */

import { DEST_F_OVERLOAD } from "../../core/dest.js";
import { SVC_F_PERSISTENT, type VirtualService } from "../../core/service.js";
import type { CounterValues, HealthServiceEntry, RateValues, StatsEntry } from "../api.js";
import { counterValues, hostPort, keyText, type RateSource } from "../api-mapping.js";
import type { TableFill } from "../director-port.js";
import type { EventRecord } from "../event-log.js";
import { DROP_REASONS } from "../tslvs-metrics.js";

/** Services sent, in the director's order; the rest are only counted (`servicesTotal`). */
export const MAX_SERVICES = 500;
/** Real servers sent over all the services sent; a service past it lists none, with its total. */
export const MAX_REAL_SERVERS = 5000;

export interface DashboardHealth {
  state: "alive" | "failed" | "draining";
  inService: boolean;
  /** The weight the config gives, and the one in service now. */
  weight: number;
  effectiveWeight: number;
  lastTransition: string | null;
  /** The most recent result over the real server's checkers; null before any ran. */
  last: { kind: string; ok: boolean; reason: string; latencyMs: number; at: string } | null;
}

export interface DashboardRealServer {
  /** "198.19.0.1:80", "[2001:db8::1]:80". */
  target: string;
  method: string;
  /** Weight in the director now; null for a real server the health checker took out of it. */
  weight: number | null;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  overloaded: boolean;
  stats: CounterValues;
  /** The director's rate estimator (two-second smoothing, as ipvsadm --rate). */
  rates: RateValues;
  /** Null for a real server no checker watches. */
  health: DashboardHealth | null;
}

export interface DashboardService {
  /** keyText: "tcp 198.18.0.10:80", "fwmark 7". */
  name: string;
  scheduler: string;
  persistent: boolean;
  activeConns: number;
  inactConns: number;
  stats: CounterValues;
  rates: RateValues;
  realServers: DashboardRealServer[];
  /** Real servers the service has (in the director or checked), sent or not. */
  realServersTotal: number;
  /** The health checker's quorum, when the service is checked. */
  quorum: { up: boolean; liveWeight: number; quorum: number } | null;
}

export interface DashboardEngine {
  /** Frames through the slow path (AF_XDP). */
  slowPathFrames: { rx: number; tx: number };
  /** Packets and bytes forwarded by the in-kernel fast path (null without it). */
  fastPath: { packets: number; bytes: number; flowsInstalled: number; flowsRemoved: number } | null;
  /** Fast-path packets over all packets the director handled (fast path + slow path rx), 0..1. */
  fastPathShare: number | null;
  /** Frames dropped, by reason (the /metrics reason labels). */
  drops: Record<string, number>;
}

export interface DashboardDocument {
  version: string;
  host: string;
  /** When the document was built (ISO). */
  at: string;
  startedAt: string;
  ready: boolean;
  dataPlane: string | null;
  servicesTotal: number;
  /** The caps applied (MAX_SERVICES, MAX_REAL_SERVERS). */
  limits: { services: number; realServers: number };
  services: DashboardService[];
  table: TableFill;
  engine: DashboardEngine | null;
  reloads: { applied: number; refused: number };
  /** Newest first. */
  events: EventRecord[];
}

export interface DashboardInput {
  version: string;
  host: string;
  startedAt: string;
  ready: boolean;
  dataPlane: string | null;
  services: readonly VirtualService[];
  rates: RateSource;
  health: readonly HealthServiceEntry[];
  table: TableFill;
  live: Omit<StatsEntry, "dataPlane"> | null;
  reloads: { applied: number; refused: number };
  events: EventRecord[];
  now?: Date;
  limits?: { services: number; realServers: number };
}

export function buildDashboard(x: DashboardInput): DashboardDocument {
  const limits = x.limits ?? { services: MAX_SERVICES, realServers: MAX_REAL_SERVERS };
  // The health listing by service name (a group's entry names each service it programs).
  const healthOf = new Map<string, HealthServiceEntry>();
  for (const h of x.health) for (const name of h.services) healthOf.set(name, h);
  let rsLeft = limits.realServers;
  const services: DashboardService[] = [];
  const shown = Math.min(x.services.length, limits.services);
  for (let i = 0; i < shown; i++) {
    const svc = x.services[i]!;
    const name = keyText(svc.key);
    const h = healthOf.get(name);
    const checked = new Map(h?.realServers.map((r) => [r.target, r]) ?? []);
    const realServers: DashboardRealServer[] = [];
    let active = 0;
    let inactive = 0;
    const seen = new Set<string>();
    for (const d of svc.dests) {
      active += d.activeConns;
      inactive += d.inactConns;
      const target = hostPort(d.addr, d.port);
      seen.add(target);
      if (rsLeft <= 0) continue;
      rsLeft--;
      const hr = checked.get(target);
      realServers.push({
        target,
        method: d.method,
        weight: d.weight,
        activeConns: d.activeConns,
        inactConns: d.inactConns,
        persistConns: d.persistConns,
        overloaded: (d.flags & DEST_F_OVERLOAD) !== 0,
        stats: counterValues(d.stats),
        rates: x.rates(d),
        health: hr ? healthEntry(hr) : null,
      });
    }
    // A failed real server without inhibit_on_failure is out of the director: listed from the checker.
    let total = seen.size;
    for (const hr of checked.values()) {
      if (seen.has(hr.target)) continue;
      total++;
      if (rsLeft <= 0) continue;
      rsLeft--;
      realServers.push({
        target: hr.target,
        method: "",
        weight: null,
        activeConns: 0,
        inactConns: 0,
        persistConns: 0,
        overloaded: false,
        stats: { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 },
        rates: { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 },
        health: healthEntry(hr),
      });
    }
    services.push({
      name,
      scheduler: svc.schedName,
      persistent: (svc.flags & SVC_F_PERSISTENT) !== 0,
      activeConns: active,
      inactConns: inactive,
      stats: counterValues(svc.stats),
      rates: x.rates(svc),
      realServers,
      realServersTotal: total,
      quorum: h ? { up: h.quorum.up, liveWeight: h.quorum.liveWeight, quorum: h.quorum.quorum } : null,
    });
  }
  return {
    version: x.version,
    host: x.host,
    at: (x.now ?? new Date()).toISOString(),
    startedAt: x.startedAt,
    ready: x.ready,
    dataPlane: x.dataPlane,
    servicesTotal: x.services.length,
    limits,
    services,
    table: x.table,
    engine: engineOf(x.live),
    reloads: x.reloads,
    events: x.events,
  };
}

function healthEntry(r: HealthServiceEntry["realServers"][number]): DashboardHealth {
  let last: DashboardHealth["last"] = null;
  for (const c of r.checkers) {
    if (c.last && (last === null || c.last.at > last.at)) last = { kind: c.kind, ...c.last };
  }
  return {
    state: r.state,
    inService: r.inService,
    weight: r.weight,
    effectiveWeight: r.effectiveWeight,
    lastTransition: r.lastTransition,
    last,
  };
}

function engineOf(live: Omit<StatsEntry, "dataPlane"> | null): DashboardEngine | null {
  const e = live?.engine;
  if (!e) return null;
  const f = live.fastPath;
  const drops: Record<string, number> = {};
  for (const [reason, key] of DROP_REASONS) drops[reason] = e[key] ?? 0;
  const rx = e.rxFrames ?? 0;
  const fp = f ? (f.creditedPackets ?? 0) : 0;
  return {
    slowPathFrames: { rx, tx: e.txFrames ?? 0 },
    fastPath: f
      ? {
          packets: fp,
          bytes: f.creditedBytes ?? 0,
          flowsInstalled: f.installed ?? 0,
          flowsRemoved: f.removed ?? 0,
        }
      : null,
    fastPathShare: rx + fp > 0 ? fp / (rx + fp) : null,
    drops,
  };
}

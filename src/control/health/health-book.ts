import { IpAddr } from "../../core/address.js";
import type { HealthCheckerEntry, HealthRsEntry, HealthServiceEntry, ServiceId } from "../api.js";
import { hostPort, keyText, keyToServiceId } from "../api-mapping.js";
import type { DesiredDest, DesiredService, DesiredState } from "../desired-state.js";
import type { CheckerSpec, ProbeSpec, ServiceHealth } from "./check-spec.js";
import type { CheckerReport, PlannedChecker } from "./checker-runner.js";
import { type CheckerStatus, initialStatus } from "./checker-state.js";
import type { HealthPlan, RsPlan, ServicePlan } from "./health-plan.js";

const INT_MAX = 2 ** 31 - 1;

/** A real server or a quorum changing state, as notify scripts, the FIFO and the log see it. */
export interface HealthEvent {
  kind: "rs-up" | "rs-down" | "quorum-up" | "quorum-down";
  /** The ServicePlan's identity ("tcp 198.18.0.10:80", "group WEB"). */
  service: string;
  services: DesiredService["spec"]["key"][];
  rs?: RsPlan;
  health: ServiceHealth;
  /** The failing checker's reason, for rs-down. */
  reason?: string;
}

/**
 * The health of every checked real server and service: each checker's status and last report,
 * each real server's aliveness (every checker up) and weight (MISC_CHECK misc_dynamic and
 * FILE_CHECK contributions), each service's quorum with hysteresis (spec A.9, A.10). `effective`
 * turns a desired state into the one to program: failed real servers out (or at weight 0 with
 * inhibit_on_failure), the sorry server in while the quorum is lost.
 */
export class HealthBook {
  private plan: HealthPlan = {
    services: [],
    checkers: new Map(),
    rsByKey: new Map(),
    serviceOfRs: new Map(),
  };
  private readonly status = new Map<string, CheckerStatus>();
  private readonly last = new Map<string, CheckerReport>();
  private readonly alive = new Map<string, boolean>();
  private readonly transitions = new Map<string, number>();
  private readonly quorumUp = new Map<string, boolean>();
  private readonly rsTransitions = new Map<string, { up: number; down: number }>();
  private readonly checkerStats = new Map<string, CheckerStats>();

  /**
   * Takes a new plan: checkers it keeps carry their status (spec A.12); new ones start as their
   * timing says (alpha: down), and a new checker on a real server that was already checked runs at
   * once. Returns what the runner must run.
   */
  setPlan(plan: HealthPlan): PlannedChecker[] {
    const oldRs = this.plan.rsByKey;
    this.plan = plan;
    for (const id of [...this.status.keys()]) {
      if (!plan.checkers.has(id)) {
        this.status.delete(id);
        this.last.delete(id);
        this.checkerStats.delete(id);
      }
    }
    const out: PlannedChecker[] = [];
    for (const c of plan.checkers.values()) {
      let status = this.status.get(c.id);
      const isNew = !status;
      if (!status) {
        status = initialStatus(c.spec.timing);
        this.status.set(c.id, status);
      }
      out.push({ id: c.id, spec: c.spec, status, runNow: isNew && oldRs.has(c.rsKey) });
    }
    for (const key of [...this.alive.keys()]) if (!plan.rsByKey.has(key)) this.alive.delete(key);
    for (const rs of plan.rsByKey.values()) this.alive.set(rs.key, this.computeAlive(rs));
    for (const id of [...this.quorumUp.keys()])
      if (!plan.services.some((s) => s.identity === id)) this.quorumUp.delete(id);
    for (const sp of plan.services) {
      if (!this.quorumUp.has(sp.identity))
        this.quorumUp.set(sp.identity, this.liveWeight(sp) >= sp.health.quorum + sp.health.hysteresis);
    }
    return out;
  }

  /**
   * Records one attempt's report; returns the real-server and quorum changes it caused, and
   * whether the state to program changed (those, or a weight from MISC_CHECK / FILE_CHECK).
   */
  record(report: CheckerReport): { events: HealthEvent[]; reprogram: boolean } {
    const c = this.plan.checkers.get(report.id);
    if (!c) return { events: [], reprogram: false };
    const rs = this.plan.rsByKey.get(c.rsKey);
    const sp = this.plan.serviceOfRs.get(c.rsKey);
    const weightBefore = rs ? this.effectiveWeight(rs) : 0;
    this.status.set(report.id, { ...report.status });
    this.last.set(report.id, report);
    this.countRun(report);
    if (!rs || !sp) return { events: [], reprogram: false };
    const events: HealthEvent[] = [];
    const was = this.alive.get(rs.key) ?? true;
    const now = this.computeAlive(rs);
    if (was !== now) {
      this.alive.set(rs.key, now);
      this.transitions.set(rs.key, report.at);
      const t = this.rsTransitions.get(rs.key) ?? { up: 0, down: 0 };
      if (now) t.up++;
      else t.down++;
      this.rsTransitions.set(rs.key, t);
      events.push({
        kind: now ? "rs-up" : "rs-down",
        service: sp.identity,
        services: sp.keys,
        rs,
        health: sp.health,
        ...(now ? {} : { reason: report.reason }),
      });
    }
    const q = this.updateQuorum(sp);
    if (q) events.push(q);
    return { events, reprogram: events.length > 0 || (now && this.effectiveWeight(rs) !== weightBefore) };
  }

  private countRun(r: CheckerReport): void {
    let st = this.checkerStats.get(r.id);
    if (!st) {
      st = {
        ok: 0,
        fail: 0,
        timeout: 0,
        error: 0,
        consecutiveFailures: 0,
        lastSuccessAt: 0,
        lastExitCode: null,
        buckets: new Array<number>(DURATION_BUCKETS.length).fill(0),
        durationSum: 0,
        runs: 0,
      };
      this.checkerStats.set(r.id, st);
    }
    st[runResult(r)]++;
    st.runs++;
    st.consecutiveFailures = r.ok ? 0 : st.consecutiveFailures + 1;
    if (r.ok) st.lastSuccessAt = r.at;
    const code = /^exit (\d+)$/.exec(r.reason);
    if (code) st.lastExitCode = Number(code[1]);
    else if (r.ok) st.lastExitCode = 0;
    const seconds = r.latencyMs / 1000;
    st.durationSum += seconds;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) if (seconds <= DURATION_BUCKETS[i]!) st.buckets[i]!++;
  }

  /**
   * Everything /metrics shows of health (spec B.6), one row per (service, real server) with its
   * checkers; a group's real servers once per service of the group.
   */
  metricRows(): HealthMetricRow[] {
    const rows: HealthMetricRow[] = [];
    for (const sp of this.plan.services) {
      const sorry = this.sorryActive(sp);
      const live = this.liveWeight(sp);
      for (const key of sp.keys) {
        const service: HealthServiceMetric = {
          id: keyToServiceId(key),
          quorumUp: this.quorumUp.get(sp.identity) ?? true,
          liveWeight: live,
          sorryActive: sorry,
          up: sp.rs.filter((r) => this.isAlive(r)).length,
          down: sp.rs.filter((r) => !this.isAlive(r)).length,
        };
        for (const rs of sp.rs) {
          rows.push({
            service,
            rs: { addr: rs.dest.addr.toString(), port: rs.dest.port },
            up: this.isAlive(rs),
            effectiveWeight: this.effectiveWeight(rs),
            failedCheckers: rs.checkerIds.filter((id) => !this.status.get(id)?.up).length,
            transitions: this.rsTransitions.get(rs.key) ?? { up: 0, down: 0 },
            checkers: rs.checkerIds.map((id, index) => ({
              kind: this.plan.checkers.get(id)!.spec.probe.kind,
              index,
              up: this.status.get(id)?.up ?? false,
              stats: this.checkerStats.get(id) ?? null,
            })),
          });
        }
        if (sp.rs.length === 0)
          rows.push({
            service,
            rs: null,
            up: false,
            effectiveWeight: 0,
            failedCheckers: 0,
            transitions: { up: 0, down: 0 },
            checkers: [],
          });
      }
    }
    return rows;
  }

  /** Re-evaluates a service's quorum (after aliveness or weights changed). */
  private updateQuorum(sp: ServicePlan): HealthEvent | null {
    const { quorum, hysteresis } = sp.health;
    const w = this.liveWeight(sp);
    const up = this.quorumUp.get(sp.identity) ?? true;
    let next = up;
    if (up && (w < quorum - hysteresis || w === 0)) next = false;
    else if (!up && w >= quorum + hysteresis) next = true;
    if (next === up) return null;
    this.quorumUp.set(sp.identity, next);
    return {
      kind: next ? "quorum-up" : "quorum-down",
      service: sp.identity,
      services: sp.keys,
      health: sp.health,
    };
  }

  private computeAlive(rs: RsPlan): boolean {
    for (const id of rs.checkerIds) if (!this.status.get(id)?.up) return false;
    return true;
  }

  isAlive(rs: RsPlan): boolean {
    return this.alive.get(rs.key) ?? true;
  }

  /** The configured weight plus what MISC_CHECK (misc_dynamic) and FILE_CHECK say, in 0..2^31-1. */
  effectiveWeight(rs: RsPlan): number {
    let w = rs.dest.weight;
    for (const id of rs.checkerIds) {
      const r = this.last.get(id);
      if (!r) continue;
      if (r.dynamicWeight !== undefined) w += r.dynamicWeight - rs.dest.weight;
      if (r.weightDelta !== undefined) w += r.weightDelta;
    }
    return Math.min(INT_MAX, Math.max(0, w));
  }

  private liveWeight(sp: ServicePlan): number {
    let w = 0;
    for (const rs of sp.rs) if (this.isAlive(rs)) w += this.effectiveWeight(rs);
    return w;
  }

  /** True when the service's sorry server is in place of its real servers. */
  sorryActive(sp: ServicePlan): boolean {
    return sp.health.sorryServer !== undefined && !(this.quorumUp.get(sp.identity) ?? true);
  }

  /** The state to program: `desired` with health applied to every checked service. */
  effective(desired: DesiredState): DesiredState {
    const byIdentity = new Map(this.plan.services.map((sp) => [sp.identity, sp]));
    const services = desired.services.map((svc): DesiredService => {
      if (!svc.health) return svc;
      const sp = byIdentity.get(svc.health.group ? `group ${svc.health.group}` : keyText(svc.spec.key));
      if (!sp) return svc;
      const sorry = this.sorryActive(sp);
      const dests: DesiredDest[] = [];
      for (const d of svc.dests) {
        const rs = this.plan.rsByKey.get(`${sp.identity}|${hostPort(d.addr, d.port)}`);
        const alive = rs ? this.isAlive(rs) : true;
        const inhibit = d.health?.inhibitOnFailure ?? false;
        if (alive && !sorry) dests.push({ ...d, weight: rs ? this.effectiveWeight(rs) : d.weight });
        else if (inhibit) dests.push({ ...d, weight: 0 });
      }
      const s = sp.health.sorryServer;
      if (s) {
        const addr = IpAddr.parse(s.addr);
        const port = s.port || (svc.spec.key.kind === "addr" ? svc.spec.key.port : 0);
        const taken = addr && dests.some((d) => d.addr.equals(addr) && d.port === port);
        if (addr && !taken && (sorry || s.inhibit))
          dests.push({
            addr,
            port,
            method: s.method,
            weight: sorry ? 1 : 0,
            uThreshold: 0,
            lThreshold: 0,
            tunType: "ipip",
            tunPort: 0,
            tunCsum: "nocsum",
          });
      }
      return { ...svc, dests };
    });
    return { ...desired, services };
  }

  /** `tslvs health`: every checked service, its quorum, real servers and checkers. */
  listing(
    draining: readonly { service: string; target: string; weight: number }[] = [],
    only?: ReadonlySet<string>,
  ): HealthServiceEntry[] {
    const planned = only
      ? this.plan.services.filter((sp) => sp.keys.some((k) => only.has(keyText(k))))
      : this.plan.services;
    return planned.map((sp) => {
      const s = sp.health.sorryServer;
      const realServers: HealthRsEntry[] = sp.rs.map((rs) => {
        const alive = this.isAlive(rs);
        const at = this.transitions.get(rs.key);
        const inhibit = rs.dest.health?.inhibitOnFailure ?? false;
        const sorry = this.sorryActive(sp);
        return {
          target: rs.target,
          state: alive ? "alive" : "failed",
          weight: rs.dest.weight,
          effectiveWeight: alive && !sorry ? this.effectiveWeight(rs) : 0,
          inService: (alive && !sorry) || inhibit,
          lastTransition: at === undefined ? null : new Date(at).toISOString(),
          checkers: rs.checkerIds.map((id) => this.checkerEntry(id)),
        };
      });
      for (const d of draining) {
        if (sp.keys.some((k) => keyText(k) === d.service))
          realServers.push({
            target: d.target,
            state: "draining",
            weight: d.weight,
            effectiveWeight: 0,
            inService: true,
            lastTransition: null,
            checkers: [],
          });
      }
      return {
        service: sp.identity,
        services: sp.keys.map(keyText),
        quorum: {
          quorum: sp.health.quorum,
          hysteresis: sp.health.hysteresis,
          up: this.quorumUp.get(sp.identity) ?? true,
          liveWeight: this.liveWeight(sp),
        },
        sorryServer: s
          ? {
              target: hostPort(IpAddr.parse(s.addr) ?? IpAddr.parse("0.0.0.0")!, s.port),
              active: this.sorryActive(sp),
            }
          : null,
        realServers,
      };
    });
  }

  private checkerEntry(id: string): HealthCheckerEntry {
    const c = this.plan.checkers.get(id)!;
    const st = this.status.get(id) ?? initialStatus(c.spec.timing);
    const r = this.last.get(id);
    return {
      kind: c.spec.probe.kind,
      target: checkerTarget(c.spec),
      up: st.up,
      hasRun: st.hasRun,
      retries: st.retryIt,
      last: r
        ? { ok: r.ok, reason: r.reason, latencyMs: r.latencyMs, at: new Date(r.at).toISOString() }
        : null,
    };
  }
}

/** Upper bounds (seconds) of the checker duration histogram: 1 ms to 10 s. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Counts of one checker's attempts since it was planned. */
export interface CheckerStats {
  ok: number;
  fail: number;
  timeout: number;
  error: number;
  runs: number;
  consecutiveFailures: number;
  /** Wall-clock ms of the last success; 0 before one. */
  lastSuccessAt: number;
  /** MISC_CHECK: the script's last exit status. */
  lastExitCode: number | null;
  /** Cumulative counts per DURATION_BUCKETS bound, and the sum of durations in seconds. */
  buckets: number[];
  durationSum: number;
}

/**
 * Plain data (strings and numbers, no class instances): the rows cross to the HTTP thread, which
 * renders them (http-thread.ts).
 */
export interface HealthServiceMetric {
  id: ServiceId;
  quorumUp: boolean;
  liveWeight: number;
  sorryActive: boolean;
  up: number;
  down: number;
}

export interface HealthMetricRow {
  service: HealthServiceMetric;
  /** null: a service without real servers (its service-level values only). */
  rs: { addr: string; port: number } | null;
  up: boolean;
  effectiveWeight: number;
  failedCheckers: number;
  transitions: { up: number; down: number };
  checkers: { kind: string; index: number; up: boolean; stats: CheckerStats | null }[];
}

/** The result label of an attempt: ok, timeout, error (the checker could not run), or fail. */
function runResult(r: CheckerReport): "ok" | "fail" | "timeout" | "error" {
  if (r.ok) return "ok";
  if (r.reason === "timeout") return "timeout";
  if (r.reason.startsWith("checker error") || r.reason.startsWith("cannot run")) return "error";
  return "fail";
}

/** What a checker looks at, in one short string. */
export function checkerTarget(spec: CheckerSpec): string {
  const p: ProbeSpec = spec.probe;
  switch (p.kind) {
    case "MISC_CHECK":
      return p.script.argv.join(" ");
    case "FILE_CHECK":
      return p.file;
    default: {
      const a = IpAddr.parse(p.target.connectIp);
      const host = a?.family === 6 ? `[${p.target.connectIp}]` : p.target.connectIp;
      return p.kind === "PING_CHECK" ? host : `${host}:${p.target.connectPort}`;
    }
  }
}

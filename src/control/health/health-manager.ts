import { constants, promises as fsp } from "node:fs";
import type { Logger } from "pino";
import { IPPROTO_TCP } from "../../core/flow.js";
import type { ServiceKey } from "../../core/service.js";
import type { DestHealthEntry, HealthServiceEntry } from "../api.js";
import { hostPort, keyText, protocolName } from "../api-mapping.js";
import type { DesiredDest, DesiredState } from "../desired-state.js";
import type { DirectorPort } from "../director-port.js";
import type { KeepalivedGlobals } from "../keepalived/keepalived-config.js";
import type { ScriptSpec } from "./check-spec.js";
import type { CheckerReport } from "./checker-runner.js";
import { CheckerThread } from "./checker-thread.js";
import { HealthBook, type HealthEvent, type HealthMetricRow } from "./health-book.js";
import { type HealthPlan, planHealth } from "./health-plan.js";
import { HealthSensor, sensorMessage } from "./health-sensor.js";
import { runNotifyScript } from "./notify-script.js";

/** Seconds a real server removed from the config keeps draining before it is deleted anyway. */
export const DEFAULT_DRAIN_TIMEOUT = 60;

interface Drain {
  key: ServiceKey;
  dest: DesiredDest;
  /** Seconds on the daemon's clock after which it is deleted even with connections left. */
  until: number;
}

export interface HealthManagerOptions {
  director: DirectorPort;
  log: Logger;
  /** Programs a state (reconcile); `source` names why, for the log. */
  program: (state: DesiredState, source: string) => void;
  /** Seconds, monotonic. */
  now: () => number;
  drainTimeout?: number;
  /** Told of every real server up/down and quorum change (the daemon's event log). */
  onEvent?: (e: HealthEvent) => void;
}

/**
 * Keeps the programmed rules equal to the config's, with health applied: runs the checkers in
 * their own thread, takes a failed real server out (or to weight 0 with inhibit_on_failure) and
 * puts it back, swaps the sorry server in and out with the quorum, runs the notify scripts and
 * writes the notify FIFO, and drains a real server a reload removed (weight 0 until its
 * connections end or the drain timeout passes).
 */
export class HealthManager {
  private readonly book = new HealthBook();
  private readonly thread: CheckerThread;
  private desired: DesiredState | null = null;
  private readonly drains = new Map<string, Drain>();
  private globals: KeepalivedGlobals | null = null;
  private readonly drainTimeout: number;
  private started = false;
  /** The current plan, for the data-path sensor. */
  private plan: HealthPlan | null = null;
  readonly sensor = new HealthSensor();

  constructor(private readonly opts: HealthManagerOptions) {
    this.drainTimeout = opts.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT;
    this.thread = new CheckerThread(
      (r) => this.onReport(r),
      () => this.book.setPlan(planHealth(this.desired ?? emptyState())),
      opts.log,
    );
  }

  /** Checkers running now (0 when the config has none). */
  checkerCount = 0;

  /**
   * Makes `state` the desired one: checkers are (re)planned keeping the state of those that stay,
   * real servers that left the config start draining, and the result is programmed.
   */
  setDesired(state: DesiredState, source: string, globals: KeepalivedGlobals | null = null): void {
    const previous = this.desired;
    this.desired = state;
    this.globals = globals;
    this.thread.tuning = {
      ...(globals?.checkerPriority !== undefined ? { nice: globals.checkerPriority } : {}),
      ...(globals?.checkerCpuAffinity ? { cpus: globals.checkerCpuAffinity } : {}),
    };
    if (previous) this.startDrains(previous, state);
    this.plan = planHealth(state);
    const planned = this.book.setPlan(this.plan);
    this.checkerCount = planned.length;
    const first = !previous;
    if (planned.length > 0 || this.started) {
      this.started = true;
      this.thread.setPlan(planned);
    }
    this.program(source);
    if (first && globals?.rsInitNotifies) this.announceInitialStates();
  }

  /** rs_init_notifies: every real server's state at start, as the events of a change would say it. */
  private announceInitialStates(): void {
    for (const sp of this.plan?.services ?? []) {
      for (const rs of sp.rs) {
        const up = this.book.isAlive(rs);
        this.announce({
          kind: up ? "rs-up" : "rs-down",
          service: sp.identity,
          services: sp.keys,
          rs,
          health: sp.health,
        });
      }
    }
  }

  /** Checks these real servers' checkers at once (the data-path sensor). */
  trigger(checkerIds: string[]): void {
    this.thread.trigger(checkerIds);
  }

  /** Every checked service, or those of which a service is named in `only` (keyText). */
  listing(only?: ReadonlySet<string>): HealthServiceEntry[] {
    const draining = [...this.drains.values()].map((d) => ({
      service: keyText(d.key),
      target: hostPort(d.dest.addr, d.dest.port),
      weight: d.dest.weight,
    }));
    return this.book.listing(draining, only);
  }

  /** Each checked real server's state for the listings, by `${keyText(service)}|${addr:port}`. */
  destHealth(): Map<string, DestHealthEntry> {
    const out = new Map<string, DestHealthEntry>();
    for (const s of this.listing()) {
      for (const rs of s.realServers) {
        const entry: DestHealthEntry = {
          state: rs.state,
          checkers: rs.checkers.length,
          failing: rs.checkers.filter((c) => !c.up).length,
        };
        for (const svc of s.services) out.set(`${svc}|${rs.target}`, entry);
      }
    }
    return out;
  }

  /** The health families' rows for /metrics. */
  metricRows(): HealthMetricRow[] {
    return this.book.metricRows();
  }

  /**
   * Every second: the sensor's real servers are checked at once; a drained real server without
   * connections (or past its timeout) is deleted.
   */
  tick(): void {
    this.sense();
    if (this.drains.size === 0) return;
    const now = this.opts.now();
    let done = false;
    for (const [id, d] of this.drains) {
      const svc = this.opts.director.findService(d.key);
      const dest = svc?.dests.find((x) => x.addr.equals(d.dest.addr) && x.port === d.dest.port);
      // TCP: drained once no connection is established (closing ones linger for TIME_WAIT's two
      // minutes and carry no data); other protocols once no connection is left at all.
      const tcp = d.key.kind === "addr" && d.key.protocol === IPPROTO_TCP;
      const conns = dest ? dest.activeConns + (tcp ? 0 : dest.inactConns) : 0;
      if (conns === 0 || now >= d.until) {
        this.drains.delete(id);
        this.opts.log.info(
          { service: keyText(d.key), rs: hostPort(d.dest.addr, d.dest.port), connectionsLeft: conns },
          conns === 0
            ? "drained real server removed"
            : "drain timeout: real server removed with connections left",
        );
        done = true;
      }
    }
    if (done) this.program("drain");
  }

  /** The data-path sensor: real servers its clients find refusing or silent are checked now. */
  private sense(): void {
    if (!this.plan || this.checkerCount === 0) return;
    const director = this.opts.director;
    for (const h of this.sensor.sample(this.plan, (k) => director.findService(k), this.opts.now())) {
      this.opts.log.warn(
        {
          service: h.service,
          rs: h.rs.target,
          synRetransmits: h.synRetransmits,
          rstReplies: h.rstReplies,
          checkers: h.rs.checkerIds.length,
        },
        sensorMessage(h),
      );
      this.trigger(h.rs.checkerIds);
    }
  }

  async stop(): Promise<void> {
    await this.thread.stop();
  }

  /** With `omega`, the down scripts of every service and real server run at shutdown. */
  runOmegaScripts(): void {
    for (const svc of this.desired?.services ?? []) {
      if (!svc.health?.omega) continue;
      if (svc.health.quorumDown) this.runScript(svc.health.quorumDown, "quorum_down");
      for (const d of svc.dests) if (d.health?.notifyDown) this.runScript(d.health.notifyDown, "notify_down");
    }
  }

  private startDrains(previous: DesiredState, next: DesiredState): void {
    const nextSvc = new Map(next.services.map((s) => [keyText(s.spec.key), s]));
    for (const svc of previous.services) {
      const kept = nextSvc.get(keyText(svc.spec.key));
      if (!kept) continue; // a removed service goes at once, as in the kernel
      for (const d of svc.dests) {
        if (kept.dests.some((x) => x.addr.equals(d.addr) && x.port === d.port)) continue;
        const id = `${keyText(svc.spec.key)}|${hostPort(d.addr, d.port)}`;
        if (!this.drains.has(id))
          this.drains.set(id, { key: svc.spec.key, dest: d, until: this.opts.now() + this.drainTimeout });
      }
    }
    // A drained real server the config names again is simply back.
    for (const [id, d] of this.drains) {
      const s = nextSvc.get(keyText(d.key));
      if (!s || s.dests.some((x) => x.addr.equals(d.dest.addr) && x.port === d.dest.port))
        this.drains.delete(id);
    }
  }

  private program(source: string): void {
    if (!this.desired) return;
    const eff = this.book.effective(this.desired);
    if (this.drains.size > 0) {
      const byKey = new Map(eff.services.map((s) => [keyText(s.spec.key), s]));
      for (const d of this.drains.values()) {
        const s = byKey.get(keyText(d.key));
        if (!s || s.dests.some((x) => x.addr.equals(d.dest.addr) && x.port === d.dest.port)) continue;
        byKey.set(keyText(d.key), { ...s, dests: [...s.dests, { ...d.dest, weight: 0 }] });
      }
      eff.services = eff.services.map((s) => byKey.get(keyText(s.spec.key)) ?? s);
    }
    this.opts.program(eff, source);
  }

  private onReport(r: CheckerReport): void {
    const { events, reprogram } = this.book.record(r);
    if (!r.ok && (this.globals?.checkerLogAllFailures || r.changed))
      this.opts.log.warn({ checker: r.id, reason: r.reason, latencyMs: r.latencyMs }, "health check failed");
    for (const e of events) this.announce(e);
    if (reprogram) this.program("health");
  }

  private announce(e: HealthEvent): void {
    const log = this.opts.log;
    this.opts.onEvent?.(e);
    if (e.kind === "rs-up" || e.kind === "rs-down") {
      const rs = e.rs!;
      const up = e.kind === "rs-up";
      log.info(
        { service: e.service, rs: rs.target, reason: e.reason ?? null },
        `real server ${rs.target} of ${e.service} ${up ? "UP" : "DOWN"}${e.reason ? ` (${e.reason})` : ""}`,
      );
      const script = up ? rs.dest.health?.notifyUp : rs.dest.health?.notifyDown;
      if (script) this.runScript(script, up ? "notify_up" : "notify_down");
      for (const key of e.services)
        this.fifo(`RS ${rsText(rs.dest, key)} ${vsText(key)} ${up ? "UP" : "DOWN"}`);
    } else {
      const up = e.kind === "quorum-up";
      log.info({ service: e.service }, `quorum of ${e.service} ${up ? "gained" : "lost"}`);
      const script = up ? e.health.quorumUp : e.health.quorumDown;
      if (script) this.runScript(script, up ? "quorum_up" : "quorum_down");
      for (const key of e.services) this.fifo(`VS ${vsText(key)} ${up ? "UP" : "DOWN"}`);
    }
  }

  private runScript(script: ScriptSpec, what: string): void {
    const why = runNotifyScript(script, {
      ...(this.globals?.scriptUser ? { defaultUser: this.globals.scriptUser } : {}),
      secure: this.globals?.enableScriptSecurity ?? false,
      onExit: (code) => {
        if (code !== 0)
          this.opts.log.warn({ script: script.argv, code }, `${what} script exited with ${code}`);
      },
    });
    if (why) this.opts.log.error({ script: script.argv, why }, `${what} script not run: ${why}`);
  }

  /** One line to lvs_notify_fifo / notify_fifo; skipped when nobody reads the FIFO. */
  private fifo(line: string): void {
    for (const path of [this.globals?.lvsNotifyFifo, this.globals?.notifyFifo]) {
      if (!path) continue;
      fsp
        .open(path, constants.O_WRONLY | constants.O_NONBLOCK)
        .then(async (fh) => {
          try {
            await fh.write(`${line}\n`);
          } finally {
            await fh.close();
          }
        })
        .catch((e: NodeJS.ErrnoException) => {
          if (e.code !== "ENXIO")
            this.opts.log.warn({ fifo: path, err: e.message }, "cannot write the notify FIFO");
        });
    }
  }
}

function emptyState(): DesiredState {
  return { timeouts: null, sysctls: {}, syncDaemons: [], services: [] };
}

/** keepalived's FIFO form of a service: `[198.18.0.10]:tcp:80`, or `FWM 10`. */
function vsText(key: ServiceKey): string {
  if (key.kind === "fwmark") return `FWM ${key.fwmark}`;
  return `[${key.addr}]:${protocolName(key.protocol) ?? key.protocol}:${key.port}`;
}

function rsText(d: DesiredDest, key: ServiceKey): string {
  const proto = key.kind === "addr" ? (protocolName(key.protocol) ?? key.protocol) : "tcp";
  return `[${d.addr}]:${proto}:${d.port}`;
}

import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type Logger, pino } from "pino";
import type { IpAddr } from "../core/address.js";
import type {
  CaptureEntry,
  DestConfig,
  ReloadResult,
  RequestOp,
  ServiceConfig,
  StatsEntry,
  SysctlValue,
} from "./api.js";
import { ApiHandler, type CaptureQuery, MUTATING_OPS } from "./api-handler.js";
import { destToConfig, keyText, type RateSource, serviceToConfig, ZERO_RATES } from "./api-mapping.js";
import { ConfigError, dumpConfig, loadConfig } from "./config.js";
import type { FwmarkDecl } from "./config-fwmarks.js";
import { buildDashboard, MAX_SERVICES as DASHBOARD_MAX_SERVICES } from "./dashboard/dashboard-data.js";
import type { DesiredState } from "./desired-state.js";
import { snapshot } from "./desired-state.js";
import type { DirectorPort } from "./director-port.js";
import { EventLog } from "./event-log.js";
import type { FwmarkRules } from "./fwmark-rules.js";
import { HealthManager } from "./health/health-manager.js";
import { type HttpAddress, type HttpSecurityFiles, loadHttpSecurity } from "./http-endpoint.js";
import { HttpThread } from "./http-thread.js";
import type { MetricsInputs } from "./http-worker.js";
import { BACKEND_LABELS, type BackendLabel } from "./ipvs-metrics.js";
import {
  checkExitCode,
  type KeepalivedConfig,
  type KeepalivedDiagnostic,
} from "./keepalived/keepalived-config.js";
import { readKeepalivedConf } from "./keepalived/read-keepalived-conf.js";
import { MetricsSnapshotter } from "./metrics-snapshot.js";
import { destNotActedOn, serviceNotActedOn } from "./not-acted-on.js";
import { OWN_EVERYTHING, type ReconcileScope, reconcile } from "./reconcile.js";
import { notifySystemd } from "./sd-notify.js";
import { ControlServer } from "./server.js";
import { StateWriter, writeFileAtomic } from "./state-file.js";
import { SyncDaemons } from "./sync-daemons.js";
import { SyncBackupLink, SyncMasterLink } from "./sync-link.js";
import { type DirectorSample, processSample } from "./tslvs-metrics.js";
import { TSLVS_VERSION } from "./version.js";
import { VipGuard } from "./vrrp/vip-guard.js";
import type { VrrpConfig } from "./vrrp/vrrp-config.js";
import { VrrpEngine } from "./vrrp/vrrp-engine.js";

/** An apply with more changes than this logs only the first BULK_SHOWN one by one. */
const BULK_CHANGES = 50;
const BULK_SHOWN = 20;

/** Level 1: most of the saving (the text repeats its labels) for a fraction of the CPU of the default. */
export interface DaemonOptions {
  socketPath: string;
  /** The desired state: loaded at start, re-applied on SIGHUP. Without it, the state file is used. */
  configFile?: string;
  /** `--keepalived-conf`: the desired state and its health checks from a keepalived.conf (exclusive with configFile). */
  keepalivedConf?: string;
  /** `--strict`: refuse a keepalived.conf with any diagnostic, not only fatal ones. */
  strict?: boolean;
  /** `--config-id`: keepalived's `-i`, for `@ID` lines. */
  configId?: string;
  /** Seconds a real server removed from the config drains before it is deleted (default 60). */
  drainTimeout?: number;
  /** Where the rules are kept across restarts (state mode only). */
  statePath: string;
  logLevel: string;
  /** Interfaces handed to the packet data plane once it is attached. */
  interfaces: string[];
  /** `--http`: serve /metrics there; absent: no HTTP server. */
  http?: HttpAddress;
  /** `--http-token-file`, `--http-tls-cert`/`--http-tls-key`: the endpoint's token and certificate. */
  httpSecurity?: HttpSecurityFiles;
  /** `--metrics-ipvs-backend-labels`: the node_ipvs_backend_* labels kept (default all six). */
  backendLabels?: readonly BackendLabel[];
}

export interface DaemonDeps {
  director: DirectorPort;
  /** Seconds, monotonic: the clock the core runs on. */
  clock?: () => number;
  logger?: Logger;
  /** Milliseconds between director ticks. */
  tickMs?: number;
  /** Rates of services and dests for listings (the core's estimator); zeros when absent. */
  rates?: RateSource;
  /**
   * Sync daemons open their sockets (sync-link.ts). Off where the daemon holds the rules only
   * (`--no-dataplane`, a daemon embedded in another process): sync daemons are then listed as not
   * acted on, as the packets they would sync are not forwarded either.
   */
  syncSockets?: boolean;
}

/** Cleanup run when the daemon stops (the data plane removes what it installed on the host). */
export type StopHook = () => void | Promise<void>;

/**
 * `tslvs start`: holds the director, serves the control socket, keeps the rules in the state file
 * (or makes them equal to the config file), ticks the director's timers, and stops cleanly.
 */
export class Daemon {
  /** Run in order when the daemon stops, before the socket is removed. */
  readonly onStop: StopHook[] = [];
  /** Run after the rules changed (a tslvsadm request, a config apply): the data plane re-steers. */
  readonly onRulesChanged: (() => void)[] = [];
  /** Set once a packet data plane serves the rules (changes what the daemon says at start). */
  dataPlane: string | null = null;
  /** The packet engine's live counters (`tslvs stats`), set when the data plane starts. */
  engineStats: (() => Omit<StatsEntry, "dataPlane">) | null = null;
  /** Whether the fast path holds a connection (tslvs trace), set when the data plane starts. */
  fastPathHolds: ((index: number) => boolean | null) | null = null;
  /** Runs a connection capture (tslvs trace --capture), set when the data plane starts. */
  capture: ((q: CaptureQuery) => Promise<CaptureEntry>) | null = null;
  /** The firewall-mark rules (host nftables + config), set when the data plane starts. */
  private fwmarks: FwmarkRules | null = null;
  /** The config's `fwmarks:` entries in force. */
  private configFwmarks: FwmarkDecl[] = [];
  /** True once markReady() ran: the daemon forwards (or holds its rules with --no-dataplane). */
  ready = false;
  readonly log: Logger;
  readonly handler: ApiHandler;
  private server: ControlServer | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private readonly stateWriter: StateWriter | null;
  private readonly sysctlDefaults: Record<string, SysctlValue> = {};
  private readonly reportedNotActedOn = new Set<string>();
  private stopping: Promise<void> | null = null;
  private readonly clock: () => number;
  /** Health checks, drains, and the programming of the config's rules. */
  readonly health: HealthManager;
  /** The running keepalived.conf's diagnostics ("severity message"): a reload may not add any. */
  private runningDiagnostics = new Set<string>();
  /** keyText of the services a keepalived.conf declared (what it owns besides lvs_flush). */
  private managed = new Set<string>();
  /** lvs_flush: the first apply owns every service. */
  private flushUnmanaged = false;
  private readonly reloads = { applied: 0, refused: 0 };
  private lastReloadAt = 0;
  /** The VRRP instances of a --keepalived-conf, when it has any. */
  vrrp: VrrpEngine | null = null;
  /** The vrrp blocks running (a reload that changes them says they apply at the next start). */
  private runningVrrp = "";
  /** The recent events the dashboard lists (the last 200). */
  readonly events = new EventLog();
  private readonly startedAt = new Date().toISOString();
  private lastGlobals: KeepalivedConfig["globals"] | null = null;

  private constructor(
    readonly options: DaemonOptions,
    private readonly deps: DaemonDeps,
  ) {
    this.log =
      deps.logger ??
      pino(
        { level: options.logLevel, base: { pid: process.pid } },
        pino.destination({ dest: 1, sync: true }),
      );
    this.clock = deps.clock ?? (() => performance.now() / 1000);
    const director = deps.director;
    for (const name of director.sysctls.names()) this.sysctlDefaults[name] = director.sysctls.get(name);
    this.handler = new ApiHandler(director, {
      now: this.clock,
      readiness: () => ({ ready: this.ready, dataPlane: this.dataPlane }),
      engineStats: () => this.engineStats?.() ?? null,
      health: () => this.health.listing(),
      reload: () => this.reload(),
      notActedOn: () => [...this.reportedNotActedOn],
      vrrp: () => this.vrrp?.listing() ?? null,
      destHealth: () => this.health.destHealth(),
      fastPathHolds: (index) => this.fastPathHolds?.(index) ?? null,
      capture: (q) => this.capture?.(q) ?? null,
      syncDaemons: new SyncDaemons(),
      fwmarkRules: () => this.fwmarks?.info() ?? null,
      ...(deps.rates ? { rates: deps.rates } : {}),
    });
    if (deps.syncSockets)
      this.handler.syncDaemons.setRuntime((entry) =>
        entry.state === "master"
          ? new SyncMasterLink(entry, director, this.log)
          : new SyncBackupLink(entry, director, this.clock, this.log),
      );
    const fromConfig = options.configFile !== undefined || options.keepalivedConf !== undefined;
    this.stateWriter = fromConfig ? null : new StateWriter(() => this.writeState());
    this.health = new HealthManager({
      director,
      log: this.log,
      now: this.clock,
      program: (state, source) => this.program(state, source),
      onEvent: (e) =>
        this.events.record(
          e.kind,
          e.rs
            ? `real server ${e.rs.target} of ${e.service} ${e.kind === "rs-up" ? "UP" : "DOWN"}${e.reason ? ` (${e.reason})` : ""}`
            : `quorum of ${e.service} ${e.kind === "quorum-up" ? "gained" : "lost"}`,
        ),
      ...(options.drainTimeout !== undefined ? { drainTimeout: options.drainTimeout } : {}),
    });
  }

  /**
   * The daemon does what it was started for: says so in the log, in getInfo, and to systemd
   * (READY=1 on $NOTIFY_SOCKET, for Type=notify units).
   */
  markReady(): void {
    if (this.ready) return;
    this.ready = true;
    let notified = false;
    try {
      notified = notifySystemd(
        `READY=1\nSTATUS=${this.dataPlane ? "forwarding" : "holding rules, no data plane"}\n`,
      );
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "could not tell systemd the daemon is ready");
    }
    this.log.info({ dataPlane: this.dataPlane, systemdNotified: notified }, "ready");
  }

  get director(): DirectorPort {
    return this.deps.director;
  }

  /** Loads the rules, starts serving. Throws (nothing served) if the rules or the socket are unusable. */
  static async start(options: DaemonOptions, deps: DaemonDeps): Promise<Daemon> {
    const d = new Daemon(options, deps);
    // Read the rules first (a bad file changes nothing), take the socket second (a live daemon on
    // it means this one must not touch anything), apply the rules last: the apply runs before the
    // event loop hands this daemon its first connection.
    const initial = d.initialState();
    // An unusable token or certificate refuses the start before anything is taken or applied.
    const httpSecurity = options.http ? loadHttpSecurity(options.httpSecurity ?? {}) : null;
    d.server = await ControlServer.listen({
      socketPath: options.socketPath,
      handle: (req) => d.handler.handle(req),
      afterRequest: (op, req, peer) => d.afterRequest(op, req, peer),
      log: d.log,
    });
    if (initial) d.apply(initial.state, initial.source, initial.keepalived);
    if (initial?.keepalived && initial.keepalived.vrrp.instances.length > 0) {
      try {
        d.startVrrp(initial.keepalived.vrrp);
      } catch (e) {
        await d.server.close();
        throw new Error(`${options.keepalivedConf}: VRRP: ${(e as Error).message}`);
      }
    }
    if (options.http) {
      try {
        d.http = await HttpThread.listen(
          options.http,
          httpSecurity ?? {},
          options.backendLabels ?? BACKEND_LABELS,
          { metrics: (generation) => d.metricsInputs(generation), dashboard: () => d.dashboardDoc() },
          d.log,
        );
      } catch (e) {
        await d.server.close();
        throw new Error(`--http ${options.http.host}:${options.http.port}: ${(e as Error).message}`);
      }
      d.loopDelay.enable();
      const a = d.http.address;
      d.log.info(
        {
          http: a.path ?? `${a.host}:${a.port}`,
          tls: httpSecurity?.tls !== undefined,
          token: httpSecurity?.token !== undefined,
          paths: ["/metrics", "/", "/api/dashboard"],
        },
        httpSecurity?.tls ? "serving HTTPS" : "serving HTTP",
      );
    }
    d.ticker = setInterval(() => d.tick(), deps.tickMs ?? 1000);
    const n = d.director.services().length;
    d.events.record("start", `tslvs ${TSLVS_VERSION} started with ${n} service${n === 1 ? "" : "s"}`);
    d.log.info(
      {
        socket: options.socketPath,
        config: options.configFile ?? options.keepalivedConf ?? null,
        state: options.configFile || options.keepalivedConf ? null : options.statePath,
        checkers: d.health.checkerCount,
        services: d.director.services().length,
      },
      "tslvs started",
    );
    return d;
  }

  /**
   * The running sync daemon takes `role` (keepalived's ipvs_syncd_master / ipvs_syncd_backup on a
   * VRRP transition): the other role's daemon stops and this one starts with the same settings.
   */
  private switchSyncRole(role: "master" | "backup"): void {
    const sync = this.handler.syncDaemons;
    const other = role === "master" ? "backup" : "master";
    const running = sync.list().find((d) => d.state === other);
    if (!running || sync.list().some((d) => d.state === role)) return;
    const { notActedOn: _n, counters: _c, ...config } = running;
    try {
      sync.stop(other);
      sync.start({ ...config, state: role });
      this.log.info(
        { role, mcastIfn: config.mcastIfn, syncId: config.syncId },
        "sync daemon role follows VRRP",
      );
    } catch (e) {
      this.log.warn({ err: (e as Error).message, role }, "sync daemon: cannot take the new role");
    }
  }

  /** The VRRP addresses' guard against the host answering them after a crash (vip-guard.ts). */
  private vipGuard: VipGuard | null = null;
  private vrrpVips: IpAddr[] = [];

  private updateVipGuard(): void {
    this.vipGuard?.update(this.vrrpVips, this.director.services());
  }

  /** Starts the VRRP engine on the file's vrrp_instance blocks (docs/ha.md). */
  private startVrrp(config: VrrpConfig): void {
    this.vrrpVips = config.instances.flatMap((i) => i.vips.map((v) => v.addr));
    this.vipGuard = new VipGuard(this.log);
    this.updateVipGuard();
    this.runningVrrp = JSON.stringify(config);
    this.vrrp = VrrpEngine.start(config, {
      log: this.log,
      onTransition: (name, from, to, why) => {
        this.events.record("vrrp-state", `VRRP instance ${name} ${from} -> ${to} (${why})`);
        // keepalived's lvs_sync_daemon: the sync daemon's role follows its instance.
        if (name === this.lastGlobals?.syncDaemonInstance) {
          if (to === "MASTER") this.switchSyncRole("master");
          else if (from === "MASTER") this.switchSyncRole("backup");
        }
      },
      ...(this.lastGlobals?.scriptUser ? { scriptUser: this.lastGlobals.scriptUser } : {}),
      scriptSecurity: this.lastGlobals?.enableScriptSecurity ?? false,
    });
    this.log.info({ instances: config.instances.map((i) => i.name) }, "VRRP started");
  }

  /** Reads the starting rules: the config file, else the state file if there is one. */
  private initialState(): { state: DesiredState; source: string; keepalived?: KeepalivedConfig } | null {
    const ka = this.options.keepalivedConf;
    if (ka !== undefined) {
      const conf = this.readKeepalived(ka);
      const code = checkExitCode(conf.diagnostics);
      for (const d of conf.diagnostics)
        this.log.warn({ file: d.file, line: d.line, severity: d.severity }, diagText(d));
      if (code === 4) throw new Error(`${ka}: cannot run this file (${fatalText(conf.diagnostics)})`);
      if (this.options.strict && conf.diagnostics.length > 0)
        throw new Error(
          `${ka}: --strict: ${conf.diagnostics.length} problem(s), the first: ${diagText(conf.diagnostics[0]!)}`,
        );
      this.runningDiagnostics = diagnosticSet(conf.diagnostics);
      this.flushUnmanaged = conf.globals.lvsFlush;
      this.lastGlobals = conf.globals;
      return { state: conf.state, source: ka, keepalived: conf };
    }
    const file =
      this.options.configFile ?? (existsSync(this.options.statePath) ? this.options.statePath : null);
    if (!file) return null;
    const state = loadConfig(file);
    this.checkSysctlNames(state, file);
    return { state, source: file };
  }

  /** Sysctl names can only be checked against the director: an unknown one refuses the file whole. */
  private checkSysctlNames(state: DesiredState, file: string): void {
    const known = new Set(this.director.sysctls.names());
    for (const name of Object.keys(state.sysctls)) {
      if (!known.has(name))
        throw new ConfigError(file, state.sysctlLines?.[name] ?? 0, `unknown sysctl ${name}`);
    }
  }

  private readKeepalived(file: string): KeepalivedConfig {
    return readKeepalivedConf(
      file,
      this.options.configId !== undefined ? { configId: this.options.configId } : {},
    );
  }

  /** The data plane's firewall-mark rules: told the config's entries now and on every reload. */
  attachFwmarks(rules: FwmarkRules): void {
    this.fwmarks = rules;
    rules.setConfig(this.configFwmarks);
    this.onStop.push(() => rules.stop());
  }

  /** Makes `state` the desired one: health checks planned, then the rules programmed. */
  private apply(state: DesiredState, source: string, keepalived?: KeepalivedConfig): void {
    if (!keepalived) {
      this.configFwmarks = state.fwmarks ?? [];
      this.fwmarks?.setConfig(this.configFwmarks);
    }
    if (keepalived) {
      this.reportKinds(keepalived.notActedOn);
      for (const s of state.services) this.managed.add(keyText(s.spec.key));
    }
    this.health.setDesired(state, source, keepalived?.globals ?? null);
    if (keepalived) this.managed = new Set(state.services.map((s) => keyText(s.spec.key)));
    this.flushUnmanaged = false;
  }

  /** What a reconcile may touch: everything for YAML, the declared services for a keepalived.conf. */
  private scope(state: DesiredState): ReconcileScope {
    if (this.options.keepalivedConf === undefined) return OWN_EVERYTHING;
    const managed = this.managed;
    const flush = this.flushUnmanaged;
    return {
      ownsService: (key) => flush || managed.has(keyText(key)),
      timeouts: state.timeouts !== null,
      sysctls: false,
      // lvs_sync_daemon: the file's daemons are kept; without one, those started by hand stay.
      syncDaemons: state.syncDaemons.length > 0,
    };
  }

  /** Programs `state` (the config's rules with health applied) into the director. */
  private program(state: DesiredState, source: string): void {
    const r = reconcile(
      this.director,
      this.handler.syncDaemons,
      state,
      this.sysctlDefaults,
      this.scope(state),
    );
    // A large apply (a start from 10,000 rules) logs its first changes and a count by kind; the
    // rest go to debug: a line per rule would hold the loop whenever stdout is a slow pipe.
    const shown = r.changes.length <= BULK_CHANGES ? r.changes.length : BULK_SHOWN;
    for (let i = 0; i < r.changes.length; i++) {
      const c = r.changes[i]!;
      const log = i < shown ? this.log.info : this.log.debug;
      log.call(this.log, { change: c, source }, `${c.action} ${c.kind} ${c.target}`);
    }
    if (shown < r.changes.length) {
      const byKind: Record<string, number> = {};
      for (const c of r.changes.slice(shown))
        byKind[`${c.action} ${c.kind}`] = (byKind[`${c.action} ${c.kind}`] ?? 0) + 1;
      this.log.info(
        { source, more: r.changes.length - shown, byKind },
        `and ${r.changes.length - shown} more changes (log level debug lists them)`,
      );
    }
    for (const f of r.failed)
      this.log.error(
        { change: f, source },
        `refused: ${f.action} ${f.kind} ${f.target}: ${f.errno} ${f.message}`,
      );
    this.reportNotActedOn();
    if (r.changes.length) {
      this.stateWriter?.changed();
      this.rulesChanged();
    }
    this.log.info({ source, changes: r.changes.length, refused: r.failed.length }, "rules applied");
  }

  /** SIGHUP: make the running state equal to the config file; a malformed file changes nothing. */
  reload(): ReloadResult {
    const r = this.reloadFile();
    if (r.applied) {
      this.reloads.applied++;
      this.lastReloadAt = Date.now() / 1000;
      this.events.record("reload-applied", r.message);
    } else if (this.options.configFile !== undefined || this.options.keepalivedConf !== undefined) {
      this.reloads.refused++;
      this.events.record("reload-refused", r.message);
    }
    return r;
  }

  private reloadFile(): ReloadResult {
    if (this.options.keepalivedConf !== undefined) return this.reloadKeepalived(this.options.keepalivedConf);
    const file = this.options.configFile;
    if (!file) {
      const message = "no --config or --keepalived-conf file; the rules are those set with tslvsadm";
      this.log.info({}, `reload: ${message}`);
      return { applied: false, message };
    }
    let state: DesiredState;
    try {
      state = loadConfig(file);
      this.checkSysctlNames(state, file);
    } catch (e) {
      const message = `reload refused, running state unchanged: ${(e as Error).message}`;
      this.log.error({ err: (e as Error).message }, message);
      return { applied: false, message };
    }
    this.apply(state, file);
    return { applied: true, message: `${file} applied` };
  }

  /**
   * A keepalived.conf reload: refused (the running state untouched) when the file is fatal or has
   * a diagnostic the running file did not have — a typo must not drop a live service.
   */
  private reloadKeepalived(file: string): ReloadResult {
    const conf = this.readKeepalived(file);
    const fresh = conf.diagnostics.filter((d) => !this.runningDiagnostics.has(diagnosticKey(d)));
    if (checkExitCode(conf.diagnostics) === 4 || fresh.length > 0) {
      const first = conf.diagnostics.find((d) => d.severity === "fatal") ?? fresh[0]!;
      const message = `reload refused, running state unchanged: ${diagText(first)}`;
      this.log.error({ file, problems: (fresh.length ? fresh : [first]).map(diagText) }, message);
      return { applied: false, message };
    }
    this.log.info({ file, services: conf.state.services.length }, "reloading keepalived.conf");
    this.apply(conf.state, file, conf);
    this.runningDiagnostics = diagnosticSet(conf.diagnostics);
    if (JSON.stringify(conf.vrrp) !== this.runningVrrp)
      this.log.warn(
        { file },
        "the VRRP blocks changed: they apply at the next start (the running instances are kept)",
      );
    return { applied: true, message: `${file} applied (${conf.state.services.length} services)` };
  }

  private afterRequest(
    op: RequestOp,
    req: Record<string, unknown>,
    peer: { pid: number; uid: number },
  ): void {
    if (!MUTATING_OPS.has(op)) return;
    // Every change made through the socket is logged with who made it, as an audit trail.
    const { v: _v, id: _id, ...args } = req;
    this.log.info({ request: args, peer }, `${op} by uid ${peer.uid} pid ${peer.pid}`);
    this.stateWriter?.changed();
    this.rulesChanged();
    // Only what this request carried is checked: a scan of every rule per request would make a
    // restore of N rules cost N^2.
    if (op === "addService" || op === "editService") {
      this.reportKinds(serviceNotActedOn(req.config as ServiceConfig));
    } else if (op === "addDest" || op === "editDest") {
      this.reportKinds(destNotActedOn(req.dest as DestConfig));
    } else if (op === "startDaemon") {
      this.reportNotActedOn();
    }
  }

  /** Tells the data plane (and any other listener) that the rules changed. */
  rulesChanged(): void {
    this.updateVipGuard();
    for (const hook of this.onRulesChanged) {
      try {
        hook();
      } catch (e) {
        this.log.error({ err: (e as Error).message }, "applying the rules to the data plane failed");
      }
    }
  }

  /** Logs once per kind each option that is stored but not acted on yet. */
  private reportNotActedOn(): void {
    const kinds = new Set<string>();
    for (const svc of this.director.services()) {
      for (const k of serviceNotActedOn(serviceToConfig(svc))) kinds.add(k);
      for (const d of svc.dests) for (const k of destNotActedOn(destToConfig(d))) kinds.add(k);
    }
    for (const d of this.handler.syncDaemons.list()) for (const k of d.notActedOn ?? []) kinds.add(k);
    this.reportKinds(kinds);
  }

  private reportKinds(kinds: Iterable<string>): void {
    for (const k of kinds) {
      if (this.reportedNotActedOn.has(k)) continue;
      this.reportedNotActedOn.add(k);
      this.log.warn({ option: k }, `${k}: accepted, stored and listed, but not acted on yet`);
    }
  }

  private writeState(): void {
    try {
      const state = snapshot(this.director, this.handler.syncDaemons, this.sysctlDefaults);
      if (this.configFwmarks.length) state.fwmarks = this.configFwmarks;
      writeFileAtomic(
        this.options.statePath,
        dumpConfig(state, "# tslvs state: the running rules, rewritten by the daemon after every change.\n"),
      );
    } catch (e) {
      this.log.error(
        { err: (e as Error).message, state: this.options.statePath },
        "cannot write the state file",
      );
    }
  }

  private tick(): void {
    try {
      this.director.tick(this.clock());
      this.health.tick();
      this.watchTableFill();
    } catch (e) {
      this.log.error({ err: e }, "director tick failed");
    }
  }

  /** The HTTP endpoint, when `--http` asked for one. */
  private http: HttpThread | null = null;

  /** The HTTP thread (tests: it is killed to see it come back). */
  get httpThread(): HttpThread | null {
    return this.http;
  }

  /** Where the HTTP endpoint listens (null without `--http`). */
  get httpAddress(): HttpAddress | null {
    return this.http?.address ?? null;
  }

  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  /** The director-wide values of tslvs's own families, read at the end of a render. */
  private directorSample(): DirectorSample {
    const h = this.loopDelay;
    const s = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
    const eventLoop = { p50: s(h.percentile(50)), p99: s(h.percentile(99)), max: s(h.max) };
    h.reset();
    return {
      version: TSLVS_VERSION,
      routerId: hostname(),
      fill: this.director.tableFill(),
      live: this.engineStats?.() ?? null,
      eventLoop,
      states: this.director.connStates?.() ?? null,
      process: processSample(),
      sync: this.handler.syncDaemons
        .list()
        .filter((d) => d.counters)
        .map((d) => ({ role: d.state, ...d.counters! })),
    };
  }

  private readonly snapshotter = new MetricsSnapshotter();

  /**
   * The numbers of a /metrics render, for the HTTP thread: asked for when scraped (nobody scraping
   * costs nothing), at most once a second. A packed snapshot of the table (number stores only;
   * the layout's strings when the table changed shape) and the director-wide values; the text is
   * made on the HTTP thread.
   */
  private metricsInputs(generation: number): MetricsInputs {
    if (generation !== this.snapshotter.generationSent) this.snapshotter.forget();
    const d = this.director;
    return {
      snapshot: this.snapshotter.take(d.services(), d.totals().stats),
      sample: this.directorSample(),
      health: this.health.metricRows(),
      config: {
        reloads: { ...this.reloads },
        lastReloadAt: this.lastReloadAt,
        notActedOn: [...this.reportedNotActedOn],
        fwmarkNotCompiled: this.fwmarks?.info().uncompiled ?? [],
        events: new Map(this.events.totals),
      },
      vrrp: this.vrrp?.listing() ?? null,
    };
  }

  /**
   * The /api/dashboard document, built when the HTTP thread asks (it keeps the JSON for a second:
   * several open pages share one build). Capped (dashboard-data.ts: 500 services, 5,000 real servers) so that its cost on the
   * packet loop's thread does not grow with the table: one synchronous build of a bounded size.
   */
  private dashboardDoc(): unknown {
    const services = this.director.services();
    // The health of the services the document shows only: its cost stays bounded too.
    const shown = new Set<string>();
    for (let i = 0; i < Math.min(services.length, DASHBOARD_MAX_SERVICES); i++)
      shown.add(keyText(services[i]!.key));
    return buildDashboard({
      version: TSLVS_VERSION,
      host: hostname(),
      startedAt: this.startedAt,
      ready: this.ready,
      dataPlane: this.dataPlane,
      services,
      rates: this.deps.rates ?? ZERO_RATES,
      health: this.health.listing(shown),
      table: this.director.tableFill(),
      live: this.engineStats?.() ?? null,
      reloads: { ...this.reloads },
      events: this.events.list(),
    });
  }

  /** refusedFull when the table was last seen refusing; null while it has room. */
  private refusingSince: number | null = null;
  private refusedReported = 0;
  private lastReport = 0;

  /**
   * A full connection table is an event: a warning when it starts refusing new connections (and
   * every 10 s while it goes on, with the count), a line when it has room again. The counters are
   * in getInfo (`tslvs status`).
   */
  private watchTableFill(): void {
    const f = this.director.tableFill();
    const now = Date.now();
    if (f.refusedFull > this.refusedReported) {
      if (this.refusingSince === null || now - this.lastReport >= 10000) {
        this.log.warn(
          { ...f, refusedSinceLastReport: f.refusedFull - this.refusedReported },
          "connection table full: new connections refused (raise --conn-capacity, or lower the TCP/UDP timeouts)",
        );
        if (this.refusingSince === null)
          this.events.record("table-full", `connection table full (${f.capacity}): new connections refused`);
        this.refusingSince ??= now;
        this.refusedReported = f.refusedFull;
        this.lastReport = now;
      }
    } else if (this.refusingSince !== null && f.entries < f.capacity * 0.9) {
      this.log.info(
        { ...f, refusingSeconds: (now - this.refusingSince) / 1000 },
        "connection table has room again",
      );
      this.events.record("table-room", `connection table has room again (${f.entries} of ${f.capacity})`);
      this.refusingSince = null;
    }
  }

  /** Clean stop: stop hooks, then the socket is closed and removed, then the state is saved. */
  stop(reason: string): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop(reason);
    return this.stopping;
  }

  private async doStop(reason: string): Promise<void> {
    this.log.info({ reason }, "tslvs stopping");
    if (this.ticker) clearInterval(this.ticker);
    await this.http?.close();
    this.handler.syncDaemons.closeLinks();
    this.loopDelay.disable();
    this.health.runOmegaScripts();
    // The VIPs go back (a master sends priority 0) before anything else stops.
    this.vrrp?.stop();
    this.vipGuard?.remove();
    await this.health.stop();
    for (const hook of this.onStop) {
      try {
        await hook();
      } catch (e) {
        this.log.error({ err: e }, "stop hook failed");
      }
    }
    await this.server?.close();
    this.stateWriter?.flush();
    this.log.info({}, "tslvs stopped");
  }
}

function diagText(d: KeepalivedDiagnostic): string {
  return d.line > 0 ? `(${d.file}: Line ${d.line}) ${d.message}` : `(${d.file}) ${d.message}`;
}

/** A diagnostic's identity across reloads: by what it says, not where (lines move with edits). */
function diagnosticKey(d: KeepalivedDiagnostic): string {
  return `${d.severity} ${d.message}`;
}

function diagnosticSet(ds: readonly KeepalivedDiagnostic[]): Set<string> {
  return new Set(ds.map(diagnosticKey));
}

function fatalText(ds: readonly KeepalivedDiagnostic[]): string {
  const f = ds.find((d) => d.severity === "fatal");
  return f ? diagText(f) : "fatal";
}

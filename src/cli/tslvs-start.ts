import { Daemon } from "../control/daemon.js";
import { createDirector, parseLocalPortRange } from "../control/director-factory.js";
import { type HttpAddress, parseHttpAddress } from "../control/http-endpoint.js";
import { type BackendLabel, parseBackendLabels } from "../control/ipvs-metrics.js";
import { agedSnapshot, handoverPath, takeHandover, writeHandover } from "../control/restart-handover.js";
import { socketPath } from "../control/socket-path.js";
import { DEFAULT_STATE_PATH } from "../control/state-file.js";
import type { MarkProgram } from "../dataplane/marks/mark-rules.js";
import type { XdpMode } from "../dataplane/xdp/attach.js";
import { parseOptions, UsageError } from "./cli-args.js";

/** Seconds a stopped daemon's XDP steering and connections wait for the next start. */
const DEFAULT_RESTART_GRACE = 10;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** `tslvs start`: runs the daemon until SIGTERM/SIGINT. Returns the exit status. */
export async function startCommand(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  let http: HttpAddress | undefined;
  let backendLabels: BackendLabel[] | undefined;
  try {
    parsed = parseOptions(args, {
      socket: "value",
      config: "value",
      state: "value",
      "log-level": "value",
      interface: "repeat",
      "scheduler-plugin": "repeat",
      "no-dataplane": "flag",
      "no-fast-path": "flag",
      "xdp-mode": "value",
      "restart-grace": "value",
      "local-ports": "value",
      "conn-tab-bits": "value",
      "conn-capacity": "value",
      http: "value",
      "http-token-file": "value",
      "http-tls-cert": "value",
      "http-tls-key": "value",
      "metrics-ipvs-backend-labels": "value",
      "keepalived-conf": "value",
      strict: "flag",
      "config-id": "value",
      "drain-timeout": "value",
    });
    if (parsed.opts.has("keepalived-conf") && parsed.opts.has("config"))
      throw new UsageError("--keepalived-conf and --config are exclusive (one file is the desired state)");
    for (const f of ["strict", "config-id"])
      if (parsed.opts.has(f) && !parsed.opts.has("keepalived-conf"))
        throw new UsageError(`--${f} applies to --keepalived-conf`);
    const drain = parsed.opts.get("drain-timeout")?.[0];
    if (drain !== undefined && !(/^\d+(\.\d+)?$/.test(drain) && Number(drain) <= 86400))
      throw new UsageError("--drain-timeout must be a number of seconds, 0..86400");
    const bits = parsed.opts.get("conn-tab-bits")?.[0];
    if (bits !== undefined && !/^(?:[89]|1\d|2[0-7])$/.test(bits))
      throw new UsageError("--conn-tab-bits must be an integer 8..27 (buckets = 2^N)");
    const cap = parsed.opts.get("conn-capacity")?.[0];
    if (cap !== undefined && !(/^\d+$/.test(cap) && Number(cap) >= 1 && Number(cap) <= 0x7fffffff))
      throw new UsageError("--conn-capacity must be a positive integer (connections + templates)");
    const grace = Number(parsed.opts.get("restart-grace")?.[0] ?? DEFAULT_RESTART_GRACE);
    if (!(Number.isFinite(grace) && grace >= 0 && grace <= 3600))
      throw new UsageError("--restart-grace must be a number of seconds, 0..3600");
    const mode = parsed.opts.get("xdp-mode")?.[0] ?? "auto";
    if (!["auto", "native", "generic", "tc"].includes(mode))
      throw new UsageError("--xdp-mode must be auto|native|generic|tc");
    const ports = parsed.opts.get("local-ports")?.[0];
    if (ports !== undefined) {
      try {
        parseLocalPortRange(ports);
      } catch (e) {
        throw new UsageError(`--local-ports: ${(e as Error).message}`);
      }
    }
    const httpText = parsed.opts.get("http")?.[0];
    const labelsText = parsed.opts.get("metrics-ipvs-backend-labels")?.[0];
    try {
      if (httpText !== undefined) http = parseHttpAddress(httpText);
    } catch (e) {
      throw new UsageError(`--http: ${(e as Error).message}`);
    }
    try {
      if (labelsText !== undefined) backendLabels = parseBackendLabels(labelsText);
    } catch (e) {
      throw new UsageError(`--metrics-ipvs-backend-labels: ${(e as Error).message}`);
    }
    if (backendLabels && !http)
      throw new UsageError("--metrics-ipvs-backend-labels needs --http (where /metrics is served)");
    for (const f of ["http-token-file", "http-tls-cert", "http-tls-key"])
      if (parsed.opts.has(f) && !http) throw new UsageError(`--${f} needs --http`);
    if (parsed.opts.has("http-tls-cert") !== parsed.opts.has("http-tls-key"))
      throw new UsageError("--http-tls-cert and --http-tls-key go together (both or neither)");
    if (parsed.words.length) throw new UsageError(`unexpected argument ${parsed.words[0]}`);
    const level = parsed.opts.get("log-level")?.[0] ?? "info";
    if (!LOG_LEVELS.includes(level))
      throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join("|")}`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`tslvs start: ${e.message}\n`);
    return 2;
  }
  const o = parsed.opts;
  // Plugin schedulers are registered before any rule (state or config file) names them.
  for (const spec of o.get("scheduler-plugin") ?? []) {
    try {
      const { loadSchedulerPlugin } = await import("../core/schedulers/registry.js");
      await loadSchedulerPlugin(spec);
    } catch (e) {
      process.stderr.write(`tslvs start: scheduler plugin ${spec}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const restartGrace = Number(o.get("restart-grace")?.[0] ?? DEFAULT_RESTART_GRACE);
  const ports = o.get("local-ports")?.[0];
  const bits = o.get("conn-tab-bits")?.[0];
  const cap = o.get("conn-capacity")?.[0];
  const director = createDirector({
    localPorts: ports ? parseLocalPortRange(ports) : undefined,
    connTabBits: bits === undefined ? undefined : Number(bits),
    connCapacity: cap === undefined ? undefined : Number(cap),
  });
  const clock = () => performance.now() / 1000;
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(
      {
        socketPath: socketPath(o.get("socket")?.[0]),
        configFile: o.get("config")?.[0],
        keepalivedConf: o.get("keepalived-conf")?.[0],
        strict: o.has("strict"),
        configId: o.get("config-id")?.[0],
        ...(o.has("drain-timeout") ? { drainTimeout: Number(o.get("drain-timeout")?.[0]) } : {}),
        statePath: o.get("state")?.[0] ?? DEFAULT_STATE_PATH,
        logLevel: o.get("log-level")?.[0] ?? "info",
        interfaces: o.get("interface") ?? [],
        ...(http ? { http } : {}),
        httpSecurity: {
          tokenFile: o.get("http-token-file")?.[0],
          tlsCert: o.get("http-tls-cert")?.[0],
          tlsKey: o.get("http-tls-key")?.[0],
        },
        ...(backendLabels ? { backendLabels } : {}),
      },
      { director, clock, rates: director.rates, syncSockets: !o.has("no-dataplane") },
    );
  } catch (e) {
    process.stderr.write(`tslvs start: ${(e as Error).message}\n`);
    return 1;
  }
  if (o.has("no-dataplane")) {
    daemon.log.warn({}, "--no-dataplane: rules are held and reported, no packets are forwarded");
    daemon.markReady();
  } else {
    try {
      const { PacketEngine } = await import("../dataplane/engine.js");
      const { startLinkHolder, stopLinkHolder } = await import("../dataplane/xdp/link-hold.js");
      const statePath = o.get("state")?.[0] ?? DEFAULT_STATE_PATH;
      const handoverFile = handoverPath(statePath);
      // A previous daemon's handover (a restart within its grace period): its connections first,
      // then its held XDP links are taken over by the engine.
      const taken = takeHandover(handoverFile, Date.now());
      if (taken.handover) {
        const h = taken.handover;
        const r = director.core.importConnections(agedSnapshot(h.connections, taken.ageSeconds), clock());
        daemon.log.info(
          { ...r, downSeconds: Math.round(taken.ageSeconds * 1000) / 1000, heldLinks: h.links.length },
          "took over the previous daemon's connections",
        );
        daemon.events.record(
          "handover",
          `restart: took over ${r.imported} connections of the previous daemon (down ${taken.ageSeconds.toFixed(1)} s)`,
        );
      } else if (taken.why !== "none") {
        daemon.log.warn({ why: taken.why, detail: taken.detail ?? null }, "handover file ignored");
      }
      // Firewall-mark services: the host's nftables marks (and the config's), compiled into the
      // steering; read before the engine attaches, so its first programs have them.
      const { FwmarkRules } = await import("../control/fwmark-rules.js");
      const markSink: { engine: { setMarkRules(p: MarkProgram): void } | null; first: MarkProgram | null } = {
        engine: null,
        first: null,
      };
      const fwmarks = new FwmarkRules({
        log: daemon.log,
        apply: (p) => {
          if (markSink.engine) markSink.engine.setMarkRules(p);
          else markSink.first = p;
        },
      });
      daemon.attachFwmarks(fwmarks);
      await fwmarks.start();
      const given = markSink.first;
      const engine = await PacketEngine.start(director.core, {
        ...(given ? { markRules: given } : {}),
        interfaces: o.get("interface") ?? [],
        xdpMode: (o.get("xdp-mode")?.[0] ?? "auto") as XdpMode,
        now: clock,
        log: daemon.log,
        fastPath: !o.has("no-fast-path"),
        heldLinks: taken.handover?.links ?? [],
      });
      // Links it did not take detach now, as its holder ends.
      if (taken.handover?.holderPid) stopLinkHolder(taken.handover.holderPid);
      daemon.dataPlane = "af_xdp";
      daemon.engineStats = () => engine.liveCounters();
      daemon.fastPathHolds = (index) => engine.fastPathHolds(index);
      const { runCapture } = await import("../control/capture.js");
      daemon.capture = (q) => runCapture(engine, q);
      daemon.onRulesChanged.push(() => engine.syncSteering());
      // Changes of the firewall-mark rules from now on go to the engine (and one made meanwhile).
      markSink.engine = engine;
      if (markSink.first !== given && markSink.first) engine.setMarkRules(markSink.first);
      // Every served interface has its program attached and its sockets bound: frames flow.
      daemon.markReady();
      daemon.onStop.push(async () => {
        if (restartGrace > 0) {
          // Leave the steering holding (dropping, not passing) and the connections written down
          // for a daemon started within the grace period; without one, the holder's exit detaches.
          try {
            const held = engine.holdForRestart();
            const holderPid = startLinkHolder(held.fds, restartGrace);
            writeHandover(handoverFile, {
              version: 1,
              writtenAtMs: Date.now(),
              graceSeconds: restartGrace,
              holderPid,
              links: held.links,
              connections: director.core.exportConnections(clock()),
            });
            daemon.log.info(
              { graceSeconds: restartGrace, holderPid, links: held.links.length, file: handoverFile },
              "XDP steering held and connections written for the next start",
            );
          } catch (e) {
            daemon.log.error({ err: (e as Error).message }, "could not leave a handover: stopping plainly");
          }
        }
        engine.stop();
        await engine.stopped();
        daemon.log.info({ counters: { ...engine.counters } }, "packet engine stopped");
      });
    } catch (e) {
      process.stderr.write(`tslvs start: the packet data plane could not start: ${(e as Error).message}\n`);
      await daemon.stop("data plane failure");
      return 1;
    }
  }
  return new Promise<number>((resolve) => {
    let signalled = false;
    const stop = (signal: string) => {
      // A second signal while stopping (a stop hook that hangs) ends the process at once.
      if (signalled) {
        daemon.log.error({ signal }, "second signal while stopping: exiting now");
        process.exit(1);
      }
      signalled = true;
      daemon.stop(signal).then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    process.on("SIGHUP", () => daemon.reload());
  });
}

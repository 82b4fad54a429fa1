import { Daemon } from "../control/daemon.js";
import { createDirector, parseLocalPortRange } from "../control/director-factory.js";
import { socketPath } from "../control/socket-path.js";
import { DEFAULT_STATE_PATH } from "../control/state-file.js";
import { parseOptions, UsageError } from "./cli-args.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** `tslvs start`: runs the daemon until SIGTERM/SIGINT. Returns the exit status. */
export async function startCommand(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(args, {
      socket: "value",
      config: "value",
      state: "value",
      "log-level": "value",
      interface: "repeat",
      "no-dataplane": "flag",
      "xdp-mode": "value",
      "local-ports": "value",
    });
    const mode = parsed.opts.get("xdp-mode")?.[0] ?? "auto";
    if (!["auto", "native", "generic"].includes(mode))
      throw new UsageError("--xdp-mode must be auto|native|generic");
    const ports = parsed.opts.get("local-ports")?.[0];
    if (ports !== undefined) {
      try {
        parseLocalPortRange(ports);
      } catch (e) {
        throw new UsageError(`--local-ports: ${(e as Error).message}`);
      }
    }
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
  const ports = o.get("local-ports")?.[0];
  const director = createDirector({ localPorts: ports ? parseLocalPortRange(ports) : undefined });
  const clock = () => performance.now() / 1000;
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(
      {
        socketPath: socketPath(o.get("socket")?.[0]),
        configFile: o.get("config")?.[0],
        statePath: o.get("state")?.[0] ?? DEFAULT_STATE_PATH,
        logLevel: o.get("log-level")?.[0] ?? "info",
        interfaces: o.get("interface") ?? [],
      },
      { director, clock, rates: director.rates },
    );
  } catch (e) {
    process.stderr.write(`tslvs start: ${(e as Error).message}\n`);
    return 1;
  }
  if (o.has("no-dataplane")) {
    daemon.log.warn({}, "--no-dataplane: rules are held and reported, no packets are forwarded");
  } else {
    try {
      const { PacketEngine } = await import("../dataplane/engine.js");
      const engine = await PacketEngine.start(director.core, {
        interfaces: o.get("interface") ?? [],
        xdpMode: (o.get("xdp-mode")?.[0] ?? "auto") as "auto" | "native" | "generic",
        now: clock,
        log: daemon.log,
      });
      daemon.dataPlane = "af_xdp";
      daemon.onRulesChanged.push(() => engine.syncSteering());
      daemon.onStop.push(async () => {
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

import { resolve } from "node:path";
import { formatDiagnostic } from "../control/keepalived/diagnostics.js";
import { checkExitCode } from "../control/keepalived/keepalived-config.js";
import { readKeepalivedConf } from "../control/keepalived/read-keepalived-conf.js";
import { parseOptions, UsageError } from "./cli-args.js";

const USAGE = "usage: tslvs keepalived check FILE [--strict] [-i ID] [--json]";

/**
 * `tslvs keepalived check FILE`: reads a keepalived.conf as `tslvs start --keepalived-conf` would,
 * prints keepalived-style diagnostics on stderr and a summary on stdout, and exits like
 * `keepalived -t`: 0 clean, 5 repaired or ignored, 4 fatal.
 */
export async function keepalivedCommand(args: string[]): Promise<number> {
  if (args[0] !== "check") {
    process.stderr.write(`tslvs keepalived: ${USAGE}\n`);
    return 2;
  }
  // -i ID is keepalived's spelling; parseOptions knows long options only.
  const rest = args.slice(1).map((a) => (a === "-i" ? "--config-id" : a));
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(rest, { strict: "flag", json: "flag", "config-id": "value" });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`tslvs keepalived: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.words.length !== 1) {
    process.stderr.write(`tslvs keepalived: ${USAGE}\n`);
    return 2;
  }
  const strict = parsed.opts.has("strict");
  const configId = parsed.opts.get("config-id")?.[0];
  const conf = readKeepalivedConf(resolve(parsed.words[0]!), configId !== undefined ? { configId } : {});
  for (const d of conf.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
  const services = conf.state.services;
  const dests = services.reduce((n, s) => n + s.dests.length, 0);
  const checkers = services.reduce(
    (n, s) => n + s.dests.reduce((m, d) => m + (d.health?.checkers.length ?? 0), 0),
    0,
  );
  const code = checkExitCode(conf.diagnostics, strict);
  if (parsed.opts.has("json")) {
    process.stdout.write(
      `${JSON.stringify({
        exitCode: code,
        services: services.length,
        realServers: dests,
        checkers,
        notActedOn: conf.notActedOn,
        diagnostics: conf.diagnostics,
      })}\n`,
    );
  } else {
    process.stdout.write(`${services.length} services, ${dests} real servers, ${checkers} checkers\n`);
    if (conf.notActedOn.length) process.stdout.write(`not acted on: ${conf.notActedOn.join(", ")}\n`);
  }
  return code;
}

import type { IpvsClient } from "../../control/client.js";
import type { LookupEnv } from "./address-parse.js";
import { errnoOf } from "./errno-of.js";
import { type ExecEnv, listAll, processOptions } from "./execute.js";
import { CliExit, Output, type OutputSink } from "./exit.js";

/** What an invocation needs from outside: the daemon, standard input, name lookups. */
export interface RunDeps extends LookupEnv {
  connect(): Promise<IpvsClient>;
  readStdin(): Promise<string>;
  /**
   * Standard output as it is produced (a connection listing is written page by page). Without it,
   * everything printed comes back in the result's `stdout`; with it, only what was not written.
   */
  stdout?: OutputSink;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Only these need no daemon (a harmless difference from ipvsadm, which connects first). */
function needsNoDaemon(first: string | undefined): boolean {
  return first !== undefined && /^(-[hv]|--help$|--version$)/.test(first);
}

/**
 * Runs one ipvsadm command line (`args` without the program name) and returns its status and
 * output. Like ipvsadm, it first connects (here: to the daemon) and gives up with exit 2 when it
 * cannot; no arguments at all lists the table.
 */
export async function runIpvsadm(argv0: string, args: readonly string[], deps: RunDeps): Promise<RunResult> {
  const o = new Output(deps.stdout);
  let client: IpvsClient | undefined;
  let code: number;
  try {
    if (!needsNoDaemon(args[0])) {
      try {
        client = await deps.connect();
      } catch (e) {
        const errno = errnoOf(e);
        const reason =
          errno === "EACCES" || errno === "EPERM"
            ? "Permission denied (you must be root)"
            : "Protocol not available";
        o.error(`Can't initialize ipvs: ${reason}`);
        o.error("Are you sure that IP Virtual Server is built in the kernel or as module?");
        throw new CliExit(2);
      }
    }
    const env: ExecEnv = {
      argv0,
      o,
      client: client ?? noClient,
      resolver: deps.resolver,
      services: deps.services,
      readStdin: deps.readStdin,
    };
    if (args.length === 0) {
      await listAll(null, env);
      code = 0;
    } else code = await processOptions(args, env, false);
  } catch (e) {
    if (!(e instanceof CliExit)) throw e;
    code = e.code;
  } finally {
    client?.close();
  }
  return { code, stdout: o.stdoutText(), stderr: o.stderrText() };
}

const noClient: IpvsClient = {
  call: () => Promise.reject(new Error("no daemon connection for this command")),
  close: () => {},
};

import { connect, type SocketClient } from "../control/client.js";
import { socketPath } from "../control/socket-path.js";
import type { IpvsError } from "../core/errors.js";
import { parseOptions, UsageError } from "./cli-args.js";

/**
 * A tslvs subcommand's connection to the daemon; null, after one line on stderr saying why, when
 * it cannot be reached (no daemon, a stale socket, not allowed).
 */
export async function connectDaemon(command: string, path: string): Promise<SocketClient | null> {
  try {
    return await connect(path);
  } catch (e) {
    process.stderr.write(
      `tslvs ${command}: cannot reach the tslvs daemon at ${path} (${(e as IpvsError).errno})\n`,
    );
    return null;
  }
}

/**
 * The arguments of a subcommand that only queries the daemon: `--socket PATH` and the options in
 * `known`, no words. Null, after the error and `usage` on stderr, when they are wrong (exit 2).
 */
export function parseQueryArgs(
  command: string,
  args: string[],
  usage: string,
  known: Record<string, "value" | "flag">,
): { path: string; opts: Map<string, string[]> } | null {
  try {
    const { opts, words } = parseOptions(args, { socket: "value", ...known });
    if (words.length > 0) throw new UsageError(`unexpected argument ${words[0]}`);
    return { path: socketPath(opts.get("socket")?.[0]), opts };
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`tslvs ${command}: ${e.message}\n${usage}\n`);
    return null;
  }
}

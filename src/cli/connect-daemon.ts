import { connect, type SocketClient } from "../control/client.js";
import type { IpvsError } from "../core/errors.js";

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

import { connect } from "../control/client.js";
import { socketPath } from "../control/socket-path.js";
import { parseOptions, UsageError } from "./cli-args.js";

const USAGE = "usage: tslvs wait-ready [--timeout SECONDS] [--socket PATH]";

/**
 * `tslvs wait-ready`: returns once the daemon forwards (getInfo's `ready`: its data plane attached
 * on every served interface), exit 0; exit 1 when --timeout (default 30 s) passes first. The
 * control socket answers earlier than that, so "tslvsadm answers" is not "frames flow".
 */
export async function waitReadyCommand(args: string[]): Promise<number> {
  let path: string;
  let timeoutS: number;
  try {
    const { opts, words } = parseOptions(args, { socket: "value", timeout: "value" });
    if (words.length > 0) throw new UsageError(`unexpected argument ${words[0]}`);
    path = socketPath(opts.get("socket")?.[0]);
    timeoutS = Number(opts.get("timeout")?.[0] ?? 30);
    if (!Number.isFinite(timeoutS) || timeoutS < 0) throw new UsageError("--timeout takes seconds (>= 0)");
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`tslvs wait-ready: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  const deadline = Date.now() + timeoutS * 1000;
  let last = "the daemon's socket does not answer";
  for (;;) {
    try {
      const client = await connect(path);
      try {
        const info = await client.call({ op: "getInfo" });
        if (info.ready) {
          process.stdout.write(`ready (${info.dataPlane ?? "no data plane: rules held only"})\n`);
          return 0;
        }
        last = "the daemon answers but does not forward yet";
      } finally {
        client.close();
      }
    } catch (e) {
      last = `the daemon at ${path} does not answer (${(e as Error).message})`;
    }
    if (Date.now() >= deadline) {
      process.stderr.write(`tslvs wait-ready: not ready after ${timeoutS} s: ${last}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

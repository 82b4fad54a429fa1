import { socketPath } from "../control/socket-path.js";
import { parseOptions, UsageError } from "./cli-args.js";
import { connectDaemon } from "./connect-daemon.js";

/**
 * `tslvs status [--json]`: whether the daemon forwards, and how full its connection table is,
 * with the new connections it refused because the table was full.
 */
export async function statusCommand(args: string[]): Promise<number> {
  let path: string;
  let json: boolean;
  try {
    const { opts, words } = parseOptions(args, { socket: "value", json: "flag" });
    if (words.length > 0) throw new UsageError(`unexpected argument ${words[0]}`);
    path = socketPath(opts.get("socket")?.[0]);
    json = opts.has("json");
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`tslvs status: ${e.message}\nusage: tslvs status [--json] [--socket PATH]\n`);
    return 2;
  }
  const client = await connectDaemon("status", path);
  if (!client) return 1;
  try {
    const i = await client.call({ op: "getInfo" });
    if (json) {
      process.stdout.write(`${JSON.stringify(i)}\n`);
      return 0;
    }
    const pct = i.connCapacity > 0 ? ((100 * i.connections) / i.connCapacity).toFixed(1) : "0";
    process.stdout.write(
      [
        `state:       ${i.ready ? (i.dataPlane ? `forwarding (${i.dataPlane})` : "ready, rules held only (no data plane)") : "starting: not forwarding yet"}`,
        `connections: ${i.connections} of ${i.connCapacity} (${pct} %), ${i.connTabSize} hash buckets`,
        `refused because the table was full: ${i.connRefusedFull}`,
        "",
      ].join("\n"),
    );
    return 0;
  } finally {
    client.close();
  }
}

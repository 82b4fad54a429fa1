import { connectDaemon, parseQueryArgs } from "./connect-daemon.js";

const USAGE = "usage: tslvs stats [--json] [--socket PATH]";

/** One block of counters, aligned, zero counters included (a zero is an answer too). */
function block(title: string, counters: Record<string, number>): string {
  const names = Object.keys(counters);
  const width = Math.max(...names.map((n) => n.length));
  return [`${title}:`, ...names.map((n) => `  ${n.padEnd(width)}  ${counters[n]}`), ""].join("\n");
}

/**
 * `tslvs stats [--json]`: the packet engine's counters now (slow-path frames, drops and passes by
 * reason, transmits, kernel drops) and the in-kernel fast path's (flows installed, packets and
 * bytes forwarded), read from the running daemon without stopping anything.
 */
export async function statsCommand(args: string[]): Promise<number> {
  const parsed = parseQueryArgs("stats", args, USAGE, { json: "flag" });
  if (!parsed) return 2;
  const { path } = parsed;
  const json = parsed.opts.has("json");
  const client = await connectDaemon("stats", path);
  if (!client) return 1;
  try {
    const s = await client.call({ op: "getStats" });
    if (json) {
      process.stdout.write(`${JSON.stringify(s)}\n`);
      return 0;
    }
    if (!s.engine) {
      process.stdout.write("no packet data plane (started with --no-dataplane, or still starting)\n");
      return 0;
    }
    const out = [block(`packet engine (${s.dataPlane})`, s.engine)];
    out.push(
      s.fastPath
        ? block("fast path (in-kernel)", s.fastPath)
        : "fast path: not running (--no-fast-path, or not loadable on this kernel)\n",
    );
    process.stdout.write(out.join("\n"));
    return 0;
  } finally {
    client.close();
  }
}

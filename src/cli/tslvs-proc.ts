import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../control/state-file.js";
import { connectDaemon, parseQueryArgs } from "./connect-daemon.js";

const USAGE = "usage: tslvs proc [--dir DIR] [--socket PATH]";

/**
 * `tslvs proc [--dir DIR]`: the kernel's /proc/net/ip_vs and /proc/net/ip_vs_stats, rendered from
 * the daemon's state in the kernel's own formats. Printed, or written as DIR/net/ip_vs and
 * DIR/net/ip_vs_stats, so that tools which read procfs (node_exporter's `--path.procfs=DIR`,
 * scripts that grep /proc/net/ip_vs) work on a host without the ip_vs module.
 */
export async function procCommand(args: string[]): Promise<number> {
  const parsed = parseQueryArgs("proc", args, USAGE, { dir: "value" });
  if (!parsed) return 2;
  const { path } = parsed;
  const dir = parsed.opts.get("dir")?.[0];
  const client = await connectDaemon("proc", path);
  if (!client) return 1;
  try {
    const p = await client.call({ op: "getProc" });
    if (dir === undefined) {
      process.stdout.write(`==> net/ip_vs <==\n${p.ipVs}\n==> net/ip_vs_stats <==\n${p.ipVsStats}`);
      return 0;
    }
    try {
      mkdirSync(join(dir, "net"), { recursive: true });
      // Atomic replacement: a reader (node_exporter scraping) never sees half a file.
      writeFileAtomic(join(dir, "net", "ip_vs"), p.ipVs, 0o644);
      writeFileAtomic(join(dir, "net", "ip_vs_stats"), p.ipVsStats, 0o644);
    } catch (e) {
      process.stderr.write(`tslvs proc: cannot write under ${dir}: ${(e as Error).message}\n`);
      return 1;
    }
    return 0;
  } finally {
    client.close();
  }
}

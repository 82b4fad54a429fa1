import type { HealthServiceEntry } from "../control/api.js";
import { connectDaemon, parseQueryArgs } from "./connect-daemon.js";

const USAGE = "usage: tslvs health [--json] [--socket PATH]";

/** One service's block: its quorum, sorry server, real servers and their checkers' last results. */
export function renderHealth(services: readonly HealthServiceEntry[]): string {
  if (services.length === 0)
    return "no health checks configured (start with --keepalived-conf, or checks in --config)\n";
  const out: string[] = [];
  for (const s of services) {
    const q = s.quorum;
    let head = `${s.service}  quorum ${q.up ? "up" : "LOST"} (live weight ${q.liveWeight}, quorum ${q.quorum}, hysteresis ${q.hysteresis})`;
    if (s.sorryServer)
      head += `  sorry server ${s.sorryServer.target} ${s.sorryServer.active ? "SERVING" : "standby"}`;
    if (s.services.length > 1 || s.services[0] !== s.service)
      head += `\n  services: ${s.services.join(", ")}`;
    out.push(head);
    for (const rs of s.realServers) {
      const since = rs.lastTransition ? `  since ${rs.lastTransition}` : "";
      const w =
        rs.effectiveWeight === rs.weight ? `${rs.weight}` : `${rs.effectiveWeight} (configured ${rs.weight})`;
      out.push(
        `  ${rs.target}  ${rs.state.toUpperCase()}  weight ${w}${rs.inService ? "" : "  (out of service)"}${since}`,
      );
      for (const c of rs.checkers) {
        const last = c.last
          ? `${c.last.ok ? "ok" : `failed: ${c.last.reason}`}  ${c.last.latencyMs.toFixed(1)} ms  at ${c.last.at}`
          : "not run yet";
        const retries = c.retries > 0 ? `  retry ${c.retries}` : "";
        out.push(`    ${c.kind} ${c.target}  ${c.up ? "up" : "DOWN"}${retries}  ${last}`);
      }
    }
  }
  return `${out.join("\n")}\n`;
}

/**
 * `tslvs health [--json]`: every checked service with its quorum and sorry server, each real
 * server's state and weight, and each checker's last result (reason, latency, time).
 */
export async function healthCommand(args: string[]): Promise<number> {
  const parsed = parseQueryArgs("health", args, USAGE, { json: "flag" });
  if (!parsed) return 2;
  const client = await connectDaemon("health", parsed.path);
  if (!client) return 1;
  try {
    const h = await client.call({ op: "getHealth" });
    process.stdout.write(parsed.opts.has("json") ? `${JSON.stringify(h)}\n` : renderHealth(h));
    return 0;
  } finally {
    client.close();
  }
}

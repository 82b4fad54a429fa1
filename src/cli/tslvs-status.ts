import type { InfoEntry } from "../control/api.js";
import { connectDaemon, parseQueryArgs } from "./connect-daemon.js";

/** One line per VRRP instance, then the advertisements dropped by reason (none when no instance runs). */
function vrrpLines(v: InfoEntry["vrrp"]): string[] {
  if (!v) return [];
  const out = v.instances.map(
    (x) =>
      `vrrp ${x.name}: ${x.state} on ${x.interface} vrid ${x.vrid} v${x.version} priority ${x.priority}` +
      `${x.priority !== x.configuredPriority ? ` (configured ${x.configuredPriority})` : ""}` +
      `, master ${x.master ?? "unknown"}, VIPs ${x.vips.join(" ")}` +
      `${x.fault ? `, fault: ${x.fault}` : ""}${x.syncGroup ? `, sync group ${x.syncGroup}` : ""}`,
  );
  const drops = Object.entries(v.dropped).filter(([, n]) => n > 0);
  out.push(`vrrp adverts dropped: ${drops.length ? drops.map(([k, n]) => `${k} ${n}`).join(", ") : "none"}`);
  return out;
}

/**
 * `tslvs status [--json]`: whether the daemon forwards, and how full its connection table is,
 * with the new connections it refused because the table was full, and what the rules or the config
 * hold that is accepted but not acted on.
 */
export async function statusCommand(args: string[]): Promise<number> {
  const parsed = parseQueryArgs("status", args, "usage: tslvs status [--json] [--socket PATH]", {
    json: "flag",
  });
  if (!parsed) return 2;
  const { path } = parsed;
  const json = parsed.opts.has("json");
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
        ...(i.defense ? [defenseLine(i.defense)] : []),
        ...(i.notActedOn?.length ? [`accepted, not acted on: ${i.notActedOn.join(", ")}`] : []),
        ...(i.fwmarkRules
          ? [
              `firewall marks: nftables ${i.fwmarkRules.nftables}, ${i.fwmarkRules.nftRules} host rule(s) and ${i.fwmarkRules.configRules} config rule(s) compiled`,
              ...i.fwmarkRules.uncompiled.map(
                (u) =>
                  `nftables rule not compiled: ${u.family} ${u.table} ${u.chain} handle ${u.handle}: ${u.reason}`,
              ),
            ]
          : []),
        ...vrrpLines(i.vrrp),
        "",
      ].join("\n"),
    );
    return 0;
  } finally {
    client.close();
  }
}

/** The memory defence's line: what is in force, and what it dropped since start. */
function defenseLine(d: NonNullable<InfoEntry["defense"]>): string {
  const on = [
    d.dropEntry ? "drop_entry" : "",
    d.dropRate ? `drop_packet (1 in ${d.dropRate})` : "",
    d.secureTcp ? "secure_tcp" : "",
  ].filter(Boolean);
  return `defence:     ${on.length ? on.join(", ") : "none in force"}; dropped ${d.packetsDropped} new connections, ${d.entriesDropped} entries`;
}

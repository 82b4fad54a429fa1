import type { DaemonConfig, LaddrEntry, ServiceEntry, TimeoutValues } from "../../control/api.js";
import { addrPort, NUMERIC } from "./names.js";

/** `-L --timeout`, `-L --daemon` and DPVS's `-G` (local addresses of FULLNAT services). */

export function formatTimeout(t: TimeoutValues): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpfin} ${t.udp}\n`;
}

/** One line per running sync daemon, master first; nothing when none runs. */
export function formatDaemons(daemons: readonly DaemonConfig[]): string {
  const ordered = [
    ...daemons.filter((d) => d.state === "master"),
    ...daemons.filter((d) => d.state === "backup"),
  ];
  let out = "";
  for (const d of ordered) {
    let line = `${d.state} sync daemon (mcast=${d.mcastIfn}, syncid=${d.syncId}`;
    if (d.syncMaxLen) line += `, maxlen=${d.syncMaxLen}`;
    if (d.mcastGroup) line += `, group=${d.mcastGroup}`;
    if (d.mcastPort) line += `, port=${d.mcastPort}`;
    if (d.mcastTtl) line += `, ttl=${d.mcastTtl}`;
    out += `${line})\n`;
  }
  return out;
}

export function laddrTitle(): string {
  return `${"VIP:VPORT".padEnd(20)} ${"TOTAL".padEnd(8)} ${"SNAT_IP".padEnd(20)} ${"CONFLICTS".padEnd(10)} ${"CONNS".padEnd(10)}\n`;
}

/** A service's local-address block in DPVS's layout (always numeric). */
export function formatLaddrs(s: ServiceEntry, laddrs: readonly LaddrEntry[]): string {
  const vname =
    s.id.fwmark !== undefined ? `FWM  ${s.id.fwmark}` : addrPort(NUMERIC, s.af, s.id.addr, s.id.port, "");
  let out = `${vname.padEnd(20)} ${String(laddrs.length).padEnd(8)} \n`;
  for (const l of laddrs)
    out += `${"".padEnd(20)} ${"".padEnd(8)} ${l.addr.padEnd(20)} ${String(l.portConflicts ?? 0).padEnd(10)} ${String(l.conns ?? 0).padEnd(10)}\n`;
  return out;
}

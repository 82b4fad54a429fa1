/**
 * The kernel's /proc/net/ip_vs and /proc/net/ip_vs_stats texts (ip_vs_ctl.c: ip_vs_info_seq_show,
 * ip_vs_stats_show), rendered from the director's state: what readers of those files
 * (prometheus/procfs, node_exporter's ipvs collector) parse. `tslvs proc` prints them; the
 * metrics tests feed them to the real node_exporter.
 */
import { IpAddr } from "../core/address.js";
import type { CounterValues, RateValues, ServiceEntry } from "./api.js";

const SVC_F_PERSISTENT = 0x1;
const SVC_F_ONEPACKET = 0x4;

/** Forwarding names as ip_vs_fwd_name prints them (FULLNAT, DPVS's, as ipvsadm's listing names it). */
const FWD_NAMES: Record<string, string> = {
  masq: "Masq",
  local: "Local",
  tunnel: "Tunnel",
  route: "Route",
  fullnat: "FullNat",
};

const hex = (v: number, width: number) => (v >>> 0).toString(16).toUpperCase().padStart(width, "0");
const hex64 = (v: number, width: number) =>
  Math.max(0, Math.trunc(v)).toString(16).toUpperCase().padStart(width, "0");

/** An address as the kernel prints it there: IPv4 as 8 hex digits, IPv6 in brackets, fully expanded. */
function procAddr(text: string): string {
  const a = IpAddr.mustParse(text);
  if (a.family === 4) return hex(a.v4Value, 8);
  const groups: string[] = [];
  for (const w of a.words) groups.push(hex(w >>> 16, 4).toLowerCase(), hex(w & 0xffff, 4).toLowerCase());
  return `[${groups.join(":")}]`;
}

/** The netmask field of a persistent service: IPv4 as 8 hex digits; IPv6 services carry a prefix length. */
function procMask(s: ServiceEntry): string {
  if (s.af === 6) return hex(Number(s.netmask), 8);
  return hex(IpAddr.mustParse(s.netmask).v4Value, 8);
}

/** /proc/net/ip_vs for `services` (in the director's order) and the connection hash's size. */
export function renderIpVs(services: readonly ServiceEntry[], connTabSize: number): string {
  const out: string[] = [
    `IP Virtual Server version 1.2.1 (size=${connTabSize})\n`,
    "Prot LocalAddress:Port Scheduler Flags\n",
    "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n",
  ];
  for (const s of services) {
    const ops = s.flags & SVC_F_ONEPACKET ? "ops " : "";
    let line: string;
    if (s.id.fwmark !== undefined) line = `FWM  ${hex(s.id.fwmark, 8)} ${s.scheduler} ${ops}`;
    else if (s.af === 6)
      line = `${s.id.protocol.toUpperCase()}  ${procAddr(s.id.addr)}:${hex(s.id.port, 4)} ${s.scheduler} `;
    else
      line = `${s.id.protocol.toUpperCase()}  ${procAddr(s.id.addr)}:${hex(s.id.port, 4)} ${s.scheduler} ${ops}`;
    line += s.flags & SVC_F_PERSISTENT ? `persistent ${s.timeout} ${procMask(s)}\n` : "\n";
    out.push(line);
    for (const d of s.dests) {
      const fwd = (FWD_NAMES[d.method] ?? d.method).padEnd(7);
      out.push(
        `  -> ${procAddr(d.addr)}:${hex(d.port, 4)}      ${fwd} ${String(d.weight).padEnd(6)} ${String(d.activeConns).padEnd(10)} ${String(d.inactConns).padEnd(10)}\n`,
      );
    }
  }
  return out.join("");
}

/** /proc/net/ip_vs_stats: the director's totals and their rates. */
export function renderIpVsStats(c: CounterValues, r: RateValues): string {
  return [
    "   Total Incoming Outgoing         Incoming         Outgoing\n",
    "   Conns  Packets  Packets            Bytes            Bytes\n",
    `${hex64(c.conns, 8)} ${hex64(c.inPkts, 8)} ${hex64(c.outPkts, 8)} ${hex64(c.inBytes, 16)} ${hex64(c.outBytes, 16)}\n\n`,
    "     Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n",
    `${hex64(r.cps, 8)} ${hex64(r.inPps, 8)} ${hex64(r.outPps, 8)} ${hex64(r.inBps, 16)} ${hex64(r.outBps, 16)}\n`,
  ].join("");
}

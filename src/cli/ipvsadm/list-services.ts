import type { DestEntry, InfoEntry, ServiceEntry } from "../../control/api.js";
import type { ListFormat } from "./command.js";
import { addrPort, type Namer } from "./names.js";
import { largeNum, low32 } from "./printf.js";
import { schedFlagNames } from "./sched-flags-option.js";
import { sortDests } from "./sort.js";

/**
 * The service listings of `-L`: the default table and its --stats, --rate, --thresholds,
 * --persistent-conn and --tun-info variants, byte for byte as ipvsadm 1.31 prints them
 * (trailing blanks included).
 */

const SVC_F_PERSISTENT = 0x1;
const SVC_F_ONEPACKET = 0x4;
const SVC_F_TOA = 0x100;

type Variant = "default" | "stats" | "rate" | "thresholds" | "persistent-conn" | "tun-info";

/** The first of --stats, --rate, --thresholds, --persistent-conn, --tun-info given wins. */
export function listVariant(f: ListFormat): Variant {
  if (f.stats) return "stats";
  if (f.rate) return "rate";
  if (f.thresholds) return "thresholds";
  if (f.persistentConn) return "persistent-conn";
  if (f.tunInfo) return "tun-info";
  return "default";
}

const PROTO_TITLE: Record<string, string> = { tcp: "TCP", udp: "UDP", sctp: "SCTP" };
const FWD_NAME: Record<string, string> = {
  masq: "Masq",
  local: "Local",
  tunnel: "Tunnel",
  route: "Route",
  fullnat: "FullNat",
};

export function versionLine(info: InfoEntry): string {
  return `IP Virtual Server version ${info.version} (size=${info.connTabSize})\n`;
}

export function title(variant: Variant): string {
  const lead = "Prot LocalAddress:Port".padEnd(33);
  switch (variant) {
    case "stats":
      return `${lead}    Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\n`;
    case "rate":
      return `${lead}      CPS    InPPS   OutPPS    InBPS   OutBPS\n  -> RemoteAddress:Port\n`;
    case "thresholds":
      return `${lead} Uthreshold Lthreshold ActiveConn InActConn \n  -> RemoteAddress:Port\n`;
    case "persistent-conn":
      return `${lead} Weight    PersistConn ActiveConn InActConn \n  -> RemoteAddress:Port\n`;
    case "tun-info":
      return "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n";
    default:
      return "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
  }
}

/** Port-name protocol of a service (firewall-mark services are TCP inside ipvsadm). */
export function serviceProto(s: ServiceEntry): string {
  return s.id.protocol ?? "tcp";
}

/** `TCP  addr:port`, `FWM  mark` or `FWM  mark IPv6`; IPv4 labels cut to 33 characters. */
export function serviceLabel(s: ServiceEntry, namer: Namer): string {
  if (s.id.fwmark !== undefined) return s.af === 6 ? `FWM  ${s.id.fwmark} IPv6` : `FWM  ${s.id.fwmark}`;
  const label = `${(PROTO_TITLE[s.id.protocol] ?? "?").padEnd(4)} ${addrPort(namer, s.af, s.id.addr, s.id.port, s.id.protocol)}`;
  return s.af === 6 ? label : label.slice(0, 33);
}

/** Scheduler, flags, persistence and OPS as the default service line shows them. */
function serviceSuffix(s: ServiceEntry): string {
  let line = ` ${s.scheduler}`;
  const flags = schedFlagNames(s.flags, s.scheduler);
  if (flags) line += ` (${flags})`;
  if (s.flags & SVC_F_PERSISTENT) {
    line += ` persistent ${s.timeout}`;
    if (s.af === 4 && s.netmask !== "255.255.255.255") line += ` mask ${s.netmask}`;
    if (s.af === 6 && s.netmask !== "128") line += ` mask ${s.netmask}`;
    if (s.pe) line += ` pe ${s.pe}`;
  }
  if (s.flags & SVC_F_ONEPACKET) line += " ops";
  if (s.flags & SVC_F_TOA) line += " toa";
  return line;
}

function destName(s: ServiceEntry, d: DestEntry, namer: Namer): string {
  const name = addrPort(namer, d.af, d.addr, d.port, serviceProto(s));
  return d.af === 6 ? name : name.slice(0, 28);
}

const CSUM_MARK: Record<string, string> = { nocsum: "-c", csum: "+c", remcsum: "r+c" };

function tunnelInfo(d: DestEntry): string {
  if (d.method !== "tunnel") return "n/a";
  if (d.tunType === "gue") return `gue:${d.tunPort}:${CSUM_MARK[d.tunCsum]}`;
  if (d.tunType === "gre") return `gre:${CSUM_MARK[d.tunCsum]}`;
  return "ipip";
}

function u32(v: number): string {
  return String(low32(v));
}

function serviceBlock(s: ServiceEntry, variant: Variant, f: ListFormat, namer: Namer, out: string[]): void {
  const label = serviceLabel(s, namer);
  const ex = f.exact;
  if (variant === "stats") {
    const c = s.stats;
    out.push(
      `${label.padEnd(33)}${largeNum(c.conns, ex)}${largeNum(c.inPkts, ex)}${largeNum(c.outPkts, ex)}${largeNum(c.inBytes, ex)}${largeNum(c.outBytes, ex)}\n`,
    );
  } else if (variant === "rate") {
    const r = s.rates;
    out.push(
      `${label.padEnd(33)}${largeNum(r.cps, ex)}${largeNum(r.inPps, ex)}${largeNum(r.outPps, ex)}${largeNum(r.inBps, ex)}${largeNum(r.outBps, ex)}\n`,
    );
  } else out.push(`${label}${serviceSuffix(s)}\n`);

  const dests = f.nosort ? s.dests : sortDests(s.dests);
  for (const d of dests) {
    const name = destName(s, d, namer);
    switch (variant) {
      case "stats": {
        const c = d.stats;
        out.push(
          `  -> ${name.padEnd(28)}${largeNum(low32(c.conns), ex)}${largeNum(low32(c.inPkts), ex)}${largeNum(low32(c.outPkts), ex)}${largeNum(c.inBytes, ex)}${largeNum(c.outBytes, ex)}\n`,
        );
        break;
      }
      case "rate": {
        const r = d.rates;
        out.push(
          `  -> ${name.padEnd(28)} ${u32(r.cps).padStart(8)} ${u32(r.inPps).padStart(8)} ${u32(r.outPps).padStart(8)}${largeNum(low32(r.inBps), ex)}${largeNum(low32(r.outBps), ex)}\n`,
        );
        break;
      }
      case "thresholds":
        out.push(
          `  -> ${name.padEnd(28)} ${u32(d.uThreshold).padEnd(10)} ${u32(d.lThreshold).padEnd(10)} ${u32(d.activeConns).padEnd(10)} ${u32(d.inactConns).padEnd(10)}\n`,
        );
        break;
      case "persistent-conn":
        out.push(
          `  -> ${name.padEnd(28)} ${u32(d.weight).padEnd(9)} ${u32(d.persistConns).padEnd(11)} ${u32(d.activeConns).padEnd(10)} ${u32(d.inactConns).padEnd(10)}\n`,
        );
        break;
      case "tun-info":
        out.push(
          `  -> ${name.padEnd(28)} ${(FWD_NAME[d.method] ?? "").padEnd(7)} ${tunnelInfo(d).padEnd(13)} ${String(d.weight).padEnd(6)} ${u32(d.activeConns).padEnd(10)} ${u32(d.inactConns).padEnd(10)}\n`,
        );
        break;
      default:
        out.push(
          `  -> ${name.padEnd(28)} ${(FWD_NAME[d.method] ?? "").padEnd(7)} ${String(d.weight).padEnd(6)} ${u32(d.activeConns).padEnd(10)} ${u32(d.inactConns).padEnd(10)}\n`,
        );
    }
  }
}

/** Title and services (already in listing order), appended to `out`. */
export function formatServices(
  services: readonly ServiceEntry[],
  f: ListFormat,
  namer: Namer,
  out: string[],
): void {
  const variant = listVariant(f);
  out.push(title(variant));
  for (const s of services) serviceBlock(s, variant, f, namer, out);
}

import type { DestEntry, ServiceEntry } from "../../control/api.js";
import { serviceProto } from "./list-services.js";
import { addrPort, type Namer } from "./names.js";
import { schedFlagNames } from "./sched-flags-option.js";
import { sortDests } from "./sort.js";

/**
 * `-S`: the rules as ipvsadm commands (ipvsadm 1.31's rule format). Like ipvsadm it does not save
 * the -x/-y thresholds; `-S --json` keeps everything.
 */

const SVC_F_PERSISTENT = 0x1;
const SVC_F_ONEPACKET = 0x4;
const SVC_F_TOA = 0x100;
const PROTO_SWITCH: Record<string, string> = { tcp: "-t", udp: "-u", sctp: "--sctp-service" };
const METHOD_SWITCH: Record<string, string> = {
  masq: "-m",
  tunnel: "-i",
  route: "-g",
  local: "-g",
  fullnat: "-b",
};

export function ruleServiceArg(s: ServiceEntry, namer: Namer): string {
  if (s.id.fwmark !== undefined) return s.af === 6 ? `-f ${s.id.fwmark} -6` : `-f ${s.id.fwmark}`;
  return `${PROTO_SWITCH[s.id.protocol]} ${addrPort(namer, s.af, s.id.addr, s.id.port, s.id.protocol)}`;
}

function tunnelArgs(d: DestEntry): string {
  if (d.method !== "tunnel") return "";
  const csum = ` --tun-${d.tunCsum}`;
  if (d.tunType === "gre") return ` --tun-type gre${csum}`;
  if (d.tunType === "gue") return ` --tun-type gue --tun-port ${d.tunPort}${csum}`;
  return " --tun-type ipip";
}

export function formatSave(
  services: readonly ServiceEntry[],
  nosort: boolean,
  namer: Namer,
  out: string[],
): void {
  for (const s of services) {
    const svc = ruleServiceArg(s, namer);
    let line = `-A ${svc} -s ${s.scheduler}`;
    if (s.flags & SVC_F_PERSISTENT) {
      line += ` -p ${s.timeout}`;
      if (s.af === 4 && s.netmask !== "255.255.255.255") line += ` -M ${s.netmask}`;
      if (s.af === 6 && s.netmask !== "128") line += ` -M ${s.netmask}`;
    }
    if (s.pe) line += ` --pe ${s.pe}`;
    if (s.flags & SVC_F_ONEPACKET) line += " -o";
    if (s.flags & SVC_F_TOA) line += " --toa";
    const flags = schedFlagNames(s.flags, s.scheduler);
    if (flags) line += ` -b ${flags}`;
    out.push(`${line}\n`);
    const dests = nosort ? s.dests : sortDests(s.dests);
    for (const d of dests) {
      const rs = addrPort(namer, d.af, d.addr, d.port, serviceProto(s));
      out.push(`-a ${svc} -r ${rs} ${METHOD_SWITCH[d.method] ?? "-g"} -w ${d.weight}${tunnelArgs(d)}\n`);
    }
  }
}

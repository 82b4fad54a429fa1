import type {
  ConnEntry,
  DaemonConfig,
  DestConfig,
  DestEntry,
  InfoEntry,
  LaddrEntry,
  ServiceConfig,
  ServiceEntry,
  TimeoutValues,
} from "../../control/api.js";
import { pickDestConfig } from "../../control/api.js";
import { schedFlagNames } from "./sched-flags-option.js";

/**
 * `--json` output: one JSON document per invocation, always numeric (no name lookups), counters
 * unscaled and full width. The schema is documented in docs/tslvsadm.md.
 */

const SVC_F_PERSISTENT = 0x1;
const SVC_F_ONEPACKET = 0x4;
const SVC_F_TOA = 0x100;

function destJson(d: DestEntry): object {
  return {
    addr: d.addr,
    port: d.port,
    af: d.af,
    method: d.method,
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
    activeConns: d.activeConns,
    inactConns: d.inactConns,
    persistConns: d.persistConns,
    tunType: d.tunType,
    tunPort: d.tunPort,
    tunCsum: d.tunCsum,
    stats: d.stats,
    rates: d.rates,
    ...(d.health ? { health: d.health } : {}),
  };
}

export function serviceJson(s: ServiceEntry, dests: readonly DestEntry[]): object {
  const flagNames = schedFlagNames(s.flags, s.scheduler);
  return {
    protocol: s.id.protocol ?? null,
    addr: s.id.addr ?? null,
    port: s.id.port ?? null,
    fwmark: s.id.fwmark ?? null,
    af: s.af,
    scheduler: s.scheduler,
    flags: s.flags,
    schedFlags: flagNames ? flagNames.split(",") : [],
    persistent: (s.flags & SVC_F_PERSISTENT) !== 0,
    timeout: s.timeout,
    netmask: s.netmask,
    pe: s.pe,
    ops: (s.flags & SVC_F_ONEPACKET) !== 0,
    toa: (s.flags & SVC_F_TOA) !== 0,
    stats: s.stats,
    rates: s.rates,
    dests: dests.map(destJson),
  };
}

export function listingJson(info: InfoEntry | null, services: object[]): string {
  const doc = info ? { version: info.version, connTabSize: info.connTabSize, services } : { services };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** `-Lc --json`: `{"connections": [...]}`, as connsJsonStart + connsJsonEntries + connsJsonEnd make it. */
export function connsJson(conns: readonly ConnEntry[]): string {
  return `${JSON.stringify({ connections: conns }, null, 2)}\n`;
}

/*
 * The same document written a page at a time, byte for byte what connsJson gives for all the
 * pages' entries together: the opening, each page's entries, the closing.
 */

export function connsJsonStart(): string {
  return '{\n  "connections": [';
}

/** A page's entries; `first`: no entry was written before them. */
export function connsJsonEntries(conns: readonly ConnEntry[], first: boolean): string {
  let text = "";
  for (let i = 0; i < conns.length; i++) {
    const entry = JSON.stringify(conns[i], null, 2).replaceAll("\n", "\n    ");
    text += `${first && i === 0 ? "" : ","}\n    ${entry}`;
  }
  return text;
}

/** The closing; `any`: some entry was written. */
export function connsJsonEnd(any: boolean): string {
  return any ? "\n  ]\n}\n" : "]\n}\n";
}

export function timeoutJson(t: TimeoutValues): string {
  return `${JSON.stringify({ timeout: { tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp } }, null, 2)}\n`;
}

export function daemonsJson(daemons: readonly DaemonConfig[]): string {
  return `${JSON.stringify({ daemons }, null, 2)}\n`;
}

export function laddrsJson(entries: { service: ServiceEntry; laddrs: readonly LaddrEntry[] }[]): string {
  const services = entries.map(({ service, laddrs }) => ({ service: service.id, laddrs }));
  return `${JSON.stringify({ services }, null, 2)}\n`;
}

/** The rules document of `-S --json` / `-R --json`: complete service and real-server settings. */
export interface RulesDocument {
  format: "tslvs-rules";
  version: 1;
  services: (ServiceConfig & { dests: DestConfig[] })[];
}

export function rulesJson(
  services: readonly ServiceEntry[],
  sortDestsFn: (d: DestEntry[]) => DestEntry[],
): string {
  const doc: RulesDocument = {
    format: "tslvs-rules",
    version: 1,
    services: services.map((s) => ({
      id: s.id,
      scheduler: s.scheduler,
      flags: s.flags,
      timeout: s.timeout,
      netmask: s.netmask,
      pe: s.pe,
      dests: sortDestsFn(s.dests).map(pickDestConfig),
    })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

import type { ConnEntry } from "../../control/api.js";
import { addrPort, type Namer } from "./names.js";

/** `-Lc` (and `-Lc --persistent-conn`): the connection table, in the daemon's order. */

const NAME_PROTO: Record<string, string> = { TCP: "tcp", UDP: "udp", SCTP: "sctp" };

export function connHeader(withPe: boolean): string {
  return withPe
    ? "IPVS connection entries\npro expire state       source             virtual            destination        pe name          pe_data\n"
    : "IPVS connection entries\npro expire state       source             virtual            destination\n";
}

function expiry(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

export function connLine(c: ConnEntry, withPe: boolean, namer: Namer): string {
  const proto = NAME_PROTO[c.protocol] ?? "";
  const cname = addrPort(namer, c.af, c.caddr, c.cport, proto);
  const vname = addrPort(namer, c.af, c.vaddr, c.vport, proto);
  const dname = addrPort(namer, c.daddr.includes(":") ? 6 : 4, c.daddr, c.dport, proto);
  const head = `${c.protocol.padEnd(3)} ${expiry(c.expires).padEnd(6)} ${c.state.padEnd(11)} ${cname.padEnd(18)} ${vname.padEnd(18)} `;
  if (withPe && c.peName) return `${head}${dname.padEnd(16)} ${c.peName.padEnd(18)} ${c.peData}\n`;
  return `${head}${dname}\n`;
}

export function formatConns(conns: readonly ConnEntry[], withPe: boolean, namer: Namer, out: string[]): void {
  out.push(connHeader(withPe));
  for (const c of conns) out.push(connLine(c, withPe, namer));
}

/** Addresses a connection listing shows (for name lookups). */
export function connAddresses(conns: readonly ConnEntry[]): string[] {
  const out: string[] = [];
  for (const c of conns) out.push(c.caddr, c.vaddr, c.daddr);
  return out;
}

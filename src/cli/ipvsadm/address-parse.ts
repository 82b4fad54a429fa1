import { IpAddr } from "../../core/address.js";
import { inetAton, stringToNumber, v4Text } from "./numbers.js";
import type { NameResolver } from "./resolver.js";
import type { ServicesDb } from "./services-db.js";

/** Where address parsing looks names up. */
export interface LookupEnv {
  resolver: NameResolver;
  services(): ServicesDb;
}

export interface ParsedAddress {
  af: 4 | 6;
  /** Canonical text: dotted quad or RFC 5952 IPv6. */
  addr: string;
  port: number;
  /** False when the text had no port part (ipvsadm then uses a default). */
  hasPort: boolean;
}

/** IPv6 text as inet_pton accepts it (no brackets, no zone), in canonical form; else null. */
export function parseV6(text: string): string | null {
  if (!text.includes(":")) return null;
  const a = IpAddr.parse(text);
  return a && a.family === 6 ? a.toString() : null;
}

/** gethostbyname for IPv4, ipvsadm's host_to_addr: a dotted quad or a host name. */
async function hostToV4(name: string, env: LookupEnv): Promise<number | null> {
  if (name === "") return null;
  const found = await env.resolver.forward4(name);
  if (found === null) return null;
  return inetAton(found);
}

/**
 * ipvsadm's parse_service: `host[:port]`, `[v6]:port` or bare IPv6 (then no port). `proto` names
 * the services-database protocol for port names ("" when the service protocol is not known yet).
 * Returns null when ipvsadm rejects the text.
 */
export async function parseServiceAddress(
  text: string,
  proto: string,
  env: LookupEnv,
): Promise<ParsedAddress | null> {
  if (/^\d*$/.test(text)) return null;
  let host = text;
  let portText: string | undefined;
  let bracketed = false;
  if (text[0] === "[") {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") return null;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    bracketed = true;
  }
  let af: 4 | 6;
  let addr: string;
  const v6 = parseV6(host);
  if (v6 !== null) {
    af = 6;
    addr = v6;
  } else {
    // A bracketed non-IPv6 host ("[1.2.3.4]:80") loses its port, as in ipvsadm.
    if (bracketed) portText = undefined;
    const colon = host.lastIndexOf(":");
    if (colon >= 0) {
      portText = host.slice(colon + 1);
      host = host.slice(0, colon);
    }
    const v4 = inetAton(host) ?? (await hostToV4(host, env));
    if (v4 === null) return null;
    af = 4;
    addr = v4Text(v4);
  }
  if (portText === undefined) return { af, addr, port: 0, hasPort: false };
  let port = stringToNumber(portText, 0, 65535);
  if (port === null && proto !== "") port = env.services().port(portText, proto);
  if (port === null) return null;
  return { af, addr, port, hasPort: true };
}

/** ipvsadm's parse_netmask for IPv4 persistence masks: inet_aton or a host name. */
export async function parseV4Netmask(text: string, env: LookupEnv): Promise<string | null> {
  const v = inetAton(text) ?? (await hostToV4(text, env));
  return v === null ? null : v4Text(v);
}

/** A sync-daemon multicast group: IPv6 when it contains ':', else strict IPv4; must be multicast. */
export function parseMcastGroup(text: string): { ok: true; addr: string } | { ok: false; message: string } {
  if (text.includes(":")) {
    const a = IpAddr.parse(text);
    if (a && a.family === 6 && a.words[0]! >>> 24 === 0xff) return { ok: true, addr: a.toString() };
    return { ok: false, message: `invalid IPv6 mcast-group \`${text}'` };
  }
  const a = IpAddr.parse(text);
  if (a && a.family === 4 && a.v4Value >>> 28 === 0xe) return { ok: true, addr: a.toString() };
  return { ok: false, message: `invalid IPv4 mcast-group \`${text}'` };
}

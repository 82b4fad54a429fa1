import type { NameResolver } from "./resolver.js";
import type { ServicesDb } from "./services-db.js";

/**
 * Renders address:port the way ipvsadm's addrport_to_anyname does: numeric with -n, otherwise the
 * host's name and the port's service name when they exist. Lookups are done before formatting
 * (all at once, see `resolveNames`) so formatting itself stays synchronous.
 */
export interface Namer {
  readonly numeric: boolean;
  /** The host part: name or numeric text. */
  host(addr: string): string;
  /** The port part for "tcp" | "udp" | "sctp" ("" for protocols without port names). */
  port(port: number, proto: string): string;
}

/** ipvsadm renders into a 60-byte buffer. */
const MAX_NAME = 59;

export function addrPort(namer: Namer, af: 4 | 6, addr: string, port: number, proto: string): string {
  const host = namer.numeric ? addr : namer.host(addr);
  const p = namer.numeric ? String(port) : namer.port(port, proto);
  const s = af === 6 ? `[${host}]:${p}` : `${host}:${p}`;
  return s.length > MAX_NAME ? s.slice(0, MAX_NAME) : s;
}

export const NUMERIC: Namer = {
  numeric: true,
  host: (addr) => addr,
  port: (port) => String(port),
};

/** Looks every address up at once (bounded by the resolver) and returns a Namer over the answers. */
export async function resolveNames(
  addrs: Iterable<string>,
  resolver: NameResolver,
  services: ServicesDb,
): Promise<Namer> {
  const unique = [...new Set(addrs)];
  const answers = await Promise.all(unique.map((a) => resolver.reverse(a)));
  const names = new Map<string, string>();
  unique.forEach((a, i) => {
    const n = answers[i];
    if (n) names.set(a, n);
  });
  return {
    numeric: false,
    host: (addr) => names.get(addr) ?? addr,
    port: (port, proto) => {
      if (port === 0 || proto === "") return String(port);
      return services.name(port, proto) ?? String(port);
    },
  };
}

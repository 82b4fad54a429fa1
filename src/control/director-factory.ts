import { readFileSync } from "node:fs";
import { Director } from "../core/director.js";
import type { LocalPortRange } from "../core/laddr-pool.js";
import { hugePageBuffer } from "../platform/huge-pages.js";
import { CoreDirectorPort } from "./core-director-port.js";

export interface DirectorFactoryOptions {
  /** FULLNAT local ports; default: hostLocalPortRange(). */
  localPorts?: LocalPortRange;
  /** log2 of the connection hash's bucket count (kernel conn_tab_bits); default 12. */
  connTabBits?: number;
  /** Connections + templates the table holds; default 1,048,576. */
  connCapacity?: number;
}

/**
 * The one place where the daemon gets its director: the core IPVS model behind the control port.
 * Its connection table lives on transparent huge pages (fewer TLB misses per lookup).
 */
export function createDirector(opts: DirectorFactoryOptions = {}): CoreDirectorPort {
  return new CoreDirectorPort(
    new Director({
      localPorts: opts.localPorts ?? hostLocalPortRange(),
      connTabBits: opts.connTabBits,
      connCapacity: opts.connCapacity,
      connMemory: hugePageBuffer,
    }),
  );
}

/**
 * FULLNAT local ports that never collide with the host's own connections: the LIPs are the host's
 * addresses (the kernel answers ARP for them), so the ports its own sockets pick
 * (net.ipv4.ip_local_port_range) are left out. The XDP steering program takes one contiguous range per
 * address, so the larger block on either side of the host's range is used (1025-32767 with Linux's
 * default 32768-60999). Falls back to DPVS's 1025-65535 when the host's range cannot be read.
 */
export function hostLocalPortRange(
  text: string | null = readOr("/proc/sys/net/ipv4/ip_local_port_range"),
): LocalPortRange {
  const m = text ? /^\s*(\d+)\s+(\d+)\s*$/.exec(text) : null;
  if (!m) return { min: 1025, max: 65535 };
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  const below = lo - 1 - 1025 + 1;
  const above = 65535 - (hi + 1) + 1;
  if (below <= 0 && above <= 0) return { min: 1025, max: 65535 };
  return below >= above ? { min: 1025, max: lo - 1 } : { min: hi + 1, max: 65535 };
}

/** Parses "MIN-MAX" (a `--local-ports` value). */
export function parseLocalPortRange(text: string): LocalPortRange {
  const m = /^(\d+)-(\d+)$/.exec(text);
  const r = m ? { min: Number(m[1]), max: Number(m[2]) } : null;
  if (!r || r.min < 1 || r.max > 65535 || r.min > r.max)
    throw new RangeError(`local ports must be MIN-MAX within 1-65535, not "${text}"`);
  return r;
}

function readOr(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

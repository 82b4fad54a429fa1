/**
 * FULLNAT local addresses (DPVS ip_vs_laddr.c + sa_pool.c, simplified): each service has a list of
 * local IPs (LIPs); a new FULLNAT conn takes the next LIP round robin and a free local port of that
 * LIP, which makes the real-server-side tuple (RS, LIP:lport) unique. Ports are kept per LIP and per
 * protocol in a FIFO ring (taken from the head, returned to the tail, so a port just freed is the
 * last to be reused) with an in-use bitmap; nothing is allocated per conn.
 */
import type { IpAddr } from "./address.js";
import { IPPROTO_TCP, IPPROTO_UDP } from "./flow.js";

export interface LocalPortRange {
  /** First and last usable port (DPVS: 1025..65535). */
  min: number;
  max: number;
  /** A range never handed out, e.g. the host's ephemeral ports (net.ipv4.ip_local_port_range). */
  exclude?: readonly [number, number];
}

export const DEFAULT_LOCAL_PORTS: LocalPortRange = { min: 1025, max: 65535 };

export function validatePortRange(r: LocalPortRange): void {
  const ok = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;
  if (!ok(r.min) || !ok(r.max) || r.min > r.max)
    throw new RangeError(`local port range must be 1..65535 with min <= max, not ${r.min}-${r.max}`);
  if (r.exclude && (!ok(r.exclude[0]) || !ok(r.exclude[1]) || r.exclude[0] > r.exclude[1]))
    throw new RangeError(`excluded port range must be 1..65535 with min <= max`);
}

const FREE = 0;
const USED = 1;
/** In use, but still queued in the ring (skipped when the ring reaches it). */
const RESERVED = 2;

/** A FIFO of free ports with an in-use bitmap. */
export class PortRing {
  private readonly ring: Uint16Array;
  private head = 0;
  /** Free ports. */
  private count: number;
  /** Entries in the ring from `head` (free ports, and reserved ones not yet skipped). */
  private queued: number;
  /** FREE, USED or RESERVED per port. */
  private readonly used = new Uint8Array(65536);
  private readonly inRange = new Uint8Array(65536);
  readonly size: number;

  constructor(range: LocalPortRange) {
    const ports: number[] = [];
    for (let p = range.min; p <= range.max; p++) {
      if (range.exclude && p >= range.exclude[0] && p <= range.exclude[1]) continue;
      ports.push(p);
    }
    this.ring = Uint16Array.from(ports);
    this.size = ports.length;
    this.count = ports.length;
    this.queued = ports.length;
    for (const p of ports) this.inRange[p] = 1;
  }

  get free(): number {
    return this.count;
  }

  get inUse(): number {
    return this.size - this.count;
  }

  /** A free port, or -1 when all are in use. */
  take(): number {
    while (this.queued > 0) {
      const p = this.ring[this.head]!;
      this.head = this.head + 1 === this.size ? 0 : this.head + 1;
      this.queued--;
      // A port reserved while it sat in the ring leaves it now; it stays in use.
      if (this.used[p] === RESERVED) {
        this.used[p] = USED;
        continue;
      }
      this.count--;
      this.used[p] = USED;
      return p;
    }
    return -1;
  }

  /**
   * Takes one given port out of the free ports (a conn handed over from a previous director keeps
   * its local port); false when it is in use already or outside the range.
   */
  reserve(port: number): boolean {
    if (!this.inRange[port] || this.used[port] !== FREE) return false;
    this.used[port] = RESERVED;
    this.count--;
    return true;
  }

  give(port: number): void {
    const u = this.used[port];
    if (u === RESERVED) {
      // Still queued in the ring: it becomes free where it stands.
      this.used[port] = FREE;
      this.count++;
      return;
    }
    if (u !== USED) return;
    this.used[port] = FREE;
    let tail = this.head + this.queued;
    if (tail >= this.size) tail -= this.size;
    this.ring[tail] = port;
    this.queued++;
    this.count++;
  }

  isUsed(port: number): boolean {
    return this.used[port] !== FREE;
  }
}

/** One local address and its port rings (TCP, UDP, others). */
export class LocalAddress {
  /** Services listing this LIP. */
  services = 0;
  /**
   * A default LIP (the director's own address toward a real server, used by services without a
   * pool): kept when unused, so its port FIFO keeps its order between connections.
   */
  pinned = false;
  private readonly rings: PortRing[];

  constructor(
    readonly id: number,
    readonly addr: IpAddr,
    public ifname: string,
    range: LocalPortRange,
  ) {
    this.rings = [new PortRing(range), new PortRing(range), new PortRing(range)];
  }

  ring(proto: number): PortRing {
    return this.rings[proto === IPPROTO_TCP ? 0 : proto === IPPROTO_UDP ? 1 : 2]!;
  }

  /** Ports in use over all protocols. */
  get portsInUse(): number {
    return this.rings[0]!.inUse + this.rings[1]!.inUse + this.rings[2]!.inUse;
  }
}

/** A service's LIP list and round-robin cursor. */
export class ServiceLaddrs {
  readonly list: LocalAddress[] = [];
  cursor = 0;
}

/** Most LIPs tried for one conn before giving up (DPVS). */
export const LADDR_TRIES = 16;

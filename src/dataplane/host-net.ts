import type { IpAddr } from "../core/address.js";
import { libc } from "../platform/libc.js";
import { closeHostRtnetlink, hostRtnetlink as rtnetlink } from "../platform/rtnetlink-client.js";
import { dumpNeighbours, solicitNeighbour } from "../platform/rtnetlink-neighbours.js";
import { dumpAddresses, dumpLinks, dumpRoutes } from "../platform/rtnetlink-tables.js";

/**
 * What the host kernel knows and tslvs reuses: interfaces with their addresses, the routing table and
 * the neighbour (ARP / ND) table, read as rtnetlink dumps (platform/rtnetlink-tables.ts): no process is
 * spawned, so a read can happen while the slow path forwards (at start, when the kernel reports a
 * change, on a next-hop miss), never per packet.
 */

export interface HostInterface {
  ifindex: number;
  name: string;
  mac: Uint8Array;
  mtu: number;
  /** Administratively up, with a carrier (UP and LOWER_UP). */
  up: boolean;
  /** Administratively up (UP), carrier or not. */
  adminUp: boolean;
  loopback: boolean;
  /** The link's kind (`veth`, `bridge`, `vlan`...); null for a device with a driver of its own (a NIC). */
  kind: string | null;
  addrs: { addr: IpAddr; prefixLen: number }[];
}

export function parseMac(text: string): Uint8Array {
  const parts = text.split(":");
  if (parts.length !== 6) throw new RangeError(`not a MAC address: ${text}`);
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

export async function readInterfaces(): Promise<HostInterface[]> {
  const nl = rtnetlink();
  const addrs = new Map<number, { addr: IpAddr; prefixLen: number }[]>();
  for (const a of dumpAddresses(nl)) {
    const list = addrs.get(a.ifindex) ?? [];
    list.push({ addr: a.addr, prefixLen: a.prefixLen });
    addrs.set(a.ifindex, list);
  }
  return dumpLinks(nl).map((l) => ({
    ifindex: l.ifindex,
    name: l.name,
    mac: l.mac,
    mtu: l.mtu,
    up: l.flags.up && l.flags.lowerUp,
    adminUp: l.flags.up,
    loopback: l.flags.loopback,
    kind: l.kind,
    addrs: addrs.get(l.ifindex) ?? [],
  }));
}

export interface Route {
  dst: IpAddr;
  prefixLen: number;
  dev: string;
  gateway: IpAddr | null;
  prefsrc: IpAddr | null;
  metric: number;
  /** The route's MTU metric (`ip route ... mtu N`); 0 when it has none (the interface's MTU applies). */
  mtu: number;
}

/** A snapshot of the main routing table with longest-prefix-match lookup. */
export class RouteTable {
  private readonly routes: Route[];

  constructor(routes: Route[]) {
    // Longest prefix first, then lowest metric: the first match is the kernel's choice.
    this.routes = [...routes].sort((a, b) => b.prefixLen - a.prefixLen || a.metric - b.metric);
  }

  static async read(): Promise<RouteTable> {
    const nl = rtnetlink();
    const names = new Map(dumpLinks(nl).map((l) => [l.ifindex, l.name]));
    const all: Route[] = [];
    for (const r of dumpRoutes(nl)) {
      const dev = names.get(r.ifindex);
      if (!dev) continue;
      all.push({
        dst: r.dst,
        prefixLen: r.prefixLen,
        dev,
        gateway: r.gateway,
        prefsrc: r.prefsrc,
        metric: r.metric,
        mtu: r.mtu,
      });
    }
    return new RouteTable(all);
  }

  lookup(addr: IpAddr): Route | null {
    for (const r of this.routes) {
      if (r.dst.family === addr.family && addr.masked(r.prefixLen).equals(r.dst.masked(r.prefixLen)))
        return r;
    }
    return null;
  }
}

/**
 * The kernel's neighbour table, and requests that the kernel resolve an address it lacks, both over
 * rtnetlink (never a spawned process: the slow path asks for neighbours while it forwards). One
 * resolution per neighbour at a time, however many packets wait for it; one table read at a time.
 */
export class Neighbours {
  private table = new Map<string, Uint8Array>();
  private reading: Promise<void> | null = null;
  private readonly resolving = new Map<string, Promise<Uint8Array | undefined>>();
  private readonly ifindexes = new Map<string, number>();
  /** Resolution requests sent to the kernel (ARP requests / neighbour solicitations asked for). */
  solicited = 0;

  private ifindexOf(dev: string): number {
    let ix = this.ifindexes.get(dev);
    if (ix === undefined) {
      ix = Number(libc().if_nametoindex(dev));
      this.ifindexes.set(dev, ix);
    }
    return ix;
  }

  key(addr: IpAddr, ifindex: number): string {
    return `${ifindex}|${addr.toString()}`;
  }

  /** Re-reads the table (a read already under way serves this call too). */
  refresh(): Promise<void> {
    this.reading ??= Promise.resolve()
      .then(() => {
        const next = new Map<string, Uint8Array>();
        for (const n of dumpNeighbours(rtnetlink())) next.set(this.key(n.addr, n.ifindex), n.mac);
        this.table = next;
        this.ifindexes.clear();
      })
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }

  get(addr: IpAddr, dev: string): Uint8Array | undefined {
    return this.table.get(this.key(addr, this.ifindexOf(dev)));
  }

  /** Asks the kernel to send the ARP request or neighbour solicitation for `addr` on `dev`. */
  solicit(addr: IpAddr, dev: string): void {
    const ix = this.ifindexOf(dev);
    if (ix === 0) return; // the interface vanished: the next refresh drops what used it
    this.solicited++;
    try {
      solicitNeighbour(rtnetlink(), ix, addr);
    } catch {
      /* an interface that vanished meanwhile */
    }
  }

  /** Resolve with up to `tries` solicitations, 100 ms apart; concurrent calls for one neighbour share one. */
  resolve(addr: IpAddr, dev: string, tries = 10): Promise<Uint8Array | undefined> {
    const key = `${dev}|${addr.toString()}`;
    let r = this.resolving.get(key);
    if (!r) {
      r = this.resolveOnce(addr, dev, tries).finally(() => this.resolving.delete(key));
      this.resolving.set(key, r);
    }
    return r;
  }

  private async resolveOnce(addr: IpAddr, dev: string, tries: number): Promise<Uint8Array | undefined> {
    // The kernel often knows it already (the client ARPed for the VIP): read before soliciting.
    if (!this.get(addr, dev)) await this.refresh();
    for (let i = 0; i < tries; i++) {
      const mac = this.get(addr, dev);
      if (mac) return mac;
      this.solicit(addr, dev);
      await new Promise((r) => setTimeout(r, 100));
      await this.refresh();
    }
    return this.get(addr, dev);
  }

  /** Closes the process's rtnetlink socket (a later read opens a new one). */
  close(): void {
    closeHostRtnetlink();
  }
}

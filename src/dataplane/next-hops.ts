import { IpAddr } from "../core/address.js";
import type { HostInterface, Neighbours, Route, RouteTable } from "./host-net.js";

/** Where a packet for one destination leaves: the interface and the two MAC addresses. */
export interface NextHop {
  ifindex: number;
  /** 48-bit MACs as numbers (src/net's convention). */
  dstMac: number;
  srcMac: number;
  /** The host's own IPv4 address toward the destination (the route's preferred source), 0 if none. */
  srcV4: number;
  /** The path MTU toward the destination: the route's MTU metric, else the interface's MTU. */
  mtu: number;
}

/**
 * The source address the kernel would pick toward a destination (inet_select_addr): the route's
 * preferred source; else the interface's address on the gateway's (or destination's) subnet; else
 * its first IPv4 address.
 */
export function preferredSourceV4(route: Route, ifc: HostInterface, dstV4: number): number {
  if (route.prefsrc?.family === 4) return route.prefsrc.v4Value;
  const toward = route.gateway?.family === 4 ? route.gateway : IpAddr.v4(dstV4);
  let first = 0;
  for (const a of ifc.addrs) {
    if (a.addr.family !== 4) continue;
    if (first === 0) first = a.addr.v4Value;
    if (toward.masked(a.prefixLen).equals(a.addr.masked(a.prefixLen))) return a.addr.v4Value;
  }
  return first;
}

function hopFor(route: Route, ifc: HostInterface, mac: Uint8Array, dstV4: number): NextHop {
  return {
    ifindex: ifc.ifindex,
    dstMac: macToNumber(mac),
    srcMac: macToNumber(ifc.mac),
    srcV4: preferredSourceV4(route, ifc, dstV4),
    mtu: route.mtu > 0 ? Math.min(route.mtu, ifc.mtu) : ifc.mtu,
  };
}

export function macToNumber(mac: Uint8Array): number {
  let v = 0;
  for (let i = 0; i < 6; i++) v = v * 256 + mac[i]!;
  return v;
}

/**
 * Next hops by IPv4 destination, from the kernel's routes and neighbours. Lookups on the packet path
 * are a Map read keyed by the u32 address (no allocation). A miss returns null and starts a resolution
 * in the background (route lookup, then the kernel is asked to ARP); `onResolved` tells the caller
 * when it ends, so packets held meanwhile can be sent (or dropped when it failed).
 * Entries are refreshed from the kernel's tables by `refresh()`, which the engine calls periodically.
 */
export class NextHopCache {
  private readonly v4 = new Map<number, NextHop>();
  private readonly pending = new Set<number>();
  /** Resolutions started, and misses seen on the packet path. */
  misses = 0;
  /** Called when a resolution started by a miss in get() ends (hop null: it failed). */
  onResolved: ((addrV4: number, hop: NextHop | null) => void) | null = null;

  constructor(
    private routes: RouteTable,
    private readonly neighbours: Neighbours,
    private interfaces: HostInterface[],
    /** Only these interfaces carry tslvs traffic. */
    private readonly usable: (ifindex: number) => boolean,
  ) {}

  get(addrV4: number): NextHop | null {
    const hop = this.v4.get(addrV4);
    if (hop) return hop;
    this.misses++;
    if (!this.pending.has(addrV4)) {
      this.pending.add(addrV4);
      void this.resolve(addrV4)
        .catch(() => null)
        .then((hop) => {
          this.pending.delete(addrV4);
          this.onResolved?.(addrV4, hop);
        });
    }
    return null;
  }

  /** Resolve now (used when a real server is added, so its first packet already finds the entry). */
  async resolve(addrV4: number): Promise<NextHop | null> {
    const addr = IpAddr.v4(addrV4);
    const route = this.routes.lookup(addr);
    if (!route) return null;
    const ifc = this.interfaces.find((i) => i.name === route.dev);
    if (!ifc || !this.usable(ifc.ifindex)) return null;
    const gateway = route.gateway ?? addr;
    const mac = await this.neighbours.resolve(gateway, route.dev);
    if (!mac) return null;
    const hop = hopFor(route, ifc, mac, addrV4);
    this.v4.set(addrV4, hop);
    return hop;
  }

  /**
   * The host's own address toward `addrV4` by the current routes (no neighbour needed), 0 when there is
   * no route or the route's interface has no IPv4 address. Slow path only (walks the route table).
   */
  sourceFor(addrV4: number): number {
    const route = this.routes.lookup(IpAddr.v4(addrV4));
    const ifc = route && this.interfaces.find((i) => i.name === route.dev);
    return route && ifc ? preferredSourceV4(route, ifc, addrV4) : 0;
  }

  /** New kernel tables: keep entries that still resolve the same way, drop the rest. */
  async refresh(routes: RouteTable, interfaces: HostInterface[]): Promise<void> {
    this.routes = routes;
    this.interfaces = interfaces;
    await this.neighbours.refresh();
    for (const [addrV4] of this.v4) {
      const addr = IpAddr.v4(addrV4);
      const route = routes.lookup(addr);
      const ifc = route && interfaces.find((i) => i.name === route.dev);
      const mac = route && this.neighbours.get(route.gateway ?? addr, route.dev);
      if (!route || !ifc || !mac || !this.usable(ifc.ifindex)) {
        this.v4.delete(addrV4);
        continue;
      }
      this.v4.set(addrV4, hopFor(route, ifc, mac, addrV4));
    }
  }
}

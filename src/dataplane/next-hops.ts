import { IpAddr } from "../core/address.js";
import type { HostInterface, Neighbours, Route, RouteTable } from "./host-net.js";
import { Ipv6Map, ipv6Of } from "./ipv6-map.js";

/**
 * Keys of IPv6 next hops in held frames and `onResolved` start here: IPv4 next hops are keyed by their
 * u32 address (below 2^32), IPv6 ones by a number handed out per entry (exact in a double up to 2^53).
 */
export const IPV6_HOP_KEY_BASE = 2 ** 32;

/** An IPv6 next hop being resolved or known; `key` names it for held frames. */
interface Ipv6Hop {
  readonly key: number;
  hop: NextHop | null;
  pending: boolean;
}

/** Where a packet for one destination leaves: the interface and the two MAC addresses. */
export interface NextHop {
  ifindex: number;
  /** 48-bit MACs as numbers (src/net's convention). */
  dstMac: number;
  srcMac: number;
  /** The host's own IPv4 address toward the destination (the route's preferred source), 0 if none (IPv6). */
  srcV4: number;
  /**
   * The host's own IPv6 address toward an IPv6 destination (preferredSourceV6, four words in network
   * order): the outer source of LVS-TUN over IPv6. Absent for IPv4 next hops and when there is none.
   */
  src6?: Uint32Array;
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

/**
 * The source address the kernel would most likely pick toward an IPv6 destination: the route's
 * preferred source; else the interface's global address on the gateway's (or destination's) prefix;
 * else its first global (not link-local) address. A simplification of RFC 6724's rules that agrees
 * with them when an interface has one address per prefix.
 */
export function preferredSourceV6(route: Route, ifc: HostInterface, dst: IpAddr): IpAddr | null {
  if (route.prefsrc?.family === 6) return route.prefsrc;
  const toward = route.gateway?.family === 6 ? route.gateway : dst;
  let first: IpAddr | null = null;
  for (const a of ifc.addrs) {
    if (a.addr.family !== 6 || isLinkLocal6(a.addr)) continue;
    first ??= a.addr;
    if (toward.masked(a.prefixLen).equals(a.addr.masked(a.prefixLen))) return a.addr;
  }
  return first;
}

function isLinkLocal6(a: IpAddr): boolean {
  return a.words[0]! >>> 22 === 0xfe80 >>> 6;
}

/** `srcV4`: the host's IPv4 address toward the destination (0 for an IPv6 one). */
function hopFor(route: Route, ifc: HostInterface, mac: Uint8Array, srcV4: number): NextHop {
  return {
    ifindex: ifc.ifindex,
    dstMac: macToNumber(mac),
    srcMac: macToNumber(ifc.mac),
    srcV4,
    mtu: route.mtu > 0 ? Math.min(route.mtu, ifc.mtu) : ifc.mtu,
  };
}

/** An IPv6 next hop toward `dst`, with the host's own IPv6 address toward it when it has one. */
function hopFor6(route: Route, ifc: HostInterface, mac: Uint8Array, dst: IpAddr): NextHop {
  const hop = hopFor(route, ifc, mac, 0);
  const src = preferredSourceV6(route, ifc, dst);
  if (src) hop.src6 = Uint32Array.from(src.words);
  return hop;
}

export function macToNumber(mac: Uint8Array): number {
  let v = 0;
  for (let i = 0; i < 6; i++) v = v * 256 + mac[i]!;
  return v;
}

/**
 * Next hops by destination, from the kernel's routes and neighbours. IPv4 lookups on the packet path
 * are a Map read keyed by the u32 address, IPv6 ones an Ipv6Map read keyed by the four address words
 * (neither allocates). A miss returns null and starts a resolution in the background (route lookup,
 * then the kernel is asked to ARP or to send a neighbour solicitation); `onResolved` tells the caller
 * when it ends, so packets held meanwhile can be sent (or dropped when it failed).
 * Entries are refreshed from the kernel's tables by `refresh()`, which the engine calls when the kernel
 * reports a change of links, addresses, routes or neighbours.
 */
export class NextHopCache {
  /**
   * Destinations held at most (IPv4 and IPv6 each). Spoofed sources make every NAT reply a new
   * destination; past this the oldest entry makes room (it resolves again from the neighbour
   * table, which holds one entry per next hop, if a packet needs it again).
   */
  static readonly MAX_DESTINATIONS = 65536;
  /**
   * Resolutions under way at most. Past this a miss is dropped without starting one (counted in
   * `refused`): a flood toward unresolved destinations cannot queue unbounded work.
   */
  static readonly MAX_PENDING = 256;
  private readonly v4 = new Map<number, NextHop>();
  private readonly pending = new Set<number>();
  private readonly v6 = new Ipv6Map<Ipv6Hop>();
  private pending6 = 0;
  private nextKey6 = IPV6_HOP_KEY_BASE;
  /** Resolutions started, and misses seen on the packet path. */
  misses = 0;
  /** Misses that started no resolution because MAX_PENDING were under way. */
  refused = 0;
  /**
   * Called when a resolution started by a miss ends (hop null: it failed). `key` is the IPv4 address
   * (u32) or an IPv6 hop's key (key6(), >= IPV6_HOP_KEY_BASE).
   */
  onResolved: ((key: number, hop: NextHop | null) => void) | null = null;

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
      if (this.pending.size >= NextHopCache.MAX_PENDING) {
        this.refused++;
        return null;
      }
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
    const hop = hopFor(route, ifc, mac, preferredSourceV4(route, ifc, addrV4));
    if (this.v4.size >= NextHopCache.MAX_DESTINATIONS && !this.v4.has(addrV4)) {
      const oldest = this.v4.keys().next().value;
      if (oldest !== undefined) this.v4.delete(oldest);
    }
    this.v4.set(addrV4, hop);
    return hop;
  }

  /**
   * The next hop toward the IPv6 address words[at..at+4) (network word order), null on a miss, which
   * starts its resolution (neighbour discovery through the kernel). Allocates nothing on a hit.
   */
  get6(words: ArrayLike<number>, at = 0): NextHop | null {
    const e = this.v6.get(words, at);
    if (e?.hop) return e.hop;
    this.misses++;
    if (e?.pending) return null;
    if (!e && this.pending6 >= NextHopCache.MAX_PENDING) {
      this.refused++;
      return null;
    }
    if (!e && this.v6.size >= NextHopCache.MAX_DESTINATIONS) this.evictSome6();
    const addr = ipv6Of(words, at);
    const entry: Ipv6Hop = e ?? { key: this.nextKey6++, hop: null, pending: true };
    entry.pending = true;
    this.pending6++;
    if (!e) this.v6.set(addr, entry);
    void this.lookup6(addr)
      .catch(() => null)
      .then((hop) => {
        this.pending6--;
        entry.pending = false;
        if (hop) entry.hop = hop;
        else if (!entry.hop) this.v6.delete(addr);
        this.onResolved?.(entry.key, hop);
      });
    return null;
  }

  /**
   * Makes room for IPv6 destinations: an eighth of the settled entries go at once (pending ones are
   * awaited), so a flood of new destinations pays the walk once per MAX_DESTINATIONS / 8 of them.
   */
  private evictSome6(): void {
    let left = NextHopCache.MAX_DESTINATIONS / 8;
    for (const [addr, entry] of this.v6.entries()) {
      if (left-- <= 0) return;
      if (!entry.pending) this.v6.delete(addr);
    }
  }

  /**
   * The key under which a resolution of the IPv6 next hop words[at..at+4) reports to onResolved
   * (for frames held meanwhile); -1 when no entry exists (get6 has not missed on it).
   */
  key6(words: ArrayLike<number>, at = 0): number {
    return this.v6.get(words, at)?.key ?? -1;
  }

  /** Resolve an IPv6 next hop now (a real server added: its first packet then finds the entry). */
  async resolve6(addr: IpAddr): Promise<NextHop | null> {
    const hop = await this.lookup6(addr);
    if (!hop) return null;
    const e = this.v6.get(addr.words, 0);
    if (e) e.hop = hop;
    else this.v6.set(addr, { key: this.nextKey6++, hop, pending: false });
    return hop;
  }

  /** Whether a next hop toward `addr` is cached (resolved, not merely pending). */
  has(addr: IpAddr): boolean {
    return addr.family === 4 ? this.v4.has(addr.v4Value) : (this.v6.get(addr.words, 0)?.hop ?? null) !== null;
  }

  /** resolve() or resolve6() by the address's family. */
  resolveAddr(addr: IpAddr): Promise<NextHop | null> {
    return addr.family === 4 ? this.resolve(addr.v4Value) : this.resolve6(addr);
  }

  private async lookup6(addr: IpAddr): Promise<NextHop | null> {
    const route = this.routes.lookup(addr);
    if (!route) return null;
    const ifc = this.interfaces.find((i) => i.name === route.dev);
    if (!ifc || !this.usable(ifc.ifindex)) return null;
    const mac = await this.neighbours.resolve(route.gateway ?? addr, route.dev);
    return mac ? hopFor6(route, ifc, mac, addr) : null;
  }

  /**
   * The host's own IPv6 address toward `addr` by the current routes (no neighbour needed), null when
   * there is no route or the route's interface has no global IPv6 address. Slow path only.
   */
  sourceFor6(addr: IpAddr): IpAddr | null {
    const route = this.routes.lookup(addr);
    const ifc = route && this.interfaces.find((i) => i.name === route.dev);
    return route && ifc ? preferredSourceV6(route, ifc, addr) : null;
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
      this.v4.set(addrV4, hopFor(route, ifc, mac, preferredSourceV4(route, ifc, addrV4)));
    }
    for (const [addr, e] of this.v6.entries()) {
      if (e.pending || !e.hop) continue;
      const route = routes.lookup(addr);
      const ifc = route && interfaces.find((i) => i.name === route.dev);
      const mac = route && this.neighbours.get(route.gateway ?? addr, route.dev);
      if (!route || !ifc || !mac || !this.usable(ifc.ifindex)) this.v6.delete(addr);
      else e.hop = hopFor6(route, ifc, mac, addr);
    }
  }
}

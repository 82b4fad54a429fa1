import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { IpAddr } from "../core/address.js";

/**
 * What the host kernel knows and tslvs reuses: interfaces with their addresses, the routing table and
 * the neighbour (ARP / ND) table. Read through `ip -j` (iproute2's JSON), which keeps this file free of
 * netlink parsing; it runs on the slow path only (at start, when the kernel reports a change, on a miss), never per
 * packet.
 */

const execFileP = promisify(execFile);

async function ipJson<T>(args: string[]): Promise<T> {
  const { stdout } = await execFileP("ip", ["-j", ...args], { maxBuffer: 64 * 1024 * 1024 });
  return (stdout.trim() ? JSON.parse(stdout) : []) as T;
}

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

interface IpAddrJson {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  address?: string;
  link_type?: string;
  operstate?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number }[];
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
  const links = await ipJson<IpAddrJson[]>(["-d", "addr", "show"]);
  return links.map((l) => ({
    ifindex: l.ifindex,
    name: l.ifname,
    mac: l.address && l.link_type === "ether" ? parseMac(l.address) : new Uint8Array(6),
    mtu: l.mtu,
    up: l.flags.includes("UP") && l.flags.includes("LOWER_UP"),
    adminUp: l.flags.includes("UP"),
    loopback: l.flags.includes("LOOPBACK"),
    kind: l.linkinfo?.info_kind ?? null,
    addrs: (l.addr_info ?? [])
      .map((a) => ({ addr: IpAddr.parse(a.local), prefixLen: a.prefixlen }))
      .filter((a): a is { addr: IpAddr; prefixLen: number } => a.addr !== null),
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

interface RouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  metric?: number;
  type?: string;
  metrics?: { mtu?: number }[];
}

/** A snapshot of the main routing table with longest-prefix-match lookup. */
export class RouteTable {
  private readonly routes: Route[];

  constructor(routes: Route[]) {
    // Longest prefix first, then lowest metric: the first match is the kernel's choice.
    this.routes = [...routes].sort((a, b) => b.prefixLen - a.prefixLen || a.metric - b.metric);
  }

  static async read(): Promise<RouteTable> {
    const all: Route[] = [];
    for (const fam of ["-4", "-6"]) {
      const rows = await ipJson<RouteJson[]>([fam, "route", "show", "table", "main"]);
      for (const r of rows) {
        if (!r.dev || (r.type && r.type !== "unicast")) continue;
        const v6 = fam === "-6";
        let dst: IpAddr | null;
        let len: number;
        if (r.dst === "default") {
          dst = IpAddr.mustParse(v6 ? "::" : "0.0.0.0");
          len = 0;
        } else {
          const [a, l] = r.dst.split("/");
          dst = IpAddr.parse(a!);
          len = l === undefined ? (v6 ? 128 : 32) : Number(l);
        }
        if (!dst) continue;
        all.push({
          dst,
          prefixLen: len,
          dev: r.dev,
          gateway: r.gateway ? IpAddr.parse(r.gateway) : null,
          prefsrc: r.prefsrc ? IpAddr.parse(r.prefsrc) : null,
          metric: r.metric ?? 0,
          mtu: r.metrics?.find((m) => m.mtu !== undefined)?.mtu ?? 0,
        });
      }
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

interface NeighJson {
  dst: string;
  dev: string;
  lladdr?: string;
  state?: string[];
}

/** Reads the kernel's neighbour table, and asks the kernel to resolve an address it lacks. */
export class Neighbours {
  private table = new Map<string, Uint8Array>();

  key(addr: IpAddr, dev: string): string {
    return `${dev}|${addr.toString()}`;
  }

  async refresh(): Promise<void> {
    const rows = await ipJson<NeighJson[]>(["neigh", "show"]);
    const next = new Map<string, Uint8Array>();
    for (const n of rows) {
      const st = n.state ?? [];
      if (!n.lladdr || st.includes("FAILED") || st.includes("INCOMPLETE")) continue;
      const a = IpAddr.parse(n.dst);
      if (a) next.set(this.key(a, n.dev), parseMac(n.lladdr));
    }
    this.table = next;
  }

  get(addr: IpAddr, dev: string): Uint8Array | undefined {
    return this.table.get(this.key(addr, dev));
  }

  /**
   * The kernel resolves on our behalf (`ip neigh replace ADDR dev DEV use` sets NTF_USE, which sends
   * the ARP request or neighbour solicitation); the answer lands in its table for the next refresh.
   */
  async solicit(addr: IpAddr, dev: string): Promise<void> {
    try {
      await execFileP("ip", ["neigh", "replace", addr.toString(), "dev", dev, "use"]);
    } catch {
      /* an interface that vanished: the next refresh drops it */
    }
  }

  /** Resolve with up to `tries` solicitations, 100 ms apart. */
  async resolve(addr: IpAddr, dev: string, tries = 10): Promise<Uint8Array | undefined> {
    // The kernel often knows it already (the client ARPed for the VIP): read before soliciting.
    if (!this.get(addr, dev)) await this.refresh();
    for (let i = 0; i < tries; i++) {
      const mac = this.get(addr, dev);
      if (mac) return mac;
      await this.solicit(addr, dev);
      await new Promise((r) => setTimeout(r, 100));
      await this.refresh();
    }
    return this.get(addr, dev);
  }
}

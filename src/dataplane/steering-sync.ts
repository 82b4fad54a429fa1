import { IpAddr } from "../core/address.js";
import type { Director } from "../core/director.js";
import type { SteeringMaps } from "./xdp/steering-maps.js";

const PROTO_NUM: Record<number, number> = { 6: 6, 17: 17, 132: 132 };

/**
 * Keeps the XDP steering maps equal to what the director serves: every IPv4 virtual service
 * (protocol, VIP, port), every NAT real server's (protocol, RIP, port) for the replies, and every
 * FULLNAT local address with the director's local port range. FULLNAT replies are steered by their
 * destination (LIP, port in the range) only: the LIPs are host addresses, and the host's own
 * connections to a real server (from ports outside the range) must keep reaching the host.
 * Applies only the difference, so existing entries never flicker.
 * Firewall-mark services cannot be steered in XDP (marks are set by netfilter, which runs later).
 */
export class SteeringSync {
  private services = new Map<string, [number, number, number]>();
  private replies = new Map<string, [number, number, number]>();
  private locals = new Set<number>();
  private vips = new Set<number>();

  constructor(private readonly maps: SteeringMaps) {}

  /** True when `addrV4` is the address of a virtual service (the packet goes to director.inbound). */
  isVirtualAddress(addrV4: number): boolean {
    return this.vips.has(addrV4);
  }

  /** `extraLocals`: default LIPs (IPv4, u32) the director will use for services without a pool. */
  sync(director: Director, extraLocals: readonly number[] = []): void {
    const services = new Map<string, [number, number, number]>();
    const replies = new Map<string, [number, number, number]>();
    const locals = new Set<number>();
    for (const svc of director.services()) {
      const key = svc.key;
      if (key.kind !== "addr" || key.addr.family !== 4) continue;
      const proto = PROTO_NUM[key.protocol];
      if (proto === undefined) continue;
      const vip = key.addr.v4Value;
      services.set(`${proto}/${vip}/${key.port}`, [proto, vip, key.port]);
      for (const d of svc.dests) {
        if (d.method === "masq" && d.addr.family === 4) {
          const port = d.port || key.port;
          replies.set(`${proto}/${d.addr.v4Value}/${port}`, [proto, d.addr.v4Value, port]);
        }
      }
      for (const l of director.getLaddrs(key)) {
        if (l.addr.family === 4) locals.add(l.addr.v4Value);
      }
    }
    for (const a of director.localAddresses()) if (a.family === 4) locals.add(a.v4Value);
    for (const a of extraLocals) locals.add(a);
    const range = director.localPortRange;
    const vips = new Set([...services.values()].map((s) => s[1]));
    for (const [k, [p, a, port]] of this.services) {
      if (!services.has(k)) this.maps.removeService(p, IpAddr.v4(a), port, !vips.has(a));
    }
    for (const [k, [p, a, port]] of services)
      if (!this.services.has(k)) this.maps.addService(p, IpAddr.v4(a), port);
    const rips = new Set([...replies.values()].map((r) => r[1]));
    for (const [k, [p, a, port]] of this.replies) {
      if (!replies.has(k)) this.maps.removeReplySource(p, IpAddr.v4(a), port, !rips.has(a));
    }
    for (const [k, [p, a, port]] of replies)
      if (!this.replies.has(k)) this.maps.addReplySource(p, IpAddr.v4(a), port);
    for (const a of this.locals) if (!locals.has(a)) this.maps.removeLocalAddress(IpAddr.v4(a));
    for (const a of locals)
      if (!this.locals.has(a)) this.maps.addLocalAddress(IpAddr.v4(a), range.min, range.max);
    this.services = services;
    this.replies = replies;
    this.locals = locals;
    this.vips = vips;
  }
}

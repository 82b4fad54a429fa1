import type { IpAddr } from "../core/address.js";
import type { Director } from "../core/director.js";
import { Ipv6Map } from "./ipv6-map.js";
import type { SteeringMaps } from "./xdp/steering-maps.js";

const PROTO_NUM: Record<number, number> = { 6: 6, 17: 17, 132: 132 };

/** A steered (protocol, address, port). */
type Steered = readonly [protocol: number, addr: IpAddr, port: number];

function steeredKey(protocol: number, addr: IpAddr, port: number): string {
  return `${protocol}/${addr.toString()}/${port}`;
}

/**
 * Keeps the XDP steering maps equal to what the director serves, for IPv4 and IPv6 alike: every
 * virtual service (protocol, VIP, port), every NAT real server's (protocol, RIP, port) for the
 * replies, and every FULLNAT local address with the director's local port range. FULLNAT replies are
 * steered by their destination (LIP, port in the range) only: the LIPs are host addresses, and the
 * host's own connections to a real server (from ports outside the range) must keep reaching the host.
 * Applies only the difference, so existing entries never flicker.
 * Firewall-mark services cannot be steered in XDP (marks are set by netfilter, which runs later).
 */
export class SteeringSync {
  private services = new Map<string, Steered>();
  private replies = new Map<string, Steered>();
  private locals = new Map<string, IpAddr>();
  private vips = new Set<number>();
  private vips6 = new Ipv6Map<true>();

  constructor(private readonly maps: SteeringMaps) {}

  /** True when `addrV4` is the address of a virtual service (the packet goes to director.inbound). */
  isVirtualAddress(addrV4: number): boolean {
    return this.vips.has(addrV4);
  }

  /** The same for the IPv6 address words[0..4) (network word order); allocates nothing. */
  isVirtualAddress6(words: ArrayLike<number>): boolean {
    return this.vips6.has(words, 0);
  }

  /** `extraLocals`: default LIPs the director will use for FULLNAT services without a pool. */
  sync(director: Director, extraLocals: readonly IpAddr[] = []): void {
    const services = new Map<string, Steered>();
    const replies = new Map<string, Steered>();
    const locals = new Map<string, IpAddr>();
    const addLocal = (a: IpAddr) => locals.set(a.toString(), a);
    for (const svc of director.services()) {
      const key = svc.key;
      if (key.kind !== "addr") continue;
      const proto = PROTO_NUM[key.protocol];
      if (proto === undefined) continue;
      services.set(steeredKey(proto, key.addr, key.port), [proto, key.addr, key.port]);
      for (const d of svc.dests) {
        if (d.method === "masq" && d.addr.family === key.addr.family) {
          const port = d.port || key.port;
          replies.set(steeredKey(proto, d.addr, port), [proto, d.addr, port]);
        }
      }
      for (const l of director.getLaddrs(key)) addLocal(l.addr);
    }
    for (const a of director.localAddresses()) addLocal(a);
    for (const a of extraLocals) addLocal(a);
    const range = director.localPortRange;
    const vipTexts = new Set([...services.values()].map((s) => s[1].toString()));
    for (const [k, [p, a, port]] of this.services) {
      if (!services.has(k)) this.maps.removeService(p, a, port, !vipTexts.has(a.toString()));
    }
    for (const [k, [p, a, port]] of services) if (!this.services.has(k)) this.maps.addService(p, a, port);
    const ripTexts = new Set([...replies.values()].map((r) => r[1].toString()));
    for (const [k, [p, a, port]] of this.replies) {
      if (!replies.has(k)) this.maps.removeReplySource(p, a, port, !ripTexts.has(a.toString()));
    }
    for (const [k, [p, a, port]] of replies) if (!this.replies.has(k)) this.maps.addReplySource(p, a, port);
    for (const [k, a] of this.locals) if (!locals.has(k)) this.maps.removeLocalAddress(a);
    for (const [k, a] of locals) if (!this.locals.has(k)) this.maps.addLocalAddress(a, range.min, range.max);
    this.services = services;
    this.replies = replies;
    this.locals = locals;
    const vips = new Set<number>();
    const vips6 = new Ipv6Map<true>();
    for (const [, a] of services.values()) {
      if (a.family === 4) vips.add(a.v4Value);
      else vips6.set(a, true);
    }
    this.vips = vips;
    this.vips6 = vips6;
  }
}

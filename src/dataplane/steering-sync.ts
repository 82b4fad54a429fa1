import type { IpAddr } from "../core/address.js";
import type { Director } from "../core/director.js";
import { Ipv6Map } from "./ipv6-map.js";
import { EMPTY_MARK_PROGRAM, type MarkProgram } from "./marks/mark-rules.js";
import { HOST_ONLY_MAX, HOST_ONLY_MIN } from "./xdp/steering-layout.js";
import type { SteeringMaps } from "./xdp/steering-maps.js";

const PROTO_NUM: Record<number, number> = { 6: 6, 17: 17, 132: 132 };

/** A steered (protocol, address, port). */
type Steered = readonly [protocol: number, addr: IpAddr, port: number];

/** A local_ports entry: a LIP with the director's range, or a host address (min > max: no range). */
interface LocalEntry {
  addr: IpAddr;
  min: number;
  max: number;
}

function steeredKey(protocol: number, addr: IpAddr, port: number): string {
  return `${protocol}/${addr.toString()}/${port}`;
}

/**
 * Keeps the XDP steering maps equal to what the director serves, for IPv4 and IPv6 alike: every
 * virtual service (protocol, VIP, port), every NAT real server's (protocol, RIP, port) for the
 * replies, and every FULLNAT local address with the director's local port range. FULLNAT replies are
 * steered by their destination (LIP, port in the range) only: the LIPs are host addresses, and the
 * host's own connections to a real server (from ports outside the range) must keep reaching the host.
 * For those, every other address of the host is in the local maps too, with an empty range
 * (setHostAddresses): a reply from a real server to it is the host's, not a client's.
 * Applies only the difference, so existing entries never flicker.
 * Firewall-mark services are steered by their (mark, family) in the `marks` map: the program
 * computes a packet's mark from the firewall-mark rules (setMarkProgram). Replies from their NAT
 * real servers are steered by (protocol, RIP, port) for TCP and UDP: the real server's port, or,
 * for a real server without one (the client's port is kept), every destination port the rules name
 * (single ports and ranges of at most 1024 ports).
 */
export class SteeringSync {
  private services = new Map<string, Steered>();
  private replies = new Map<string, Steered>();
  /** LIPs, from the rules (sync). */
  private lips = new Map<string, IpAddr>();
  private range = { min: HOST_ONLY_MIN, max: HOST_ONLY_MAX };
  /** The host's own addresses (setHostAddresses). */
  private hostAddrs = new Map<string, IpAddr>();
  /** What local_ports(6) hold, by address text. */
  private locals = new Map<string, LocalEntry>();
  private vips = new Set<number>();
  private vips6 = new Ipv6Map<true>();
  /** (mark, family) of the firewall-mark services: mark * 2 + (IPv6 ? 1 : 0). */
  private markServices = new Set<number>();
  private markProgram: MarkProgram = EMPTY_MARK_PROGRAM;

  constructor(private readonly maps: SteeringMaps) {}

  /** True when `addrV4` is the address of a virtual service (the packet goes to director.inbound). */
  isVirtualAddress(addrV4: number): boolean {
    return this.vips.has(addrV4);
  }

  /** The same for the IPv6 address words[0..4) (network word order); allocates nothing. */
  isVirtualAddress6(words: ArrayLike<number>): boolean {
    return this.vips6.has(words, 0);
  }

  /** True when a firewall-mark service of `mark` exists for `family` (the slow path's inbound test). */
  isMarkService(family: 4 | 6, mark: number): boolean {
    return mark !== 0 && this.markServices.has(mark * 2 + (family === 6 ? 1 : 0));
  }

  /** The firewall-mark rules in force (their ports steer port-0 NAT real servers' replies); sync next. */
  setMarkProgram(p: MarkProgram): void {
    this.markProgram = p;
  }

  /** `extraLocals`: default LIPs the director will use for FULLNAT services without a pool. */
  sync(director: Director, extraLocals: readonly IpAddr[] = []): void {
    const services = new Map<string, Steered>();
    const replies = new Map<string, Steered>();
    const locals = new Map<string, IpAddr>();
    const addLocal = (a: IpAddr) => locals.set(a.toString(), a);
    const markServices = new Set<number>();
    let rulePorts: number[] | null = null;
    for (const svc of director.services()) {
      const key = svc.key;
      if (key.kind === "fwmark") {
        markServices.add(key.fwmark * 2 + (key.family === 6 ? 1 : 0));
        for (const d of svc.dests) {
          if (d.method !== "masq" || d.addr.family !== key.family) continue;
          rulePorts ??= markRulePorts(this.markProgram);
          for (const port of d.port ? [d.port] : rulePorts)
            for (const proto of [6, 17]) replies.set(steeredKey(proto, d.addr, port), [proto, d.addr, port]);
        }
        continue;
      }
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
    this.services = services;
    this.replies = replies;
    this.lips = locals;
    this.range = { ...director.localPortRange };
    this.applyLocals();
    const vips = new Set<number>();
    const vips6 = new Ipv6Map<true>();
    for (const [, a] of services.values()) {
      if (a.family === 4) vips.add(a.v4Value);
      else vips6.set(a, true);
    }
    this.vips = vips;
    this.vips6 = vips6;
    for (const k of this.markServices)
      if (!markServices.has(k)) this.maps.removeMarkService(k % 2 ? 6 : 4, Math.floor(k / 2));
    for (const k of markServices)
      if (!this.markServices.has(k)) this.maps.addMarkService(k % 2 ? 6 : 4, Math.floor(k / 2));
    this.markServices = markServices;
  }

  /**
   * The host's own addresses, after every change of them (the rules are not walked again): those
   * that are no LIP are kept in the local maps with an empty range, so that replies from real
   * servers to the host's own sockets (health checkers) pass to the host.
   */
  setHostAddresses(addrs: Iterable<IpAddr>): void {
    const hostAddrs = new Map<string, IpAddr>();
    for (const a of addrs) hostAddrs.set(a.toString(), a);
    this.hostAddrs = hostAddrs;
    this.applyLocals();
  }

  /** Makes local_ports(6) hold the LIPs with the range, then every other host address without one. */
  private applyLocals(): void {
    const want = new Map<string, LocalEntry>();
    for (const [k, addr] of this.lips) want.set(k, { addr, min: this.range.min, max: this.range.max });
    for (const [k, addr] of this.hostAddrs)
      if (!want.has(k)) want.set(k, { addr, min: HOST_ONLY_MIN, max: HOST_ONLY_MAX });
    for (const [k, e] of this.locals) if (!want.has(k)) this.maps.removeLocalAddress(e.addr);
    for (const [k, e] of want) {
      const had = this.locals.get(k);
      if (had && had.min === e.min && had.max === e.max) continue;
      // An update in place: an address turning from host-only into a LIP never leaves the map.
      if (e.min <= e.max) this.maps.addLocalAddress(e.addr, e.min, e.max);
      else this.maps.addHostAddress(e.addr);
    }
    this.locals = want;
  }
}

/** Every destination port the rules match on (not negated), ranges of at most 1024 ports. */
function markRulePorts(p: MarkProgram): number[] {
  const ports = new Set<number>();
  for (const c of p.chains)
    for (const r of c.rules)
      for (const s of r.steps) {
        if (s.kind !== "u32" || s.field !== "dport" || s.negate) continue;
        for (const [lo, hi] of s.ranges) if (hi - lo < 1024) for (let q = lo; q <= hi; q++) ports.add(q);
      }
  return [...ports];
}

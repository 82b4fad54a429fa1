/**
 * Path MTUs toward real servers learnt from ICMP "fragmentation needed" that routers send about the
 * director's own tunnel packets (the kernel's route exceptions: ipv4_update_pmtu from
 * ip_vs_in_icmp). A learnt MTU only ever lowers the route's, is never taken below 552 bytes
 * (net.ipv4.route.min_pmtu) and is forgotten after 600 s (net.ipv4.route.mtu_expires), after which
 * the path is probed at the route's MTU again.
 *
 * Entries are made only when such an ICMP arrives (rare); reading one on the packet path allocates
 * nothing.
 */

/** The kernel's net.ipv4.route.min_pmtu default. */
export const MIN_PMTU = 552;
/** The kernel's net.ipv4.route.mtu_expires default, seconds. */
export const PMTU_EXPIRES = 600;

interface LearntMtu {
  mtu: number;
  expires: number;
}

export class PathMtuCache {
  private readonly learnt = new Map<number, LearntMtu>();
  /** ICMP frag-needed messages that lowered a path MTU. */
  lowered = 0;

  /** `now`: seconds on the director's clock. */
  constructor(private readonly now: () => number) {}

  /**
   * Records that the path toward `dstV4` carries at most `mtu` bytes (an ICMP's next-hop MTU). A
   * value not below the current path MTU changes nothing (as the kernel, which only lowers).
   * Returns the path MTU now in force.
   */
  learn(dstV4: number, mtu: number, routeMtu: number): number {
    const current = this.get(dstV4, routeMtu);
    const m = Math.max(MIN_PMTU, mtu);
    if (m >= current) return current;
    const e = this.learnt.get(dstV4);
    const expires = this.now() + PMTU_EXPIRES;
    if (e) {
      e.mtu = m;
      e.expires = expires;
    } else this.learnt.set(dstV4, { mtu: m, expires });
    this.lowered++;
    return m;
  }

  /** The path MTU toward `dstV4`: the route's, or a lower one learnt and not yet expired. */
  get(dstV4: number, routeMtu: number): number {
    if (this.learnt.size === 0) return routeMtu;
    const e = this.learnt.get(dstV4);
    if (!e) return routeMtu;
    if (e.expires <= this.now()) {
      this.learnt.delete(dstV4);
      return routeMtu;
    }
    return Math.min(e.mtu, routeMtu);
  }

  /** Learnt entries (expired ones included until next read). */
  get size(): number {
    return this.learnt.size;
  }
}

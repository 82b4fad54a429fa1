import type { NextHopCache } from "./next-hops.js";
import type { Umem } from "./xdp/umem.js";

/**
 * What a per-method transmitter needs from the packet engine: the frame area, where packets go, a
 * way to queue a frame on an interface, and fresh IPv4 identifications. Kept as an interface so the
 * transmitters stay apart from the engine's receive loop.
 */
export interface XmitEnv {
  readonly umem: Umem;
  readonly nextHops: NextHopCache;
  /** Queues the frame at `addr` for transmission on `ifindex`; false (frame still ours) when it cannot. */
  transmit(ifindex: number, addr: number, len: number): boolean;
  /** The next IPv4 identification for a header the director writes. */
  nextIpId(): number;
  /**
   * Keeps a finished frame (all but its MACs) until the next hop `hopKey` (an IPv4 address, or
   * NextHopCache.key6) is resolved, as the kernel's neighbour queue does; false when the queue is full.
   */
  hold(addr: number, len: number, hopKey: number): boolean;
}

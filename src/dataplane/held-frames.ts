/**
 * Frames waiting for their next hop's MAC address, as the kernel's neighbour queue holds packets
 * while it resolves: a fixed number of slots in typed arrays (UMEM address, length, next-hop key: an
 * IPv4 address as a u32, or an IPv6 next hop's key from NextHopCache.key6, above 2^32). When the
 * queue is full, hold() refuses and the caller drops the frame.
 */
export class HeldFrames {
  private readonly addrs: Uint32Array;
  private readonly lens: Uint32Array;
  private readonly hops: Float64Array;
  private count = 0;

  constructor(readonly capacity: number) {
    this.addrs = new Uint32Array(capacity);
    this.lens = new Uint32Array(capacity);
    this.hops = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Keeps the frame until release(hopAddr); false (not kept) when the queue is full. */
  hold(addr: number, len: number, hopAddr: number): boolean {
    if (this.count === this.capacity) return false;
    this.addrs[this.count] = addr;
    this.lens[this.count] = len;
    this.hops[this.count] = hopAddr;
    this.count++;
    return true;
  }

  /** Hands every frame held for `hopAddr` to `each`, in arrival order, and forgets them. */
  release(hopAddr: number, each: (addr: number, len: number) => void): void {
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      if (this.hops[i] === hopAddr) {
        each(this.addrs[i]!, this.lens[i]!);
        continue;
      }
      this.addrs[kept] = this.addrs[i]!;
      this.lens[kept] = this.lens[i]!;
      this.hops[kept] = this.hops[i]!;
      kept++;
    }
    this.count = kept;
  }
}

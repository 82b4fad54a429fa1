/**
 * The link-layer address last reported for each neighbour entry (by family, interface and address),
 * so that a notification that leaves it as it was can be recognised. Under traffic the kernel
 * notifies every reachability transition (REACHABLE -> STALE -> DELAY -> PROBE -> REACHABLE) of
 * every neighbour; none of them changes a next hop.
 */

/** Bound on remembered entries: beyond it the memory is dropped (its entries then count as new). */
const MAX_ENTRIES = 65536;

export class NeighbourLladdrs {
  private readonly known = new Map<string, string | null>();

  /**
   * Records `lladdr` for `key` (null: the entry exists without a usable address; `deleted`: it is
   * gone) and returns whether that differs from what was known. An entry never seen counts as
   * changed: it may have held an address before anything was recorded.
   */
  update(key: string, lladdr: string | null, deleted = false): boolean {
    const was = this.known.get(key);
    if (deleted) {
      this.known.delete(key);
      return was !== null;
    }
    if (was === lladdr) return false;
    if (was === undefined && this.known.size >= MAX_ENTRIES) this.known.clear();
    this.known.set(key, lladdr);
    return true;
  }

  get size(): number {
    return this.known.size;
  }
}

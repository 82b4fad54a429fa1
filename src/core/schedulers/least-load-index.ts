import { DEST_F_OVERLOAD, type Dest, type DestWatcher } from "../dest.js";
import type { VirtualService } from "../service.js";

/**
 * Which kernel rule the index answers (see docs/decisions/0100-least-connection-index.md):
 * - "lc":  min overhead (257·active + inactive) among dests with OVERLOAD clear and weight ≠ 0.
 * - "wlc": min overhead/weight among dests with OVERLOAD clear and weight > 0 (also lblc/lblcr's pick).
 * - "sed": min (active + 1)/weight, same eligibility as wlc.
 * - "nq":  the first eligible dest with no active conns, else the sed pick.
 * Ties always go to the dest earlier in svc.dests (newest first), as the kernel's strict scans do.
 */
export type LoadRule = "lc" | "wlc" | "sed" | "nq";

const NONE = -1;

/**
 * A tournament (winner) tree over the positions of svc.dests: each leaf holds a position (or NONE
 * when that dest is not eligible), each inner node the winner of its two children under the rule's
 * comparison, so the root is exactly the dest the kernel's linear scan would return. Because a
 * left subtree only holds earlier positions, "ties keep the left child" reproduces the kernel's
 * "ties keep the earlier dest".
 *
 * A change to one dest's counts, weight or flags re-plays only its path to the root: O(log n).
 * Dests report changes through `Dest.watcher` (this index); the work is deferred to the next
 * decision so a burst of counter updates costs one path walk per changed dest. Adding or removing
 * a dest shifts every position, so that rebuilds the tree: O(n), as rare as configuration edits.
 */
export class LeastLoadIndex implements DestWatcher {
  private n = 0;
  private size = 1;
  private tree = new Int32Array(2);
  /** Per position: the rule's load (numerator), weight (denominator), eligibility, idleness. */
  private load = new Float64Array(1);
  private weight = new Float64Array(1);
  private eligible = new Uint8Array(1);
  private idle = new Uint8Array(1);
  /** Per position: 2·active < weight (lblc/lblcr "some dest is under half load"). */
  private underHalf = new Uint8Array(1);
  private underHalfCount = 0;
  private dests: Dest[] = [];
  /** Positions whose dest changed since the last decision, and a flag per position. */
  private dirty = new Int32Array(1);
  private dirtyFlag = new Uint8Array(1);
  private dirtyCount = 0;
  private stale = true;

  constructor(readonly rule: LoadRule) {}

  /** The dest the kernel's rule picks among svc.dests, or null when none is eligible. */
  best(svc: VirtualService): Dest | null {
    this.sync(svc);
    const w = this.tree[1]!;
    return w === NONE ? null : this.dests[w]!;
  }

  /** Whether some dest of the service has 2·active < weight (kernel lblc/lblcr `is_overloaded`). */
  someUnderHalfLoad(svc: VirtualService): boolean {
    this.sync(svc);
    return this.underHalfCount > 0;
  }

  /** DestWatcher: a dest's inputs changed; re-rank it at the next decision. */
  destChanged(dest: Dest): void {
    const pos = dest.watchSlot;
    if (pos < 0 || pos >= this.n || this.dests[pos] !== dest) {
      this.stale = true;
      return;
    }
    if (this.dirtyFlag[pos] === 0) {
      this.dirtyFlag[pos] = 1;
      this.dirty[this.dirtyCount++] = pos;
    }
  }

  /** The dest list changed (add/del): positions shift, rebuild at the next decision. */
  invalidate(): void {
    this.stale = true;
  }

  /** Stop watching the dests (scheduler unbound, or a dest left the service). */
  release(dest?: Dest): void {
    if (dest) {
      if (dest.watcher === this) {
        dest.watcher = null;
        dest.watchSlot = -1;
      }
      this.stale = true;
      return;
    }
    for (const d of this.dests) {
      if (d.watcher === this) {
        d.watcher = null;
        d.watchSlot = -1;
      }
    }
    this.dests = [];
    this.n = 0;
    this.stale = true;
  }

  private sync(svc: VirtualService): void {
    const list = svc.dests;
    // The list is only supposed to change with add/del hooks; a length or head mismatch means a
    // change we were not told about, so fall back to a full rebuild (still exact).
    if (this.stale || list.length !== this.n || (this.n > 0 && list[0] !== this.dests[0])) {
      this.rebuild(list);
      return;
    }
    const count = this.dirtyCount;
    if (count === 0) return;
    for (let i = 0; i < count; i++) {
      const pos = this.dirty[i]!;
      this.dirtyFlag[pos] = 0;
      this.loadLeaf(pos);
      this.replay(pos);
    }
    this.dirtyCount = 0;
  }

  private rebuild(list: readonly Dest[]): void {
    for (const d of this.dests) {
      if (d.watcher === this) {
        d.watcher = null;
        d.watchSlot = -1;
      }
    }
    const n = list.length;
    let size = 1;
    while (size < n) size <<= 1;
    if (this.tree.length < 2 * size) {
      this.size = size;
      this.tree = new Int32Array(2 * size);
      this.load = new Float64Array(size);
      this.weight = new Float64Array(size);
      this.eligible = new Uint8Array(size);
      this.idle = new Uint8Array(size);
      this.underHalf = new Uint8Array(size);
      this.dirty = new Int32Array(size);
      this.dirtyFlag = new Uint8Array(size);
    } else {
      this.size = size;
      this.dirtyFlag.fill(0);
    }
    this.dirtyCount = 0;
    this.underHalf.fill(0);
    this.underHalfCount = 0;
    this.n = n;
    this.dests = list.slice();
    for (let pos = 0; pos < n; pos++) {
      const d = list[pos]!;
      d.watcher = this;
      d.watchSlot = pos;
      this.loadLeaf(pos);
    }
    const tree = this.tree;
    for (let pos = n; pos < size; pos++) tree[size + pos] = NONE;
    for (let i = size - 1; i >= 1; i--) tree[i] = this.winner(tree[2 * i]!, tree[2 * i + 1]!);
    this.stale = false;
  }

  private loadLeaf(pos: number): void {
    const d = this.dests[pos]!;
    const w = d.weight;
    const active = d.activeConns;
    const overloaded = (d.flags & DEST_F_OVERLOAD) !== 0;
    let ok: boolean;
    switch (this.rule) {
      case "lc":
        ok = !overloaded && w !== 0;
        this.load[pos] = d.overhead;
        break;
      case "wlc":
        ok = !overloaded && w > 0;
        this.load[pos] = d.overhead;
        break;
      default: // sed, nq
        ok = !overloaded && w > 0;
        this.load[pos] = active + 1;
        break;
    }
    this.weight[pos] = w;
    this.eligible[pos] = ok ? 1 : 0;
    this.idle[pos] = active === 0 ? 1 : 0;
    const under = active * 2 < w ? 1 : 0;
    this.underHalfCount += under - this.underHalf[pos]!;
    this.underHalf[pos] = under;
    this.tree[this.size + pos] = ok ? pos : NONE;
  }

  private replay(pos: number): void {
    const tree = this.tree;
    for (let i = (this.size + pos) >> 1; i >= 1; i >>= 1) {
      tree[i] = this.winner(tree[2 * i]!, tree[2 * i + 1]!);
    }
  }

  /** Winner of an earlier (l) and a later (r) candidate: r only if strictly better. */
  private winner(l: number, r: number): number {
    if (l === NONE) return r;
    if (r === NONE) return l;
    const load = this.load;
    switch (this.rule) {
      case "lc":
        return load[r]! < load[l]! ? r : l;
      case "nq":
        if (this.idle[l] === 1) return l;
        if (this.idle[r] === 1) return r;
        break;
    }
    // load[l]/weight[l] > load[r]/weight[r], cross-multiplied as the kernel does.
    const weight = this.weight;
    return load[l]! * weight[r]! > load[r]! * weight[l]! ? r : l;
  }
}

import type { Family } from "../address.js";
import { foldAddr, hash32 } from "./hash.js";

const TAB_BITS = 10;
const TAB_SIZE = 1 << TAB_BITS;
const TAB_MASK = TAB_SIZE - 1;
/** Kernel max_size = IP_VS_LBLC_TAB_SIZE * 16: above it the minute check evicts idle entries. */
export const LOCALITY_MAX_SIZE = TAB_SIZE * 16;
/** Timer period of the garbage collector (kernel CHECK_EXPIRE_INTERVAL). */
export const GC_INTERVAL = 60;
/** Idle time after which an entry may be evicted when the table is over max_size (ENTRY_TIMEOUT). */
const ENTRY_TIMEOUT = 6 * 60;
/** Every 30th run is a full sweep against the expiration sysctl (COUNT_FOR_FULL_EXPIRATION). */
const COUNT_FOR_FULL_EXPIRATION = 30;
const NONE = -1;

/**
 * The lblc/lblcr cache (ip_vs_lblc.c, ip_vs_lblcr.c): 1024 buckets keyed by hash_32 of the
 * packet's destination address, entries chained newest first, and the kernel's garbage collector.
 * Entries live in typed arrays with a free list; the scheduler keeps its payload (a dest, a dest
 * set) in arrays indexed by entry number and is told through `onFree` when an entry goes.
 *
 * The kernel runs the collector from a 60 s timer. Here time is passed in: `expire(now)` runs
 * every timer tick due by `now`, each at its own tick time, so the outcome is the one the timer
 * would have had. Long idle gaps are cheap: once the table is empty the remaining ticks only
 * advance the run counter, which is computed in one step.
 */
export class LocalityCache {
  private readonly head = new Int32Array(TAB_SIZE).fill(NONE);
  private next = new Int32Array(64);
  private family = new Uint8Array(64);
  private addr = new Uint32Array(64 * 4);
  /** Last use of each entry (seconds). */
  lastuse = new Float64Array(64);
  private freeHead = NONE;
  private used = 0;
  /** Entries really in the table. */
  live = 0;
  /** The kernel's `tbl->entries`, which drives the collector (see `countReplacement`). */
  counted = 0;
  private rover = 0;
  private counter = 1;
  private nextRun: number;

  constructor(
    created: number,
    private readonly expiration: () => number,
    private readonly onFree: (entry: number) => void,
  ) {
    this.nextRun = created + GC_INTERVAL;
  }

  static bucketOf(family: Family, words: ArrayLike<number>): number {
    return hash32(foldAddr(family, words), TAB_BITS);
  }

  find(family: Family, words: ArrayLike<number>): number {
    for (let e = this.head[LocalityCache.bucketOf(family, words)]!; e !== NONE; e = this.next[e]!) {
      if (this.family[e] !== family) continue;
      const o = e * 4;
      const a = this.addr;
      if (a[o] !== words[0]! >>> 0) continue;
      if (family === 4) return e;
      if (a[o + 1] === words[1]! >>> 0 && a[o + 2] === words[2]! >>> 0 && a[o + 3] === words[3]! >>> 0)
        return e;
    }
    return NONE;
  }

  /** A new entry at the head of its bucket (kernel hlist_add_head + entries++). */
  insert(family: Family, words: ArrayLike<number>, now: number): number {
    let e = this.freeHead;
    if (e !== NONE) {
      this.freeHead = this.next[e]!;
    } else {
      if (this.used === this.next.length) this.grow();
      e = this.used++;
    }
    this.family[e] = family;
    const o = e * 4;
    for (let i = 0; i < 4; i++) this.addr[o + i] = family === 4 && i > 0 ? 0 : words[i]! >>> 0;
    this.lastuse[e] = now;
    const b = LocalityCache.bucketOf(family, words);
    this.next[e] = this.head[b]!;
    this.head[b] = e;
    this.live++;
    this.counted++;
    return e;
  }

  /**
   * Unlink an entry without touching `counted`: lblc replaces an entry this way, and the kernel's
   * ip_vs_lblc_new does not decrement `entries` when it does, so the count it collects by drifts up.
   */
  removeUncounted(e: number): void {
    const a = this.addr;
    const o = e * 4;
    const fold = this.family[e] === 4 ? a[o]! : (a[o]! ^ a[o + 1]! ^ a[o + 2]! ^ a[o + 3]!) >>> 0;
    const b = hash32(fold, TAB_BITS);
    let prev = NONE;
    for (let x = this.head[b]!; x !== NONE; prev = x, x = this.next[x]!) {
      if (x === e) {
        this.unlink(b, prev, e);
        return;
      }
    }
  }

  /** Run every collector tick due by `now`. */
  expire(now: number): void {
    while (this.nextRun <= now) {
      if (this.live === 0) {
        this.skipIdleRuns(Math.floor((now - this.nextRun) / GC_INTERVAL) + 1);
        return;
      }
      this.runOnce(this.nextRun);
      this.nextRun += GC_INTERVAL;
    }
  }

  /** Drop every entry (scheduler unbound). */
  flush(): void {
    for (let b = 0; b < TAB_SIZE; b++) {
      while (this.head[b] !== NONE) {
        this.unlink(b, NONE, this.head[b]!);
        this.counted--;
      }
    }
  }

  /** Kernel ip_vs_lblc_check_expire at tick time t. */
  private runOnce(t: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      this.sweep(t, this.expiration(), Number.POSITIVE_INFINITY);
      this.counter = 1;
      return;
    }
    if (this.counted <= LOCALITY_MAX_SIZE) {
      this.counter++;
      return;
    }
    let goal = Math.trunc(((this.counted - LOCALITY_MAX_SIZE) * 4) / 3);
    if (goal > LOCALITY_MAX_SIZE / 2) goal = LOCALITY_MAX_SIZE / 2;
    this.sweep(t, ENTRY_TIMEOUT, goal);
  }

  /**
   * From the bucket after the rover, delete entries idle for `idle` seconds or more at time t,
   * stopping after the bucket in which `goal` deletions were reached; the rover stays there.
   */
  private sweep(t: number, idle: number, goal: number): void {
    let j = this.rover;
    for (let i = 0; i < TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      let prev = NONE;
      let e = this.head[j]!;
      while (e !== NONE) {
        const nxt = this.next[e]!;
        if (t < this.lastuse[e]! + idle) {
          prev = e;
        } else {
          this.unlink(j, prev, e);
          this.counted--;
          goal--;
        }
        e = nxt;
      }
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  /** k ticks over an empty table: only the run counter moves (full sweeps and scans find nothing). */
  private skipIdleRuns(k: number): void {
    if (this.counted > LOCALITY_MAX_SIZE) {
      // Partial scans leave the counter alone; only a due full sweep resets it.
      if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) this.counter = 1;
    } else {
      this.counter = ((this.counter - 1 + k) % COUNT_FOR_FULL_EXPIRATION) + 1;
    }
    this.nextRun += k * GC_INTERVAL;
  }

  private unlink(bucket: number, prev: number, e: number): void {
    if (prev === NONE) this.head[bucket] = this.next[e]!;
    else this.next[prev] = this.next[e]!;
    this.next[e] = this.freeHead;
    this.freeHead = e;
    this.live--;
    this.onFree(e);
  }

  private grow(): void {
    const cap = this.next.length * 2;
    const next = new Int32Array(cap);
    next.set(this.next);
    this.next = next;
    const family = new Uint8Array(cap);
    family.set(this.family);
    this.family = family;
    const addr = new Uint32Array(cap * 4);
    addr.set(this.addr);
    this.addr = addr;
    const lastuse = new Float64Array(cap);
    lastuse.set(this.lastuse);
    this.lastuse = lastuse;
  }
}

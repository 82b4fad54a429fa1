/**
 * A hashed timing wheel over entry indexes 0..capacity-1, all in typed arrays: each slot holds a
 * doubly linked list of the entries whose expiry falls in that slot's time window (modulo the
 * wheel's span). Arming, re-arming and disarming are O(1); collecting what is due visits only the
 * slots whose time has passed since the last call (plus the current one), never the whole table.
 * Entries further away than one revolution stay in their slot and are simply skipped when visited.
 */
const UNLINKED = -2;

export class TimerWheel {
  readonly slotCount: number;
  readonly resolution: number;
  private readonly mask: number;
  private readonly heads: Int32Array;
  /** Absolute expiry time (seconds) per entry. */
  readonly expireAt: Float64Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly slotOf: Int32Array;
  /** Tick number (time / resolution, floored) of the last collect; its slot is revisited next time. */
  private cursor = -1;
  /** Before the first collect: the earliest tick armed, where the first collect must start. */
  private firstTick = Number.POSITIVE_INFINITY;
  private dueBuf: Int32Array;
  private armedCount = 0;

  constructor(capacity: number, slotBits = 12, resolution = 1) {
    this.slotCount = 1 << slotBits;
    this.mask = this.slotCount - 1;
    this.resolution = resolution;
    this.heads = new Int32Array(this.slotCount).fill(-1);
    this.expireAt = new Float64Array(capacity);
    this.next = new Int32Array(capacity).fill(UNLINKED);
    this.prev = new Int32Array(capacity);
    this.slotOf = new Int32Array(capacity);
    this.dueBuf = new Int32Array(1024);
  }

  get armed(): number {
    return this.armedCount;
  }

  isArmed(i: number): boolean {
    return this.next[i] !== UNLINKED;
  }

  /** (Re)arm entry i to expire at `at` seconds. */
  arm(i: number, at: number): void {
    let tick = Math.floor(at / this.resolution);
    // Never file an entry behind the cursor: that slot would not be visited for a whole revolution.
    if (tick < this.cursor) tick = this.cursor;
    else if (this.cursor < 0 && tick < this.firstTick) this.firstTick = tick;
    const slot = tick & this.mask;
    this.expireAt[i] = at;
    if (this.next[i] !== UNLINKED) {
      if (this.slotOf[i] === slot) return;
      this.unlink(i);
    } else {
      this.armedCount++;
    }
    const h = this.heads[slot]!;
    this.next[i] = h;
    this.prev[i] = -1;
    if (h >= 0) this.prev[h] = i;
    this.heads[slot] = i;
    this.slotOf[i] = slot;
  }

  disarm(i: number): void {
    if (this.next[i] === UNLINKED) return;
    this.unlink(i);
    this.next[i] = UNLINKED;
    this.armedCount--;
  }

  private unlink(i: number): void {
    const n = this.next[i]!;
    const p = this.prev[i]!;
    if (p >= 0) this.next[p] = n;
    else this.heads[this.slotOf[i]!] = n;
    if (n >= 0) this.prev[n] = p;
  }

  /**
   * Gather the entries due at `now` (expireAt <= now) into `due()` and return how many. Entries stay
   * armed: the caller disarms or re-arms each one it handles, and should re-check `isDue` because
   * handling one entry may change another.
   */
  collect(now: number): number {
    const tick = Math.floor(now / this.resolution);
    let from = this.cursor < 0 ? Math.min(tick, this.firstTick) : this.cursor;
    if (tick - from >= this.slotCount) from = tick - this.slotCount + 1;
    let n = 0;
    for (let t = from; t <= tick; t++) {
      for (let i = this.heads[t & this.mask]!; i >= 0; i = this.next[i]!) {
        if (this.expireAt[i]! <= now) {
          if (n === this.dueBuf.length) {
            const bigger = new Int32Array(n * 2);
            bigger.set(this.dueBuf);
            this.dueBuf = bigger;
          }
          this.dueBuf[n++] = i;
        }
      }
    }
    if (tick > this.cursor) this.cursor = tick;
    return n;
  }

  /** The buffer `collect` filled (valid up to the count it returned). */
  due(): Int32Array {
    return this.dueBuf;
  }

  isDue(i: number, now: number): boolean {
    return this.next[i] !== UNLINKED && this.expireAt[i]! <= now;
  }

  /** Bytes held per entry (for memory accounting). */
  static readonly BYTES_PER_ENTRY = 8 + 4 + 4 + 4;
}

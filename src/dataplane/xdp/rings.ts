/**
 * AF_XDP rings as typed-array views over the memory the kernel shares with us (mmap of the socket).
 * Each ring is a power-of-two array of entries plus a producer and a consumer index (free-running
 * u32 counters). One side produces, the other consumes; the index written by the other side is read
 * with Atomics.load (acquire) and ours is published with Atomics.store (release), which is the
 * ordering the kernel's side of the ring expects.
 *
 * Entries: fill and completion rings hold u64 UMEM addresses; RX and TX rings hold descriptors
 * { u64 addr; u32 len; u32 options }. UMEMs here are smaller than 4 GiB, so addresses are read and
 * written as their low u32 word (the high word is always 0) — no BigInt on the hot path.
 */
import type { NativeMemory } from "../../platform/native-memory.js";

/** One ring's offsets inside its mapping (struct xdp_ring_offset). */
export interface RingOffsets {
  producer: number;
  consumer: number;
  desc: number;
  flags: number;
}

/** XDP_RING_NEED_WAKEUP in a ring's flags word. */
export const XDP_RING_NEED_WAKEUP = 1;

abstract class Ring {
  protected readonly words: Uint32Array;
  protected readonly prodIdx: number;
  protected readonly consIdx: number;
  protected readonly flagsIdx: number;
  protected readonly entries: Uint32Array;
  readonly mask: number;

  constructor(
    readonly memory: NativeMemory,
    offsets: RingOffsets,
    readonly size: number,
    /** u32 words per entry: 2 for addresses, 4 for descriptors. */
    protected readonly stride: 2 | 4,
  ) {
    if (size <= 0 || (size & (size - 1)) !== 0)
      throw new RangeError(`ring size ${size} is not a power of two`);
    this.mask = size - 1;
    this.words = new Uint32Array(memory.bytes.buffer, memory.bytes.byteOffset, memory.size >>> 2);
    this.prodIdx = offsets.producer >>> 2;
    this.consIdx = offsets.consumer >>> 2;
    this.flagsIdx = offsets.flags >>> 2;
    this.entries = new Uint32Array(
      memory.bytes.buffer,
      memory.bytes.byteOffset + offsets.desc,
      size * stride,
    );
  }

  /** True when the kernel asks to be woken up (sendto / poll) to make progress on this ring. */
  needsWakeup(): boolean {
    return (Atomics.load(this.words, this.flagsIdx) & XDP_RING_NEED_WAKEUP) !== 0;
  }
}

/** A ring we produce into: fill (addresses) and TX (descriptors). */
export class ProducerRing extends Ring {
  private cachedProd: number;
  private cachedCons: number;

  constructor(memory: NativeMemory, offsets: RingOffsets, size: number, stride: 2 | 4) {
    super(memory, offsets, size, stride);
    this.cachedProd = Atomics.load(this.words, this.prodIdx);
    this.cachedCons = Atomics.load(this.words, this.consIdx);
  }

  /** Free slots, re-reading the kernel's consumer index only when the cached view is short of `want`. */
  free(want: number): number {
    let free = this.size - ((this.cachedProd - this.cachedCons) >>> 0);
    if (free >= want) return free;
    this.cachedCons = Atomics.load(this.words, this.consIdx);
    free = this.size - ((this.cachedProd - this.cachedCons) >>> 0);
    return free;
  }

  /** Entries produced but not yet consumed by the kernel. */
  outstanding(): number {
    this.cachedCons = Atomics.load(this.words, this.consIdx);
    return (this.cachedProd - this.cachedCons) >>> 0;
  }

  /** Writes an address entry at the next slot (fill ring); call free() first and submit() after. */
  putAddr(addr: number): void {
    const i = (this.cachedProd & this.mask) * 2;
    this.entries[i] = addr;
    this.entries[i + 1] = 0;
    this.cachedProd = (this.cachedProd + 1) >>> 0;
  }

  /** Writes a descriptor at the next slot (TX ring). */
  putDesc(addr: number, len: number): void {
    const i = (this.cachedProd & this.mask) * 4;
    this.entries[i] = addr;
    this.entries[i + 1] = 0;
    this.entries[i + 2] = len;
    this.entries[i + 3] = 0;
    this.cachedProd = (this.cachedProd + 1) >>> 0;
  }

  /** Publishes everything put so far to the kernel. */
  submit(): void {
    Atomics.store(this.words, this.prodIdx, this.cachedProd);
  }
}

/** A ring the kernel produces into: RX (descriptors) and completion (addresses). */
export class ConsumerRing extends Ring {
  private cachedProd: number;
  private cachedCons: number;

  constructor(memory: NativeMemory, offsets: RingOffsets, size: number, stride: 2 | 4) {
    super(memory, offsets, size, stride);
    this.cachedProd = Atomics.load(this.words, this.prodIdx);
    this.cachedCons = Atomics.load(this.words, this.consIdx);
  }

  /** Entries ready to read (up to `max`), re-reading the producer index when the cache is empty. */
  available(max: number): number {
    let n = (this.cachedProd - this.cachedCons) >>> 0;
    if (n === 0) {
      this.cachedProd = Atomics.load(this.words, this.prodIdx);
      n = (this.cachedProd - this.cachedCons) >>> 0;
    }
    return Math.min(n, max);
  }

  /** UMEM address of the k-th available entry (k < available()). */
  addrAt(k: number): number {
    return this.entries[(((this.cachedCons + k) >>> 0) & this.mask) * this.stride]!;
  }

  /** Length of the k-th available descriptor (RX ring). */
  lenAt(k: number): number {
    return this.entries[(((this.cachedCons + k) >>> 0) & this.mask) * 4 + 2]!;
  }

  /** Gives `n` read entries back to the kernel. */
  release(n: number): void {
    this.cachedCons = (this.cachedCons + n) >>> 0;
    Atomics.store(this.words, this.consIdx, this.cachedCons);
  }
}

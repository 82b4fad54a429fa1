import { IpAddr } from "../core/address.js";

interface Entry<T> {
  readonly addr: IpAddr;
  value: T;
}

/** A 32-bit hash of four address words (FNV-style mixing; no allocation). */
function hashWords(w: ArrayLike<number>, at: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 4; i++) {
    h = Math.imul(h ^ (w[at + i]! >>> 0), 0x01000193);
    h ^= h >>> 15;
  }
  return h >>> 0;
}

function sameWords(a: Readonly<Uint32Array>, w: ArrayLike<number>, at: number): boolean {
  return (
    a[0] === w[at]! >>> 0 &&
    a[1] === w[at + 1]! >>> 0 &&
    a[2] === w[at + 2]! >>> 0 &&
    a[3] === w[at + 3]! >>> 0
  );
}

/**
 * A map keyed by an IPv6 address given as four u32 words in a typed array at a word index, so the
 * packet path can look an address up straight from a parsed frame without building a key (a string
 * or an IpAddr per packet). Buckets by a 32-bit hash of the words; a bucket holds the few addresses
 * whose hashes collide.
 */
export class Ipv6Map<T> {
  private readonly buckets = new Map<number, Entry<T>[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The value for the address words[at..at+4), undefined when absent. Allocates nothing. */
  get(words: ArrayLike<number>, at = 0): T | undefined {
    const bucket = this.buckets.get(hashWords(words, at));
    if (bucket === undefined) return undefined;
    for (let i = 0; i < bucket.length; i++) {
      const e = bucket[i]!;
      if (sameWords(e.addr.words, words, at)) return e.value;
    }
    return undefined;
  }

  has(words: ArrayLike<number>, at = 0): boolean {
    return this.get(words, at) !== undefined;
  }

  set(addr: IpAddr, value: T): void {
    if (addr.family !== 6) throw new RangeError(`not an IPv6 address: ${addr.toString()}`);
    const h = hashWords(addr.words, 0);
    let bucket = this.buckets.get(h);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(h, bucket);
    }
    for (const e of bucket) {
      if (sameWords(e.addr.words, addr.words, 0)) {
        e.value = value;
        return;
      }
    }
    bucket.push({ addr, value });
    this.count++;
  }

  delete(addr: IpAddr): boolean {
    const h = hashWords(addr.words, 0);
    const bucket = this.buckets.get(h);
    if (bucket === undefined) return false;
    const i = bucket.findIndex((e) => sameWords(e.addr.words, addr.words, 0));
    if (i < 0) return false;
    bucket.splice(i, 1);
    if (bucket.length === 0) this.buckets.delete(h);
    this.count--;
    return true;
  }

  clear(): void {
    this.buckets.clear();
    this.count = 0;
  }

  /** Every (address, value), in no particular order (a snapshot: safe to delete while iterating). */
  entries(): [IpAddr, T][] {
    const out: [IpAddr, T][] = [];
    for (const bucket of this.buckets.values()) for (const e of bucket) out.push([e.addr, e.value]);
    return out;
  }
}

/** The IpAddr of four words (slow path helper for keys that come from a frame). */
export function ipv6Of(words: ArrayLike<number>, at = 0): IpAddr {
  return IpAddr.v6(words[at]!, words[at + 1]!, words[at + 2]!, words[at + 3]!);
}

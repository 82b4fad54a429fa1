/**
 * The connection table (the storage under the kernel's ip_vs_conn.c): every connection and persistence template of the
 * director as one record in typed arrays (struct of arrays), found by index. No object exists per
 * connection and neither lookups nor inserts allocate.
 *
 * Two hash indexes chain through per-entry links:
 * - the client side, keyed by (protocol, family, caddr, cport, vaddr, vport) plus the TEMPLATE bit,
 *   used by inbound packets and template lookups;
 * - the real-server side, keyed by (protocol, dest family, daddr, dport, laddr, lport), used by the
 *   replies of NAT and FULLNAT conns. For NAT, laddr:lport is a copy of caddr:cport (the reply goes
 *   to the client); for FULLNAT it is the local address and port the director chose.
 * Each index has 2^bucketBits chain heads: `bucketCount` is what `ipvsadm -L` shows as "size=".
 * The indexes grow with the table: when the live entries outnumber the buckets, both double and
 * every chain is relinked (order kept), so a lookup stays at one or two probes however many
 * connections there are (the kernel's table has a fixed size, chosen at module load). The growth
 * stops at the capacity's power of two (or 2^27); the new heads live outside the arena.
 *
 * Layout: the fields a lookup compares (addresses, ports, protocol, families, the client-side chain
 * link) sit together in one 32-byte record per entry in a single Int32Array, so walking a chain
 * touches one cache line per entry; the rest (flags, dest, control links, timeout, counters) are
 * separate typed arrays (struct of arrays). bench/conntable.ts measured interleaved key records at
 * about three times the lookup rate of a pure struct-of-arrays layout at 1 M entries.
 *
 * IPv4 addresses live in the records; an IPv6 entry (client or dest side) also takes a 64-byte
 * record in a side table that grows on demand. The capacity is fixed: when every record is in use,
 * `alloc` returns -1 and counts the refusal (the director then drops the packet that wanted a new
 * conn, as the kernel does when it cannot allocate one).
 *
 * One file of ~600 lines on purpose: the record layout, the free list, the two hash indexes and their
 * growth share the record's private word offsets; split, those offsets would become an API.
 */
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from "./flow.js";
import { TimerWheel } from "./timer-wheel.js";

/** Connection flags (kernel IP_VS_CONN_F_*); FULLNAT's forwarding code is DPVS's. */
export const CONN_F_FWD_MASK = 0x0007;
export const CONN_F_MASQ = 0x0000;
export const CONN_F_LOCALNODE = 0x0001;
export const CONN_F_TUNNEL = 0x0002;
export const CONN_F_DROUTE = 0x0003;
export const CONN_F_BYPASS = 0x0004;
export const CONN_F_FULLNAT = 0x0005;
export const CONN_F_SYNC = 0x0020;
export const CONN_F_HASHED = 0x0040;
export const CONN_F_NOOUTPUT = 0x0080;
export const CONN_F_INACTIVE = 0x0100;
export const CONN_F_NO_CPORT = 0x0800;
export const CONN_F_TEMPLATE = 0x1000;
export const CONN_F_ONE_PACKET = 0x2000;
/** Not a kernel flag: the entry is in the real-server-side index. */
export const CONN_F_OUT_HASHED = 0x10000;

/** Template state bit (kernel IP_VS_CTPL_S_ASSURED). */
export const CTPL_S_ASSURED = 1;

export interface ConnTableOptions {
  /** Maximum number of entries (conns + templates). */
  capacity: number;
  /** log2 of the bucket count of each hash index. */
  bucketBits: number;
  /** Hash seed (random per director, so that nobody can aim at one chain). */
  seed?: number;
  /** log2 of the timing wheel's slot count (1-second slots). */
  wheelBits?: number;
  /**
   * Where the table's arrays live: one call, for all of them, at construction. Default: an
   * ordinary ArrayBuffer. A data plane passes memory backed by huge pages (see
   * src/platform/huge-pages.ts): a lookup touches two random cache lines in tens of MB, and
   * with 4 KiB pages each of them is also a TLB miss and a page walk.
   */
  allocate?: (bytes: number) => ArrayBuffer;
}

/** Carves typed arrays out of one buffer, each starting on a 64-byte (cache line) boundary. */
class ArrayArena {
  private offset = 0;
  private buffer: ArrayBuffer | null = null;
  private readonly sizes: number[] = [];

  /** First pass: how many bytes an array of `n` elements of `bytesPer` bytes takes. */
  reserve(n: number, bytesPer: number): void {
    this.sizes.push(n * bytesPer);
  }

  get totalBytes(): number {
    let t = 0;
    for (const s of this.sizes) t += Math.ceil(s / 64) * 64;
    return t;
  }

  open(buffer: ArrayBuffer): void {
    if (buffer.byteLength < this.totalBytes)
      throw new RangeError(`connection table memory: ${buffer.byteLength} bytes, ${this.totalBytes} needed`);
    this.buffer = buffer;
  }

  /** Second pass: the arrays, in the order reserved. */
  take<T>(make: (b: ArrayBuffer, offset: number, n: number) => T, n: number, bytesPer: number): T {
    const a = make(this.buffer!, this.offset, n);
    this.offset += Math.ceil((n * bytesPer) / 64) * 64;
    return a;
  }
}

const V6_WORDS = 16;
/** Key record stride and word offsets. */
const REC = 8;
const R_C = 0;
const R_V = 1;
const R_CV = 2;
const R_ID = 3;
const R_NEXT = 4;
const R_D = 5;
const R_L = 6;
const R_DL = 7;
const ID_TEMPLATE = 1 << 16;
/** A persistence-engine template: also keyed by its engine data's hash, kept in the laddr word. */
const ID_PE = 1 << 17;

/** Protocol rows of the per-state counts: TCP, UDP, SCTP, any other. */
export const STATE_ROW_TCP = 0;
export const STATE_ROW_UDP = 1;
export const STATE_ROW_OTHER = 2;
export const STATE_ROW_SCTP = 3;
const stateRow = (proto: number) =>
  proto === IPPROTO_TCP
    ? STATE_ROW_TCP
    : proto === IPPROTO_UDP
      ? STATE_ROW_UDP
      : proto === IPPROTO_SCTP
        ? STATE_ROW_SCTP
        : STATE_ROW_OTHER;

const V6_C = 0;
const V6_V = 4;
const V6_D = 8;
const V6_L = 12;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** One murmur3 round: mixes k into h. */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl(k, 15);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The word an address is keyed by in the record: the IPv4 address, or an IPv6 fold. */
function keyWord(family: number, w: ArrayLike<number>): number {
  return family === 4 ? w[0]! >>> 0 : mix(mix(mix(w[0]!, w[1]!), w[2]!), w[3]!) >>> 0;
}

export class ConnTable {
  readonly capacity: number;
  /** log2 of the buckets now (grows with the entries, from the configured bits). */
  bucketBits: number;
  bucketCount: number;
  private bucketMask: number;
  /** The buckets stop doubling at 2^maxBucketBits. */
  private readonly maxBucketBits: number;
  private readonly seed: number;

  /**
   * Key records, 8 words per entry: caddr, vaddr, cport<<16|vport, ident, inNext, daddr, laddr,
   * dport<<16|lport. ident = proto | af<<8 | daf<<12 | TEMPLATE<<16 (0 = free record). Addresses are
   * key words: the IPv4 address, or an IPv6 fold (the full IPv6 words are in the side table).
   */
  private readonly rec: Int32Array;
  readonly state: Uint8Array;
  readonly flags: Uint32Array;
  readonly fwmark: Uint32Array;
  /** Bound dest id, -1 for none. */
  readonly destId: Int32Array;
  /** Controlling template's index, -1 for none. */
  readonly control: Int32Array;
  readonly nControl: Uint32Array;
  /** Idle timeout of the current state, seconds. */
  readonly timeout: Uint32Array;
  readonly inPkts: Uint32Array;
  /** FULLNAT: which local-address pool the lport came from (-1 none). */
  readonly lpool: Int32Array;
  private readonly outNext: Int32Array;
  private readonly v6Slot: Int32Array;

  private inHeads: Int32Array;
  private outHeads: Int32Array;

  private v6: Uint32Array;
  private v6Free: Int32Array;
  private v6FreeCount = 0;
  private v6High = 0;

  readonly wheel: TimerWheel;

  private freeHead = -1;
  /** Records 0..highWater-1 have been handed out at least once. */
  private high = 0;
  private live = 0;
  /** New entries refused because the table was full. */
  refusedFull = 0;
  /**
   * Live connections (not templates) by protocol row and state: index row << 8 | state. Kept as
   * states are written (setState), so a count by state costs no walk of the table.
   */
  private readonly byState = new Int32Array(4 << 8);
  private templates = 0;

  constructor(opts: ConnTableOptions) {
    const cap = opts.capacity;
    if (!Number.isInteger(cap) || cap < 1 || cap > 0x7fffffff)
      throw new RangeError(`connection capacity must be a positive integer, not ${cap}`);
    if (!Number.isInteger(opts.bucketBits) || opts.bucketBits < 1 || opts.bucketBits > 30)
      throw new RangeError(`bucket bits must be 1..30, not ${opts.bucketBits}`);
    this.capacity = cap;
    this.bucketBits = opts.bucketBits;
    this.bucketCount = 2 ** opts.bucketBits;
    this.bucketMask = this.bucketCount - 1;
    this.maxBucketBits = Math.max(opts.bucketBits, Math.min(27, Math.ceil(Math.log2(cap))));
    this.seed = (opts.seed ?? 0x9e3779b9) | 0;
    // One buffer for every per-entry array and both bucket-head arrays.
    const arena = new ArrayArena();
    arena.reserve(cap * REC, 4);
    arena.reserve(cap, 1);
    for (let k = 0; k < 10; k++) arena.reserve(cap, 4);
    arena.reserve(this.bucketCount, 4);
    arena.reserve(this.bucketCount, 4);
    arena.open((opts.allocate ?? ((n: number) => new ArrayBuffer(n)))(arena.totalBytes));
    const i32 = (b: ArrayBuffer, o: number, n: number) => new Int32Array(b, o, n);
    const u32 = (b: ArrayBuffer, o: number, n: number) => new Uint32Array(b, o, n);
    this.rec = arena.take(i32, cap * REC, 4);
    this.state = arena.take((b, o, n) => new Uint8Array(b, o, n), cap, 1);
    this.flags = arena.take(u32, cap, 4);
    this.fwmark = arena.take(u32, cap, 4);
    this.destId = arena.take(i32, cap, 4);
    this.control = arena.take(i32, cap, 4);
    this.nControl = arena.take(u32, cap, 4);
    this.timeout = arena.take(u32, cap, 4);
    this.inPkts = arena.take(u32, cap, 4);
    this.lpool = arena.take(i32, cap, 4);
    this.outNext = arena.take(i32, cap, 4);
    this.v6Slot = arena.take(i32, cap, 4);
    this.inHeads = arena.take(i32, this.bucketCount, 4).fill(-1);
    this.outHeads = arena.take(i32, this.bucketCount, 4).fill(-1);
    const v6Initial = Math.min(cap, 64);
    this.v6 = new Uint32Array(v6Initial * V6_WORDS);
    this.v6Free = new Int32Array(v6Initial);
    this.wheel = new TimerWheel(cap, opts.wheelBits ?? 12, 1);
  }

  /** Bytes per entry in the records, the timer links and one chain head per index (IPv4 entry). */
  static bytesPerEntry(): number {
    // Key record 32; u8 state; u32 flags fwmark nControl timeout inPkts; i32 destId control lpool
    // outNext v6Slot; timer wheel 20.
    return REC * 4 + 1 + 5 * 4 + 5 * 4 + TimerWheel.BYTES_PER_ENTRY;
  }

  /** Live entries (conns + templates). */
  get size(): number {
    return this.live;
  }

  /** Iteration bound: every live index is below this. */
  get highWater(): number {
    return this.high;
  }

  /**
   * Write connection `i`'s state: the one writer of a connection's state byte, so that the counts
   * by state stay true (a template's state bits are written directly: templates are counted apart).
   */
  setState(i: number, state: number): void {
    const id = this.rec[i * REC + R_ID]!;
    if (!(id & ID_TEMPLATE)) {
      const row = stateRow(id & 0xff) << 8;
      this.byState[row | this.state[i]!]!--;
      this.byState[row | state]!++;
    }
    this.state[i] = state;
  }

  /** Live connections (not templates) of protocol row `row` (STATE_ROW_*) in state `state`. */
  connsInState(row: number, state: number): number {
    return this.byState[(row << 8) | (state & 0xff)]!;
  }

  /** Live persistence templates. */
  get templateCount(): number {
    return this.templates;
  }

  isLive(i: number): boolean {
    return this.rec[i * REC + R_ID] !== 0;
  }

  protoOf(i: number): number {
    return this.rec[i * REC + R_ID]! & 0xff;
  }

  afOf(i: number): 4 | 6 {
    return ((this.rec[i * REC + R_ID]! >> 8) & 15) as 4 | 6;
  }

  dafOf(i: number): 4 | 6 {
    return ((this.rec[i * REC + R_ID]! >> 12) & 15) as 4 | 6;
  }

  cportOf(i: number): number {
    return this.rec[i * REC + R_CV]! >>> 16;
  }

  vportOf(i: number): number {
    return this.rec[i * REC + R_CV]! & 0xffff;
  }

  dportOf(i: number): number {
    return this.rec[i * REC + R_DL]! >>> 16;
  }

  lportOf(i: number): number {
    return this.rec[i * REC + R_DL]! & 0xffff;
  }

  /**
   * Take a free record and fill its identity. Returns -1 (and counts it) when the table is full.
   * The entry is not hashed and not armed yet.
   */
  alloc(
    proto: number,
    af: number,
    caddr: ArrayLike<number>,
    cport: number,
    vaddr: ArrayLike<number>,
    vport: number,
    daf: number,
    daddr: ArrayLike<number>,
    dport: number,
    flags: number,
  ): number {
    let i = this.freeHead;
    if (i >= 0) {
      this.freeHead = this.rec[i * REC + R_NEXT]!;
    } else if (this.high < this.capacity) {
      i = this.high++;
    } else {
      this.refusedFull++;
      return -1;
    }
    this.live++;
    if (flags & CONN_F_TEMPLATE) this.templates++;
    else this.byState[stateRow(proto) << 8]!++;
    const r = this.rec;
    const o = i * REC;
    r[o + R_C] = keyWord(af, caddr);
    r[o + R_V] = keyWord(af, vaddr);
    r[o + R_CV] = (cport << 16) | vport;
    r[o + R_ID] = proto | (af << 8) | (daf << 12) | (flags & CONN_F_TEMPLATE ? ID_TEMPLATE : 0);
    r[o + R_NEXT] = -1;
    r[o + R_D] = keyWord(daf, daddr);
    r[o + R_L] = r[o + R_C]!;
    r[o + R_DL] = (dport << 16) | cport;
    this.state[i] = 0;
    this.flags[i] = flags;
    this.fwmark[i] = 0;
    this.destId[i] = -1;
    this.control[i] = -1;
    this.nControl[i] = 0;
    this.timeout[i] = 0;
    this.inPkts[i] = 0;
    this.lpool[i] = -1;
    this.outNext[i] = -1;
    if (af === 6 || daf === 6) {
      const s = this.v6Alloc();
      this.v6Slot[i] = s;
      const b = s * V6_WORDS;
      const v6 = this.v6;
      for (let k = 0; k < 4; k++) {
        v6[b + V6_C + k] = caddr[k]!;
        v6[b + V6_V + k] = vaddr[k]!;
        v6[b + V6_D + k] = daddr[k]!;
        v6[b + V6_L + k] = caddr[k]!;
      }
    } else {
      this.v6Slot[i] = -1;
    }
    return i;
  }

  /** Set the reply-side peer (FULLNAT local address and port). Call before `hashOut`. */
  setLocal(i: number, laddr: ArrayLike<number>, lport: number): void {
    const daf = this.dafOf(i);
    const o = i * REC;
    this.rec[o + R_L] = keyWord(daf, laddr);
    this.rec[o + R_DL] = (this.rec[o + R_DL]! & ~0xffff) | lport;
    const s = this.v6Slot[i]!;
    if (s >= 0) {
      const b = s * V6_WORDS + V6_L;
      for (let k = 0; k < 4; k++) this.v6[b + k] = daf === 4 ? (k === 0 ? laddr[0]! : 0) : laddr[k]!;
    }
  }

  /** Change the client-side identity of an unhashed entry (template invalidation rewrites ports). */
  setPorts(i: number, cport: number, vport: number, dport: number): void {
    const o = i * REC;
    this.rec[o + R_CV] = (cport << 16) | vport;
    this.rec[o + R_DL] = (dport << 16) | (this.rec[o + R_DL]! & 0xffff);
  }

  private v6Alloc(): number {
    if (this.v6FreeCount > 0) return this.v6Free[--this.v6FreeCount]!;
    const s = this.v6High++;
    if ((s + 1) * V6_WORDS > this.v6.length) {
      const n = Math.min(this.capacity, Math.max(64, (this.v6.length / V6_WORDS) * 2));
      const bigger = new Uint32Array(n * V6_WORDS);
      bigger.set(this.v6);
      this.v6 = bigger;
      const fr = new Int32Array(n);
      fr.set(this.v6Free);
      this.v6Free = fr;
    }
    return s;
  }

  /** Return a record to the free list. It must be unhashed and disarmed (see `remove`). */
  free(i: number): void {
    const id = this.rec[i * REC + R_ID]!;
    if (id & ID_TEMPLATE) this.templates--;
    else this.byState[(stateRow(id & 0xff) << 8) | this.state[i]!]!--;
    const s = this.v6Slot[i]!;
    if (s >= 0) this.v6Free[this.v6FreeCount++] = s;
    this.v6Slot[i] = -1;
    this.rec[i * REC + R_ID] = 0;
    this.rec[i * REC + R_NEXT] = this.freeHead;
    this.freeHead = i;
    this.live--;
  }

  /** Unhash, disarm and free. */
  remove(i: number): void {
    if (this.flags[i]! & CONN_F_HASHED) this.unhashIn(i);
    if (this.flags[i]! & CONN_F_OUT_HASHED) this.unhashOut(i);
    this.wheel.disarm(i);
    this.free(i);
  }

  private inBucket(i: number): number {
    const o = i * REC;
    const r = this.rec;
    const id = r[o + R_ID]!;
    if (id & ID_PE) return this.peBucket(id & 0xff, r[o + R_C]!, r[o + R_CV]!, r[o + R_V]!, r[o + R_L]!);
    return this.hash(id & 0xff, r[o + R_C]!, r[o + R_CV]!, r[o + R_V]!);
  }

  private peBucket(proto: number, a: number, ports: number, b: number, pe: number): number {
    let h = mix(this.seed ^ proto, a);
    h = mix(h, b);
    h = mix(h, ports);
    h = mix(h, pe);
    return finish(h) & this.bucketMask;
  }

  /**
   * A seeded hash of buf[off .. off+len) (a persistence engine's data, e.g. a SIP Call-ID): the
   * kernel hashes such templates by their data, so one client's many calls spread over the buckets.
   */
  hashBytes(buf: Uint8Array, off: number, len: number): number {
    let h = this.seed ^ len;
    let k = 0;
    for (let j = 0; j < len; j++) {
      k = (k << 8) | buf[off + j]!;
      if ((j & 3) === 3) {
        h = mix(h, k);
        k = 0;
      }
    }
    if (len & 3) h = mix(h, k);
    return finish(h) | 0;
  }

  /**
   * Make template i a persistence-engine template with data hash `peHash` (rehashed when hashed):
   * plain template lookups no longer see it, `lookupPeTemplate` does.
   */
  setPeKey(i: number, peHash: number): void {
    const hashed = (this.flags[i]! & CONN_F_HASHED) !== 0;
    if (hashed) this.unhashIn(i);
    const o = i * REC;
    this.rec[o + R_ID] = this.rec[o + R_ID]! | ID_PE;
    this.rec[o + R_L] = peHash | 0;
    if (hashed) this.hashIn(i);
  }

  /** Whether entry i is a persistence-engine template. */
  isPeTemplate(i: number): boolean {
    return (this.rec[i * REC + R_ID]! & ID_PE) !== 0;
  }

  /**
   * Persistence-engine templates keyed (protocol, family, caddr, 0, vaddr, vport, data hash): the
   * first after entry `after` in its chain (-1: from the chain's start), or -1. The caller compares
   * the engine data itself and calls again with the last index to pass a hash collision.
   */
  lookupPeTemplate(
    proto: number,
    af: number,
    caddr: ArrayLike<number>,
    vaddr: ArrayLike<number>,
    vport: number,
    peHash: number,
    after: number,
  ): number {
    const ck = af === 4 ? caddr[0]! | 0 : keyWord(af, caddr) | 0;
    const vk = af === 4 ? vaddr[0]! | 0 : keyWord(af, vaddr) | 0;
    const ports = vport;
    const pk = peHash | 0;
    const ident = proto | (af << 8) | ID_TEMPLATE | ID_PE;
    const r = this.rec;
    let i = after >= 0 ? r[after * REC + R_NEXT]! : this.inHeads[this.peBucket(proto, ck, ports, vk, pk)]!;
    while (i >= 0) {
      const o = i * REC;
      if (
        r[o + R_C] === ck &&
        r[o + R_CV] === ports &&
        r[o + R_V] === vk &&
        r[o + R_L] === pk &&
        (r[o + R_ID]! & 0x30fff) === ident &&
        (af === 4 || (this.v6Equal(i, V6_C, caddr) && this.v6Equal(i, V6_V, vaddr)))
      )
        return i;
      i = r[o + R_NEXT]!;
    }
    return -1;
  }

  private hash(proto: number, a: number, ports: number, b: number): number {
    let h = mix(this.seed ^ proto, a);
    h = mix(h, b);
    h = mix(h, ports);
    return finish(h) & this.bucketMask;
  }

  private outBucket(i: number): number {
    const o = i * REC;
    const r = this.rec;
    return this.hash(r[o + R_ID]! & 0xff, r[o + R_D]!, r[o + R_DL]!, r[o + R_L]!);
  }

  hashIn(i: number): void {
    if (this.live > this.bucketCount && this.bucketBits < this.maxBucketBits) this.grow();
    const b = this.inBucket(i);
    this.rec[i * REC + R_NEXT] = this.inHeads[b]!;
    this.inHeads[b] = i;
    this.flags[i]! |= CONN_F_HASHED;
  }

  /**
   * Doubles both indexes and relinks every hashed entry into them, each chain's order kept (a
   * lookup finds the newest of two equal keys first, as before). Runs when the live entries
   * outnumber the buckets: log2 times as the table fills, amortized O(1) per insert.
   */
  private grow(): void {
    const bits = this.bucketBits + 1;
    const count = 2 ** bits;
    const oldIn = this.inHeads;
    const oldOut = this.outHeads;
    const r = this.rec;
    this.bucketBits = bits;
    this.bucketCount = count;
    this.bucketMask = count - 1;
    this.inHeads = new Int32Array(count).fill(-1);
    this.outHeads = new Int32Array(count).fill(-1);
    const chain: number[] = [];
    for (let b = 0; b < oldIn.length; b++) {
      chain.length = 0;
      for (let i = oldIn[b]!; i >= 0; i = r[i * REC + R_NEXT]!) chain.push(i);
      for (let k = chain.length - 1; k >= 0; k--) {
        const i = chain[k]!;
        const nb = this.inBucket(i);
        r[i * REC + R_NEXT] = this.inHeads[nb]!;
        this.inHeads[nb] = i;
      }
    }
    for (let b = 0; b < oldOut.length; b++) {
      chain.length = 0;
      for (let i = oldOut[b]!; i >= 0; i = this.outNext[i]!) chain.push(i);
      for (let k = chain.length - 1; k >= 0; k--) {
        const i = chain[k]!;
        const nb = this.outBucket(i);
        this.outNext[i] = this.outHeads[nb]!;
        this.outHeads[nb] = i;
      }
    }
  }

  unhashIn(i: number): void {
    const b = this.inBucket(i);
    let p = this.inHeads[b]!;
    const r = this.rec;
    if (p === i) {
      this.inHeads[b] = r[i * REC + R_NEXT]!;
    } else {
      while (p >= 0 && r[p * REC + R_NEXT] !== i) p = r[p * REC + R_NEXT]!;
      if (p < 0) throw new Error(`connection ${i} is not in its hash chain`);
      r[p * REC + R_NEXT] = r[i * REC + R_NEXT]!;
    }
    this.flags[i] = this.flags[i]! & ~CONN_F_HASHED;
    r[i * REC + R_NEXT] = -1;
  }

  hashOut(i: number): void {
    const b = this.outBucket(i);
    this.outNext[i] = this.outHeads[b]!;
    this.outHeads[b] = i;
    this.flags[i]! |= CONN_F_OUT_HASHED;
  }

  unhashOut(i: number): void {
    const b = this.outBucket(i);
    unlinkChain(this.outHeads, this.outNext, b, i);
    this.flags[i] = this.flags[i]! & ~CONN_F_OUT_HASHED;
    this.outNext[i] = -1;
  }

  /**
   * Client-side lookup: the entry whose (protocol, family, caddr:cport, vaddr:vport) equal the
   * arguments and whose TEMPLATE bit equals `template`; -1 when none.
   */
  lookupIn(
    proto: number,
    af: number,
    caddr: ArrayLike<number>,
    cport: number,
    vaddr: ArrayLike<number>,
    vport: number,
    template: boolean,
  ): number {
    const ck = af === 4 ? caddr[0]! | 0 : keyWord(af, caddr) | 0;
    const vk = af === 4 ? vaddr[0]! | 0 : keyWord(af, vaddr) | 0;
    const ports = (cport << 16) | vport;
    const ident = proto | (af << 8) | (template ? ID_TEMPLATE : 0);
    const r = this.rec;
    for (let i = this.inHeads[this.hash(proto, ck, ports, vk)]!; i >= 0; ) {
      const o = i * REC;
      if (
        r[o + R_C] === ck &&
        r[o + R_CV] === ports &&
        r[o + R_V] === vk &&
        (r[o + R_ID]! & 0x30fff) === ident &&
        (af === 4 || (this.v6Equal(i, V6_C, caddr) && this.v6Equal(i, V6_V, vaddr)))
      )
        return i;
      i = r[o + R_NEXT]!;
    }
    return -1;
  }

  /**
   * Real-server-side lookup for a reply packet src -> dst: the NAT/FULLNAT entry whose
   * daddr:dport is the packet's source and whose laddr:lport (client for NAT, local for FULLNAT)
   * is its destination; -1 when none.
   */
  lookupOut(
    proto: number,
    af: number,
    saddr: ArrayLike<number>,
    sport: number,
    daddr: ArrayLike<number>,
    dport: number,
  ): number {
    const dk = af === 4 ? saddr[0]! | 0 : keyWord(af, saddr) | 0;
    const lk = af === 4 ? daddr[0]! | 0 : keyWord(af, daddr) | 0;
    const ports = (sport << 16) | dport;
    const r = this.rec;
    for (let i = this.outHeads[this.hash(proto, dk, ports, lk)]!; i >= 0; i = this.outNext[i]!) {
      const o = i * REC;
      if (
        r[o + R_D] === dk &&
        r[o + R_DL] === ports &&
        r[o + R_L] === lk &&
        (r[o + R_ID]! & 0xf0ff) === (proto | (af << 12)) &&
        (af === 4 || (this.v6Equal(i, V6_D, saddr) && this.v6Equal(i, V6_L, daddr)))
      )
        return i;
    }
    return -1;
  }

  private v6Equal(i: number, off: number, w: ArrayLike<number>): boolean {
    const b = this.v6Slot[i]! * V6_WORDS + off;
    const v6 = this.v6;
    return (
      v6[b] === w[0]! >>> 0 &&
      v6[b + 1] === w[1]! >>> 0 &&
      v6[b + 2] === w[2]! >>> 0 &&
      v6[b + 3] === w[3]! >>> 0
    );
  }

  private readAddr(i: number, family: number, word: number, off: number, out: Uint32Array): Uint32Array {
    const s = this.v6Slot[i]!;
    if (s < 0) {
      out[0] = this.rec[i * REC + word]!;
      out[1] = 0;
      out[2] = 0;
      out[3] = 0;
    } else {
      const b = s * V6_WORDS + off;
      for (let k = 0; k < 4; k++) out[k] = this.v6[b + k]!;
      if (family === 4) out.fill(0, 1);
    }
    return out;
  }

  readCaddr(i: number, out: Uint32Array): Uint32Array {
    return this.readAddr(i, this.afOf(i), R_C, V6_C, out);
  }

  readVaddr(i: number, out: Uint32Array): Uint32Array {
    return this.readAddr(i, this.afOf(i), R_V, V6_V, out);
  }

  readDaddr(i: number, out: Uint32Array): Uint32Array {
    return this.readAddr(i, this.dafOf(i), R_D, V6_D, out);
  }

  readLaddr(i: number, out: Uint32Array): Uint32Array {
    return this.readAddr(i, this.dafOf(i), R_L, V6_L, out);
  }
}

function unlinkChain(heads: Int32Array, next: Int32Array, bucket: number, i: number): void {
  let p = heads[bucket]!;
  if (p === i) {
    heads[bucket] = next[i]!;
    return;
  }
  while (p >= 0) {
    const n = next[p]!;
    if (n === i) {
      next[p] = next[i]!;
      return;
    }
    p = n;
  }
  throw new Error(`connection ${i} is not in its hash chain`);
}

import { DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { FlowPacket } from "../flow.js";
import type { Scheduler, SchedulerModule } from "../scheduler.js";
import { SVC_F_SCHED1, SVC_F_SCHED2, type VirtualService } from "../service.js";
import { foldAddr, hasPorts } from "./hash.js";
import { hsiphashU32 } from "./siphash.js";

/** `mh-fallback`: probe other slots when the hashed dest is unusable. */
export const SVC_F_MH_FALLBACK = SVC_F_SCHED1;
/** `mh-port`: hash the source port too (TCP, UDP, SCTP). */
export const SVC_F_MH_PORT = SVC_F_SCHED2;

/** Lookup table size: the prime at the kernel's default CONFIG_IP_VS_MH_TAB_INDEX (12). */
export const MH_TAB_SIZE = 4093;
/** Kernel IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2: weights are scaled to 6 significant bits. */
const MH_TAB_BITS = 6;
/** The two constant hsiphash keys (each 64-bit key word = the constant, both words equal). */
const KEY1 = 2654435761;
const KEY2 = 2654446892;

function h1(v: number): number {
  return hsiphashU32(v, 0, KEY1, 0, KEY1);
}

function h2(v: number): number {
  return hsiphashU32(v, 0, KEY2, 0, KEY2);
}

/**
 * Maglev hashing (ip_vs_mh.c): every dest has a preference order over the 4093 slots (offset,
 * skip from hsiphash of its address + port); dests take turns, in proportion to their last
 * non-zero weight, claiming their next free preferred slot until the table is full. The client's
 * source address (+ port with mh-port) hashed with the first key picks the slot. A dest with
 * weight 0 or OVERLOAD is unusable: null, or with mh-fallback the first usable dest on the probe
 * sequence H(slot + k + port + addr), stopping at an empty slot.
 */
class MaglevHashing implements Scheduler {
  readonly name = "mh";
  private readonly lookup: (Dest | null)[] = new Array<Dest | null>(MH_TAB_SIZE).fill(null);
  // Scratch for a rebuild (per dest, in list order), and the slot-taken bitmap.
  private offset = new Uint32Array(0);
  private skip = new Uint32Array(0);
  private perm = new Uint32Array(0);
  private turns = new Int32Array(0);
  private readonly taken = new Uint8Array(MH_TAB_SIZE);

  constructor(svc: VirtualService) {
    this.reassign(svc);
  }

  schedule(svc: VirtualService, pkt: FlowPacket): Dest | null {
    const port = (svc.flags & SVC_F_MH_PORT) !== 0 && hasPorts(pkt.protocol) ? pkt.sport : 0;
    const a = foldAddr(svc.family, pkt.saddr);
    const slot = h1((port + a) >>> 0) % MH_TAB_SIZE;
    const d = this.lookup[slot]!;
    if ((svc.flags & SVC_F_MH_FALLBACK) === 0) return d === null || unusable(d) ? null : d;
    if (d === null) return null;
    if (!unusable(d)) return d;
    for (let k = 0; k < MH_TAB_SIZE; k++) {
      const roffset = (k + slot) % MH_TAB_SIZE;
      const c = this.lookup[h1((roffset + port + a) >>> 0) % MH_TAB_SIZE]!;
      if (c === null) break;
      if (!unusable(c)) return c;
    }
    return null;
  }

  addDest(svc: VirtualService): void {
    this.reassign(svc);
  }

  delDest(svc: VirtualService): void {
    this.reassign(svc);
  }

  updDest(svc: VirtualService): void {
    this.reassign(svc);
  }

  /** The dest in one lookup slot (tests and listings). */
  getSlot(i: number): Dest | null {
    return this.lookup[i] ?? null;
  }

  /**
   * Kernel ip_vs_mh_reassign. With more dests than slots the kernel refuses and keeps the old
   * table (the dest is still added), and so does this.
   */
  private reassign(svc: VirtualService): void {
    const list = svc.dests;
    const n = list.length;
    if (n > MH_TAB_SIZE) return;
    const g = gcdLastWeight(list);
    if (g < 1) {
      this.lookup.fill(null);
      return;
    }
    let maxW = 0;
    for (const d of list) if (d.lastWeight > maxW) maxW = d.lastWeight;
    const rshift = Math.max(0, bitLength(Math.trunc(maxW / g)) - MH_TAB_BITS);
    if (this.offset.length < n) {
      this.offset = new Uint32Array(n);
      this.skip = new Uint32Array(n);
      this.perm = new Uint32Array(n);
      this.turns = new Int32Array(n);
    }
    for (let i = 0; i < n; i++) {
      const d = list[i]!;
      const v = (d.port + foldAddr(svc.family, d.addr.words)) >>> 0;
      this.offset[i] = h1(v) % MH_TAB_SIZE;
      this.skip[i] = (h2(v) % (MH_TAB_SIZE - 1)) + 1;
      this.perm[i] = this.offset[i]!;
      const lw = d.lastWeight;
      const t = Math.trunc(lw / g) >> rshift;
      this.turns[i] = t !== 0 ? t : lw !== 0 ? 1 : 0;
    }
    this.populate(list);
  }

  /** Dests take turns in list order, each claiming `turns` slots per round, until all are taken. */
  private populate(list: readonly Dest[]): void {
    const taken = this.taken;
    taken.fill(0);
    const n = list.length;
    let filled = 0;
    let taking = 0; // slots the current dest claimed in this round
    for (;;) {
      for (let i = 0; i < n; ) {
        const turns = this.turns[i]!;
        if (turns < 1) {
          i++;
          continue;
        }
        let c = this.perm[i]!;
        while (taken[c] === 1) {
          c += this.skip[i]!;
          if (c >= MH_TAB_SIZE) c -= MH_TAB_SIZE;
        }
        this.perm[i] = c;
        taken[c] = 1;
        this.lookup[c] = list[i]!;
        if (++filled === MH_TAB_SIZE) return;
        if (++taking >= turns) {
          taking = 0;
          i++;
        }
      }
    }
  }
}

function unusable(d: Dest): boolean {
  return d.weight <= 0 || (d.flags & DEST_F_OVERLOAD) !== 0;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

function gcdLastWeight(list: readonly Dest[]): number {
  let g = 0;
  for (const d of list) {
    const w = d.lastWeight;
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g;
}

/** Kernel fls(): the 1-based index of the highest set bit, 0 for 0. */
function bitLength(x: number): number {
  return x <= 0 ? 0 : 32 - Math.clz32(x);
}

export const mh: SchedulerModule = { name: "mh", create: (svc) => new MaglevHashing(svc) };
export default mh;

/**
 * A UMEM: the packet buffer area AF_XDP sockets receive into and transmit from, split into
 * fixed-size frames. Frames are identified by their byte offset ("address") in the area; `bytes`
 * is one Uint8Array over the whole area, so a frame is (bytes, address, length) — no per-frame
 * object. Frames not lent to a ring sit on a free list (a u32 stack).
 *
 * Sockets that share a UMEM (XDP_SHARED_UMEM) share this free list: a frame received on one socket
 * can be transmitted on another in place, and returns here when its transmission completes.
 */
import { check, libc } from "../../platform/libc.js";
import { NativeMemory } from "../../platform/native-memory.js";

export const SOL_XDP = 283;
export const XDP_UMEM_REG = 4;

export interface UmemOptions {
  /** Number of frames (default 4096). */
  frames?: number;
  /** Frame size in bytes: 2048 or 4096 (default 2048). */
  frameSize?: 2048 | 4096;
  /** Bytes the kernel leaves free in front of each received frame (default 0). */
  headroom?: number;
}

export class Umem {
  readonly memory: NativeMemory;
  /** The whole area; a frame at address a is bytes[a .. a + len). */
  readonly bytes: Uint8Array;
  readonly frameSize: number;
  readonly frameCount: number;
  readonly headroom: number;
  private readonly freeStack: Uint32Array;
  private freeTop = 0;
  private readonly frameMask: number;

  constructor(options: UmemOptions = {}) {
    this.frameSize = options.frameSize ?? 2048;
    this.frameCount = options.frames ?? 4096;
    this.headroom = options.headroom ?? 0;
    if (this.frameSize !== 2048 && this.frameSize !== 4096)
      throw new RangeError("UMEM frame size must be 2048 or 4096");
    if (!Number.isInteger(this.frameCount) || this.frameCount < 2 || this.frameCount > 1 << 20) {
      throw new RangeError(`bad UMEM frame count ${this.frameCount}`);
    }
    this.memory = NativeMemory.allocate(this.frameCount * this.frameSize);
    this.bytes = this.memory.bytes.subarray(0, this.frameCount * this.frameSize);
    this.frameMask = ~(this.frameSize - 1) >>> 0;
    this.freeStack = new Uint32Array(this.frameCount);
    for (let i = this.frameCount - 1; i >= 0; i--) this.freeStack[this.freeTop++] = i * this.frameSize;
  }

  /** Frames on the free list. */
  get freeFrames(): number {
    return this.freeTop;
  }

  /** Takes a frame off the free list; -1 when none is left. */
  alloc(): number {
    return this.freeTop === 0 ? -1 : this.freeStack[--this.freeTop]!;
  }

  /** Returns a frame (any address inside it) to the free list. */
  free(addr: number): void {
    if (this.freeTop >= this.frameCount) throw new Error("UMEM free list overflow: a frame was freed twice");
    this.freeStack[this.freeTop++] = (addr & this.frameMask) >>> 0;
  }

  /** Registers the area with an AF_XDP socket (the socket that owns the UMEM). */
  registerWith(fd: number): void {
    const reg = new Uint8Array(32); // struct xdp_umem_reg {u64 addr, len; u32 chunk_size, headroom, flags, tx_metadata_len}
    const v = new DataView(reg.buffer);
    v.setBigUint64(0, this.memory.address, true);
    v.setBigUint64(8, BigInt(this.frameCount * this.frameSize), true);
    v.setUint32(16, this.frameSize, true);
    v.setUint32(20, this.headroom, true);
    check(libc().setsockopt(fd, SOL_XDP, XDP_UMEM_REG, reg, reg.length), "setsockopt(XDP_UMEM_REG)");
  }

  /** Releases the memory; only after every socket using it is closed. */
  destroy(): void {
    this.memory.free();
  }
}

/**
 * An AF_XDP socket bound to one RX queue of one interface, with its four rings:
 *   fill       frames we lend the kernel to receive into      (we produce, kernel consumes)
 *   RX         frames received, with their lengths              (kernel produces, we consume)
 *   TX         frames to send                                   (we produce, kernel consumes)
 *   completion frames whose transmission is done                (kernel produces, we consume)
 *
 * The first socket on a UMEM registers it; others share it (XDP_SHARED_UMEM) — on the same or on
 * another interface — so a frame received on one can be sent on another without a copy. A socket
 * bound to another interface or queue than the UMEM's owner gets its own fill and completion rings.
 *
 * The data path makes no syscall per frame and allocates nothing: receive() copies descriptors into
 * caller-provided arrays, send() writes the TX ring, flush() kicks the kernel with one sendto() per
 * 32 frames (copy mode transmits at most 32 frames per call, TX_BATCH_SIZE, and returns EAGAIN for
 * the rest).
 */
import { readdirSync } from "node:fs";
import { check, errno, libc, SysError } from "../../platform/libc.js";
import { NativeMemory } from "../../platform/native-memory.js";
import { interfaceIndex } from "./attach.js";
import { ConsumerRing, ProducerRing, type RingOffsets } from "./rings.js";
import { SOL_XDP, type Umem } from "./umem.js";

const AF_XDP = 44;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;

const XDP_MMAP_OFFSETS = 1;
const XDP_RX_RING = 2;
const XDP_TX_RING = 3;
const XDP_UMEM_FILL_RING = 5;
const XDP_UMEM_COMPLETION_RING = 6;
const XDP_STATISTICS = 7;
const XDP_OPTIONS = 8;
const XDP_OPTIONS_ZEROCOPY = 1;

const XDP_SHARED_UMEM = 1;
const XDP_COPY = 2;
const XDP_ZEROCOPY = 4;
const XDP_USE_NEED_WAKEUP = 8;

const XDP_PGOFF_RX_RING = 0n;
const XDP_PGOFF_TX_RING = 0x80000000n;
const XDP_UMEM_PGOFF_FILL_RING = 0x100000000n;
const XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000n;

const MSG_DONTWAIT = 0x40;
const POLLIN = 0x1;
const EAGAIN = 11;
const EBUSY = 16;
const ENOBUFS = 105;
const EINTR = 4;

/** Frames copy mode transmits per sendto() (the kernel's TX_BATCH_SIZE). */
export const TX_FRAMES_PER_KICK = 32;

export interface XskSocketOptions {
  ifname: string;
  /** RX queue index (default 0). */
  queue?: number;
  umem: Umem;
  /** The socket that registered `umem`; omit for the first socket on a UMEM. */
  shareWith?: XskSocket;
  rxSize?: number;
  txSize?: number;
  fillSize?: number;
  completionSize?: number;
  /** "copy" (default; works on any driver), "zerocopy" (driver support needed), or "auto". */
  mode?: "copy" | "zerocopy" | "auto";
}

/** Receive batch: parallel arrays of UMEM addresses and lengths, filled by receive(). */
export class FrameBatch {
  readonly addrs: Uint32Array;
  readonly lens: Uint32Array;
  count = 0;
  constructor(readonly capacity: number) {
    this.addrs = new Uint32Array(capacity);
    this.lens = new Uint32Array(capacity);
  }
}

export interface XskStatistics {
  rxDropped: bigint;
  rxInvalidDescs: bigint;
  txInvalidDescs: bigint;
  rxRingFull: bigint;
  rxFillRingEmptyDescs: bigint;
  txRingEmptyDescs: bigint;
}

interface Mapped {
  memory: NativeMemory;
  offsets: RingOffsets;
}

function readOffsets(buf: DataView, base: number): RingOffsets {
  return {
    producer: Number(buf.getBigUint64(base, true)),
    consumer: Number(buf.getBigUint64(base + 8, true)),
    desc: Number(buf.getBigUint64(base + 16, true)),
    flags: Number(buf.getBigUint64(base + 24, true)),
  };
}

function setRingSize(fd: number, opt: number, size: number, what: string): void {
  if (size <= 0 || (size & (size - 1)) !== 0)
    throw new RangeError(`${what} ring size ${size} is not a power of two`);
  const v = new Uint32Array([size]);
  check(
    libc().setsockopt(fd, SOL_XDP, opt, new Uint8Array(v.buffer), 4),
    `setsockopt(${what} ring, ${size})`,
  );
}

export class XskSocket {
  readonly fill: ProducerRing;
  readonly rx: ConsumerRing;
  readonly tx: ProducerRing;
  readonly completion: ConsumerRing;
  /** True when the kernel bound the socket in zero-copy mode. */
  readonly zeroCopy: boolean;
  private readonly mappings: NativeMemory[];
  private readonly pollfd: NativeMemory;
  private closed = false;
  /** sendto() calls made by flush(), for the caller's statistics. */
  kicks = 0;
  /** Frames whose transmission completed (reaped from the completion ring). */
  txCompleted = 0;

  private constructor(
    readonly fd: number,
    readonly ifname: string,
    readonly ifindex: number,
    readonly queue: number,
    readonly umem: Umem,
    rings: { fill: ProducerRing; rx: ConsumerRing; tx: ProducerRing; completion: ConsumerRing },
    mappings: NativeMemory[],
    zeroCopy: boolean,
  ) {
    this.fill = rings.fill;
    this.rx = rings.rx;
    this.tx = rings.tx;
    this.completion = rings.completion;
    this.mappings = mappings;
    this.zeroCopy = zeroCopy;
    this.pollfd = NativeMemory.allocate(8);
    this.pollfd.view.setInt32(0, fd, true);
    this.pollfd.view.setInt16(4, POLLIN, true);
  }

  static open(options: XskSocketOptions): XskSocket {
    const c = libc();
    const ifindex = interfaceIndex(options.ifname);
    const queue = options.queue ?? 0;
    const rxSize = options.rxSize ?? 2048;
    const txSize = options.txSize ?? 2048;
    const fillSize = options.fillSize ?? 2048;
    const compSize = options.completionSize ?? 2048;
    const owner = options.shareWith;
    if (owner && owner.umem !== options.umem) throw new Error("shareWith must be a socket on the same UMEM");
    // Sharing on the owner's own interface and queue reuses its fill and completion rings.
    const ownRings = !owner || owner.ifindex !== ifindex || owner.queue !== queue;

    const fd = check(c.socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0), "socket(AF_XDP)");
    const mappings: NativeMemory[] = [];
    try {
      if (!owner) options.umem.registerWith(fd);
      if (ownRings) {
        setRingSize(fd, XDP_UMEM_FILL_RING, fillSize, "fill");
        setRingSize(fd, XDP_UMEM_COMPLETION_RING, compSize, "completion");
      }
      setRingSize(fd, XDP_RX_RING, rxSize, "RX");
      setRingSize(fd, XDP_TX_RING, txSize, "TX");

      const offBuf = new Uint8Array(128);
      const offLen = new Uint32Array([offBuf.length]);
      check(c.getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, offBuf, offLen), "getsockopt(XDP_MMAP_OFFSETS)");
      if (offLen[0] !== 128)
        throw new Error(`XDP_MMAP_OFFSETS returned ${offLen[0]} bytes; this kernel is too old`);
      const dv = new DataView(offBuf.buffer);
      const map = (
        pgoff: bigint,
        off: RingOffsets,
        size: number,
        entryBytes: number,
        what: string,
      ): Mapped => {
        const memory = NativeMemory.mapFd(fd, off.desc + size * entryBytes, pgoff, `${what} ring`);
        mappings.push(memory);
        return { memory, offsets: off };
      };
      const rxMap = map(XDP_PGOFF_RX_RING, readOffsets(dv, 0), rxSize, 16, "RX");
      const txMap = map(XDP_PGOFF_TX_RING, readOffsets(dv, 32), txSize, 16, "TX");
      let fill: ProducerRing;
      let completion: ConsumerRing;
      if (ownRings) {
        const fr = map(XDP_UMEM_PGOFF_FILL_RING, readOffsets(dv, 64), fillSize, 8, "fill");
        const cr = map(XDP_UMEM_PGOFF_COMPLETION_RING, readOffsets(dv, 96), compSize, 8, "completion");
        fill = new ProducerRing(fr.memory, fr.offsets, fillSize, 2);
        completion = new ConsumerRing(cr.memory, cr.offsets, compSize, 2);
      } else {
        fill = owner!.fill;
        completion = owner!.completion;
      }

      const mode = options.mode ?? "copy";
      const bindWith = (flags: number) => {
        const sa = new Uint8Array(16); // struct sockaddr_xdp
        const v = new DataView(sa.buffer);
        v.setUint16(0, AF_XDP, true);
        v.setUint16(2, flags, true);
        v.setUint32(4, ifindex, true);
        v.setUint32(8, queue, true);
        v.setUint32(12, owner ? owner.fd : 0, true);
        return c.bind(fd, sa, sa.length);
      };
      const where = `${options.ifname} queue ${queue}`;
      if (owner) {
        // A sharing socket inherits copy/zero-copy and need-wakeup from the UMEM's owner.
        check(bindWith(XDP_SHARED_UMEM), `bind(AF_XDP shared UMEM, ${where})`);
      } else if (mode === "copy") {
        check(bindWith(XDP_COPY | XDP_USE_NEED_WAKEUP), `bind(AF_XDP copy, ${where})`);
      } else if (mode === "zerocopy") {
        check(bindWith(XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP), `bind(AF_XDP zero-copy, ${where})`);
      } else if (bindWith(XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP) < 0) {
        check(bindWith(XDP_COPY | XDP_USE_NEED_WAKEUP), `bind(AF_XDP copy, ${where})`);
      }

      const opt = new Uint8Array(4);
      const optLen = new Uint32Array([4]);
      check(c.getsockopt(fd, SOL_XDP, XDP_OPTIONS, opt, optLen), "getsockopt(XDP_OPTIONS)");
      const zeroCopy = (new DataView(opt.buffer).getUint32(0, true) & XDP_OPTIONS_ZEROCOPY) !== 0;

      const rings = {
        fill,
        completion,
        rx: new ConsumerRing(rxMap.memory, rxMap.offsets, rxSize, 4),
        tx: new ProducerRing(txMap.memory, txMap.offsets, txSize, 4),
      };
      return new XskSocket(fd, options.ifname, ifindex, queue, options.umem, rings, mappings, zeroCopy);
    } catch (e) {
      for (const m of mappings) m.free();
      c.close(fd);
      throw e;
    }
  }

  /** Lends free UMEM frames to the kernel through the fill ring (as many as fit); returns how many. */
  refill(): number {
    const umem = this.umem;
    let n = this.fill.free(umem.freeFrames);
    if (n > umem.freeFrames) n = umem.freeFrames;
    for (let i = 0; i < n; i++) this.fill.putAddr(umem.alloc());
    if (n > 0) this.fill.submit();
    return n;
  }

  /**
   * Takes up to batch.capacity received frames: their addresses and lengths go into the batch
   * (batch.count is set and returned). The frames now belong to the caller until they are sent
   * (send) or given back (umem.free).
   */
  receive(batch: FrameBatch): number {
    const rx = this.rx;
    const n = rx.available(batch.capacity);
    const addrs = batch.addrs;
    const lens = batch.lens;
    for (let k = 0; k < n; k++) {
      addrs[k] = rx.addrAt(k);
      lens[k] = rx.lenAt(k);
    }
    if (n > 0) rx.release(n);
    batch.count = n;
    return n;
  }

  /**
   * Queues one frame for transmission (it must belong to this socket's UMEM). Returns false when the
   * TX ring is full; nothing leaves before flush().
   */
  send(addr: number, len: number): boolean {
    if (this.tx.free(1) === 0) return false;
    this.tx.putDesc(addr, len);
    return true;
  }

  /** Free slots in the TX ring. */
  txSpace(): number {
    return this.tx.free(this.tx.size);
  }

  /**
   * Publishes queued frames and makes the kernel send them: in copy mode one sendto() per 32 frames
   * until the ring is drained (reaping completions when the kernel reports it is out of room); in
   * zero-copy mode one wake-up when the kernel asks for it. Returns the number of sendto() calls.
   */
  flush(): number {
    const tx = this.tx;
    tx.submit();
    const c = libc();
    let calls = 0;
    if (this.zeroCopy) {
      if (tx.needsWakeup()) {
        calls = 1;
        this.kickOnce(c);
      }
      this.kicks += calls;
      return calls;
    }
    let pending = tx.outstanding();
    let budget = Math.ceil(pending / TX_FRAMES_PER_KICK) + 4;
    while (pending > 0 && budget-- > 0) {
      calls++;
      this.kickOnce(c);
      this.reapCompletions();
      pending = tx.outstanding();
    }
    this.kicks += calls;
    return calls;
  }

  private kickOnce(c: ReturnType<typeof libc>): void {
    if (c.sendto(this.fd, null, 0, MSG_DONTWAIT, null, 0) >= 0) return;
    const e = errno();
    if (e === EAGAIN || e === EBUSY || e === ENOBUFS || e === EINTR) return;
    throw new SysError(`sendto(AF_XDP ${this.ifname} queue ${this.queue})`, e);
  }

  /** Moves frames whose transmission completed back to the UMEM's free list; returns how many. */
  reapCompletions(): number {
    const cr = this.completion;
    const n = cr.available(cr.size);
    const umem = this.umem;
    for (let k = 0; k < n; k++) umem.free(cr.addrAt(k));
    if (n > 0) cr.release(n);
    this.txCompleted += n;
    return n;
  }

  /** True when the fill ring asks for a wake-up to receive (zero-copy drivers); see wakeRx(). */
  rxNeedsWakeup(): boolean {
    return this.fill.needsWakeup();
  }

  /** Waits up to `timeoutMs` for received frames (poll POLLIN); true when some are ready. */
  wait(timeoutMs: number): boolean {
    const r = libc().poll(this.pollfd.ptr, 1, timeoutMs);
    if (r < 0) {
      const e = errno();
      if (e === EINTR) return false;
      throw new SysError("poll(AF_XDP)", e);
    }
    return r > 0;
  }

  /** Kernel counters of this socket (XDP_STATISTICS). */
  statistics(): XskStatistics {
    const buf = new Uint8Array(48);
    const len = new Uint32Array([48]);
    check(libc().getsockopt(this.fd, SOL_XDP, XDP_STATISTICS, buf, len), "getsockopt(XDP_STATISTICS)");
    const v = new DataView(buf.buffer);
    const at = (i: number) => (len[0]! >= (i + 1) * 8 ? v.getBigUint64(i * 8, true) : 0n);
    return {
      rxDropped: at(0),
      rxInvalidDescs: at(1),
      txInvalidDescs: at(2),
      rxRingFull: at(3),
      rxFillRingEmptyDescs: at(4),
      txRingEmptyDescs: at(5),
    };
  }

  /** Closes the socket and unmaps its rings (the UMEM stays; destroy it after its last socket). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.mappings) m.free();
    this.pollfd.free();
    check(libc().close(this.fd), `close(AF_XDP ${this.ifname})`);
  }
}

/** Number of RX queues of an interface (one AF_XDP socket is needed per queue). */
export function rxQueueCount(ifname: string): number {
  try {
    const n = readdirSync(`/sys/class/net/${ifname}/queues`).filter((q) => q.startsWith("rx-")).length;
    return n > 0 ? n : 1;
  } catch {
    throw new Error(`no network interface named "${ifname}" (no /sys/class/net/${ifname}/queues)`);
  }
}

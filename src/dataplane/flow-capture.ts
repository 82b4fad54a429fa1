/**
 * The capture of one connection's frames (`tslvs trace --capture`, docs/decisions/1030-flow-capture.md):
 * the frames of the connection client:cport -> vaddr:vport in both directions, as the director
 * received them and as it sent them, for a bounded time and up to a bounded count and size.
 *
 * The slow path records into it (copies of the frame bytes) while it is attached; when none is
 * attached, the slow path's whole cost is one null test per frame. The connection is kept off the
 * XDP fast path while it is captured (the engine tells FlowOffload), so every frame of it crosses
 * the slow path and is seen here.
 */
import type { FlowPacket } from "../core/flow.js";
import { nowMicros } from "../net/pcap.js";

/** At most this many frames are kept; later ones are counted as truncating the capture. */
export const CAPTURE_MAX_FRAMES = 10_000;
/** At most this many bytes of frames are kept. */
export const CAPTURE_MAX_BYTES = 64 * 1024 * 1024;

export interface CapturedFrame {
  /** Microseconds since the epoch. */
  t: number;
  /** "in": as received; "out": as sent. */
  dir: "in" | "out";
  ifindex: number;
  data: Uint8Array;
}

/** Which connection to capture: the client's tuple toward the virtual address (the trace's fields). */
export interface CaptureTuple {
  family: 4 | 6;
  protocol: number;
  /** Four words each, network word order (IPv4: word 0). */
  caddr: ArrayLike<number>;
  cport: number;
  vaddr: ArrayLike<number>;
  vport: number;
}

export class FlowCapture {
  /** The captured connection's index in the connection table; -1 until the tuple's connection is seen. */
  conn = -1;
  readonly frames: CapturedFrame[] = [];
  /** Bytes of the frames kept. */
  bytes = 0;
  /** Frames left out because a limit was reached. */
  missed = 0;
  /**
   * Set by the slow path while a packet of the captured connection is with a transmitter that sends
   * the frames itself (TUN, FULLNAT): what it sends meanwhile is recorded as "out".
   */
  sending = false;
  /** Told the connection's index once it is known (the engine keeps it off the fast path). */
  onConn: ((conn: number) => void) | null = null;
  private readonly caddr = new Uint32Array(4);
  private readonly vaddr = new Uint32Array(4);

  constructor(
    readonly tuple: CaptureTuple,
    readonly maxFrames = CAPTURE_MAX_FRAMES,
    readonly maxBytes = CAPTURE_MAX_BYTES,
  ) {
    for (let k = 0; k < 4; k++) {
      this.caddr[k] = tuple.caddr[k] ?? 0;
      this.vaddr[k] = tuple.vaddr[k] ?? 0;
    }
  }

  get truncated(): boolean {
    return this.missed > 0;
  }

  /** Whether a packet as it arrived from a client is of the captured tuple. */
  matchesInbound(pkt: FlowPacket): boolean {
    const t = this.tuple;
    if (
      pkt.family !== t.family ||
      pkt.protocol !== t.protocol ||
      pkt.sport !== t.cport ||
      pkt.dport !== t.vport
    )
      return false;
    for (let k = 0; k < 4; k++)
      if (pkt.saddr[k] !== this.caddr[k] || pkt.daddr[k] !== this.vaddr[k]) return false;
    return true;
  }

  /** The tuple's connection is `conn` (it existed at the start, or was just created). */
  adopt(conn: number): void {
    this.conn = conn;
    this.onConn?.(conn);
  }

  /** Keeps a copy of bytes[off .. off+len), unless a limit is reached (then counted as missed). */
  record(bytes: Uint8Array, off: number, len: number, dir: "in" | "out", ifindex: number): void {
    if (this.frames.length >= this.maxFrames || this.bytes + len > this.maxBytes) {
      this.missed++;
      return;
    }
    this.frames.push({ t: nowMicros(), dir, ifindex, data: bytes.slice(off, off + len) });
    this.bytes += len;
  }
}

/** Where a capture runs: the packet engine (one capture at a time). */
export interface CaptureHost {
  /** Attaches the capture to the slow path; throws when one is running already. */
  startCapture(cap: FlowCapture): void;
  /** Detaches it and lets the connection back onto the fast path. */
  endCapture(cap: FlowCapture): void;
}

/** Runs a capture for `seconds` on `host`; settles with what it holds then. */
export function captureFor(host: CaptureHost, cap: FlowCapture, seconds: number): Promise<FlowCapture> {
  host.startCapture(cap);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      host.endCapture(cap);
      resolve(cap);
    }, seconds * 1000);
    // A daemon stopping meanwhile does not wait for it.
    timer.unref();
  });
}

/**
 * pcap capture files (the classic libpcap format tcpdump and Wireshark read): a 24-byte global header,
 * then per frame a 16-byte record header and the bytes. Written little-endian with microsecond
 * timestamps, link type Ethernet. PcapWriter copies frames into its own buffer and writes it with
 * fs when full or on flush(), so a data plane can record what it sent (`--pcap FILE`) at the cost of a
 * memory copy per frame and a write syscall per buffer.
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";

export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_DEFAULT_SNAPLEN = 65535;

function put32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

function put16le(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

/** Writes the global header at `off`; returns the offset after it. */
export function writePcapGlobalHeader(
  out: Uint8Array,
  off: number,
  snaplen: number,
  linktype: number,
): number {
  put32le(out, off, PCAP_MAGIC_MICROS);
  put16le(out, off + 4, 2);
  put16le(out, off + 6, 4);
  put32le(out, off + 8, 0); // thiszone: timestamps are UTC
  put32le(out, off + 12, 0); // sigfigs
  put32le(out, off + 16, snaplen);
  put32le(out, off + 20, linktype);
  return off + PCAP_GLOBAL_HEADER_LEN;
}

/** Writes a record header for a frame captured at `micros` (µs since the epoch); returns the offset after it. */
export function writePcapRecordHeader(
  out: Uint8Array,
  off: number,
  micros: number,
  capturedLen: number,
  originalLen: number,
): number {
  const sec = Math.floor(micros / 1e6);
  put32le(out, off, sec >>> 0);
  put32le(out, off + 4, Math.floor(micros - sec * 1e6));
  put32le(out, off + 8, capturedLen);
  put32le(out, off + 12, originalLen);
  return off + PCAP_RECORD_HEADER_LEN;
}

/** Wall-clock time in microseconds, without allocating. */
export function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

export interface PcapWriterOptions {
  /** Frames longer than this are cut (the record keeps the original length). Default 65535. */
  snaplen?: number;
  /** Bytes buffered before a write. Default 1 MiB. */
  bufferSize?: number;
}

export class PcapWriter {
  private readonly fd: number;
  private readonly buf: Uint8Array;
  private used = 0;
  private closed = false;
  readonly snaplen: number;
  /** Frames recorded. */
  frames = 0;
  /** The write error that stopped recording (disk full ...); the data plane keeps running. */
  error: Error | null = null;

  /** Creates (truncates) `path` and writes the global header. Throws a clear error if it cannot be opened. */
  constructor(
    readonly path: string,
    opts: PcapWriterOptions = {},
  ) {
    this.snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    if (!Number.isInteger(this.snaplen) || this.snaplen < 1 || this.snaplen > 262144)
      throw new RangeError(`pcap snaplen must be 1..262144, not ${this.snaplen}`);
    const size = Math.max(opts.bufferSize ?? 1 << 20, PCAP_RECORD_HEADER_LEN + this.snaplen);
    this.buf = new Uint8Array(size);
    try {
      this.fd = openSync(path, "w");
    } catch (e) {
      throw new Error(`cannot open pcap file ${path}: ${(e as Error).message}`);
    }
    this.used = writePcapGlobalHeader(this.buf, 0, this.snaplen, LINKTYPE_ETHERNET);
  }

  /** Records the frame buf[off..off+len) with timestamp `micros` (default: now). */
  write(buf: Uint8Array, off: number, len: number, micros = nowMicros()): void {
    if (this.closed || this.error || !(len >= 0 && off >= 0 && off + len <= buf.length)) return;
    const cap = Math.min(len, this.snaplen);
    if (this.used + PCAP_RECORD_HEADER_LEN + cap > this.buf.length) this.flush();
    if (this.error) return;
    this.used = writePcapRecordHeader(this.buf, this.used, micros, cap, len);
    // A byte loop rather than set(subarray()): no view object per frame.
    const dst = this.buf;
    let at = this.used;
    for (let i = off, end = off + cap; i < end; i++) dst[at++] = buf[i]!;
    this.used = at;
    this.frames++;
  }

  /** Writes what is buffered to the file. */
  flush(): void {
    if (this.closed || this.error || this.used === 0) return;
    try {
      let done = 0;
      while (done < this.used) done += writeSync(this.fd, this.buf, done, this.used - done);
      this.used = 0;
    } catch (e) {
      this.error = e as Error;
    }
  }

  /** Flushes, syncs and closes; further writes are ignored. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    try {
      if (!this.error) fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
  }
}

/**
 * Requests to the kernel's rtnetlink (NETLINK_ROUTE) and their answers, on a socket of its own: table
 * dumps (links, addresses, routes, neighbours) and changes acknowledged by the kernel (a neighbour
 * to resolve, a veth pair to create). The kernel builds an answer while it is asked (a dump's later
 * parts as they are read), so a call returns without waiting on anything; a 1 s receive timeout
 * bounds it anyway. This replaces spawning `ip`: nothing here forks the daemon.
 *
 * The notifications the kernel multicasts about changes are read elsewhere (rtnetlink-socket.ts).
 */
import { check, errno, errnoName, libc, SysError } from "./libc.js";
import { NativeMemory } from "./native-memory.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const NLMSG_HDRLEN = 16;
const BUFFER_SIZE = 64 * 1024;
/** Attribute type bits that are flags, not part of the type (NLA_F_NESTED, NLA_F_NET_BYTEORDER). */
const NLA_TYPE_MASK = 0x3fff;

export const align4 = (n: number): number => (n + 3) & ~3;

/** A message body being built: fixed header bytes, then attributes (nested ones too). */
export class NlMessageBuilder {
  private bytes: number[] = [];

  u8(v: number): this {
    this.bytes.push(v & 0xff);
    return this;
  }

  u16(v: number): this {
    this.bytes.push(v & 0xff, (v >>> 8) & 0xff);
    return this;
  }

  u32(v: number): this {
    this.bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    return this;
  }

  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i]! & 0xff);
    return this;
  }

  /** An attribute with `payload` (padded to 4 bytes). */
  attr(type: number, payload: ArrayLike<number>): this {
    this.u16(4 + payload.length)
      .u16(type)
      .raw(payload);
    while (this.bytes.length % 4) this.bytes.push(0);
    return this;
  }

  attrU32(type: number, v: number): this {
    return this.attr(type, [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
  }

  /** A NUL-terminated string attribute. */
  attrString(type: number, s: string): this {
    return this.attr(type, [...Buffer.from(s), 0]);
  }

  /** A nested attribute whose content `fill` adds. */
  nest(type: number, fill: (b: this) => void): this {
    const at = this.bytes.length;
    this.u16(0).u16(type);
    fill(this);
    const len = this.bytes.length - at;
    this.bytes[at] = len & 0xff;
    this.bytes[at + 1] = (len >>> 8) & 0xff;
    return this;
  }

  build(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/** Calls `each(type, at, len)` for every attribute in [from, to) (at: the payload's offset). */
export function forEachAttr(
  v: DataView,
  from: number,
  to: number,
  each: (type: number, at: number, len: number) => void,
): void {
  for (let at = from; at + 4 <= to; ) {
    const len = v.getUint16(at, true);
    if (len < 4 || at + len > to) return;
    each(v.getUint16(at + 2, true) & NLA_TYPE_MASK, at + 4, len - 4);
    at += align4(len);
  }
}

/** A message of a dump: its type, and its body [body, end) in `bytes` / `view` (valid during the call). */
export type DumpVisitor = (
  type: number,
  bytes: Uint8Array,
  view: DataView,
  body: number,
  end: number,
) => void;

export class RtnetlinkClient {
  private seq = 1;
  private closed = false;

  private constructor(
    private readonly fd: number,
    private readonly buffer: NativeMemory,
  ) {}

  static open(): RtnetlinkClient {
    const c = libc();
    const fd = check(c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), "socket(NETLINK_ROUTE)");
    try {
      // struct timeval {1 s, 0}: a read that finds nothing gives up instead of hanging the loop.
      const tv = new Uint8Array(16);
      new DataView(tv.buffer).setBigInt64(0, 1n, true);
      check(c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16), "setsockopt(SO_RCVTIMEO)");
      const addr = new Uint8Array(12);
      new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
      check(c.bind(fd, addr, 12), "bind(AF_NETLINK)");
      return new RtnetlinkClient(fd, NativeMemory.allocate(BUFFER_SIZE));
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }

  /** Dumps a table: `type` (RTM_GET*) with the fixed `header`; `visit` sees every message. */
  dump(type: number, header: Uint8Array, visit: DumpVisitor): void {
    const seq = this.send(type, NLM_F_REQUEST | NLM_F_DUMP, header);
    for (;;) {
      const n = this.receive();
      const b = this.buffer.bytes;
      const v = new DataView(b.buffer, b.byteOffset, n);
      for (let at = 0; at + NLMSG_HDRLEN <= n; ) {
        const len = v.getUint32(at, true);
        const t = v.getUint16(at + 4, true);
        if (len < NLMSG_HDRLEN || at + len > n) throw new Error(`rtnetlink dump ${type}: malformed message`);
        if (v.getUint32(at + 8, true) === seq) {
          if (t === NLMSG_DONE) return;
          if (t === NLMSG_ERROR)
            throw new Error(`rtnetlink dump ${type}: ${errnoName(-v.getInt32(at + 16, true))}`);
          visit(t, b, v, at + NLMSG_HDRLEN, at + len);
        }
        at += align4(len);
      }
    }
  }

  /** Sends a change (`type` with `flags` | NLM_F_REQUEST | NLM_F_ACK) and waits for its ack; throws the kernel's errno. */
  request(type: number, flags: number, body: Uint8Array): void {
    const seq = this.send(type, flags | NLM_F_REQUEST | NLM_F_ACK, body);
    for (;;) {
      const n = this.receive();
      const v = new DataView(this.buffer.bytes.buffer, this.buffer.bytes.byteOffset, n);
      if (v.getUint32(8, true) !== seq || v.getUint16(4, true) !== NLMSG_ERROR) continue;
      const err = -v.getInt32(NLMSG_HDRLEN, true);
      if (err !== 0) throw new SysError(`rtnetlink request ${type}`, err);
      return;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc().close(this.fd);
    this.buffer.free();
  }

  private send(type: number, flags: number, body: Uint8Array): number {
    const total = NLMSG_HDRLEN + body.length;
    const msg = new Uint8Array(total);
    const v = new DataView(msg.buffer);
    const seq = this.seq++;
    v.setUint32(0, total, true);
    v.setUint16(4, type, true);
    v.setUint16(6, flags, true);
    v.setUint32(8, seq, true);
    msg.set(body, NLMSG_HDRLEN);
    const addr = new Uint8Array(12);
    new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
    if (Number(libc().sendto(this.fd, msg, total, 0, addr, 12)) < 0)
      throw new Error(`rtnetlink: sendto: ${errnoName(errno())}`);
    return seq;
  }

  private receive(): number {
    const n = Number(libc().recvfrom(this.fd, this.buffer.ptr, BUFFER_SIZE, 0, null, null));
    if (n < 0) throw new Error(`rtnetlink: recvfrom: ${errnoName(errno())}`);
    if (n === 0) throw new Error("rtnetlink: no answer");
    return n;
  }
}

let shared: RtnetlinkClient | null = null;

/**
 * The process's rtnetlink client for the host's tables and links (opened on first use). Calls are
 * synchronous, one at a time on the one thread, so one socket serves every caller.
 */
export function hostRtnetlink(): RtnetlinkClient {
  shared ??= RtnetlinkClient.open();
  return shared;
}

/** Closes it (a later call opens a new one). */
export function closeHostRtnetlink(): void {
  shared?.close();
  shared = null;
}

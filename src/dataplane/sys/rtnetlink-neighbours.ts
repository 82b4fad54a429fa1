/**
 * The kernel's neighbour table over rtnetlink, without spawning `ip`: a dump of it (RTM_GETNEIGH),
 * and a request that the kernel resolve an address (RTM_NEWNEIGH with NTF_USE, what
 * `ip neigh replace ADDR dev DEV use` sends: the kernel sends the ARP request or neighbour
 * solicitation, and the answer lands in its table). Both are one request and its answer on a
 * socket of their own; the kernel builds the answer while it is asked, so the reads do not wait
 * (a receive timeout bounds them anyway).
 */
import { IpAddr } from "../../core/address.js";
import { check, errno, errnoName, libc } from "./libc.js";
import { NativeMemory } from "./native-memory.js";

const AF_NETLINK = 16;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_UNSPEC = 0;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const MSG_DONTWAIT = 0x40;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const NLM_F_REPLACE = 0x100;
const NLM_F_CREATE = 0x400;

const NDA_DST = 1;
const NDA_LLADDR = 2;
const NTF_USE = 0x01;
const NUD_INCOMPLETE = 0x01;
const NUD_FAILED = 0x20;

const NLMSG_HDRLEN = 16;
const NDMSG_LEN = 12;
const BUFFER_SIZE = 64 * 1024;

/** One usable neighbour: an address on an interface and its link-layer address. */
export interface NeighbourEntry {
  ifindex: number;
  addr: IpAddr;
  mac: Uint8Array;
}

const align4 = (n: number) => (n + 3) & ~3;

export class RtnetlinkNeighbours {
  private seq = 1;
  private closed = false;

  private constructor(
    private readonly fd: number,
    private readonly buffer: NativeMemory,
  ) {}

  static open(): RtnetlinkNeighbours {
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
      return new RtnetlinkNeighbours(fd, NativeMemory.allocate(BUFFER_SIZE));
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }

  /** Every neighbour the kernel has a link-layer address for (not INCOMPLETE, not FAILED). */
  dump(): NeighbourEntry[] {
    const seq = this.send(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, AF_UNSPEC, 0, null);
    const out: NeighbourEntry[] = [];
    for (;;) {
      const n = this.receive(0);
      if (n <= 0) throw new Error("rtnetlink neighbour dump: no answer");
      const b = this.buffer.bytes;
      const v = new DataView(b.buffer, b.byteOffset, n);
      for (let at = 0; at + NLMSG_HDRLEN <= n; ) {
        const len = v.getUint32(at, true);
        const type = v.getUint16(at + 4, true);
        if (len < NLMSG_HDRLEN || at + len > n)
          throw new Error("rtnetlink neighbour dump: malformed message");
        if (v.getUint32(at + 8, true) === seq) {
          if (type === NLMSG_DONE) return out;
          if (type === NLMSG_ERROR)
            throw new Error(`rtnetlink neighbour dump: ${errnoName(-v.getInt32(at + 16, true))}`);
          if (type === RTM_NEWNEIGH) {
            const e = parseNeighbour(b, v, at + NLMSG_HDRLEN, at + len);
            if (e) out.push(e);
          }
        }
        at += align4(len);
      }
    }
  }

  /**
   * Asks the kernel to resolve `addr` on interface `ifindex` now (an ARP request or a neighbour
   * solicitation). The answer arrives in the kernel's table (and as an RTM_NEWNEIGH notification).
   * Throws with the kernel's errno (an interface that vanished: ENODEV).
   */
  solicit(ifindex: number, addr: IpAddr): void {
    const seq = this.send(
      RTM_NEWNEIGH,
      NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
      addr.family === 4 ? AF_INET : AF_INET6,
      ifindex,
      addr,
    );
    for (;;) {
      const n = this.receive(0);
      if (n <= 0) throw new Error("rtnetlink neighbour request: no answer");
      const v = new DataView(this.buffer.bytes.buffer, this.buffer.bytes.byteOffset, n);
      if (v.getUint32(8, true) !== seq || v.getUint16(4, true) !== NLMSG_ERROR) continue;
      const err = -v.getInt32(NLMSG_HDRLEN, true);
      if (err !== 0) throw new Error(`rtnetlink neighbour request: ${errnoName(err)}`);
      return;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc().close(this.fd);
    this.buffer.free();
  }

  private send(type: number, flags: number, family: number, ifindex: number, dst: IpAddr | null): number {
    const dstLen = dst ? (dst.family === 4 ? 4 : 16) : 0;
    const total = NLMSG_HDRLEN + NDMSG_LEN + (dst ? 4 + dstLen : 0);
    const msg = new Uint8Array(total);
    const v = new DataView(msg.buffer);
    const seq = this.seq++;
    v.setUint32(0, total, true);
    v.setUint16(4, type, true);
    v.setUint16(6, flags, true);
    v.setUint32(8, seq, true);
    msg[NLMSG_HDRLEN] = family;
    v.setInt32(NLMSG_HDRLEN + 4, ifindex, true);
    msg[NLMSG_HDRLEN + 10] = dst ? NTF_USE : 0;
    if (dst) {
      const at = NLMSG_HDRLEN + NDMSG_LEN;
      v.setUint16(at, 4 + dstLen, true);
      v.setUint16(at + 2, NDA_DST, true);
      if (dst.family === 4) v.setUint32(at + 4, dst.v4Value);
      else for (let i = 0; i < 4; i++) v.setUint32(at + 4 + i * 4, dst.words[i]!);
    }
    const addr = new Uint8Array(12);
    new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
    if (Number(libc().sendto(this.fd, msg, total, 0, addr, 12)) < 0)
      throw new Error(`rtnetlink: sendto: ${errnoName(errno())}`);
    return seq;
  }

  private receive(flags: number): number {
    const n = Number(libc().recvfrom(this.fd, this.buffer.ptr, BUFFER_SIZE, flags, null, null));
    if (n < 0) {
      const e = errno();
      if (flags & MSG_DONTWAIT && e === 11) return 0;
      throw new Error(`rtnetlink: recvfrom: ${errnoName(e)}`);
    }
    return n;
  }
}

/** The entry in an RTM_NEWNEIGH message's body [from, to), or null when it has no usable address. */
function parseNeighbour(b: Uint8Array, v: DataView, from: number, to: number): NeighbourEntry | null {
  if (from + NDMSG_LEN > to) return null;
  const family = b[from]!;
  const ifindex = v.getInt32(from + 4, true);
  const state = v.getUint16(from + 8, true);
  if (state & (NUD_INCOMPLETE | NUD_FAILED)) return null;
  let addr: IpAddr | null = null;
  let mac: Uint8Array | null = null;
  for (let at = from + NDMSG_LEN; at + 4 <= to; ) {
    const len = v.getUint16(at, true);
    const type = v.getUint16(at + 2, true) & 0x3fff;
    if (len < 4 || at + len > to) break;
    if (type === NDA_DST && family === AF_INET && len === 8) addr = IpAddr.v4(v.getUint32(at + 4));
    else if (type === NDA_DST && family === AF_INET6 && len === 20)
      addr = IpAddr.fromWords(
        6,
        [0, 1, 2, 3].map((i) => v.getUint32(at + 4 + i * 4)),
      );
    else if (type === NDA_LLADDR && len === 10) mac = b.slice(at + 4, at + 10);
    at += align4(len);
  }
  return addr && mac ? { ifindex, addr, mac } : null;
}

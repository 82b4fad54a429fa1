/**
 * A raw IP socket for protocol 112 on one interface, one per (interface, family): what every VRRP
 * instance on that interface sends and receives with. Node has no raw sockets, so it is libc's
 * through koffi (src/platform/libc.ts), non-blocking, read on the engine's timer.
 *
 * IPv4: IP_HDRINCL, so the packet's TTL (255) and source (unicast_src_ip, else the interface's
 * address) are ours to write; received packets come with their IP header (TTL, addresses).
 * IPv6: bound to the source address (the interface's link-local, or unicast_src_ip), hop limits
 * 255; the hop limit and destination of a received packet come as ancillary data (recvmsg with
 * IPV6_RECVHOPLIMIT / IPV6_RECVPKTINFO). Both join the VRRP group (224.0.0.18 / ff02::12) on the
 * interface, do not loop their own multicast back, and are bound to the device.
 */
import { errno, errnoCodes, libc, SysError } from "../../platform/libc.js";
import { NativeMemory } from "../../platform/native-memory.js";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_VRRP = 112;
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const SOL_IP = 0;
const IP_HDRINCL = 3;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;
const SOL_IPV6 = 41;
const IPV6_UNICAST_HOPS = 16;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_ADD_MEMBERSHIP = 20;
const IPV6_RECVPKTINFO = 49;
const IPV6_PKTINFO = 50;
const IPV6_RECVHOPLIMIT = 51;
const IPV6_HOPLIMIT = 52;
const MSG_DONTWAIT = 0x40;

const BUFFER = 2048;
const CONTROL = 256;
/** Where the parts of the IPv6 receive area live in its native memory. */
const AT_MSGHDR = 0;
const AT_IOV = 64;
const AT_NAME = 96;
const AT_CONTROL = 128;
const AT_DATA = 512;

/** One received packet: the VRRP message is data[off, off+len). Valid until the next receive(). */
export interface RawVrrpPacket {
  data: Uint8Array;
  off: number;
  len: number;
  src: Uint8Array;
  dst: Uint8Array;
  ttl: number;
}

function sockopt(fd: number, level: number, name: number, val: Uint8Array, what: string): void {
  if (libc().setsockopt(fd, level, name, val, val.length) < 0)
    throw new SysError(`setsockopt(${what})`, errno());
}

function int32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

export class VrrpSocket {
  private readonly mem: NativeMemory;
  private readonly packet: RawVrrpPacket;
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly family: 4 | 6,
    /** The source of what this socket sends. */
    readonly source: Uint8Array,
  ) {
    this.mem = NativeMemory.allocate(4096);
    this.packet = {
      data: this.mem.bytes,
      off: 0,
      len: 0,
      src: new Uint8Array(family === 4 ? 4 : 16),
      dst: new Uint8Array(family === 4 ? 4 : 16),
      ttl: 0,
    };
    if (family === 6) {
      // struct msghdr { name, namelen, iov, iovlen, control, controllen, flags } pointing into mem.
      const v = this.mem.view;
      const base = this.mem.address;
      v.setBigUint64(AT_IOV, base + BigInt(AT_DATA), true);
      v.setBigUint64(AT_IOV + 8, BigInt(BUFFER), true);
      v.setBigUint64(AT_MSGHDR, base + BigInt(AT_NAME), true);
      v.setBigUint64(AT_MSGHDR + 16, base + BigInt(AT_IOV), true);
      v.setBigUint64(AT_MSGHDR + 24, 1n, true);
      v.setBigUint64(AT_MSGHDR + 32, base + BigInt(AT_CONTROL), true);
    }
  }

  /**
   * Opens the socket on `ifname` (index `ifindex`), sending from `source` (4 or 16 bytes), joined to
   * the VRRP group. Throws a SysError (EPERM without CAP_NET_RAW).
   */
  static open(ifname: string, ifindex: number, source: Uint8Array, group: Uint8Array): VrrpSocket {
    const c = libc();
    const family = source.length === 4 ? 4 : 6;
    const fd = c.socket(
      family === 4 ? AF_INET : AF_INET6,
      SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
      IPPROTO_VRRP,
    );
    if (fd < 0)
      throw new SysError(`socket(${family === 4 ? "AF_INET" : "AF_INET6"}, SOCK_RAW, 112)`, errno());
    try {
      sockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(`${ifname}\0`), `SO_BINDTODEVICE ${ifname}`);
      if (family === 4) {
        sockopt(fd, SOL_IP, IP_HDRINCL, int32(1), "IP_HDRINCL");
        sockopt(fd, SOL_IP, IP_MULTICAST_LOOP, int32(0), "IP_MULTICAST_LOOP");
        const mreqn = new Uint8Array(12);
        mreqn.set(group, 0);
        new DataView(mreqn.buffer).setInt32(8, ifindex, true);
        sockopt(fd, SOL_IP, IP_ADD_MEMBERSHIP, mreqn, "IP_ADD_MEMBERSHIP 224.0.0.18");
      } else {
        sockopt(fd, SOL_IPV6, IPV6_UNICAST_HOPS, int32(255), "IPV6_UNICAST_HOPS");
        sockopt(fd, SOL_IPV6, IPV6_MULTICAST_HOPS, int32(255), "IPV6_MULTICAST_HOPS");
        sockopt(fd, SOL_IPV6, IPV6_MULTICAST_IF, int32(ifindex), "IPV6_MULTICAST_IF");
        sockopt(fd, SOL_IPV6, IPV6_MULTICAST_LOOP, int32(0), "IPV6_MULTICAST_LOOP");
        sockopt(fd, SOL_IPV6, IPV6_RECVHOPLIMIT, int32(1), "IPV6_RECVHOPLIMIT");
        sockopt(fd, SOL_IPV6, IPV6_RECVPKTINFO, int32(1), "IPV6_RECVPKTINFO");
        const mreq = new Uint8Array(20);
        mreq.set(group, 0);
        new DataView(mreq.buffer).setInt32(16, ifindex, true);
        sockopt(fd, SOL_IPV6, IPV6_ADD_MEMBERSHIP, mreq, "IPV6_ADD_MEMBERSHIP ff02::12");
        // Bound to the source, so that the kernel sends from the address the checksum was made with.
        const sa = sockaddr6(source, ifindex);
        if (c.bind(fd, sa, sa.length) < 0) throw new SysError("bind(VRRP source)", errno());
      }
      return new VrrpSocket(fd, family, source);
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }

  /**
   * Sends the VRRP message msg[0, len) to `dst` (the group or a unicast peer) from `src` (IPv4:
   * written in the header, so instances with different sources share the socket; IPv6: the
   * address the socket is bound to). Returns false on failure (errno kept).
   */
  send(
    msg: Uint8Array,
    len: number,
    dst: Uint8Array,
    ifindex: number,
    src: Uint8Array = this.source,
  ): boolean {
    const c = libc();
    if (this.family === 4) {
      const pkt = new Uint8Array(20 + len);
      pkt[0] = 0x45;
      pkt[1] = 0xc0; // DSCP CS6 (network control), as keepalived sends
      new DataView(pkt.buffer).setUint16(2, 20 + len);
      pkt[8] = 255;
      pkt[9] = IPPROTO_VRRP;
      pkt.set(src, 12);
      pkt.set(dst, 16);
      pkt.set(msg.subarray(0, len), 20);
      const sa = new Uint8Array(16);
      new DataView(sa.buffer).setUint16(0, AF_INET, true);
      sa.set(dst, 4);
      return Number(c.sendto(this.fd, pkt, pkt.length, 0, sa, 16)) >= 0;
    }
    const sa = sockaddr6(dst, ifindex);
    return Number(c.sendto(this.fd, msg, len, 0, sa, sa.length)) >= 0;
  }

  /**
   * The next queued packet, or null when none is (EAGAIN). A packet too short for its IP header
   * comes back with len -1 (the caller counts it as truncated).
   */
  receive(): RawVrrpPacket | null {
    if (this.closed) return null;
    return this.family === 4 ? this.receive4() : this.receive6();
  }

  private receive4(): RawVrrpPacket | null {
    const c = libc();
    const b = this.mem.bytes;
    const n = Number(c.recvfrom(this.fd, this.mem.ptr, BUFFER, MSG_DONTWAIT, null, null));
    if (n < 0) return this.failed();
    const p = this.packet;
    const ihl = n >= 20 ? (b[0]! & 0x0f) * 4 : 0;
    if (ihl < 20 || n < ihl) {
      p.len = -1;
      return p;
    }
    const total = (b[2]! << 8) | b[3]!;
    p.ttl = b[8]!;
    p.src.set(b.subarray(12, 16));
    p.dst.set(b.subarray(16, 20));
    p.off = ihl;
    p.len = Math.min(n, total) - ihl;
    return p;
  }

  private receive6(): RawVrrpPacket | null {
    const c = libc();
    const v = this.mem.view;
    v.setUint32(AT_MSGHDR + 8, 28, true);
    v.setBigUint64(AT_MSGHDR + 40, BigInt(CONTROL), true);
    v.setInt32(AT_MSGHDR + 48, 0, true);
    const n = Number(c.recvmsg(this.fd, this.mem.ptr, MSG_DONTWAIT));
    if (n < 0) return this.failed();
    const p = this.packet;
    const b = this.mem.bytes;
    p.src.set(b.subarray(AT_NAME + 8, AT_NAME + 24));
    p.ttl = -1;
    p.dst.fill(0);
    // struct cmsghdr { size_t len; int level; int type; data } walked over the control area.
    const controlLen = Number(v.getBigUint64(AT_MSGHDR + 40, true));
    for (let at = AT_CONTROL; at + 16 <= AT_CONTROL + controlLen; ) {
      const len = Number(v.getBigUint64(at, true));
      if (len < 16) break;
      const level = v.getInt32(at + 8, true);
      const type = v.getInt32(at + 12, true);
      if (level === SOL_IPV6 && type === IPV6_HOPLIMIT) p.ttl = v.getInt32(at + 16, true);
      else if (level === SOL_IPV6 && type === IPV6_PKTINFO) p.dst.set(b.subarray(at + 16, at + 32));
      at += (len + 7) & ~7;
    }
    p.data = b;
    p.off = AT_DATA;
    p.len = n;
    return p;
  }

  private failed(): null {
    const e = errno();
    if (e === errnoCodes.EAGAIN || e === errnoCodes.EINTR) return null;
    throw new SysError("recv(VRRP socket)", e);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc().close(this.fd);
    this.mem.free();
  }
}

/** struct sockaddr_in6 for `addr` with scope `ifindex` (used for link-local addresses). */
function sockaddr6(addr: Uint8Array, ifindex: number): Uint8Array {
  const sa = new Uint8Array(28);
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_INET6, true);
  sa.set(addr, 8);
  const linkScoped = addr[0] === 0xfe && (addr[1]! & 0xc0) === 0x80;
  const mcastLink = addr[0] === 0xff && (addr[1]! & 0x0f) === 0x02;
  v.setUint32(24, linkScoped || mcastLink ? ifindex : 0, true);
  return sa;
}

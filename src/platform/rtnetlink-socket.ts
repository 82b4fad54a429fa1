/**
 * A non-blocking AF_NETLINK / NETLINK_ROUTE socket bound to rtnetlink multicast groups: the kernel
 * sends one message on it for every change of the groups' tables (links, addresses, routes,
 * neighbours) made by anyone in this network namespace. Reading it never blocks: `receive()` returns
 * at once, with a datagram, with nothing (EAGAIN), or with the news that the kernel dropped messages
 * because the socket's buffer was full (ENOBUFS, an overrun).
 */
import { check, errno, errnoCodes, libc, SysError } from "./libc.js";
import { NativeMemory } from "./native-memory.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const MSG_DONTWAIT = 0x40;
/** sizeof(struct sockaddr_nl) */
const SOCKADDR_NL_SIZE = 12;

/** The nftables family of netlink, and its group of ruleset changes (NFNLGRP_NFTABLES = 7, as a bind bit). */
export const NETLINK_NETFILTER = 12;
export const NFNLGRP_NFTABLES_BIT = 1 << (7 - 1);

/** rtnetlink multicast groups (the legacy RTMGRP_* bit masks of <linux/rtnetlink.h>). */
export const RTMGRP_LINK = 0x1;
export const RTMGRP_NEIGH = 0x4;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;

/** Every group whose changes can matter to the data plane. */
export const HOST_STATE_GROUPS =
  RTMGRP_LINK |
  RTMGRP_NEIGH |
  RTMGRP_IPV4_IFADDR |
  RTMGRP_IPV4_ROUTE |
  RTMGRP_IPV6_IFADDR |
  RTMGRP_IPV6_ROUTE;

/** `receive()`'s answer when the kernel dropped messages for this socket (its buffer overran). */
export const RECEIVE_OVERRUN = -1;

/** Large enough for any notification (the kernel sizes them below a page; dumps below 32 KiB). */
const BUFFER_SIZE = 64 * 1024;
/** Room for bursts between two reads (the kernel caps it at net.core.rmem_max). */
const RECEIVE_BUFFER = 1024 * 1024;

export class RtnetlinkSocket {
  private closed = false;

  private constructor(
    readonly fd: number,
    private readonly buffer: NativeMemory,
  ) {}

  /** The bytes of the last datagram received (valid until the next receive()). */
  get bytes(): Uint8Array {
    return this.buffer.bytes;
  }

  /**
   * Opens a socket subscribed to `groups` (RTMGRP_* bits) in the caller's network namespace; with
   * `protocol` NETLINK_NETFILTER, to nfnetlink's groups (NFNLGRP_NFTABLES_BIT: ruleset changes).
   */
  static open(groups: number = HOST_STATE_GROUPS, protocol: number = NETLINK_ROUTE): RtnetlinkSocket {
    const c = libc();
    const fd = check(
      c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol),
      `socket(AF_NETLINK, ${protocol})`,
    );
    let buffer: NativeMemory | null = null;
    try {
      const size = new Uint8Array(4);
      new DataView(size.buffer).setInt32(0, RECEIVE_BUFFER, true);
      // A smaller buffer than asked for is not an error: overruns are handled anyway.
      c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
      const addr = new Uint8Array(SOCKADDR_NL_SIZE);
      const v = new DataView(addr.buffer);
      v.setUint16(0, AF_NETLINK, true);
      v.setUint32(4, 0, true); // nl_pid 0: the kernel assigns the port id
      v.setUint32(8, groups >>> 0, true);
      check(c.bind(fd, addr, SOCKADDR_NL_SIZE), "bind(AF_NETLINK, rtnetlink groups)");
      buffer = NativeMemory.allocate(BUFFER_SIZE);
      return new RtnetlinkSocket(fd, buffer);
    } catch (e) {
      buffer?.free();
      c.close(fd);
      throw e;
    }
  }

  /**
   * One datagram into `bytes`: its length; 0 when nothing is queued; RECEIVE_OVERRUN when the kernel
   * dropped messages since the last read (whatever they said is lost: assume everything changed).
   * Throws a SysError for any other failure.
   */
  receive(): number {
    if (this.closed) throw new Error("rtnetlink socket is closed");
    const n = Number(libc().recvfrom(this.fd, this.buffer.ptr, BUFFER_SIZE, MSG_DONTWAIT, null, null));
    if (n >= 0) return n;
    const e = errno();
    if (e === errnoCodes.EAGAIN || e === errnoCodes.EINTR) return 0;
    if (e === errnoCodes.ENOBUFS) return RECEIVE_OVERRUN;
    throw new SysError("recvfrom(rtnetlink)", e);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc().close(this.fd);
    this.buffer.free();
  }
}

/**
 * Announces addresses a new master took over: a gratuitous ARP (a broadcast ARP request for the
 * address from itself, as keepalived sends) for each IPv4 VIP, an unsolicited Neighbor
 * Advertisement for each IPv6 VIP, from the interface's own MAC (RFC 5798 §6.4.1 / §8.1.2). Whole
 * Ethernet frames on an AF_PACKET socket (libc through koffi): the kernel sends neither on its own
 * when an address is added.
 */
import { buildArpRequest } from "../../net/arp.js";
import { readMac } from "../../net/ethernet.js";
import { buildUnsolicitedNa } from "../../net/unsolicited-na.js";
import { errno, libc, SysError } from "../../platform/libc.js";

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

export class AddressAnnouncer {
  private readonly frame = new Uint8Array(128);
  /** Frames sent and frames the kernel refused. */
  sent = 0;
  failed = 0;

  private constructor(private readonly fd: number) {}

  /** Opens the send-only packet socket (protocol 0: it receives nothing). Throws EPERM without CAP_NET_RAW. */
  static open(): AddressAnnouncer {
    const fd = libc().socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new SysError("socket(AF_PACKET)", errno());
    return new AddressAnnouncer(fd);
  }

  /** One gratuitous ARP for `ip` (4 bytes) out of `ifindex` from `mac` (6 bytes). */
  garp(ifindex: number, mac: Uint8Array, ip: Uint8Array): boolean {
    const ipv4 = ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
    const len = buildArpRequest(this.frame, 0, readMac(mac, 0), ipv4, ipv4);
    return this.send(ifindex, len);
  }

  /** One unsolicited NA for `ip` (16 bytes) from `linkLocal` out of `ifindex` from `mac`. */
  unsolicitedNa(ifindex: number, mac: Uint8Array, linkLocal: Uint8Array, ip: Uint8Array): boolean {
    const len = buildUnsolicitedNa(this.frame, 0, readMac(mac, 0), linkLocal, ip, false);
    return this.send(ifindex, len);
  }

  private send(ifindex: number, len: number): boolean {
    // struct sockaddr_ll { family, protocol, ifindex, hatype, pkttype, halen, addr[8] }: the frame
    // carries its own header, only the interface matters.
    const sa = new Uint8Array(20);
    const v = new DataView(sa.buffer);
    v.setUint16(0, AF_PACKET, true);
    v.setInt32(4, ifindex, true);
    const ok = Number(libc().sendto(this.fd, this.frame, len, 0, sa, 20)) === len;
    if (ok) this.sent++;
    else this.failed++;
    return ok;
  }

  close(): void {
    libc().close(this.fd);
  }
}

/**
 * Which interfaces can transmit frames redirected by a native-mode XDP program.
 *
 * A generic-mode (skb) XDP redirect goes out through the normal transmit path and works to any
 * interface. A native-mode redirect calls the egress driver's ndo_xdp_xmit: a driver without it
 * drops the frame silently. For veth it depends on the *peer*: a veth can take XDP frames only while
 * its peer has NAPI (an XDP program, or GRO enabled). The kernel publishes this per device as the
 * NETDEV_XDP_ACT_NDO_XMIT bit of its XDP features (netdev generic-netlink family, kernel 6.3+,
 * updated live for veth), which is what is read here: one request per interface, no per-packet cost.
 */
import { errno, libc, SysError } from "../../platform/libc.js";
import { NativeMemory } from "../../platform/native-memory.js";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_GENERIC = 16;
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const NETDEV_CMD_DEV_GET = 1;
const NETDEV_A_DEV_IFINDEX = 1;
const NETDEV_A_DEV_XDP_FEATURES = 3;
const NLM_F_REQUEST = 1;
const NLMSG_ERROR = 2;
/** enum netdev_xdp_act (include/uapi/linux/netdev.h). */
export const NETDEV_XDP_ACT_REDIRECT = 2;
export const NETDEV_XDP_ACT_NDO_XMIT = 4;

const BUF = 8192;

/** A generic-netlink socket asking the kernel's `netdev` family about devices. */
export class XdpFeatureProbe {
  private readonly fd: number;
  private readonly mem = NativeMemory.allocate(BUF);
  private family = -1;
  private seq = 1;

  constructor() {
    const fd = libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC) as number;
    if (fd < 0) {
      const e = errno();
      this.mem.free();
      throw new SysError("socket(AF_NETLINK, NETLINK_GENERIC)", e);
    }
    this.fd = fd;
  }

  /** Writes a request: nlmsghdr + genlmsghdr + one attribute; returns its length. */
  private request(type: number, cmd: number, attrType: number, attr: Uint8Array): number {
    const b = this.mem.bytes;
    const v = this.mem.view;
    b.fill(0, 0, 64);
    const attrLen = 4 + attr.length;
    const len = 16 + 4 + ((attrLen + 3) & ~3);
    v.setUint32(0, len, true);
    v.setUint16(4, type, true);
    v.setUint16(6, NLM_F_REQUEST, true);
    v.setUint32(8, this.seq++, true);
    v.setUint8(16, cmd);
    v.setUint8(17, 1);
    v.setUint16(20, attrLen, true);
    v.setUint16(22, attrType, true);
    b.set(attr, 24);
    return len;
  }

  /** Sends the request in the buffer and returns the attributes of the reply (type -> bytes). */
  private exchange(len: number): Map<number, Uint8Array> {
    const c = libc();
    if ((c.sendto(this.fd, this.mem.ptr, len, 0, null, 0) as number) < 0)
      throw new SysError("sendto(netlink)", errno());
    const n = c.recvfrom(this.fd, this.mem.ptr, BUF, 0, null, null) as number;
    if (n < 0) throw new SysError("recv(netlink)", errno());
    const v = this.mem.view;
    const type = v.getUint16(4, true);
    if (type === NLMSG_ERROR) {
      const err = -v.getInt32(16, true);
      throw new SysError("netlink request", err);
    }
    const attrs = new Map<number, Uint8Array>();
    const end = Math.min(n, v.getUint32(0, true));
    let at = 20;
    while (at + 4 <= end) {
      const alen = v.getUint16(at, true);
      if (alen < 4 || at + alen > end) break;
      attrs.set(v.getUint16(at + 2, true) & 0x3fff, this.mem.bytes.slice(at + 4, at + alen));
      at += (alen + 3) & ~3;
    }
    return attrs;
  }

  private netdevFamily(): number {
    if (this.family >= 0) return this.family;
    const name = new TextEncoder().encode("netdev\0");
    const attrs = this.exchange(this.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, name));
    const id = attrs.get(CTRL_ATTR_FAMILY_ID);
    if (!id || id.length < 2) throw new Error("the kernel has no netdev netlink family (needs 6.3+)");
    this.family = id[0]! | (id[1]! << 8);
    return this.family;
  }

  /** The device's NETDEV_XDP_ACT_* bits. */
  features(ifindex: number): number {
    const idx = new Uint8Array(4);
    new DataView(idx.buffer).setUint32(0, ifindex, true);
    const attrs = this.exchange(
      this.request(this.netdevFamily(), NETDEV_CMD_DEV_GET, NETDEV_A_DEV_IFINDEX, idx),
    );
    const f = attrs.get(NETDEV_A_DEV_XDP_FEATURES);
    if (!f || f.length < 4) return 0;
    return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(0, true);
  }

  /** True when a native-mode XDP program may redirect frames to this device. */
  canTransmitXdp(ifindex: number): boolean {
    return (this.features(ifindex) & NETDEV_XDP_ACT_NDO_XMIT) !== 0;
  }

  close(): void {
    libc().close(this.fd);
    this.mem.free();
  }
}

/**
 * Attaching an XDP program to an interface through a BPF link. The link is a file descriptor: when
 * the process closes it — or exits, or is killed — the kernel detaches the program, so a crashed
 * daemon leaves nothing on the interface (unlike a netlink attach, which stays until removed).
 */
import { closeFd, linkCreateXdp, linkUpdate, XdpFlags } from "../bpf/syscalls.js";
import { libc, SysError } from "../sys/libc.js";

/**
 * "generic": XDP on the skb path (any interface, after the driver built an skb);
 * "native": in the driver (needs driver support, e.g. veth, mlx5, i40e);
 * "auto": native, falling back to generic when the driver refuses.
 */
export type XdpMode = "generic" | "native" | "auto";

export class XdpAttachment {
  private closed = false;

  constructor(
    readonly linkFd: number,
    readonly ifindex: number,
    readonly ifname: string,
    /** The mode actually in effect. */
    readonly mode: "generic" | "native",
    /** Why native mode was not used, when "auto" fell back to generic. */
    readonly fallbackReason: string | null,
  ) {}

  /** Replaces the program atomically (no instant without steering). */
  replaceProgram(progFd: number): void {
    linkUpdate(this.linkFd, progFd);
  }

  /** Detaches the program (closes the link). */
  detach(): void {
    if (this.closed) return;
    this.closed = true;
    closeFd(this.linkFd);
  }
}

/** Interface index of `name`; throws a clear error when there is no such interface. */
export function interfaceIndex(name: string): number {
  const idx = libc().if_nametoindex(name);
  if (!idx) throw new Error(`no network interface named "${name}"`);
  return idx;
}

export function attachXdp(progFd: number, ifname: string, mode: XdpMode = "generic"): XdpAttachment {
  const ifindex = interfaceIndex(ifname);
  if (mode === "generic") {
    return new XdpAttachment(
      linkCreateXdp(progFd, ifindex, XdpFlags.SKB_MODE),
      ifindex,
      ifname,
      "generic",
      null,
    );
  }
  try {
    return new XdpAttachment(
      linkCreateXdp(progFd, ifindex, XdpFlags.DRV_MODE),
      ifindex,
      ifname,
      "native",
      null,
    );
  } catch (e) {
    if (mode === "native" || !(e instanceof SysError)) throw e;
    const link = linkCreateXdp(progFd, ifindex, XdpFlags.SKB_MODE);
    return new XdpAttachment(link, ifindex, ifname, "generic", e.message);
  }
}

/**
 * Attaching the steering program to an interface through a BPF link: at XDP, or at TC ingress
 * through a tcx link. The link is a file descriptor: when
 * the process closes it — or exits, or is killed — the kernel detaches the program, so a crashed
 * daemon leaves nothing on the interface (unlike a netlink attach, which stays until removed).
 */
import { closeFd, linkCreateTcx, linkCreateXdp, linkUpdate, XdpFlags } from "../../platform/bpf.js";
import { libc, SysError } from "../../platform/libc.js";

/**
 * "generic": XDP on the skb path (any interface, after the driver built an skb);
 * "native": in the driver (needs driver support, e.g. veth, mlx5, i40e);
 * "auto": the engine's choice per interface: the tc mode for veth and for drivers that refuse
 *   native XDP, native XDP elsewhere (engine.ts addPort); never passed to attachXdp;
 * "tc": no XDP on the interface: the steering program and the fast path run at TC ingress, where
 *   the kernel does not copy every frame as generic XDP (and native XDP on veth) must, and steered
 *   frames reach the AF_XDP sockets through a slow-path veth (slow-path-veth.ts,
 *   docs/decisions/0850-tc-ingress-fast-path.md).
 */
export type XdpMode = "generic" | "native" | "auto" | "tc";

/** What attachXdp attaches: one XDP mode, or native with generic as the fallback. */
export type XdpAttachMode = "generic" | "native" | "native-or-generic";

/** Where an attached program runs. */
export type AttachedMode = "generic" | "native" | "tc";

/** A program attached to an interface through a BPF link (XDP or tcx): closing the link detaches it. */
export class ProgramAttachment {
  private closed = false;

  constructor(
    readonly linkFd: number,
    readonly ifindex: number,
    readonly ifname: string,
    /** The mode actually in effect. */
    readonly mode: AttachedMode,
    /** Why native mode was not used, when another was chosen ("auto", "native-or-generic"). */
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

/**
 * Attaches a TC program (loaded for TCX_INGRESS) to `ifname`'s ingress through a tcx link; `why`:
 * why "auto" chose the tc mode, when it did.
 */
export function attachTcIngress(
  progFd: number,
  ifname: string,
  why: string | null = null,
): ProgramAttachment {
  const ifindex = interfaceIndex(ifname);
  return new ProgramAttachment(linkCreateTcx(progFd, ifindex, "ingress"), ifindex, ifname, "tc", why);
}

export function attachXdp(
  progFd: number,
  ifname: string,
  mode: XdpAttachMode = "generic",
): ProgramAttachment {
  const ifindex = interfaceIndex(ifname);
  if (mode === "generic") {
    return new ProgramAttachment(
      linkCreateXdp(progFd, ifindex, XdpFlags.SKB_MODE),
      ifindex,
      ifname,
      "generic",
      null,
    );
  }
  try {
    return new ProgramAttachment(
      linkCreateXdp(progFd, ifindex, XdpFlags.DRV_MODE),
      ifindex,
      ifname,
      "native",
      null,
    );
  } catch (e) {
    if (mode === "native" || !(e instanceof SysError)) throw e;
    const link = linkCreateXdp(progFd, ifindex, XdpFlags.SKB_MODE);
    return new ProgramAttachment(link, ifindex, ifname, "generic", e.message);
  }
}

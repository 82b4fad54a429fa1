/**
 * The slow-path veth of an interface served in the tc mode (docs/decisions/0850-tc-ingress-fast-path.md).
 *
 * At TC ingress there is no AF_XDP: an AF_XDP socket only receives what an XDP program redirects to
 * it. So the TC steering program transmits the frames it steers on the peer end of this veth
 * (bpf_redirect to its egress), and they arrive at this end, whose generic XDP program hands every
 * frame to the AF_XDP socket bound there (xsk-redirect-program.ts). The frame keeps its bytes, so
 * the slow path sees it as it arrived; the engine knows which interface it came from by the veth it
 * came through (one per served interface).
 *
 * The peer's gso_max_segs is 1: a GSO/GRO aggregate (a real server's TSO burst on veth, up to
 * 64 KiB, or GRO's merge of a NIC's segments) is segmented by the kernel on that transmit, as for
 * any device that cannot take it whole, and reaches AF_XDP as MTU-sized frames instead of being
 * dropped for not fitting a UMEM chunk. Their checksums stay partial (veth offloads them); the slow
 * path completes them (partial-checksum.ts).
 *
 * A veth, unlike a BPF link, outlives a killed daemon: the next start removes every `tslvs-sp*`
 * interface it finds before making its own, and a stop removes its own.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { SysError } from "../../platform/libc.js";
import { hostRtnetlink } from "../../platform/rtnetlink-client.js";
import { createVethPair, deleteLink, setLinkUp } from "../../platform/rtnetlink-links.js";
import { interfaceIndex } from "./attach.js";

/** Names of slow-path veths start with this; they are never served themselves. */
export const SLOW_PATH_PREFIX = "tslvs-sp";

export function isSlowPathVeth(ifname: string): boolean {
  return ifname.startsWith(SLOW_PATH_PREFIX);
}

/** Writes a per-interface sysctl when the kernel has it (no IPv6: nothing to write). */
function setSysctl(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch {
    /* absent */
  }
}

export class SlowPathVeth {
  private removed = false;

  private constructor(
    /** The end steered frames arrive at; AF_XDP sockets are bound here. */
    readonly name: string,
    readonly ifindex: number,
    /** The end the TC program transmits steered frames on. */
    readonly peerIfindex: number,
  ) {}

  /** Creates (or re-creates) the slow-path veth of the interface `servedIfindex`, up, with `mtu`. */
  static create(servedIfindex: number, mtu: number): SlowPathVeth {
    const name = `${SLOW_PATH_PREFIX}${servedIfindex}`;
    const peer = `${name}p`;
    if (peer.length > 15)
      throw new Error(`interface index ${servedIfindex} too large for a slow-path veth name`);
    const nl = hostRtnetlink();
    try {
      deleteLink(nl, name);
    } catch {
      /* none left over */
    }
    try {
      createVethPair(nl, { name, mtu }, { name: peer, mtu, gsoMaxSegs: 1 });
    } catch (e) {
      throw new Error(`cannot create the slow-path veth ${name}: ${(e as Error).message}`);
    }
    const veth = new SlowPathVeth(name, interfaceIndex(name), interfaceIndex(peer));
    try {
      // Nothing of the host's may arrive here: no IPv6 (router solicitations, MLD), no addresses.
      for (const n of [name, peer]) setSysctl(`/proc/sys/net/ipv6/conf/${n}/disable_ipv6`, "1");
      setLinkUp(nl, veth.peerIfindex);
      setLinkUp(nl, veth.ifindex);
    } catch (e) {
      veth.remove();
      throw e;
    }
    return veth;
  }

  /** Deletes the pair (both ends go with one). */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    try {
      deleteLink(hostRtnetlink(), this.name);
    } catch {
      /* already gone */
    }
  }

  /** Removes slow-path veths a killed daemon left behind; returns their names. */
  static removeLeftovers(): string[] {
    const gone: string[] = [];
    let names: string[] = [];
    try {
      names = readdirSync("/sys/class/net");
    } catch {
      return gone;
    }
    for (const n of names) {
      if (!isSlowPathVeth(n) || n.endsWith("p")) continue;
      try {
        deleteLink(hostRtnetlink(), n);
        gone.push(n);
      } catch (e) {
        if (!(e instanceof SysError)) throw e; // ENODEV: raced with its removal
      }
    }
    return gone;
  }
}

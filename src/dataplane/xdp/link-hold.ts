/**
 * Keeping the XDP steering on the interfaces across a daemon restart, with nothing pinned.
 *
 * A BPF link lives while some process holds an fd to it. A stopping daemon that expects a
 * successor swaps a "hold" program into its links (steered frames are dropped, since no AF_XDP
 * socket is left to take them: clients retransmit instead of being reset by the host), then hands
 * the link fds to a small detached process that does nothing but keep them open for the grace
 * period and exit. The next daemon opens the links again by id (`reopenHeldLink`), swaps its own
 * program in (no instant without steering) and ends the holder. If no daemon comes, the holder's
 * exit closes the last fds and the kernel detaches the programs: nothing is left on the
 * interfaces, and nothing was ever pinned in bpffs. A holder that is killed has the same effect.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { closeFd, LinkType, linkGetFdById, linkInfo } from "../../platform/bpf.js";
import type { AttachedMode } from "./attach.js";

/** A link handed over to the next daemon, as written in the handover file. */
export interface HeldLink {
  ifname: string;
  ifindex: number;
  /** The kernel's id of the link (ids are global; ifindexes are only unique in a namespace). */
  linkId: number;
  mode: AttachedMode;
}

/** The holder's argv marker, so that only a holder is ever signalled by its pid. */
const HOLDER_MARK = "tslvs-xdp-link-holder";
const HOLDER_SCRIPT = "setTimeout(() => {}, Number(process.argv[2]) * 1000)";

/**
 * Starts a detached process holding `linkFds` (its fds 3, 4, ...) for `graceSeconds`; returns its
 * pid. The fds are in the child once this returns (spawn forks and execs synchronously).
 */
export function startLinkHolder(linkFds: number[], graceSeconds: number): number {
  if (!(graceSeconds > 0 && graceSeconds <= 3600))
    throw new RangeError(`the restart grace period must be 0 < s <= 3600, not ${graceSeconds}`);
  const child = spawn(process.execPath, ["-e", HOLDER_SCRIPT, HOLDER_MARK, String(graceSeconds)], {
    detached: true,
    stdio: ["ignore", "ignore", "ignore", ...linkFds],
  });
  child.on("error", () => {
    /* reported by the missing pid below */
  });
  child.unref();
  if (!child.pid) throw new Error("could not start the process that holds the XDP links");
  return child.pid;
}

/** True when `pid` is a link holder started by startLinkHolder. */
export function isLinkHolder(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(HOLDER_MARK);
  } catch {
    return false;
  }
}

/** Ends a holder (its links detach unless another process holds them now); false when none ran. */
export function stopLinkHolder(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1 || !isLinkHolder(pid)) return false;
  try {
    process.kill(pid, "SIGTERM");
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens a held link again: an fd to the live link of that id, if it still is an XDP (or, for the
 * tc mode, a tcx) link on the same interface index; null when it is gone (the holder's grace period ended) or is another link.
 */
export function reopenHeldLink(held: HeldLink): number | null {
  if (!Number.isInteger(held.linkId) || held.linkId <= 0) return null;
  const fd = linkGetFdById(held.linkId);
  if (fd === null) return null;
  try {
    const info = linkInfo(fd);
    const type = held.mode === "tc" ? LinkType.TCX : LinkType.XDP;
    if (info.type === type && info.ifindex === held.ifindex) return fd;
  } catch {
    /* not inspectable: not ours to take */
  }
  closeFd(fd);
  return null;
}

/** The kernel's id of a link. */
export function linkIdOf(linkFd: number): number {
  return linkInfo(linkFd).id;
}

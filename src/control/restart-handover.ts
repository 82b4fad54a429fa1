/**
 * The handover file a stopping daemon leaves for the next one (an upgrade or restart): the
 * connection table, the XDP links it left held and the holder process keeping them, and until when
 * all this is worth taking. The next start reads it once and deletes it, whatever it holds: a file
 * past its deadline, unreadable or of another version is ignored (the links it names are gone by
 * then, their holder having exited). See docs/decisions/0550-restart-handover.md.
 */
import { readFileSync, rmSync } from "node:fs";
import type { ConnSnapshot } from "../core/conn-snapshot.js";
import type { HeldLink } from "../dataplane/xdp/link-hold.js";
import { writeFileAtomic } from "./state-file.js";

export interface Handover {
  version: 1;
  /** Wall-clock time of the write, ms since the epoch (the daemons' own clocks are per process). */
  writtenAtMs: number;
  /** Take it only before writtenAtMs + graceSeconds. */
  graceSeconds: number;
  /** The process keeping the links, to be ended once they are taken over; null when none. */
  holderPid: number | null;
  links: HeldLink[];
  connections: ConnSnapshot;
}

/** Where the handover of the daemon keeping its rules in `statePath` goes. */
export function handoverPath(statePath: string): string {
  return `${statePath}.handover.json`;
}

export function writeHandover(path: string, h: Handover): void {
  writeFileAtomic(path, JSON.stringify(h));
}

export type TakenHandover =
  | { handover: Handover; ageSeconds: number }
  | { handover: null; why: "none" | "expired" | "unreadable"; detail?: string };

/** Reads and deletes the handover file; returns it only when still within its grace period. */
export function takeHandover(path: string, nowMs: number): TakenHandover {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return { handover: null, why: "none" };
  }
  rmSync(path, { force: true });
  let h: Partial<Handover>;
  try {
    h = JSON.parse(text) as Partial<Handover>;
  } catch (e) {
    return { handover: null, why: "unreadable", detail: (e as Error).message };
  }
  if (
    typeof h !== "object" ||
    h === null ||
    h.version !== 1 ||
    typeof h.writtenAtMs !== "number" ||
    typeof h.graceSeconds !== "number" ||
    !Array.isArray(h.links) ||
    typeof h.connections !== "object"
  )
    return { handover: null, why: "unreadable", detail: "not a version 1 handover" };
  const ageSeconds = (nowMs - h.writtenAtMs) / 1000;
  if (!(ageSeconds >= 0 && ageSeconds < h.graceSeconds)) return { handover: null, why: "expired" };
  return { handover: h as Handover, ageSeconds };
}

/** The snapshot with `seconds` taken off every timer (the time the director was down). */
export function agedSnapshot(snap: ConnSnapshot, seconds: number): ConnSnapshot {
  if (!Array.isArray(snap.conns)) return snap;
  return {
    ...snap,
    conns: snap.conns.map((c) =>
      typeof c?.expiresIn === "number" ? { ...c, expiresIn: Math.max(0, c.expiresIn - seconds) } : c,
    ),
  };
}

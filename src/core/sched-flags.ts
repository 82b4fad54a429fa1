/**
 * The scheduler flags (ipvsadm -b, keepalived's sh-port/sh-fallback...): the one table of their
 * names, for the command line, the configuration files and the listings. Bits SVC_F_SCHED1..3 of a
 * service; sh and mh name the first two after themselves, any scheduler may carry flag-1..3.
 */
import { SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3 } from "./service.js";

/** Schedulers whose first two flags have names of their own ("<sched>-fallback", "<sched>-port"). */
const NAMED = new Set(["sh", "mh"]);

/** The bit of a flag name for a scheduler: null for an unknown name, 0 for one of another scheduler. */
export function schedFlagBit(name: string, scheduler: string): number | null {
  if (name === "flag-1") return SVC_F_SCHED1;
  if (name === "flag-2") return SVC_F_SCHED2;
  if (name === "flag-3") return SVC_F_SCHED3;
  const m = /^(sh|mh)-(fallback|port)$/.exec(name);
  if (!m) return null;
  if (m[1] !== scheduler) return 0;
  return m[2] === "fallback" ? SVC_F_SCHED1 : SVC_F_SCHED2;
}

/** The names of a service's flag bits, in bit order, as ipvsadm prints them for its scheduler. */
export function schedFlagNames(flags: number, scheduler: string): string[] {
  const out: string[] = [];
  const named = NAMED.has(scheduler);
  if (flags & SVC_F_SCHED1) out.push(named ? `${scheduler}-fallback` : "flag-1");
  if (flags & SVC_F_SCHED2) out.push(named ? `${scheduler}-port` : "flag-2");
  if (flags & SVC_F_SCHED3) out.push("flag-3");
  return out;
}

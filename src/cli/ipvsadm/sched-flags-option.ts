/**
 * Scheduler flags (-b) on the command line: ipvsadm's parsing and messages over the one table of
 * flag names (core/sched-flags.ts).
 */
import { schedFlagNames as flagNames, schedFlagBit } from "../../core/sched-flags.js";
import { SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3 } from "../../core/service.js";

export const SCHED_FLAG_1 = SVC_F_SCHED1;
export const SCHED_FLAG_2 = SVC_F_SCHED2;
export const SCHED_FLAG_3 = SVC_F_SCHED3;
export const SCHED_FLAGS_MASK = SCHED_FLAG_1 | SCHED_FLAG_2 | SCHED_FLAG_3;

/**
 * Parses a comma list against the scheduler. Returns the bits, or the message ipvsadm prints.
 * Empty items are skipped (strtok does), so `-b ''` sets nothing.
 */
export function parseSchedFlags(
  list: string,
  scheduler: string,
): { ok: true; flags: number } | { ok: false; message: string } {
  let flags = 0;
  for (const item of list.split(",")) {
    if (item === "") continue;
    const bit = schedFlagBit(item, scheduler);
    if (bit === null) return { ok: false, message: `invalid scheduler flag \`${item}'` };
    if (bit === 0) return { ok: false, message: `incompatible scheduler flag \`${item}'` };
    flags |= bit;
  }
  return { ok: true, flags };
}

/** The flag names as listings print them, comma-joined, in bit order; "" when none. */
export function schedFlagNames(flags: number, scheduler: string): string {
  return flagNames(flags, scheduler).join(",");
}

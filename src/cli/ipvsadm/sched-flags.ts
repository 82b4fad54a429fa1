/** Scheduler flags (-b): generic bits 0x08/0x10/0x20, named after the scheduler for sh and mh. */
export const SCHED_FLAG_1 = 0x08;
export const SCHED_FLAG_2 = 0x10;
export const SCHED_FLAG_3 = 0x20;
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
    if (item === "flag-1") flags |= SCHED_FLAG_1;
    else if (item === "flag-2") flags |= SCHED_FLAG_2;
    else if (item === "flag-3") flags |= SCHED_FLAG_3;
    else if (item === "sh-fallback" || item === "sh-port" || item === "mh-fallback" || item === "mh-port") {
      if (scheduler !== item.slice(0, 2))
        return { ok: false, message: `incompatible scheduler flag \`${item}'` };
      flags |= item.endsWith("fallback") ? SCHED_FLAG_1 : SCHED_FLAG_2;
    } else return { ok: false, message: `invalid scheduler flag \`${item}'` };
  }
  return { ok: true, flags };
}

/** The flag names as listings print them, comma-joined, in bit order; "" when none. */
export function schedFlagNames(flags: number, scheduler: string): string {
  const names: string[] = [];
  const prefix = scheduler === "sh" || scheduler === "mh" ? scheduler : "";
  if (flags & SCHED_FLAG_1) names.push(prefix ? `${prefix}-fallback` : "flag-1");
  if (flags & SCHED_FLAG_2) names.push(prefix ? `${prefix}-port` : "flag-2");
  if (flags & SCHED_FLAG_3) names.push("flag-3");
  return names.join(",");
}

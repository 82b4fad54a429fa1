import { readFileSync } from "node:fs";
import { cpus } from "node:os";

/** Number of possible CPUs: per-CPU map values come as one slot per possible CPU. */
export function possibleCpus(): number {
  try {
    const text = readFileSync("/sys/devices/system/cpu/possible", "utf8").trim();
    let n = 0;
    for (const part of text.split(",")) {
      const [lo, hi] = part.split("-").map(Number);
      n += hi === undefined ? 1 : hi - (lo ?? 0) + 1;
    }
    return n;
  } catch {
    return cpus().length;
  }
}

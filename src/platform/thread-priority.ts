import { errno, errnoName, libc } from "./libc.js";

/** gettid(2) and setpriority(2) numbers per architecture (the raw syscall: glibc has no gettid wrapper before 2.30). */
const SYSCALLS: Record<string, { gettid: number; setpriority: number; sched_setaffinity: number }> = {
  x64: { gettid: 186, setpriority: 141, sched_setaffinity: 203 },
  arm64: { gettid: 178, setpriority: 140, sched_setaffinity: 122 },
};
const PRIO_PROCESS = 0;

/**
 * Gives the calling thread (not the whole process) a nice value: on Linux, setpriority() with a
 * thread id changes that thread alone. Returns null, or why it could not.
 */
export function niceThisThread(nice: number): string | null {
  const nr = SYSCALLS[process.arch];
  if (!nr) return `no syscall numbers for ${process.arch}`;
  const { syscall } = libc();
  const tid = Number(syscall(nr.gettid));
  if (tid <= 0) return `gettid: ${errnoName(errno())}`;
  const r = Number(syscall(nr.setpriority, "int", PRIO_PROCESS, "int", tid, "int", nice));
  return r === 0 ? null : `setpriority: ${errnoName(errno())}`;
}

/**
 * Restricts the calling thread (not the process) to `cpus`. Returns null, or why it could not (a
 * CPU the machine or the thread's cgroup does not have: EINVAL).
 */
export function pinThisThread(cpus: readonly number[]): string | null {
  const nr = SYSCALLS[process.arch];
  if (!nr) return `no syscall numbers for ${process.arch}`;
  const mask = new Uint8Array(512);
  for (const c of cpus) {
    if (!(Number.isInteger(c) && c >= 0 && c < mask.length * 8)) return `no CPU ${c}`;
    mask[c >> 3]! |= 1 << (c & 7);
  }
  const { syscall } = libc();
  const r = Number(syscall(nr.sched_setaffinity, "int", 0, "size_t", mask.length, "void *", mask));
  return r === 0 ? null : `sched_setaffinity: ${errnoName(errno())}`;
}

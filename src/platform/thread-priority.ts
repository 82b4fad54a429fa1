import { errno, errnoName, libc } from "./libc.js";

/** gettid(2) and setpriority(2) numbers per architecture (the raw syscall: glibc has no gettid wrapper before 2.30). */
const SYSCALLS: Record<string, { gettid: number; setpriority: number }> = {
  x64: { gettid: 186, setpriority: 141 },
  arm64: { gettid: 178, setpriority: 140 },
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

/**
 * Cleans up after test processes that died before their own clean-up ran (killed, crashed): the
 * namespaces named `tslvs-t<pid>-...` and the processes whose environment says
 * TSLVS_TEST_OWNER=<pid> (test/support/test-owner.ts), when process <pid> is gone. A live run's
 * things are never touched. Veths, XDP programs and tc filters live inside those namespaces and go
 * with them.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const NAMESPACE = /^tslvs-t(\d+)-/;
const OWNER_VAR = /(?:^|\0)TSLVS_TEST_OWNER=(\d+)(?:\0|$)/;

/** A process that exists and has not ended (a zombie has ended: its parent may never reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

function ip(args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
}

export interface Reaped {
  namespaces: string[];
  processes: number[];
}

/**
 * Removes what dead test processes left. `owners` adds owners to treat as dead although they run
 * (the runner passes its own id once every test process has ended).
 */
export function reapLeftovers(owners: number[] = []): Reaped {
  const reaped: Reaped = { namespaces: [], processes: [] };
  // Every marked process and its owner; an owner is dead when it has ended, is one of `owners`, or
  // is itself a leftover (a test process outlives the runner that started it, then its children).
  const marked = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || pid === process.ppid) continue;
    try {
      const owner = OWNER_VAR.exec(readFileSync(`/proc/${pid}/environ`, "latin1"))?.[1];
      if (owner !== undefined) marked.set(pid, Number(owner));
    } catch {
      /* ended meanwhile, or a kernel thread */
    }
  }
  const dead = new Set(owners);
  const isDead = (owner: number) => dead.has(owner) || !alive(owner);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, owner] of marked) {
      if (dead.has(pid) || !isDead(owner)) continue;
      dead.add(pid);
      grew = true;
    }
  }
  for (const pid of marked.keys())
    if (dead.has(pid)) {
      kill(pid);
      reaped.processes.push(pid);
    }
  let names: string[] = [];
  try {
    names = ip(["netns", "list"])
      .split("\n")
      .map((l) => l.split(" ")[0] ?? "")
      .filter((n) => NAMESPACE.test(n));
  } catch {
    return reaped; // no iproute2: nothing of ours can exist
  }
  for (const name of names) {
    if (!isDead(Number(NAMESPACE.exec(name)![1]))) continue;
    try {
      for (const pid of ip(["netns", "pids", name]).split(/\s+/).filter(Boolean)) kill(Number(pid));
      ip(["netns", "del", name]);
      reaped.namespaces.push(name);
    } catch {
      /* removed meanwhile */
    }
  }
  return reaped;
}

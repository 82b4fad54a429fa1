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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
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
  const gone = (owner: number) => owners.includes(owner) || !alive(owner);
  const reaped: Reaped = { namespaces: [], processes: [] };
  const me = process.pid;
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === me || pid === process.ppid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, "latin1");
    } catch {
      continue;
    }
    const owner = OWNER_VAR.exec(environ)?.[1];
    if (owner !== undefined && gone(Number(owner))) {
      kill(pid);
      reaped.processes.push(pid);
    }
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
    if (!gone(Number(NAMESPACE.exec(name)![1]))) continue;
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

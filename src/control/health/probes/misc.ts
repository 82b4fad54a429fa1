/**
 * MISC_CHECK: runs the script (argv, no shell) as its user/group, in a process group of its own.
 * Exit 0 passes. Without `dynamic` any other exit fails ("exit 3"); with it, 1 fails and 2..255
 * pass with `dynamicWeight` = status - 2. At the timeout (`timeoutMs`: the caller passes
 * misc_timeout here, not connect_timeout) the group gets SIGTERM and, if anything of it is left
 * 2 s later, SIGKILL; the attempt fails with "timeout" at once, the kill finishing on its own.
 * A script that cannot be started fails with "cannot run: ENOENT" (or its errno).
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import type { ProbeResult, ScriptSpec } from "../check-spec.js";
import { attempt } from "./attempt.js";

/** How long a script has between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2000;

export function miscProbe(
  script: ScriptSpec,
  dynamic: boolean,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ProbeResult> {
  return attempt(timeoutMs, signal, async (a) => {
    const [file, ...args] = script.argv;
    if (!file) return a.finish(false, "cannot run: empty command");
    const ids = await credentials(script);
    if (typeof ids === "string") return a.finish(false, ids);
    if (a.ended) return;
    const child = spawn(file, args, { ...ids, detached: true, stdio: "ignore" });
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;
    const signalGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        /* the group is gone */
      }
    };
    // Ends the script's group: SIGTERM now, SIGKILL after the grace period unless it is gone.
    const stop = () => {
      if (exited || child.pid === undefined) return;
      signalGroup("SIGTERM");
      killTimer = setTimeout(() => signalGroup("SIGKILL"), KILL_GRACE_MS);
    };
    child.on("error", (e: NodeJS.ErrnoException) => {
      exited = true;
      a.finish(false, `cannot run: ${e.code ?? e.message}`);
    });
    child.on("exit", (code, sig) => {
      exited = true;
      // The script's leader is gone; what it left in its group still gets the SIGKILL it was due.
      if (killTimer) {
        clearTimeout(killTimer);
        signalGroup("SIGKILL");
      }
      if (code === null) return a.finish(false, `signal ${sig}`);
      if (code === 0) return a.finish(true, "ok");
      if (!dynamic || code === 1) return a.finish(false, `exit ${code}`);
      a.finish(true, `exit ${code}`, { dynamicWeight: code - 2 });
    });
    a.onEnd(stop);
  });
}

/** uid/gid for the script's user and group, from /etc/passwd and /etc/group; a string on failure. */
async function credentials(script: ScriptSpec): Promise<{ uid?: number; gid?: number } | string> {
  const out: { uid?: number; gid?: number } = {};
  if (script.user !== undefined) {
    const entry = await lookup("/etc/passwd", script.user);
    if (!entry) return `unknown user ${script.user}`;
    out.uid = Number(entry[2]);
    out.gid = Number(entry[3]);
  }
  if (script.group !== undefined) {
    const entry = await lookup("/etc/group", script.group);
    if (!entry) return `unknown group ${script.group}`;
    out.gid = Number(entry[2]);
  }
  return out;
}

/** The colon-separated line of `file` whose first field is `name` (or, for a number, whose id is it). */
async function lookup(file: string, name: string): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return undefined;
  }
  const rows = text.split("\n").map((l) => l.split(":"));
  return (
    rows.find((r) => r[0] === name) ?? (/^\d+$/.test(name) ? rows.find((r) => r[2] === name) : undefined)
  );
}

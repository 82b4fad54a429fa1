import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import type { ScriptSpec } from "./check-spec.js";

/** Seconds a notify script may run before it is killed (it must not pile up behind a flapping server). */
const NOTIFY_TIMEOUT_MS = 60_000;

/** uid and gid of a user (and group) from /etc/passwd and /etc/group; null when unknown. */
export function lookupUser(user: string, group?: string): { uid: number; gid: number } | null {
  const field = (file: string, name: string, col: number): number | null => {
    try {
      for (const line of readFileSync(file, "utf8").split("\n")) {
        const f = line.split(":");
        if (f[0] === name || (/^\d+$/.test(name) && f[2] === name)) return Number(f[col]);
      }
    } catch {
      return null;
    }
    return null;
  };
  const uid = field("/etc/passwd", user, 2);
  if (uid === null) return null;
  const gid = group !== undefined ? field("/etc/group", group, 2) : field("/etc/passwd", user, 3);
  return gid === null ? null : { uid, gid };
}

/**
 * Why a script may not run under enable_script_security, or null when it may: a script run as
 * root must not be writable by anyone but root (keepalived's rule, spec A.11).
 */
export function insecureScript(path: string, runsAsRoot: boolean): string | null {
  if (!runsAsRoot) return null;
  try {
    const st = statSync(path);
    if (st.uid !== 0) return `${path} is owned by uid ${st.uid}, not root`;
    if (st.mode & 0o022) return `${path} is writable by group or others`;
  } catch (e) {
    return `${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  return null;
}

/**
 * Starts a notify script (notify_up/down, quorum_up/down) and does not wait for it: its exit is
 * only logged. Returns why it could not start, or null.
 */
export function runNotifyScript(
  script: ScriptSpec,
  opts: {
    defaultUser?: { user: string; group?: string };
    secure: boolean;
    onExit?: (code: number | null) => void;
  },
): string | null {
  const [cmd, ...args] = script.argv;
  if (!cmd) return "empty script";
  const who = script.user ? { user: script.user, group: script.group } : opts.defaultUser;
  const ids = who ? lookupUser(who.user, who.group) : null;
  if (who && !ids) return `unknown user ${who.user}`;
  if (opts.secure) {
    const why = insecureScript(cmd, (ids?.uid ?? 0) === 0);
    if (why) return `refused by enable_script_security: ${why}`;
  }
  try {
    const child = spawn(cmd, args, {
      stdio: "ignore",
      detached: true,
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), NOTIFY_TIMEOUT_MS);
    timer.unref();
    child.on("error", () => clearTimeout(timer));
    child.on("exit", (code) => {
      clearTimeout(timer);
      opts.onExit?.(code);
    });
    child.unref();
  } catch (e) {
    return (e as Error).message;
  }
  return null;
}

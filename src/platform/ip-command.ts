import { execFileSync } from "node:child_process";

/**
 * Runs iproute2's `ip` with `args` and returns its output; a failure throws an Error that names the
 * command and carries ip's own message (stderr).
 */
export function ip(args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(" ")}: ${(err.stderr ?? "").trim() || err.message}`);
  }
}

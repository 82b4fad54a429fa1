import { readFileSync, writeFileSync } from "node:fs";
import { ip } from "../../platform/ip-command.js";

/**
 * Changes made to the host by a real-server helper, each recorded with how to undo it, and undone
 * in reverse order on stop. Only what the helper itself changed is undone: a VIP that was already on
 * lo, or a sysctl that already had the wanted value, is left as it was.
 */
export class UndoableHostChanges {
  private readonly undo: { what: string; run: () => void }[] = [];

  /** Sets /proc/sys/<key> (dotted or slashed) to `value`, remembering the old value. */
  sysctl(key: string, value: string | number): void {
    const path = sysctlPath(key);
    const old = readFileSync(path, "utf8").trim();
    if (old === String(value)) return;
    writeFileSync(path, String(value));
    this.undo.push({ what: `${key}=${old}`, run: () => writeFileSync(path, old) });
  }

  /** Reads /proc/sys/<key>. */
  read(key: string): string {
    return readFileSync(sysctlPath(key), "utf8").trim();
  }

  /** Puts `addr` on `dev` as a host address (/32 or /128; kept as is when already there). */
  addAddress(addr: string, dev: string): void {
    const v6 = addr.includes(":");
    const cidr = `${addr}/${v6 ? 128 : 32}`;
    const shown = ip(["-o", v6 ? "-6" : "-4", "addr", "show", "dev", dev]);
    if (shown.split(/\s+/).includes(cidr)) return;
    ip(["addr", "add", cidr, "dev", dev]);
    this.undo.push({
      what: `address ${addr} on ${dev}`,
      run: () => ip(["addr", "del", cidr, "dev", dev]),
    });
  }

  /** Records an undo step for something made elsewhere (a device, an attachment). */
  onUndo(what: string, run: () => void): void {
    this.undo.push({ what, run });
  }

  /** Undoes everything, newest first; returns the steps that failed (with why). */
  undoAll(): string[] {
    const failed: string[] = [];
    while (this.undo.length) {
      const step = this.undo.pop()!;
      try {
        step.run();
      } catch (e) {
        failed.push(`${step.what}: ${(e as Error).message}`);
      }
    }
    return failed;
  }
}

/** A slashed key is taken as it is: interface names may contain dots ("eth0.100"). */
function sysctlPath(key: string): string {
  return `/proc/sys/${key.includes("/") ? key : key.replaceAll(".", "/")}`;
}

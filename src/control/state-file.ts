import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

/** Where the daemon keeps its rules across restarts unless --state says otherwise. */
export const DEFAULT_STATE_PATH = "/var/lib/tslvs/state.yaml";

/**
 * Replaces `path` with `text` so that a reader (or a crash) sees either the old file or the new
 * one, never a mix: write a temporary file next to it, flush it to disk, rename it over.
 */
export function writeFileAtomic(path: string, text: string, mode = 0o600): void {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, "w", mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
    throw e;
  }
}

/**
 * Saves the state after changes without rewriting a large file for each of a burst of requests
 * (a -R of thousands of lines): a change is written at once unless the last write was less than
 * `minIntervalMs` ago (or five times as long as the last write took, for very large states), in
 * which case one write is scheduled for the end of that interval. `flush` writes anything
 * outstanding (the daemon calls it when it stops).
 */
export class StateWriter {
  private lastWrite = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private dirty = false;
  private lastDurationMs = 0;

  constructor(
    private readonly write: () => void,
    private readonly minIntervalMs = 200,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  changed(): void {
    this.dirty = true;
    if (this.timer) return;
    const interval = Math.max(this.minIntervalMs, 5 * this.lastDurationMs);
    const wait = this.lastWrite + interval - this.nowMs();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.dirty) return;
    this.dirty = false;
    const start = this.nowMs();
    this.write();
    this.lastWrite = this.nowMs();
    this.lastDurationMs = this.lastWrite - start;
  }
}

import { DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { Scheduler, SchedulerDryRun, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";

const HEAD = -1;

/**
 * Round robin (ip_vs_rr.c): from the dest after the last pick, the first with OVERLOAD clear and
 * weight > 0, wrapping once through the list up to and including the last pick.
 */
class RoundRobin implements Scheduler {
  readonly name = "rr";
  /** The last pick (kernel `sched_data`): its position in svc.dests, or HEAD; `cursor` checks it. */
  private pos = HEAD;
  private cursor: Dest | null = null;

  schedule(svc: VirtualService): Dest | null {
    const list = svc.dests;
    const start = this.cursorPos(list);
    const n = list.length;
    for (let p = start + 1; p < n; p++) if (usable(list[p]!)) return this.pick(list, p);
    // A second pass from the head up to and including the last pick (none if we were at the head).
    for (let p = 0; p <= start; p++) if (usable(list[p]!)) return this.pick(list, p);
    return null;
  }

  /** The next pick from the current position; the cursor is put back, so nothing moves. */
  dryRun(svc: VirtualService): SchedulerDryRun {
    const pos = this.pos;
    const cursor = this.cursor;
    const dest = this.schedule(svc);
    this.pos = pos;
    this.cursor = cursor;
    const last = cursor === null ? "none yet" : `${cursor.addr}:${cursor.port}`;
    return { dest, notes: [`last pick: ${last}; the next usable dest after it (weight > 0, not OVERLOAD)`] };
  }

  /** The new dest goes to the head, before the cursor: only the cached position shifts. */
  addDest(): void {
    if (this.pos !== HEAD) this.pos++;
  }

  /** If the cursor was on the removed dest it moves to its predecessor (kernel `p->next->prev`). */
  delDest(svc: VirtualService, dest: Dest): void {
    if (this.cursor !== dest) return;
    const prev = this.pos - 1;
    if (prev >= 0 && prev < svc.dests.length) {
      this.pos = prev;
      this.cursor = svc.dests[prev]!;
    } else {
      this.pos = HEAD;
      this.cursor = null;
    }
  }

  private pick(list: readonly Dest[], p: number): Dest {
    this.pos = p;
    this.cursor = list[p]!;
    return this.cursor;
  }

  /** The cursor's current position (re-found if the list changed under it). */
  private cursorPos(list: readonly Dest[]): number {
    const c = this.cursor;
    if (c === null) return HEAD;
    if (list[this.pos] === c) return this.pos;
    this.pos = list.indexOf(c);
    if (this.pos < 0) this.cursor = null;
    return this.pos;
  }
}

function usable(d: Dest): boolean {
  return (d.flags & DEST_F_OVERLOAD) === 0 && d.weight > 0;
}

export const rr: SchedulerModule = {
  name: "rr",
  create: () => new RoundRobin(),
};
export default rr;

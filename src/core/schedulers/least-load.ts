import type { Dest } from "../dest.js";
import type { Scheduler, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";
import { LeastLoadIndex, type LoadRule } from "./least-load-index.js";

/**
 * The four stateless "least load" schedulers (lc, wlc, sed, nq). The kernel rescans every dest
 * per decision; here a LeastLoadIndex gives the same dest in O(log n) per changed dest.
 */
class LeastLoadScheduler implements Scheduler {
  private readonly index: LeastLoadIndex;

  constructor(readonly name: LoadRule) {
    this.index = new LeastLoadIndex(name);
  }

  schedule(svc: VirtualService): Dest | null {
    return this.index.best(svc);
  }

  addDest(): void {
    this.index.invalidate();
  }

  delDest(_svc: VirtualService, dest: Dest): void {
    this.index.release(dest);
  }

  updDest(_svc: VirtualService, dest: Dest): void {
    this.index.destChanged(dest);
  }

  destChanged(_svc: VirtualService, dest: Dest): void {
    this.index.destChanged(dest);
  }

  done(): void {
    this.index.release();
  }
}

/** A module for one of the least-load rules. */
export function leastLoadModule(rule: LoadRule): SchedulerModule {
  return { name: rule, create: () => new LeastLoadScheduler(rule) };
}

import { DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { Scheduler, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";

/**
 * Overflow (ip_vs_ovf.c): the highest-weight dest whose active conns do not exceed its weight
 * (OVERLOAD and weight 0 skipped; ties to the earlier dest). Traffic fills the heaviest dest up to
 * its weight in active conns, then overflows to the next. Only active conns count, so UDP (never
 * "active") always lands on the heaviest dest.
 */
class Overflow implements Scheduler {
  readonly name = "ovf";

  schedule(svc: VirtualService): Dest | null {
    let best: Dest | null = null;
    let bestWeight = 0;
    for (const d of svc.dests) {
      const w = d.weight;
      if ((d.flags & DEST_F_OVERLOAD) !== 0 || d.activeConns > w || w === 0) continue;
      if (best === null || w > bestWeight) {
        best = d;
        bestWeight = w;
      }
    }
    return best;
  }
}

export const ovf: SchedulerModule = { name: "ovf", create: () => new Overflow() };
export default ovf;

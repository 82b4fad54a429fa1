import { DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { Scheduler, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";

/**
 * Weighted failover (ip_vs_fo.c): the dest with the highest weight among those with OVERLOAD
 * clear; weight 0 never wins; ties to the earlier (newer) dest. Stateless.
 */
class Failover implements Scheduler {
  readonly name = "fo";

  schedule(svc: VirtualService): Dest | null {
    let best: Dest | null = null;
    let bestWeight = 0;
    for (const d of svc.dests) {
      if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight > bestWeight) {
        best = d;
        bestWeight = d.weight;
      }
    }
    return best;
  }
}

export const fo: SchedulerModule = { name: "fo", create: () => new Failover() };
export default fo;

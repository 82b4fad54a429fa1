import { DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { Scheduler, SchedulerContext, SchedulerModule } from "../scheduler.js";
import type { VirtualService } from "../service.js";

/**
 * Power of two choices (ip_vs_twos.c): two independent weighted random draws among dests with
 * OVERLOAD clear and weight > 0; the second wins only if its overhead/weight is strictly lower.
 * Each draw is uniform in [0, Σweight] (inclusive, as the kernel draws below Σweight + 1), so a
 * draw of 0 lands on the first eligible dest. Randomness comes from ctx.randomBelow.
 */
class TwoChoices implements Scheduler {
  readonly name = "twos";

  constructor(private readonly ctx: SchedulerContext) {}

  schedule(svc: VirtualService): Dest | null {
    const list = svc.dests;
    let total = 0;
    let any = false;
    for (const d of list) {
      if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight > 0) {
        total += d.weight;
        any = true;
      }
    }
    if (!any) return null;
    let r1 = this.ctx.randomBelow(total + 1);
    let r2 = this.ctx.randomBelow(total + 1);
    let choice1: Dest | null = null;
    let choice2: Dest | null = null;
    for (const d of list) {
      if ((d.flags & DEST_F_OVERLOAD) !== 0) continue;
      const w = d.weight;
      if (w <= 0) continue;
      r1 -= w;
      r2 -= w;
      if (r1 <= 0 && choice1 === null) choice1 = d;
      if (r2 <= 0 && choice2 === null) choice2 = d;
      if (choice1 !== null && choice2 !== null) break;
    }
    // Both draws are ≤ Σweight, so both walks end on a dest.
    const c1 = choice1!;
    const c2 = choice2!;
    return c2.weight * c1.overhead > c1.weight * c2.overhead ? c2 : c1;
  }
}

export const twos: SchedulerModule = { name: "twos", create: (_svc, ctx) => new TwoChoices(ctx) };
export default twos;

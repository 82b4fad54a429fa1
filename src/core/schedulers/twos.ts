import { DEST_F_OVERLOAD, type Dest } from "../dest.js";
import type { Scheduler, SchedulerContext, SchedulerDryRun, SchedulerModule } from "../scheduler.js";

/** Above this many eligible dests the pairwise odds are not computed (n² pairs). */
const MAX_ODDS_DESTS = 1024;

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

  /**
   * No pick (the choice is random): each eligible dest's chance of being chosen, from the exact
   * distribution of the two draws (the first eligible dest also takes the draw of 0). No draw is made.
   */
  dryRun(svc: VirtualService): SchedulerDryRun {
    const eligible = svc.dests.filter((d) => (d.flags & DEST_F_OVERLOAD) === 0 && d.weight > 0);
    if (eligible.length === 0) return { dest: null, notes: ["no dest with weight > 0 and OVERLOAD clear"] };
    let total = 0;
    for (const d of eligible) total += d.weight;
    const draw = eligible.map((d, k) => (d.weight + (k === 0 ? 1 : 0)) / (total + 1));
    const notes = [
      "random: two weighted draws; the second wins only if its overhead/weight is strictly lower",
    ];
    if (eligible.length > MAX_ODDS_DESTS) {
      notes.push(`odds shown per draw (over ${MAX_ODDS_DESTS} candidates)`);
      return { dest: null, notes, odds: eligible.map((dest, k) => ({ dest, p: draw[k]! })) };
    }
    const p = new Array<number>(eligible.length).fill(0);
    for (let i = 0; i < eligible.length; i++) {
      const c1 = eligible[i]!;
      for (let j = 0; j < eligible.length; j++) {
        const c2 = eligible[j]!;
        const k = c2.weight * c1.overhead > c1.weight * c2.overhead ? j : i;
        p[k] = p[k]! + draw[i]! * draw[j]!;
      }
    }
    return { dest: null, notes, odds: eligible.map((dest, k) => ({ dest, p: p[k]! })) };
  }
}

export const twos: SchedulerModule = { name: "twos", create: (_svc, ctx) => new TwoChoices(ctx) };
export default twos;

/**
 * A tslvs scheduler plugin: weighted random choice. Each new connection goes to a dest drawn with
 * probability weight / Σweight among dests that are not OVERLOAD and have weight > 0 — like wrr in
 * the long run, without wrr's fixed order. Randomness comes from the context, so tests can replay it.
 *
 * Load it with loadSchedulerPlugin("./examples/schedulers/random-weighted.js") (src/core/schedulers/
 * registry.ts); services can then use the scheduler name "random-weighted". See docs/schedulers.md.
 */

/** @type {import("../../dist/src/core/scheduler.js").SchedulerModule} */
const scheduler = {
  name: "random-weighted",
  create(_svc, ctx) {
    return {
      name: "random-weighted",
      schedule(svc) {
        let total = 0;
        for (const d of svc.dests) if (!d.overloaded && d.weight > 0) total += d.weight;
        if (total === 0) return null;
        let r = ctx.randomBelow(total);
        for (const d of svc.dests) {
          if (d.overloaded || d.weight <= 0) continue;
          r -= d.weight;
          if (r < 0) return d;
        }
        return null;
      },
    };
  },
};

export default scheduler;

import type { StatsHooks } from "./director.js";
import { RateEstimator, type Rates } from "./estimator.js";
import type { Counters } from "./stats.js";

const ZERO: Rates = Object.freeze({ cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 });

/**
 * One rate estimator per counters object (total, each service, each dest), sampled by the
 * director's 2-second tick: the kernel's estimator list (ip_vs_est.c) as the director's StatsHooks.
 */
export class RateBook implements StatsHooks {
  private readonly estimators = new Map<Counters, RateEstimator>();

  tick(_now: number): void {
    for (const [c, est] of this.estimators) est.sample(c);
  }

  zeroed(c: Counters): void {
    this.estimators.get(c)?.reset(c);
  }

  added(c: Counters): void {
    if (!this.estimators.has(c)) this.estimators.set(c, new RateEstimator(c));
  }

  removed(c: Counters): void {
    this.estimators.delete(c);
  }

  /** The current rates of a counters object (zeros when it is not estimated). */
  rates(c: Counters): Rates {
    return this.estimators.get(c)?.rates() ?? { ...ZERO };
  }
}

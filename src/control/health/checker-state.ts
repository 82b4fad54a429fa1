import type { CheckTiming } from "./check-spec.js";

/** A checker's state as keepalived keeps it (spec A.9): carried across reloads and worker restarts. */
export interface CheckerStatus {
  up: boolean;
  /** At least one attempt finished. Before that, a single failure marks the checker down. */
  hasRun: boolean;
  /** Failed attempts so far in the current run of retries. */
  retryIt: number;
}

export function initialStatus(timing: CheckTiming): CheckerStatus {
  return { up: !timing.alpha, hasRun: false, retryIt: 0 };
}

/** What one attempt's outcome does to a checker. */
export interface Step {
  /** The checker went up or down with this attempt. */
  changed: boolean;
  /** Seconds from the end of this attempt to the start of the next. */
  next: number;
}

/**
 * Records one attempt (keepalived's rules, spec A.9): a success clears the retries and brings a
 * down checker up; a failure while up is retried `retry` times, `delay_before_retry` apart, and
 * only then marks the checker down; a failure while down changes nothing. The status is updated
 * in place.
 */
export function recordAttempt(s: CheckerStatus, ok: boolean, timing: CheckTiming): Step {
  const firstRun = !s.hasRun;
  s.hasRun = true;
  if (ok) {
    s.retryIt = 0;
    const changed = !s.up;
    s.up = true;
    return { changed, next: timing.delayLoop };
  }
  if (!s.up) return { changed: false, next: timing.delayLoop };
  if (!firstRun && s.retryIt < timing.retry) {
    s.retryIt++;
    return { changed: false, next: timing.delayBeforeRetry };
  }
  s.up = false;
  s.retryIt = 0;
  return { changed: true, next: timing.delayLoop };
}

/** Seconds from start to a checker's first attempt: 1 s plus uniform(0, warmup). */
export function firstDelay(timing: CheckTiming, random: () => number = Math.random): number {
  return 1 + random() * timing.warmup;
}

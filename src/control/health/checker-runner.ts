import type { CheckerSpec, Probe, ProbeResult } from "./check-spec.js";
import { type CheckerStatus, firstDelay, initialStatus, recordAttempt } from "./checker-state.js";

/** A checker as the runner is told to run it. */
export interface PlannedChecker {
  /** Stable across reloads while the checker is the same (see health-plan.ts). */
  id: string;
  spec: CheckerSpec;
  /** Carried state (a reload, a restarted worker); absent: a new checker. */
  status?: CheckerStatus;
  /** Run at the next turn instead of after the first delay (a changed checker, spec A.12). */
  runNow?: boolean;
}

/** One finished attempt, with the checker's state after it. */
export interface CheckerReport extends ProbeResult {
  id: string;
  status: CheckerStatus;
  /** The checker went up or down with this attempt. */
  changed: boolean;
  /** Wall-clock milliseconds when the attempt ended. */
  at: number;
}

export interface RunnerClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Monotonic milliseconds. */
  now(): number;
  /** Wall-clock milliseconds, for reports. */
  wallNow(): number;
}

const REAL_CLOCK: RunnerClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => performance.now(),
  wallNow: () => Date.now(),
};

/** A tracked file is re-read at least this often (seconds), whatever its delay_loop says. */
const FILE_CHECK_PERIOD = 1;

interface Running {
  spec: CheckerSpec;
  status: CheckerStatus;
  timer: unknown;
  inFlight: AbortController | null;
  /** Set when the plan dropped the checker while an attempt was in flight. */
  removed: boolean;
}

/**
 * Runs checkers on their own timers: each attempt is one probe, bounded by the checker's timeout;
 * its outcome goes through keepalived's state rules (checker-state.ts) and is reported; the next
 * attempt starts `delay_loop` (or `delay_before_retry`) after this one ended — MISC_CHECK's after
 * the previous one started, as keepalived does. A new plan keeps the checkers it still names, with
 * their state and timers, and only adds and removes the difference.
 */
export class CheckerRunner {
  private readonly checkers = new Map<string, Running>();

  constructor(
    private readonly probe: Probe,
    private readonly report: (r: CheckerReport) => void,
    private readonly clock: RunnerClock = REAL_CLOCK,
    private readonly random: () => number = Math.random,
  ) {}

  setPlan(plan: readonly PlannedChecker[]): void {
    const wanted = new Set(plan.map((p) => p.id));
    for (const [id, r] of this.checkers) {
      if (wanted.has(id)) continue;
      this.clock.clearTimeout(r.timer);
      r.removed = true;
      r.inFlight?.abort();
      this.checkers.delete(id);
    }
    for (const p of plan) {
      const have = this.checkers.get(p.id);
      if (have) {
        // Same checker, maybe new timings (retry, delay_loop): the state and the timer stay.
        have.spec = p.spec;
        if (p.runNow) this.trigger([p.id]);
        continue;
      }
      const r: Running = {
        spec: p.spec,
        status: p.status ? { ...p.status } : initialStatus(p.spec.timing),
        timer: null,
        inFlight: null,
        removed: false,
      };
      this.checkers.set(p.id, r);
      this.schedule(p.id, r, p.runNow ? 0 : firstDelay(p.spec.timing, this.random));
    }
  }

  /** Runs these checkers at once (unless an attempt is already in flight). */
  trigger(ids: Iterable<string>): void {
    for (const id of ids) {
      const r = this.checkers.get(id);
      if (!r || r.inFlight) continue;
      this.schedule(id, r, 0);
    }
  }

  get size(): number {
    return this.checkers.size;
  }

  stop(): void {
    for (const r of this.checkers.values()) {
      this.clock.clearTimeout(r.timer);
      r.removed = true;
      r.inFlight?.abort();
    }
    this.checkers.clear();
  }

  private schedule(id: string, r: Running, seconds: number): void {
    this.clock.clearTimeout(r.timer);
    r.timer = this.clock.setTimeout(() => void this.attempt(id, r), Math.max(0, seconds * 1000));
  }

  private async attempt(id: string, r: Running): Promise<void> {
    r.timer = null;
    const spec = r.spec;
    const started = this.clock.now();
    const ac = new AbortController();
    r.inFlight = ac;
    const timeoutMs =
      (spec.probe.kind === "MISC_CHECK" ? spec.probe.timeout : spec.timing.connectTimeout) * 1000;
    let result: ProbeResult;
    try {
      result = await this.probe(spec.probe, timeoutMs, ac.signal);
    } catch (e) {
      result = {
        ok: false,
        reason: `checker error: ${(e as Error).message}`,
        latencyMs: this.clock.now() - started,
      };
    }
    r.inFlight = null;
    if (r.removed) return;
    const step = recordAttempt(r.status, result.ok, r.spec.timing);
    this.report({ ...result, id, status: { ...r.status }, changed: step.changed, at: this.clock.wallNow() });
    let next = step.next;
    if (spec.probe.kind === "MISC_CHECK") next = Math.max(0, next - (this.clock.now() - started) / 1000);
    if (spec.probe.kind === "FILE_CHECK") next = Math.min(next, FILE_CHECK_PERIOD);
    if (!r.removed && r.timer === null) this.schedule(id, r, next);
  }
}

import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { CheckerReport, PlannedChecker } from "./checker-runner.js";
import type { CheckerTuning, FromChecker, ToChecker } from "./health-worker.js";

/** Seconds before a checker thread that died is started again. */
const RESTART_DELAY_MS = 1000;

/**
 * The daemon's side of the checker thread (health-worker.ts): starts it, sends it the plan, and
 * restarts it when it dies — with the checkers' last known states, so a crash neither forgets a
 * failed real server nor touches forwarding.
 */
export class CheckerThread {
  private worker: Worker | null = null;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;
  /** The thread's nice value and CPUs; a change takes effect when the thread (re)starts. */
  tuning: CheckerTuning = {};
  /** Restarts so far (listed by `tslvs health --json` through the log, and counted in tests). */
  restarts = 0;

  constructor(
    private readonly onReport: (r: CheckerReport) => void,
    /** The plan to start a (re)started thread with: every checker and its current state. */
    private readonly currentPlan: () => PlannedChecker[],
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.stopped || this.worker) return;
    const w = new Worker(new URL("./health-worker.js", import.meta.url), { workerData: this.tuning });
    this.worker = w;
    w.on("message", (m: FromChecker) => {
      if (m.type === "reports") for (const r of m.reports) this.onReport(r);
      else if (m.error)
        this.log.warn(
          { nice: m.nice, cpus: m.cpus, err: m.error },
          "health checker thread: priority or CPUs not set",
        );
    });
    w.on("error", (e) => this.log.error({ err: e.message }, "health checker thread failed"));
    w.on("exit", (code) => {
      if (this.worker !== w) return;
      this.worker = null;
      if (this.stopped) return;
      this.restarts++;
      this.log.error({ code, restarts: this.restarts }, "health checker thread exited; restarting it");
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        this.start();
      }, RESTART_DELAY_MS);
    });
    // The thread must not keep a stopping daemon alive.
    w.unref();
    this.send({ type: "plan", checkers: this.currentPlan() });
  }

  setPlan(checkers: PlannedChecker[]): void {
    if (!this.worker) this.start();
    else this.send({ type: "plan", checkers });
  }

  trigger(ids: string[]): void {
    this.send({ type: "trigger", ids });
  }

  /** The thread's id, for tests that kill it. */
  get threadId(): number | null {
    return this.worker?.threadId ?? null;
  }

  /** Terminates the thread (tests: a crash must be survived). */
  crashForTest(): Promise<number> | undefined {
    return this.worker?.terminate();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private send(m: ToChecker): void {
    this.worker?.postMessage(m);
  }
}

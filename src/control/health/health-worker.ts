/**
 * The checker thread: runs every health check off the daemon's event loop (which also runs the
 * packet loop), and sends each attempt's report back. Told what to run by CheckerThread.
 */
import { parentPort, workerData } from "node:worker_threads";
import { niceThisThread, pinThisThread } from "../../platform/thread-priority.js";
import { type CheckerReport, CheckerRunner, type PlannedChecker } from "./checker-runner.js";
import { runProbe } from "./probes/index.js";

export type ToChecker =
  | { type: "plan"; checkers: PlannedChecker[] }
  | { type: "trigger"; ids: string[] }
  | { type: "stop" };

export type FromChecker =
  | { type: "reports"; reports: CheckerReport[] }
  /** Sent once at start: why the thread could not take its priority or CPUs, or null. */
  | { type: "tuned"; nice: number; cpus: number[] | null; error: string | null };

/** What the checker thread is started with (keepalived's checker_priority, checker_cpu_affinity). */
export interface CheckerTuning {
  nice?: number;
  cpus?: number[];
}

/**
 * The checker thread's nice value. The checks share the CPU with the packet loop of the same
 * process; under contention the scheduler then gives the loop ~90 % (CFS weights 1024 : 110), so
 * checks slow down before forwarding does. keepalived's checker child runs at nice 0 in a process
 * of its own.
 */
export const CHECKER_NICE = 10;

/** Longest a report waits to be sent with others (detection is measured in seconds). */
const REPORT_BATCH_MS = 50;

const port = parentPort;
if (port) {
  const tuning = (workerData ?? {}) as CheckerTuning;
  const nice = tuning.nice ?? CHECKER_NICE;
  const error = niceThisThread(nice) ?? (tuning.cpus ? pinThisThread(tuning.cpus) : null);
  port.postMessage({ type: "tuned", nice, cpus: tuning.cpus ?? null, error } satisfies FromChecker);
  // Reports go in batches, one message per REPORT_BATCH_MS at most: a thousand real servers a second
  // would otherwise be a thousand turns of the daemon's event loop, between its packet batches.
  let batch: CheckerReport[] = [];
  let pending = false;
  const flush = () => {
    pending = false;
    port.postMessage({ type: "reports", reports: batch } satisfies FromChecker);
    batch = [];
  };
  const runner = new CheckerRunner(runProbe, (report) => {
    batch.push(report);
    if (pending) return;
    pending = true;
    setTimeout(flush, REPORT_BATCH_MS);
  });
  port.on("message", (m: ToChecker) => {
    if (m.type === "plan") runner.setPlan(m.checkers);
    else if (m.type === "trigger") runner.trigger(m.ids);
    else {
      runner.stop();
      port.close();
    }
  });
}

/**
 * The checker thread: runs every health check off the daemon's event loop (which also runs the
 * packet loop), and sends each attempt's report back. Told what to run by CheckerThread.
 */
import { parentPort } from "node:worker_threads";
import { type CheckerReport, CheckerRunner, type PlannedChecker } from "./checker-runner.js";
import { runProbe } from "./probes/index.js";

export type ToChecker =
  | { type: "plan"; checkers: PlannedChecker[] }
  | { type: "trigger"; ids: string[] }
  | { type: "stop" };

export type FromChecker = { type: "report"; report: CheckerReport };

const port = parentPort;
if (port) {
  const runner = new CheckerRunner(runProbe, (report) =>
    port.postMessage({ type: "report", report } satisfies FromChecker),
  );
  port.on("message", (m: ToChecker) => {
    if (m.type === "plan") runner.setPlan(m.checkers);
    else if (m.type === "trigger") runner.trigger(m.ids);
    else {
      runner.stop();
      port.close();
    }
  });
}

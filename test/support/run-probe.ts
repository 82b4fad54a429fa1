/**
 * Runs health probes where it is started (the network tests start it inside a namespace with
 * `ip netns exec`): argv[2] is a JSON array of `{ spec, timeoutMs }`, run all at once; prints one
 * JSON array of ProbeResults, in the same order, on one line. A job with `abortMs` has its abort
 * signal fired that many milliseconds after the start.
 */
import type { ProbeSpec } from "../../src/control/health/check-spec.js";
import { runProbe } from "../../src/control/health/probes/index.js";
import { scriptArgs } from "./script-args.js";

export interface ProbeJob {
  spec: ProbeSpec;
  timeoutMs: number;
  abortMs?: number;
}

const [json] = scriptArgs("run-probe.js JSON-ARRAY-OF-{spec,timeoutMs}");
const jobs = JSON.parse(json ?? "[]") as ProbeJob[];
const results = await Promise.all(
  jobs.map((j) => {
    const ac = new AbortController();
    const timer = j.abortMs === undefined ? undefined : setTimeout(() => ac.abort(), j.abortMs);
    return runProbe(j.spec, j.timeoutMs, ac.signal).finally(() => clearTimeout(timer));
  }),
);
process.stdout.write(`${JSON.stringify(results)}\n`);

/**
 * The checker thread for real (a worker thread running FILE_CHECK on a temporary file): its
 * reports reach the daemon's side, and when the thread dies it is started again with every
 * checker's last state, reporting again without anyone's help.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import type { CheckerSpec } from "../src/control/health/check-spec.js";
import type { CheckerReport, PlannedChecker } from "../src/control/health/checker-runner.js";
import { CheckerThread } from "../src/control/health/checker-thread.js";
import { CHECKER_NICE } from "../src/control/health/health-worker.js";

async function waitUntil(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("a checker thread that dies is restarted with the checkers' states, and reports again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tslvs-hthread-"));
  const file = join(dir, "flag");
  writeFileSync(file, "1\n");
  const spec: CheckerSpec = {
    probe: { kind: "FILE_CHECK", trackName: "flag", file, weight: 0, reverse: false },
    timing: {
      delayLoop: 1,
      connectTimeout: 1,
      retry: 0,
      delayBeforeRetry: 1,
      warmup: 0,
      alpha: false,
      logAllFailures: false,
    },
  };
  const reports: CheckerReport[] = [];
  let status: PlannedChecker["status"];
  const plan = (): PlannedChecker[] => [{ id: "f", spec, ...(status ? { status } : {}) }];
  const thread = new CheckerThread(
    (r) => {
      reports.push(r);
      status = r.status;
    },
    plan,
    pino({ level: "silent" }),
  );
  try {
    thread.setPlan(plan());
    await waitUntil("no report from the checker thread", 5000, () => reports.length > 0);
    assert.equal(reports[0]!.ok, false, "a non-zero value fails a weight-0 FILE_CHECK");
    assert.equal(reports[0]!.status.up, false);
    // The checker thread lowered its own priority, not the process's.
    const nices = readdirSync("/proc/self/task").map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    });
    assert.ok(nices.includes(CHECKER_NICE), `a thread at nice ${CHECKER_NICE}: ${nices.join(" ")}`);
    assert.equal(nices[0], 0, "the main thread keeps nice 0");
    const before = thread.threadId;
    await thread.crashForTest();
    await waitUntil(
      "the thread was not restarted",
      5000,
      () => thread.restarts === 1 && thread.threadId !== null,
    );
    assert.notEqual(thread.threadId, before);
    writeFileSync(file, "0\n");
    const seen = reports.length;
    await waitUntil("no report after the restart", 5000, () => reports.length > seen && reports.at(-1)!.ok);
    assert.equal(
      reports.at(-1)!.changed,
      true,
      "the restarted thread knew the checker was down: this success brings it up",
    );
  } finally {
    await thread.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("checker_priority and checker_cpu_affinity: the checker thread's nice value and CPUs", async () => {
  const reports: CheckerReport[] = [];
  const thread = new CheckerThread(
    (r) => reports.push(r),
    () => [],
    pino({ level: "silent" }),
  );
  thread.tuning = { nice: 5, cpus: [0] };
  try {
    thread.setPlan([]);
    const tasks = () =>
      readdirSync("/proc/self/task").map((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
        const status = readFileSync(`/proc/self/task/${tid}/status`, "utf8");
        return {
          nice: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]),
          cpus: /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1],
        };
      });
    await waitUntil("no thread at nice 5", 5000, () => tasks().some((t) => t.nice === 5));
    const tuned = tasks().find((t) => t.nice === 5)!;
    assert.equal(tuned.cpus, "0", "pinned to CPU 0");
  } finally {
    await thread.stop();
  }
});

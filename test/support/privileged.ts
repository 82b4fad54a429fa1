import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import "./test-owner.js";

/**
 * `npm run test:unit` (and `npm test` where root or the test packages are missing) sets this: the
 * tests that need root or a Debian package skip, whatever the machine could do.
 */
export const UNIT_ONLY = process.env.TSLVS_TEST_UNIT_ONLY === "1";

/** True when this run may use BPF, AF_XDP and network namespaces (root, and not a unit-only run). */
export const PRIVILEGED = !UNIT_ONLY && process.getuid?.() === 0;

/**
 * True when the test can use BPF, AF_XDP and network namespaces (root). Without root the test is
 * skipped — except on CI, where a skipped network test would hide a broken data plane. A unit-only
 * run skips it everywhere (the runner itself fails a unit-only run under CI).
 */
export function haveRoot(t: TestContext): boolean {
  if (PRIVILEGED) return true;
  if (UNIT_ONLY) {
    t.skip("unit-only run");
    return false;
  }
  assert.notEqual(process.env.CI, "true", "this test needs root, and CI must run it");
  t.skip("needs root (BPF, AF_XDP, network namespaces)");
  return false;
}

/**
 * Why a test that needs `command` (from test/system-packages.txt) cannot run, or false when it can:
 * for `{ skip: needsCommand("tcpdump") }`. Outside a unit-only run a missing command is a failure,
 * not a skip: the test runner installs the list before it runs anything.
 */
export function needsCommand(command: string): string | false {
  if (UNIT_ONLY) return "unit-only run";
  assert.ok(
    !spawnSync(command, ["--version"], { stdio: "ignore" }).error,
    `${command} is missing: run the tests with 'npm test', which installs test/system-packages.txt`,
  );
  return false;
}

import assert from "node:assert/strict";
import type { TestContext } from "node:test";

/**
 * True when the test can use BPF, AF_XDP and network namespaces (root). Without root the test is
 * skipped — except on CI, where a skipped network test would hide a broken data plane.
 */
export function haveRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return true;
  assert.notEqual(process.env.CI, "true", "this test needs root, and CI must run it");
  t.skip("needs root (BPF, AF_XDP, network namespaces)");
  return false;
}

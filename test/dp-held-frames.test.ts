import assert from "node:assert/strict";
import { test } from "node:test";
import { HeldFrames } from "../src/dataplane/held-frames.js";

test("held frames: released per next hop in arrival order, others kept; a full queue refuses", () => {
  const h = new HeldFrames(4);
  assert.equal(h.hold(0, 60, 0xc6130a14), true);
  assert.equal(h.hold(2048, 70, 0xc6120064), true);
  assert.equal(h.hold(4096, 80, 0xc6130a14), true);
  assert.equal(h.hold(6144, 90, 0xc6120064), true);
  assert.equal(h.hold(8192, 99, 1), false, "the fifth frame does not fit");
  const out: number[][] = [];
  h.release(0xc6130a14, (addr, len) => out.push([addr, len]));
  assert.deepEqual(out, [
    [0, 60],
    [4096, 80],
  ]);
  assert.equal(h.size, 2);
  h.release(0xdeadbeef, () => assert.fail("nothing is held for that address"));
  const rest: number[] = [];
  h.release(0xc6120064, (addr) => rest.push(addr));
  assert.deepEqual(rest, [2048, 6144]);
  assert.equal(h.size, 0);
  assert.equal(h.hold(8192, 99, 1), true);
});

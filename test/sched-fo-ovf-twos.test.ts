import assert from "node:assert/strict";
import { test } from "node:test";
import { Fixture, label } from "./sched-fixture.js";

const A = "10.0.0.1";
const B = "10.0.0.2";
const C = "10.0.0.3";

test("fo: highest weight among non-OVERLOAD dests, ties to the newest, weight 0 never", () => {
  const f = new Fixture("fo");
  const a = f.add(A, 5);
  const b = f.add(B, 5);
  const c = f.add(C, 1);
  assert.equal(f.pick(), b, "a and b tie at 5: b is newer");
  b.activeConns = 1000; // load does not matter
  assert.equal(f.pick(), b);
  f.setOverload(b, true);
  assert.equal(f.pick(), a);
  f.setWeight(a, 0);
  assert.equal(f.pick(), c);
  f.setWeight(c, 0);
  assert.equal(f.pick(), null);
});

test("ovf: fills the heaviest dest until active conns exceed its weight, then overflows", () => {
  const f = new Fixture("ovf");
  const a = f.add(A, 2);
  const b = f.add(B, 1);
  assert.equal(f.pick(), a);
  a.activeConns = 2; // not above the weight yet
  assert.equal(f.pick(), a);
  a.activeConns = 3;
  assert.equal(f.pick(), b);
  b.activeConns = 2;
  assert.equal(f.pick(), null);
  b.activeConns = 0;
  b.inactConns = 500; // inactive conns do not count
  assert.equal(f.pick(), b);
  f.setOverload(b, true);
  assert.equal(f.pick(), null);
  a.activeConns = 0;
  f.setWeight(a, 0);
  assert.equal(f.pick(), null, "weight 0 is skipped");
});

test("twos: draws in [0, Σw], walks eligible dests in list order; the second wins only if less loaded", () => {
  const f = new Fixture("twos");
  const a = f.add(A, 3);
  f.add(B, 2);
  const c = f.add(C, 1); // list C(1) B(2) A(3), Σ = 6: draws below 7
  f.ctx.draws = [0, 4];
  assert.equal(f.pick(), c, "idle tie: the first choice stays");
  c.activeConns = 1;
  f.ctx.draws = [0, 4];
  assert.equal(f.pick(), a, "r1 = 0 → C, r2 = 4 → A (4−1−2 > 0, −3 ≤ 0); A is less loaded");
  f.ctx.draws = [6, 1];
  assert.equal(f.pick(), a, "r1 = 6 → A, r2 = 1 → C; C is more loaded, so the first choice A stays");
  f.ctx.draws = [2, 3];
  assert.equal(label(f.pick()), B, "r1 = 2 → B (2−1−2 ≤ 0), r2 = 3 → B");
});

test("twos: OVERLOAD and weight-0 dests are neither counted nor drawn; none eligible → null", () => {
  const f = new Fixture("twos");
  const a = f.add(A, 3);
  const b = f.add(B, 0);
  const c = f.add(C, 2);
  f.setOverload(c, true);
  for (let i = 0; i < 20; i++) assert.equal(f.pick(), a);
  f.setOverload(a, true);
  assert.equal(f.pick(), null);
  f.setWeight(b, 1);
  assert.equal(f.pick(), b);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Fixture } from "./sched-fixture.js";

const A = "10.0.0.1";
const B = "10.0.0.2";
const C = "10.0.0.3";

test("rr: dests added A, B, C are picked C, B, A, C, B, A (list order is newest first)", () => {
  const f = new Fixture("rr");
  f.add(A);
  f.add(B);
  f.add(C);
  assert.deepEqual(f.picks(7), [C, B, A, C, B, A, C]);
});

test("rr: skips OVERLOAD and weight-0 dests, ignores other weights, null when none is usable", () => {
  const f = new Fixture("rr");
  const a = f.add(A, 5);
  const b = f.add(B, 1);
  const c = f.add(C, 1);
  f.setOverload(b, true);
  assert.deepEqual(f.picks(4), [C, A, C, A]);
  f.setWeight(c, 0);
  assert.deepEqual(f.picks(2), [A, A]);
  f.setOverload(a, true);
  assert.equal(f.pick(), null);
  f.setOverload(b, false);
  assert.deepEqual(f.picks(2), [B, B]);
});

test("rr: deleting the dest under the cursor continues with the one that followed it", () => {
  const f = new Fixture("rr");
  f.add(A);
  const b = f.add(B);
  f.add(C);
  assert.deepEqual(f.picks(2), [C, B]);
  f.del(b);
  assert.deepEqual(f.picks(3), [A, C, A]);
});

test("rr: a dest added mid-cycle is reached only after the cursor wraps", () => {
  const f = new Fixture("rr");
  f.add(A);
  f.add(B);
  assert.deepEqual(f.picks(1), [B]);
  f.add(C);
  assert.deepEqual(f.picks(4), [A, C, B, A]);
});

test("wrr: weights A=4, B=3, C=2 added one by one pick C B A, then A B A C B A C B A repeating", () => {
  const f = new Fixture("wrr");
  f.add(A, 4);
  f.add(B, 3);
  f.add(C, 2);
  const cycle = [A, B, A, C, B, A, C, B, A];
  assert.deepEqual(f.picks(3 + 27), [C, B, A, ...cycle, ...cycle, ...cycle]);
});

test("wrr: bound to existing dests in list order A, B, C: A A B A B C A B C repeating", () => {
  // The list order A, B, C means C was added first (it is last in the list).
  const f = new Fixture("wrr", undefined, {
    dests: [
      [C, 2],
      [B, 3],
      [A, 4],
    ],
  });
  const cycle = [A, A, B, A, B, C, A, B, C];
  assert.deepEqual(f.picks(18), [...cycle, ...cycle]);
});

test("wrr: same list order reached by adding C, B, A: first picks A B C, then the 9-cycle", () => {
  const f = new Fixture("wrr");
  f.add(C, 2);
  f.add(B, 3);
  f.add(A, 4);
  assert.deepEqual(f.picks(12), [A, B, C, A, A, B, A, B, C, A, B, C]);
});

test("wrr: OVERLOAD and weight 0 are skipped; null when all are overloaded or all weights are 0", () => {
  const f = new Fixture("wrr");
  const a = f.add(A, 2);
  const b = f.add(B, 1);
  f.setOverload(a, true);
  assert.deepEqual(f.picks(3), [B, B, B]);
  f.setOverload(b, true);
  assert.equal(f.pick(), null);
  f.setOverload(a, false);
  f.setOverload(b, false);
  f.setWeight(a, 0);
  f.setWeight(b, 0);
  assert.equal(f.pick(), null);
  f.setWeight(b, 3);
  assert.deepEqual(f.picks(2), [B, B]);
});

test("wrr: over one cycle of Σw/gcd picks, each dest is picked weight/gcd times (property)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 1, max: 4 }),
      (ws, scale) => {
        const dests = ws.map((w, i) => [`10.0.1.${i + 1}`, w * scale] as [string, number]);
        const f = new Fixture("wrr", undefined, { dests });
        const g = ws.reduce((x, y) => gcd(x, y)) * scale;
        const total = ws.reduce((x, y) => x + y, 0) * scale;
        const counts = new Map<string, number>();
        for (const name of f.picks(total / g)) counts.set(name, (counts.get(name) ?? 0) + 1);
        for (const [addr, w] of dests) assert.equal(counts.get(addr) ?? 0, w / g, `dest ${addr} weight ${w}`);
      },
    ),
  );
});

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DEST_F_OVERLOAD, type Dest } from "../src/core/dest.js";
import { Fixture, label } from "./sched-fixture.js";

// Straight transcriptions of the kernel's linear scans (ip_vs_lc.c, _wlc.c, _sed.c, _nq.c).
const overloaded = (d: Dest) => (d.flags & DEST_F_OVERLOAD) !== 0;
const overhead = (d: Dest) => d.activeConns * 256 + (d.activeConns + d.inactConns);

function refLc(dests: readonly Dest[]): Dest | null {
  let least: Dest | null = null;
  let loh = 0;
  for (const d of dests) {
    if (overloaded(d) || d.weight === 0) continue;
    const doh = overhead(d);
    if (least === null || doh < loh) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

function refWeighted(dests: readonly Dest[], oh: (d: Dest) => number): Dest | null {
  let i = 0;
  let least: Dest | null = null;
  for (; i < dests.length; i++) {
    const d = dests[i]!;
    if (!overloaded(d) && d.weight > 0) {
      least = d;
      break;
    }
  }
  if (least === null) return null;
  let loh = oh(least);
  for (i++; i < dests.length; i++) {
    const d = dests[i]!;
    if (overloaded(d)) continue;
    const doh = oh(d);
    if (loh * d.weight > doh * least.weight) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

const refWlc = (dests: readonly Dest[]) => refWeighted(dests, overhead);
const refSed = (dests: readonly Dest[]) => refWeighted(dests, (d) => d.activeConns + 1);

function refNq(dests: readonly Dest[]): Dest | null {
  let least: Dest | null = null;
  let loh = 0;
  for (const d of dests) {
    if (overloaded(d) || d.weight === 0) continue;
    const doh = d.activeConns + 1;
    if (d.activeConns === 0) return d;
    if (least === null || loh * d.weight > doh * least.weight) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

const REFERENCE = { lc: refLc, wlc: refWlc, sed: refSed, nq: refNq } as const;
type Rule = keyof typeof REFERENCE;
const RULES: Rule[] = ["lc", "wlc", "sed", "nq"];

const A = "10.0.0.1";
const B = "10.0.0.2";
const C = "10.0.0.3";

test("lc: least 257·active + inactive wins; weights other than 0 do not matter; ties to the newest", () => {
  const f = new Fixture("lc");
  const a = f.add(A, 100);
  const b = f.add(B, 1);
  const c = f.add(C, 1);
  assert.equal(f.pick(), c, "all idle: the newest (first in list)");
  c.activeConns = 1; // 257
  b.inactConns = 256; // 256
  a.inactConns = 300;
  assert.equal(f.pick(), b);
  b.inactConns = 257; // tie with c: c is earlier in the list
  assert.equal(f.pick(), c);
  f.setWeight(c, 0);
  assert.equal(f.pick(), b);
  f.setOverload(b, true);
  assert.equal(f.pick(), a);
});

test("wlc: least overhead/weight; weight 0 never chosen; ties to the newest", () => {
  const f = new Fixture("wlc");
  const a = f.add(A, 3);
  const b = f.add(B, 1);
  a.activeConns = 2; // 514/3 = 171.3
  b.activeConns = 1; // 257/1
  assert.equal(f.pick(), a);
  b.activeConns = 0;
  b.inactConns = 171; // 171/1 < 171.3
  assert.equal(f.pick(), b);
  a.activeConns = 0;
  a.inactConns = 513; // 513/3 = 171: tie, b is newer
  assert.equal(f.pick(), b);
  f.setWeight(b, 0);
  assert.equal(f.pick(), a);
  f.setOverload(a, true);
  assert.equal(f.pick(), null);
});

test("sed: least (active + 1)/weight, inactive ignored", () => {
  const f = new Fixture("sed");
  const a = f.add(A, 2);
  const b = f.add(B, 1);
  b.inactConns = 1000;
  assert.equal(f.pick(), a, "1/2 beats 1/1");
  a.activeConns = 1; // 2/2 = 1 ties 1/1: b is newer
  assert.equal(f.pick(), b);
});

test("nq: the first idle eligible dest wins outright; otherwise as sed", () => {
  const f = new Fixture("nq");
  const a = f.add(A, 10);
  const b = f.add(B, 1);
  const c = f.add(C, 1);
  c.activeConns = 1;
  b.inactConns = 50;
  assert.equal(f.pick(), b, "b is the first idle one, though a has more weight");
  b.activeConns = 3;
  assert.equal(f.pick(), a);
  a.activeConns = 30; // 31/10 = 3.1 vs c 2/1 = 2 vs b 4/1
  assert.equal(f.pick(), c);
  f.setOverload(c, true);
  assert.equal(f.pick(), a);
  f.setWeight(a, 0);
  assert.equal(f.pick(), b);
});

// Random operations on a service: the indexed scheduler must always agree with the reference scan.
const op = fc.oneof(
  fc.record({ k: fc.constant("add" as const), w: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ k: fc.constant("del" as const), i: fc.nat() }),
  fc.record({
    k: fc.constant("conns" as const),
    i: fc.nat(),
    a: fc.integer({ min: 0, max: 9 }),
    n: fc.integer({ min: 0, max: 600 }),
    tell: fc.boolean(),
  }),
  fc.record({ k: fc.constant("overload" as const), i: fc.nat(), on: fc.boolean() }),
  fc.record({ k: fc.constant("weight" as const), i: fc.nat(), w: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ k: fc.constant("pick" as const) }),
);

for (const rule of RULES) {
  test(`${rule}: the index picks exactly what the kernel's scan picks (property)`, () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const f = new Fixture(rule);
        let n = 0;
        for (const o of ops) {
          const dests = f.svc.dests;
          const at = (i: number) => dests[i % dests.length]!;
          switch (o.k) {
            case "add":
              f.add(`10.1.${n >> 8}.${n++ & 255}`, o.w);
              break;
            case "del":
              if (dests.length > 0) f.del(at(o.i));
              break;
            case "conns":
              if (dests.length > 0) {
                const d = at(o.i);
                d.activeConns = o.a;
                d.inactConns = o.n;
                if (o.tell) f.sched.destChanged?.(f.svc, d);
              }
              break;
            case "overload":
              if (dests.length > 0) f.setOverload(at(o.i), o.on);
              break;
            case "weight":
              if (dests.length > 0) f.setWeight(at(o.i), o.w);
              break;
            case "pick":
              break;
          }
          assert.equal(label(f.sched.schedule(f.svc, f.pkt)), label(REFERENCE[rule](f.svc.dests)));
        }
      }),
      { numRuns: 300 },
    );
  });
}

test("index stays exact at 1,000 dests under random count changes (spot check against the scan)", () => {
  for (const rule of RULES) {
    const f = new Fixture(rule);
    for (let i = 0; i < 1000; i++) f.add(`10.2.${i >> 8}.${i & 255}`, 1 + (i % 7));
    let seed = 7;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let step = 0; step < 3000; step++) {
      const d = f.svc.dests[rnd(1000)]!;
      d.activeConns = rnd(50);
      d.inactConns = rnd(500);
      if (rnd(50) === 0) f.setOverload(d, !d.overloaded);
      assert.equal(f.sched.schedule(f.svc, f.pkt), REFERENCE[rule](f.svc.dests), `${rule} step ${step}`);
    }
  }
});

test("a dest list changed without the add hook is noticed and the answer stays exact", () => {
  const f = new Fixture("wlc");
  const a = f.add(A, 1);
  a.activeConns = 5;
  assert.equal(f.pick(), a);
  // Bypass the hook: the index sees the list length change and rebuilds.
  const b = f.add(B, 1);
  f.svc.dests.splice(0, 1);
  f.svc.dests.unshift(b);
  const c = f.add(C, 1);
  c.activeConns = 9;
  assert.equal(f.pick(), b);
});

test("done() detaches the index from the dests", () => {
  const f = new Fixture("lc");
  const a = f.add(A);
  f.pick();
  assert.notEqual(a.watcher, null);
  f.sched.done?.(f.svc);
  assert.equal(a.watcher, null);
  f.del(a);
});

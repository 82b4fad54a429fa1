import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { RateEstimator } from "../src/core/estimator.js";
import { Counters } from "../src/core/stats.js";

function counters(conns: number, inPkts = 0, outPkts = 0, inBytes = 0, outBytes = 0): Counters {
  return Object.assign(new Counters(), { conns, inPkts, outPkts, inBytes, outBytes });
}

/** The kernel's arithmetic in 64-bit integers: rate = Δ << 9 (or << 4); avg += (rate − avg) >> 2. */
class KernelModel {
  avg = [0n, 0n, 0n, 0n, 0n];
  last = [0n, 0n, 0n, 0n, 0n];
  sample(c: number[]) {
    c.forEach((v, i) => {
      const rate = (BigInt(v) - this.last[i]!) << (i < 3 ? 9n : 4n);
      this.last[i] = BigInt(v);
      this.avg[i]! += (rate - this.avg[i]!) >> 2n;
    });
  }
  read(): number[] {
    return this.avg.map((a, i) => Number(i < 3 ? (a + 0x1ffn) >> 10n : (a + 0xfn) >> 5n));
  }
}

test("steady 5 conn/s and 500 B/s: the averages climb as the kernel's do and settle on the rate", () => {
  const e = new RateEstimator();
  const seen: number[] = [];
  for (let i = 1; i <= 30; i++) {
    e.sample(counters(10 * i, 0, 0, 1000 * i, 0));
    seen.push(e.cps);
  }
  // avg 1280, 2240, 2960, 3500, … (scaled by 1024) → reported 1, 2, 3, 3, 4, …
  assert.deepEqual(seen.slice(0, 6), [1, 2, 3, 3, 4, 4]);
  assert.equal(seen[29], 5);
  assert.equal(e.inBps, 500);
  assert.deepEqual(e.rates(), { cps: 5, inPps: 0, outPps: 0, inBps: 500, outBps: 0 });
});

test("decay rounds down (arithmetic shift): one connection's trace reaches exactly 0", () => {
  const e = new RateEstimator();
  e.sample(counters(1));
  const internal = () => (e as unknown as { cpsAvg: number }).cpsAvg;
  const trace = [internal()];
  for (let i = 0; i < 16; i++) {
    e.sample(counters(1));
    trace.push(internal());
  }
  assert.deepEqual(trace, [128, 96, 72, 54, 40, 30, 22, 16, 12, 9, 6, 4, 3, 2, 1, 0, 0]);
  assert.equal(e.cps, 0);
});

test("matches a 64-bit model of the kernel's estimator on random counter traces (property)", () => {
  const delta = fc.tuple(
    fc.nat({ max: 100000 }),
    fc.nat({ max: 1000000 }),
    fc.nat({ max: 1000000 }),
    fc.nat({ max: 2 ** 31 }),
    fc.nat({ max: 2 ** 31 }),
  );
  fc.assert(
    fc.property(fc.array(delta, { minLength: 1, maxLength: 40 }), (deltas) => {
      const e = new RateEstimator();
      const k = new KernelModel();
      const total = [0, 0, 0, 0, 0];
      for (const d of deltas) {
        d.forEach((x, i) => {
          total[i]! += x;
        });
        e.sample(counters(total[0]!, total[1]!, total[2]!, total[3]!, total[4]!));
        k.sample(total);
        const r = e.rates();
        assert.deepEqual([r.cps, r.inPps, r.outPps, r.inBps, r.outBps], k.read());
      }
    }),
  );
});

test("maybeSample samples on a 2 s grid from the first call; missed periods share the increase", () => {
  const a = new RateEstimator();
  assert.equal(a.maybeSample(100, counters(0)), 0, "the first call starts the grid");
  assert.equal(a.maybeSample(101.9, counters(5)), 0);
  assert.equal(a.maybeSample(102, counters(10)), 1);
  // 3 periods end by t = 108 (104, 106, 108): 60 conns spread as 20 per period.
  assert.equal(a.maybeSample(108.5, counters(70)), 3);
  const b = new RateEstimator();
  b.sample(counters(10));
  b.sample(counters(30));
  b.sample(counters(50));
  b.sample(counters(70));
  assert.deepEqual(a.rates(), b.rates());
  // The grid stays at 100 + 2k: the next sample is due at 110.
  assert.equal(a.maybeSample(109.99, counters(80)), 0);
  assert.equal(a.maybeSample(110, counters(80)), 1);
  // After a very long gap only 64 periods are replayed.
  assert.equal(a.maybeSample(110 + 2 * 1000, counters(80 + 1000 * 20)), 64);
  assert.equal(a.cps, 10);
});

test("reset zeroes the rates and counts the next increase from the given counters", () => {
  const e = new RateEstimator(counters(1000, 50));
  e.sample(counters(1100, 50));
  assert.ok(e.cps > 0);
  e.reset(counters(1100, 50));
  assert.deepEqual(e.rates(), { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 });
  e.sample(counters(1108, 50));
  // Δ = 8 → sample 8·512 = 4096 → avg 1024 → (1024 + 511) >> 10 = 1 (Δ from 0 would give 138).
  assert.equal(e.cps, 1);
});

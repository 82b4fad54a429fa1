import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ConsumerRing, ProducerRing, type RingOffsets } from "../src/dataplane/xdp/rings.js";
import { NativeMemory } from "../src/platform/native-memory.js";

// The rings over plain memory, with this test playing the kernel's side: the same index arithmetic
// the kernel uses (free-running u32 counters, entry = counter & mask).
const OFFSETS: RingOffsets = { producer: 0, consumer: 64, flags: 128, desc: 256 };
const SIZE = 16;

function memoryAt(start: number): { mem: NativeMemory; idx: Uint32Array } {
  const mem = NativeMemory.allocate(4096);
  const idx = new Uint32Array(mem.bytes.buffer, 0, 64);
  idx[OFFSETS.producer / 4] = start;
  idx[OFFSETS.consumer / 4] = start;
  return { mem, idx };
}

test("a producer ring never overwrites unconsumed entries, across the 2^32 wrap of its counters", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0xffffff00, max: 0xffffffff }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 })), { maxLength: 40 }),
      (start, steps) => {
        const { mem, idx } = memoryAt(start);
        try {
          const ring = new ProducerRing(mem, OFFSETS, SIZE, 4);
          const entries = new Uint32Array(mem.bytes.buffer, OFFSETS.desc, SIZE * 4);
          let nextValue = 1;
          let nextExpected = 1;
          for (const [produce, consume] of steps) {
            const n = Math.min(produce, ring.free(produce));
            for (let i = 0; i < n; i++) ring.putDesc(nextValue * 2048, nextValue++ & 0xffff);
            ring.submit();
            // Kernel side: consume what was published, in order.
            const prod = idx[OFFSETS.producer / 4]!;
            let cons = idx[OFFSETS.consumer / 4]!;
            const avail = (prod - cons) >>> 0;
            if (avail > SIZE) return false;
            for (let i = 0; i < Math.min(consume, avail); i++) {
              const at = (cons & (SIZE - 1)) * 4;
              if (entries[at] !== nextExpected * 2048 || entries[at + 2] !== (nextExpected & 0xffff))
                return false;
              nextExpected++;
              cons = (cons + 1) >>> 0;
            }
            idx[OFFSETS.consumer / 4] = cons;
          }
          return ring.outstanding() === nextValue - nextExpected;
        } finally {
          mem.free();
        }
      },
    ),
    { numRuns: 200 },
  );
});

test("a consumer ring reads entries in order across the wrap and releases them", () => {
  const { mem, idx } = memoryAt(0xfffffffa);
  try {
    const ring = new ConsumerRing(mem, OFFSETS, SIZE, 2);
    const entries = new Uint32Array(mem.bytes.buffer, OFFSETS.desc, SIZE * 2);
    let produced = 0;
    let read = 0;
    for (let round = 0; round < 10; round++) {
      // Kernel side: produce 11 addresses.
      let prod = idx[OFFSETS.producer / 4]!;
      for (let i = 0; i < 11; i++) {
        entries[(prod & (SIZE - 1)) * 2] = ++produced * 4096;
        prod = (prod + 1) >>> 0;
      }
      idx[OFFSETS.producer / 4] = prod;
      const n = ring.available(64);
      assert.equal(n, 11);
      for (let k = 0; k < n; k++) assert.equal(ring.addrAt(k), ++read * 4096);
      ring.release(n);
      assert.equal(idx[OFFSETS.consumer / 4], prod, "consumer index published");
      assert.equal(ring.available(64), 0);
    }
  } finally {
    mem.free();
  }
});

test("ring sizes must be powers of two", () => {
  const mem = NativeMemory.allocate(4096);
  try {
    assert.throws(() => new ProducerRing(mem, OFFSETS, 12, 2), /power of two/);
  } finally {
    mem.free();
  }
});

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ConnTable } from "../src/core/conn-table.js";
import { IPPROTO_TCP } from "../src/core/flow.js";
import { hugePageBuffer, hugePageMapping } from "../src/platform/huge-pages.js";

const HUGE = 2 * 1024 * 1024;

/** The /proc/self/smaps block of the mapping that starts at `address`, or null. */
function smapsOf(address: bigint): string | null {
  const text = readFileSync("/proc/self/smaps", "utf8");
  const start = address.toString(16);
  const blocks = text.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  return blocks.find((b) => b.startsWith(`${start}-`)) ?? null;
}

function thpMode(): string {
  try {
    return (
      /\[(\w+)\]/.exec(readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8"))?.[1] ?? "never"
    );
  } catch {
    return "never";
  }
}

describe("huge-page buffers", () => {
  it("gives zeroed, writable memory on a 2 MiB boundary, marked for huge pages", () => {
    const bytes = 5 * HUGE + 12345;
    const buf = hugePageBuffer(bytes);
    assert.ok(buf.byteLength >= bytes);
    const words = new Uint32Array(buf);
    let nonZero = 0;
    for (let i = 0; i < words.length; i += 1024) nonZero += words[i]! === 0 ? 0 : 1;
    assert.equal(nonZero, 0);
    for (let i = 0; i < words.length; i++) words[i] = i;
    assert.equal(words[words.length - 1], words.length - 1);
    const where = hugePageMapping(buf);
    assert.ok(where, "mapped outside the JS heap");
    assert.equal(where.address % BigInt(HUGE), 0n);
    assert.equal(where.length % HUGE, 0);
    const smaps = smapsOf(where.address);
    assert.ok(smaps, "the mapping is in /proc/self/smaps");
    assert.match(smaps, new RegExp(`^Size:\\s+${where.length / 1024} kB$`, "m"));
    if (thpMode() !== "never") {
      assert.match(smaps, /^VmFlags:.*\bhg\b/m, "MADV_HUGEPAGE is set on the mapping");
    }
  });

  it("keeps small buffers on the JS heap", () => {
    const buf = hugePageBuffer(4096);
    assert.equal(buf.byteLength, 4096);
    assert.equal(hugePageMapping(buf), null);
  });

  it("refuses a bad size", () => {
    assert.throws(() => hugePageBuffer(0), RangeError);
    assert.throws(() => hugePageBuffer(1.5), RangeError);
  });
});

describe("connection table memory", () => {
  it("takes all its arrays from one allocation, and works the same on huge pages", () => {
    const sizes: number[] = [];
    const t = new ConnTable({
      capacity: 100_000,
      bucketBits: 16,
      allocate: (n) => {
        sizes.push(n);
        return hugePageBuffer(n);
      },
    });
    assert.equal(sizes.length, 1);
    // Per entry: 32-byte record, 1 + 10 x 4 bytes of other fields; 2 x 4 bytes per bucket.
    assert.ok(sizes[0]! >= 100_000 * 73 + 2 * 65536 * 4);
    const c = new Uint32Array(4);
    const v = Uint32Array.of(0xc6120001, 0, 0, 0);
    const d = new Uint32Array(4);
    for (let i = 0; i < 100_000; i++) {
      c[0] = 0xc6130000 + i;
      d[0] = 0xc6120100 + (i & 7);
      const k = t.alloc(IPPROTO_TCP, 4, c, 1024 + (i & 0x7fff), v, 80, 4, d, 8080, 0);
      assert.ok(k >= 0);
      t.hashIn(k);
      t.hashOut(k);
    }
    for (let i = 0; i < 100_000; i += 997) {
      c[0] = 0xc6130000 + i;
      d[0] = 0xc6120100 + (i & 7);
      const k = t.lookupIn(IPPROTO_TCP, 4, c, 1024 + (i & 0x7fff), v, 80, false);
      assert.ok(k >= 0);
      assert.equal(t.lookupOut(IPPROTO_TCP, 4, d, 8080, c, 1024 + (i & 0x7fff)), k);
    }
    assert.equal(t.size, 100_000);
  });

  it("refuses memory smaller than it needs", () => {
    assert.throws(
      () => new ConnTable({ capacity: 1000, bucketBits: 8, allocate: () => new ArrayBuffer(1024) }),
      /connection table memory/,
    );
  });
});

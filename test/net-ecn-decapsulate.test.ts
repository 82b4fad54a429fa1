import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ECN_DELIVER, ECN_DROP, ecnDecapsulate, ecnOf } from "../src/net/ecn-decapsulate.js";
import { refChecksum } from "./net-frames.js";

// RFC 6040 section 4.2 as the kernel applies it (INET_ECN_decapsulate): only a CE outer changes
// anything; around a Not-ECT inner packet it is a drop.
const NOT_ECT = 0;
const CE = 3;
function expected(outer: number, inner: number): { verdict: number; inner: number } {
  if (outer !== CE) return { verdict: ECN_DELIVER, inner };
  if (inner === NOT_ECT) return { verdict: ECN_DROP, inner };
  return { verdict: ECN_DELIVER, inner: CE };
}

/** An IPv4 header (valid checksum) with this TOS, or an IPv6 header with this traffic class. */
function header(v4: boolean, tclass: number, rest: number[]): number[] {
  if (v4) {
    const h = [0x45, tclass, 0, 60, ...rest.slice(0, 4), 64, 6, 0, 0, ...rest.slice(4, 12)];
    const c = refChecksum(h);
    h[10] = c >>> 8;
    h[11] = c & 255;
    return h;
  }
  return [
    0x60 | (tclass >>> 4),
    ((tclass & 15) << 4) | (rest[0]! & 15),
    ...rest.slice(1, 3),
    0,
    20,
    6,
    64,
    ...rest.slice(3, 35),
  ];
}

for (const [outerV4, innerV4] of [
  [true, true],
  [true, false],
  [false, true],
  [false, false],
] as const) {
  test(`ECN at the tunnel exit, IPv${outerV4 ? 4 : 6} outside, IPv${innerV4 ? 4 : 6} inside: every pairing of the two fields`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 63 }),
        fc.integer({ min: 0, max: 63 }),
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 35, maxLength: 35 }),
        (outerEcn, innerEcn, outerDscp, innerDscp, rest) => {
          const outer = header(outerV4, (outerDscp << 2) | outerEcn, rest);
          const inner = header(innerV4, (innerDscp << 2) | innerEcn, rest);
          const b = Uint8Array.from([...outer, ...inner]);
          const innerOff = outer.length;
          const before = Uint8Array.from(b);
          const verdict = ecnDecapsulate(b, 0, outerV4, innerOff, innerV4);
          const want = expected(outerEcn, innerEcn);
          assert.equal(verdict, want.verdict);
          assert.equal(ecnOf(b, innerOff, innerV4), want.inner);
          // Nothing but the inner ECN field (and an IPv4 checksum) changes; DSCP stays.
          const innerTclass = innerV4
            ? b[innerOff + 1]!
            : ((b[innerOff]! & 15) << 4) | (b[innerOff + 1]! >>> 4);
          assert.equal(innerTclass >>> 2, innerDscp);
          assert.deepEqual(
            b.subarray(0, innerOff),
            before.subarray(0, innerOff),
            "the outer header is untouched",
          );
          if (innerV4)
            assert.equal(refChecksum(b.subarray(innerOff, innerOff + 20)), 0, "inner checksum still right");
          for (let i = innerOff; i < b.length; i++) {
            if (i === innerOff + 1 || (innerV4 && (i === innerOff + 10 || i === innerOff + 11))) continue;
            assert.equal(b[i], before[i], `byte ${i - innerOff} of the inner header`);
          }
        },
      ),
    );
  });
}

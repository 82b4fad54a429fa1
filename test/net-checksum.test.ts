import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  applyDelta,
  checksumRange,
  delta16,
  delta16Unaligned,
  foldSum,
  pseudoSumV4,
  pseudoSumV6,
  sumRange,
  transportChecksum,
  transportChecksumValid,
  udpWireChecksum,
  updateChecksum16,
  updateChecksum32,
} from "../src/net/checksum.js";
import { buildFrame, pseudoHeader, refChecksum, refSum, V4 } from "./net-frames.js";

test("sum over a range equals the naive sum, any offset and length", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(40), fc.nat(40), (bytes, a, b) => {
      const off = Math.min(a, bytes.length);
      const len = Math.min(b + bytes.length, bytes.length - off);
      const s = foldSum(sumRange(bytes, off, len));
      assert.equal(s, refSum(bytes.subarray(off, off + len)));
    }),
  );
});

test("RFC 1071 worked example", () => {
  // Bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (RFC 1071 §3).
  const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  assert.equal(foldSum(sumRange(b, 0, 8)), 0xddf2);
  assert.equal(checksumRange(b, 0, 8), ~0xddf2 & 0xffff);
});

test("folding handles sums far beyond 32 bits", () => {
  assert.equal(foldSum(0xffff * 70000), 0xffff);
  assert.equal(foldSum(2 ** 40 + 5), foldSum((2 ** 40 % 0xffff) + 5));
});

test("incremental 16/32-bit update equals full recompute (RFC 1624 eqn 3)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 64 }),
      fc.nat(),
      fc.integer({ min: 0, max: 0xffffffff }),
      (bytes, pos, value) => {
        const data = Uint8Array.from(bytes);
        if (data.length % 2) return;
        const words = data.length / 2;
        const check = refChecksum(data);
        // 16-bit change at an aligned position
        const w = (pos % words) * 2;
        const old16 = (data[w]! << 8) | data[w + 1]!;
        const new16 = value & 0xffff;
        data[w] = new16 >>> 8;
        data[w + 1] = new16 & 255;
        const inc16 = updateChecksum16(check, old16, new16);
        assert.equal(foldSum(refSum(data) + inc16), 0xffff, "16-bit update verifies");
        // 32-bit change
        if (words >= 2) {
          const w2 = (pos % (words - 1)) * 2;
          const old32 =
            ((data[w2]! << 24) | (data[w2 + 1]! << 16) | (data[w2 + 2]! << 8) | data[w2 + 3]!) >>> 0;
          const c2 = refChecksum(data);
          data.set([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255], w2);
          assert.equal(updateChecksum32(c2, old32, value), refChecksum(data));
        }
      },
    ),
  );
});

test("an unaligned 16-bit field change uses the byte-swapped delta", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 10, maxLength: 40 }), fc.nat(), fc.nat(0xffff), (bytes, p, v) => {
      const data = Uint8Array.from(bytes);
      const at = ((p % Math.floor((data.length - 2) / 2)) * 2 + 1) % (data.length - 1);
      if (at % 2 === 0) return;
      const check = refChecksum(data);
      const old = (data[at]! << 8) | data[at + 1]!;
      data[at] = v >>> 8;
      data[at + 1] = v & 255;
      assert.equal(applyDelta(check, delta16Unaligned(old, v)), refChecksum(data));
      assert.equal(applyDelta(check, delta16(old, old)) === check || check === 0xffff, true);
    }),
  );
});

test("pseudo-header sums match the byte layout of RFC 768 / RFC 8200", () => {
  const f4 = buildFrame({
    family: 4,
    protocol: 17,
    src: V4(198, 18, 0, 1),
    dst: V4(198, 18, 1, 2),
    sport: 5,
    dport: 6,
  });
  assert.equal(
    foldSum(pseudoSumV4(f4, 14, 17, 8)),
    refSum(pseudoHeader(4, V4(198, 18, 0, 1), V4(198, 18, 1, 2), 17, 8)),
  );
  const a = [0x20010db8, 0, 0, 1];
  const b = [0x20010db8, 0xffff, 0x12345678, 0x9abcdef0];
  const f6 = buildFrame({ family: 6, protocol: 6, src: a, dst: b, sport: 1, dport: 2 });
  assert.equal(foldSum(pseudoSumV6(f6, 14, 6, 70000)), refSum(pseudoHeader(6, a, b, 6, 70000)));
});

test("transport checksum of a built frame verifies and recomputes to the stored value", () => {
  fc.assert(
    fc.property(
      fc.constantFrom<4 | 6>(4, 6),
      fc.constantFrom(6, 17),
      fc.uint8Array({ maxLength: 99 }),
      fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 8, maxLength: 8 }),
      (family, protocol, payload, w) => {
        const src = family === 4 ? [w[0]!, 0, 0, 0] : w.slice(0, 4);
        const dst = family === 4 ? [w[4]!, 0, 0, 0] : w.slice(4, 8);
        const f = buildFrame({ family, protocol, src, dst, sport: 1000, dport: 80, payload });
        const ip = 14;
        const l4 = family === 4 ? 34 : 54;
        const len = f.length - l4;
        const csumRel = protocol === 6 ? 16 : 6;
        assert.ok(transportChecksumValid(f, ip, family === 6, protocol, l4, len));
        let c = transportChecksum(f, ip, family === 6, protocol, l4, len, csumRel);
        if (protocol === 17) c = udpWireChecksum(c);
        assert.equal(c, (f[l4 + csumRel]! << 8) | f[l4 + csumRel + 1]!);
      },
    ),
  );
});

test("UDP wire rule: a computed 0 is sent as 0xFFFF", () => {
  assert.equal(udpWireChecksum(0), 0xffff);
  assert.equal(udpWireChecksum(0x1234), 0x1234);
});

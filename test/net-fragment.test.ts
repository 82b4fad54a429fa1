import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { finishSum, sumRange } from "../src/net/checksum.js";
import { fragmentCount, fragmentPayloadSize, writeFragment } from "../src/net/ipv4-fragment.js";
import { ipv4 } from "./support/frames.js";

const get16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;

test("IPv4 fragments reassemble to the packet, each within the MTU, as ip_fragment cuts them", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      fc.integer({ min: 68, max: 1500 }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.boolean(),
      fc.integer({ min: 0, max: 100 }),
      (payload, mtu, id, alreadyMore, offset8) => {
        // The packet may itself be a fragment (offset, MF): its fragments keep their place.
        const pkt = ipv4({
          src: 0xc6120a01,
          dst: 0xc6131414,
          protocol: 4,
          payload,
          fragField: (alreadyMore ? 0x2000 : 0) | offset8,
        });
        pkt[4] = id >> 8;
        pkt[5] = id & 0xff;
        const n = fragmentCount(pkt.length, 20, mtu);
        const chunk = fragmentPayloadSize(mtu, 20);
        assert.equal(n, Math.ceil(payload.length / chunk));
        const buf = new Uint8Array(pkt.length + n * 2048);
        buf.set(pkt, 0);
        const got = new Uint8Array(payload.length);
        // Fragment 0 in place, written last; the others after the packet.
        const frags: [number, number][] = [];
        for (let k = n - 1; k >= 0; k--) {
          const at = k === 0 ? 0 : pkt.length + k * 2048;
          frags[k] = [at, writeFragment(buf, 0, pkt.length, mtu, k, buf, at)];
        }
        for (let k = 0; k < n; k++) {
          const [at, len] = frags[k]!;
          assert.ok(len <= mtu, "within the MTU");
          assert.equal(get16(buf, at + 2), len, "total length");
          assert.equal(get16(buf, at + 4), id, "same identification");
          assert.equal(finishSum(sumRange(buf, at, 20)), 0, "header checksum");
          const field = get16(buf, at + 6);
          const off = (field & 0x1fff) * 8 - offset8 * 8;
          const last = k === n - 1;
          assert.equal((field & 0x2000) !== 0, last ? alreadyMore : true, "MF");
          if (!last) assert.equal((len - 20) % 8, 0, "a multiple of 8 bytes except the last");
          got.set(buf.subarray(at + 20, at + len), off);
        }
        assert.deepEqual(got, payload);
      },
    ),
  );
});

test("no fragment fits below an 8-byte payload", () => {
  assert.equal(fragmentCount(100, 20, 27), 0);
  assert.throws(
    () =>
      writeFragment(
        ipv4({ src: 1, dst: 2, protocol: 4, payload: new Uint8Array(80) }),
        0,
        100,
        27,
        0,
        new Uint8Array(200),
        0,
      ),
    RangeError,
  );
});

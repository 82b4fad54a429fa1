import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IpAddr } from "../src/core/address.js";
import { Ipv6Map } from "../src/dataplane/ipv6-map.js";

const word = fc.integer({ min: 0, max: 0xffffffff });
/** Addresses from a small space too, so that sets, overwrites and deletes hit the same keys. */
const addr = fc.oneof(
  fc.tuple(word, word, word, word),
  fc.tuple(fc.constantFrom(0x20010002), fc.constant(0), fc.nat(3), fc.nat(7)),
);
const op = fc.tuple(fc.constantFrom("set", "delete", "get"), addr, fc.nat(1000));

test("Ipv6Map agrees with a Map keyed by the address text, looked up from words at any index", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), fc.nat(5), (ops, at) => {
      const m = new Ipv6Map<number>();
      const ref = new Map<string, number>();
      const words = new Uint32Array(at + 4);
      for (const [kind, [a, b, c, d], value] of ops) {
        const ip = IpAddr.v6(a, b, c, d);
        words.set(ip.words, at);
        if (kind === "set") {
          m.set(ip, value);
          ref.set(ip.toString(), value);
        } else if (kind === "delete") {
          assert.equal(m.delete(ip), ref.delete(ip.toString()));
        }
        assert.equal(m.get(words, at), ref.get(ip.toString()));
        assert.equal(m.has(words, at), ref.has(ip.toString()));
        assert.equal(m.size, ref.size);
      }
      assert.deepEqual(
        m
          .entries()
          .map(([k, v]) => `${k}=${v}`)
          .sort(),
        [...ref].map(([k, v]) => `${k}=${v}`).sort(),
      );
    }),
  );
});

test("Ipv6Map refuses an IPv4 key", () => {
  assert.throws(() => new Ipv6Map<number>().set(IpAddr.mustParse("198.18.0.1"), 1), /not an IPv6 address/);
});

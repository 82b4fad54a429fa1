import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IpAddr } from "../src/core/address.js";

test("IPv4 parses and prints", () => {
  const a = IpAddr.mustParse("198.18.0.10");
  assert.equal(a.family, 4);
  assert.equal(a.v4Value, 0xc612000a);
  assert.equal(a.toString(), "198.18.0.10");
  assert.equal(IpAddr.parse("1.2.3"), null);
  assert.equal(IpAddr.parse("1.2.3.256"), null);
});

test("IPv6 prints as inet_ntop does", () => {
  assert.equal(IpAddr.mustParse("2001:db8:0:0:0:0:0:1").toString(), "2001:db8::1");
  assert.equal(IpAddr.mustParse("::").toString(), "::");
  assert.equal(IpAddr.mustParse("::ffff:1.2.3.4").toString(), "::ffff:1.2.3.4");
  assert.equal(IpAddr.mustParse("1:0:0:1:0:0:0:1").toString(), "1:0:0:1::1");
  assert.equal(IpAddr.parse("1::2::3"), null);
});

test("masking keeps the prefix", () => {
  assert.equal(IpAddr.mustParse("198.18.7.9").masked(24).toString(), "198.18.7.0");
  assert.equal(IpAddr.mustParse("2001:db8::ff").masked(120).toString(), "2001:db8::");
});

test("text round trip for any address", () => {
  fc.assert(
    fc.property(fc.ipV4(), (s) => IpAddr.mustParse(s).toString() === s),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.ipV6(), (s) => {
      const a = IpAddr.mustParse(s);
      return IpAddr.mustParse(a.toString()).equals(a);
    }),
    { numRuns: 500 },
  );
});

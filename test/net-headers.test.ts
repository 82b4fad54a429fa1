import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  formatMac,
  innerEtherTypeOffset,
  isMulticastMac,
  parseMac,
  readMac,
  writeMac,
} from "../src/net/ethernet.js";
import {
  formatIpv4,
  ipv4DecrementTtl,
  ipv4Fragment,
  parseIpv4,
  validateIpv4,
  writeIpv4Header,
} from "../src/net/ipv4.js";
import { ipv6DecrementHopLimit, writeIpv6Header } from "../src/net/ipv6.js";
import { PARSE_OK } from "../src/net/reason.js";
import {
  TCPOPT_ABSENT,
  TCPOPT_MALFORMED,
  TCPOPT_MSS,
  tcpClampMss,
  tcpFindOption,
  tcpMss,
} from "../src/net/tcp.js";
import { buildFrame, refChecksum, V4 } from "./net-frames.js";

test("MAC text and bytes round trip", () => {
  assert.equal(formatMac(0x02000a0b0c0d), "02:00:0a:0b:0c:0d");
  assert.equal(parseMac("02:00:0A:0b:0c:0d"), 0x02000a0b0c0d);
  assert.equal(parseMac("02-00-0a-0b-0c-0d"), 0x02000a0b0c0d);
  assert.equal(parseMac("02:00:0a:0b:0c"), null);
  assert.equal(parseMac("02:00:0a:0b:0c:0g"), null);
  assert.ok(isMulticastMac(0x333300000001));
  assert.ok(!isMulticastMac(0x020000000001));
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (b) => {
      const mac = readMac(b, 0);
      const out = new Uint8Array(6);
      writeMac(out, 0, mac);
      assert.deepEqual(out, b);
      assert.equal(parseMac(formatMac(mac)), mac);
    }),
  );
});

test("VLAN skipping finds the inner EtherType", () => {
  const f = buildFrame({ family: 4, protocol: 17, src: V4(1, 2, 3, 4), dst: V4(5, 6, 7, 8), vlans: [5] });
  assert.equal(innerEtherTypeOffset(f, 0, f.length), 16);
  assert.equal(innerEtherTypeOffset(f, 0, 13), -1);
});

test("IPv4 text helpers", () => {
  assert.equal(formatIpv4(0xc612000a), "198.18.0.10");
  assert.equal(parseIpv4("198.18.0.10"), 0xc612000a);
  assert.equal(parseIpv4("198.18.0.256"), null);
  assert.equal(parseIpv4("198.18.0"), null);
});

test("TTL decrement patches the header checksum exactly as a full recompute", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.nat(255),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.nat(0xffff),
      (ttl, proto, s, d, id) => {
        const b = new Uint8Array(20);
        writeIpv4Header(b, 0, 0, 20, id, 0, ttl, proto, s, d);
        assert.equal(validateIpv4(b, 0, 20), PARSE_OK);
        const ok = ipv4DecrementTtl(b, 0);
        assert.equal(ok, ttl > 1);
        const expect = new Uint8Array(20);
        writeIpv4Header(expect, 0, 0, 20, id, 0, ttl > 1 ? ttl - 1 : ttl, proto, s, d);
        assert.deepEqual(b, expect);
      },
    ),
  );
});

test("fragment status from the flags word", () => {
  const b = new Uint8Array(20);
  writeIpv4Header(b, 0, 0, 20, 0, 0x2000, 64, 17, 1, 2);
  assert.equal(ipv4Fragment(b, 0), 1);
  writeIpv4Header(b, 0, 0, 20, 0, 0x0001, 64, 17, 1, 2);
  assert.equal(ipv4Fragment(b, 0), 2);
  writeIpv4Header(b, 0, 0, 20, 0, 0x4000, 64, 17, 1, 2);
  assert.equal(ipv4Fragment(b, 0), 0);
});

test("IPv6 hop limit decrement stops at 1", () => {
  const b = new Uint8Array(40);
  const a = Uint32Array.of(0x20010db8, 0, 0, 1);
  writeIpv6Header(b, 0, 0, 0, 0, 59, 2, a, 0, a, 0);
  assert.ok(ipv6DecrementHopLimit(b, 0));
  assert.equal(b[7], 1);
  assert.ok(!ipv6DecrementHopLimit(b, 0));
  assert.equal(b[7], 1);
});

test("TCP options walk and MSS clamp at aligned and odd offsets", () => {
  for (const opts of [
    [2, 4, 0x05, 0xb4],
    [1, 2, 4, 0x05, 0xb4],
    [1, 1, 1, 2, 4, 0x05, 0xb4, 0],
  ]) {
    const spec = {
      family: 4 as const,
      protocol: 6,
      src: V4(198, 18, 0, 1),
      dst: V4(198, 18, 0, 2),
      sport: 1,
      dport: 2,
      tcpFlags: 2,
      tcpOptions: opts,
      payload: [1, 2, 3],
    };
    const f = buildFrame(spec);
    assert.equal(tcpMss(f, 34), 1460);
    assert.equal(tcpClampMss(f, 34, 1500), 1460);
    assert.equal(tcpClampMss(f, 34, 1400), 1400);
    const i = opts.indexOf(0xb4);
    const expectOpts = [...opts];
    expectOpts[i - 1] = 1400 >>> 8;
    expectOpts[i] = 1400 & 255;
    assert.deepEqual(f, buildFrame({ ...spec, tcpOptions: expectOpts }));
  }
  const none = buildFrame({
    family: 4,
    protocol: 6,
    src: V4(1, 1, 1, 1),
    dst: V4(2, 2, 2, 2),
    tcpOptions: [1, 1, 1, 0],
  });
  assert.equal(tcpFindOption(none, 34, TCPOPT_MSS), TCPOPT_ABSENT);
  assert.equal(tcpClampMss(none, 34, 100), -1);
  const bad = buildFrame({
    family: 4,
    protocol: 6,
    src: V4(1, 1, 1, 1),
    dst: V4(2, 2, 2, 2),
    tcpOptions: [8, 1, 0, 0],
  });
  assert.equal(tcpFindOption(bad, 34, TCPOPT_MSS), TCPOPT_MALFORMED);
  const over = buildFrame({
    family: 4,
    protocol: 6,
    src: V4(1, 1, 1, 1),
    dst: V4(2, 2, 2, 2),
    tcpOptions: [1, 1, 8, 10],
  });
  assert.equal(tcpFindOption(over, 34, TCPOPT_MSS), TCPOPT_MALFORMED);
  assert.equal(refChecksum([]), 0xffff);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { transportChecksumValid } from "../src/net/checksum.js";
import { IP6_TUNNEL_OVERHEAD, ip6TunnelDecapsulate, ip6TunnelEncapsulate } from "../src/net/ip6-tunnel.js";
import { ecnEncapsulate, ipipDecapsulate, ipipEncapsulate } from "../src/net/ipip.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { tcpFindOption } from "../src/net/tcp.js";
import { insertToa, TCPOPT_TOA, TOA_NO_OPTION_SPACE, TOA_NO_TAILROOM, TOA_NOT_TCP } from "../src/net/toa.js";
import {
  buildFrame,
  type FrameSpec,
  frameSpec,
  guardIntact,
  inGuardedBuffer,
  refChecksum,
  V4,
} from "./net-frames.js";

const DIR = V4(198, 18, 2, 1);
const RS = V4(198, 18, 2, 5);

test("IPIP: encapsulate in place, re-parse, decapsulate back to the original frame", () => {
  fc.assert(
    fc.property(frameSpec, fc.boolean(), fc.nat(0xffff), (spec, copyDf, id) => {
      const frame = buildFrame(spec);
      const off = 64;
      const buf = inGuardedBuffer(frame, off, 8);
      const f = new ParsedFrame();
      parseFrame(buf, off, frame.length, f);
      const newOff = ipipEncapsulate(buf, f, 0, DIR[0]!, RS[0]!, id, copyDf);
      assert.equal(newOff, off - 20);
      const l2 = f.l3Off - f.frameOff;
      const newLen = l2 + 20 + f.ipLen;
      assert.ok(guardIntact(buf, newOff, newLen));
      const o = new ParsedFrame();
      assert.equal(parseFrame(buf, newOff, newLen, o), PARSE_OK);
      assert.equal(o.family, 4);
      assert.equal(o.protocol, spec.family === 4 ? 4 : 41);
      assert.deepEqual([o.saddr[0], o.daddr[0], o.ttl, o.vlanId], [DIR[0], RS[0], spec.ttl, f.vlanId]);
      assert.equal(o.dontFragment, spec.family === 4 && copyDf);
      assert.deepEqual(buf.subarray(o.l4Off, o.l4Off + o.l4Len), frame.subarray(l2, l2 + f.ipLen));
      const back = ipipDecapsulate(buf, o);
      assert.equal(back, off);
      assert.deepEqual(buf.subarray(off, off + frame.length), frame);
    }),
    { numRuns: 200 },
  );
});

test("IPIP refuses without headroom and for non-tunnel packets", () => {
  const frame = buildFrame({ family: 4, protocol: 17, src: DIR, dst: RS });
  const buf = inGuardedBuffer(frame, 10, 0);
  const f = new ParsedFrame();
  parseFrame(buf, 10, frame.length, f);
  assert.equal(ipipEncapsulate(buf, f, 0, 1, 2, 0, true), -1);
  assert.ok(guardIntact(buf, 10, frame.length));
  assert.equal(ipipDecapsulate(buf, f), -1);
});

const DIR6 = [0x20010002, 0x11, 0, 0x10];
const RS6 = [0x20010002, 0x20, 0, 0x20];

test("IPv6 tunnel: encapsulate in place, re-parse, decapsulate back to the original frame", () => {
  fc.assert(
    fc.property(frameSpec, fc.integer({ min: 0, max: 255 }), fc.nat(24), (base, tos, slack) => {
      const spec = { ...base, tos };
      const frame = buildFrame(spec);
      const off = 40 + slack;
      const buf = inGuardedBuffer(frame, off, 8);
      const f = new ParsedFrame();
      parseFrame(buf, off, frame.length, f);
      const newOff = ip6TunnelEncapsulate(buf, f, off - 40, DIR6, 0, RS6, 0);
      assert.equal(newOff, off - IP6_TUNNEL_OVERHEAD);
      const l2 = f.l3Off - f.frameOff;
      const newLen = l2 + 40 + f.ipLen;
      assert.ok(guardIntact(buf, newOff, newLen));
      const o = new ParsedFrame();
      assert.equal(parseFrame(buf, newOff, newLen, o), PARSE_OK);
      assert.equal(o.family, 6);
      assert.equal(o.protocol, spec.family === 4 ? 4 : 41);
      assert.deepEqual([...o.saddr], DIR6);
      assert.deepEqual([...o.daddr], RS6);
      assert.deepEqual([o.ttl, o.vlanId, o.ipLen], [spec.ttl, f.vlanId, f.ipLen + 40]);
      assert.equal(o.tos, ecnEncapsulate(tos, tos), "traffic class: the inner one, ECN encapsulated");
      const l3 = o.l3Off;
      assert.equal(((buf[l3 + 1]! & 15) << 16) | (buf[l3 + 2]! << 8) | buf[l3 + 3]!, 0, "flow label 0");
      assert.equal((buf[l3 + 4]! << 8) | buf[l3 + 5]!, f.ipLen, "payload length = the inner packet");
      assert.deepEqual(buf.subarray(o.l4Off, o.l4Off + o.l4Len), frame.subarray(l2, l2 + f.ipLen));
      const back = ip6TunnelDecapsulate(buf, o);
      assert.equal(back, off);
      assert.deepEqual(buf.subarray(off, off + frame.length), frame);
    }),
    { numRuns: 200 },
  );
});

test("IPv6 tunnel: exact outer header of an IPv4 packet in IPv6", () => {
  const inner = buildFrame({
    family: 4,
    protocol: 17,
    src: DIR,
    dst: RS,
    tos: 0xbb,
    ttl: 9,
    payload: [1, 2],
  });
  const buf = inGuardedBuffer(inner, 64, 0);
  const f = new ParsedFrame();
  parseFrame(buf, 64, inner.length, f);
  const at = ip6TunnelEncapsulate(buf, f, 0, DIR6, 0, RS6, 0);
  assert.equal(at, 24);
  const ip = Array.from(buf.subarray(at + 12, at + 14 + 40));
  // EtherType 86dd; version 6, traffic class 0xba (CE -> ECT(0)), flow label 0; payload 30; next 4; hop 9.
  assert.deepEqual(ip.slice(0, 10), [0x86, 0xdd, 0x6b, 0xa0, 0, 0, 0, 30, 4, 9]);
  assert.deepEqual(ip.slice(10, 26), [0x20, 0x01, 0, 2, 0, 0, 0, 0x11, 0, 0, 0, 0, 0, 0, 0, 0x10]);
  assert.deepEqual(ip.slice(26, 42), [0x20, 0x01, 0, 2, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0x20]);
});

test("IPv6 tunnel refuses without headroom and for packets that are not tunnelled", () => {
  const frame = buildFrame({ family: 6, protocol: 17, src: DIR6, dst: RS6 });
  const buf = inGuardedBuffer(frame, 39, 0);
  const f = new ParsedFrame();
  parseFrame(buf, 39, frame.length, f);
  assert.equal(ip6TunnelEncapsulate(buf, f, 0, DIR6, 0, RS6, 0), -1);
  assert.ok(guardIntact(buf, 39, frame.length));
  assert.equal(ip6TunnelDecapsulate(buf, f), -1, "UDP is no tunnel");
  // Next header 41 whose payload is an IPv4 packet: refused, not misdelivered.
  const lie = buildFrame({
    family: 6,
    protocol: 41,
    src: DIR6,
    dst: RS6,
    payload: Array.from(frame.subarray(14)),
  });
  lie[14 + 40] = 0x45;
  parseFrame(lie, 0, lie.length, f);
  assert.equal(ip6TunnelDecapsulate(lie, f), -1);
});

test("ECN on encapsulation: CE becomes ECT(0), others copied", () => {
  assert.equal(ecnEncapsulate(0x03, 0xb8), 0xba);
  assert.equal(ecnEncapsulate(0x01, 0x00), 0x01);
  assert.equal(ecnEncapsulate(0x02, 0x10), 0x12);
});

test("TOA insertion equals the frame built with the option, for v4 and v6 clients", () => {
  fc.assert(
    fc.property(
      frameSpec.filter((s) => s.protocol === 6),
      fc.constantFrom<4 | 6>(4, 6),
      fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
      fc.nat(0xffff),
      (spec, cf, w, cport) => {
        const frame = buildFrame(spec);
        const buf = inGuardedBuffer(frame, 0, 64);
        const f = new ParsedFrame();
        parseFrame(buf, 0, frame.length, f);
        const client = Uint32Array.from(cf === 4 ? [w[0]!, 0, 0, 0] : w);
        const r = insertToa(buf, f, buf.length, cf, client, 0, cport);
        const n = cf === 4 ? 8 : 20;
        const toa = [254, n, cport >>> 8, cport & 255];
        for (let i = 0; i < (cf === 4 ? 1 : 4); i++)
          toa.push(w[i]! >>> 24, (w[i]! >>> 16) & 255, (w[i]! >>> 8) & 255, w[i]! & 255);
        const expect: FrameSpec = { ...spec, tcpOptions: [...Array.from(spec.tcpOptions ?? []), ...toa] };
        const e = buildFrame(expect);
        assert.equal(r, e.length);
        assert.deepEqual(buf.subarray(0, r), e);
        assert.ok(guardIntact(buf, 0, r));
        const again = new ParsedFrame();
        assert.equal(parseFrame(buf, 0, r, again), PARSE_OK);
        assert.deepEqual(
          [again.ipLen, again.l4HeaderLen, again.payloadOff],
          [f.ipLen, f.l4HeaderLen, f.payloadOff],
        );
        assert.equal(buf[tcpFindOption(buf, again.l4Off, TCPOPT_TOA)], 254);
        assert.ok(transportChecksumValid(buf, again.l3Off, spec.family === 6, 6, again.l4Off, again.l4Len));
      },
    ),
    { numRuns: 300 },
  );
});

test("TOA refuses without option space, tailroom, or TCP; nothing changes", () => {
  // 32 option bytes: an IPv4 TOA (8) fills the 40 exactly, an IPv6 one (20) does not fit.
  const full = buildFrame({ family: 4, protocol: 6, src: DIR, dst: RS, tcpOptions: new Array(32).fill(1) });
  const buf = inGuardedBuffer(full, 0, 64);
  const f = new ParsedFrame();
  parseFrame(buf, 0, full.length, f);
  const c = Uint32Array.of(1, 2, 3, 4);
  assert.equal(insertToa(buf, f, buf.length, 4, c, 0, 1), 8 + full.length);
  assert.equal(f.l4HeaderLen, 60);
  const fuller = buildFrame({ family: 4, protocol: 6, src: DIR, dst: RS, tcpOptions: new Array(32).fill(1) });
  const b2 = inGuardedBuffer(fuller, 0, 64);
  parseFrame(b2, 0, fuller.length, f);
  assert.equal(insertToa(b2, f, b2.length, 6, c, 0, 1), TOA_NO_OPTION_SPACE);
  assert.ok(guardIntact(b2, 0, fuller.length));
  assert.deepEqual(b2.subarray(0, fuller.length), fuller);
  const small = buildFrame({ family: 4, protocol: 6, src: DIR, dst: RS, payload: [1, 2, 3] });
  const b3 = inGuardedBuffer(small, 0, 4);
  parseFrame(b3, 0, small.length, f);
  assert.equal(insertToa(b3, f, b3.length, 4, c, 0, 1), TOA_NO_TAILROOM);
  assert.deepEqual(b3.subarray(0, small.length), small);
  const udp = buildFrame({ family: 4, protocol: 17, src: DIR, dst: RS });
  parseFrame(udp, 0, udp.length, f);
  assert.equal(insertToa(udp, f, 1000, 4, c, 0, 1), TOA_NOT_TCP);
  assert.equal(refChecksum(b3.subarray(14, 34)), 0);
});

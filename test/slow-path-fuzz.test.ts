import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IpAddr } from "../src/core/address.js";
import { type FrameCounters, TxDecision } from "../src/dataplane/slow-path.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { buildFrame, type FrameSpec, guardIntact, inGuardedBuffer } from "./net-frames.js";
import {
  CLIENT,
  CLIENT6,
  DR_RS,
  IF_OUT,
  MAC_DIRECTOR_OUT,
  makeRig,
  RS,
  RS6,
  VIP,
  VIP2,
  VIP6,
  VIP6_2,
} from "./support/slow-path-rig.js";

// The engine's per-frame path with a real Director and fake next hops, fed random and mutated
// frames: it never throws, never writes outside the frame's slot, sends only whole parseable frames
// inside the slot, and counts every frame it does not send exactly once.

const SLOT = 2048;
const OFF = 256;
const ROOM = SLOT - OFF;
const GUARD = 128;

const v4 = (s: string) => IpAddr.mustParse(s).v4Value;
const addr = fc.oneof(
  fc.constantFrom(v4(VIP), v4(VIP2), v4(CLIENT), v4(RS), v4(DR_RS)),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const port = fc.oneof(fc.constantFrom(80, 53, 8080, 0, 40000), fc.integer({ min: 0, max: 0xffff }));

const tcpUdp: fc.Arbitrary<FrameSpec> = fc.record({
  family: fc.constant<4>(4),
  protocol: fc.constantFrom(6, 17),
  src: addr.map((a) => [a, 0, 0, 0]),
  dst: addr.map((a) => [a, 0, 0, 0]),
  sport: port,
  dport: port,
  tcpFlags: fc.constantFrom(0x02, 0x10, 0x12, 0x11, 0x04, 0x18, 0),
  payload: fc.uint8Array({ maxLength: 200 }),
  ttl: fc.integer({ min: 0, max: 255 }),
  frag: fc.constantFrom(0x4000, 0x4000, 0x4000, 0x2000, 0x0010, 0),
  ipOptions: fc.constantFrom<number[]>([], [1, 1, 1, 1]),
  vlans: fc.constantFrom<number[]>([], [], [7]),
});

const cport = fc.constantFrom(40000, 40001, 40002);
const flags = fc.constantFrom(0x02, 0x10, 0x12, 0x11, 0x04, 0x18);
/** Traffic of the rig's services: client to VIP, NAT replies, both in a few conversations. */
const serviceTraffic: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc
    .record({
      cp: cport,
      f: flags,
      udp: fc.boolean(),
      vip2: fc.boolean(),
      n: fc.nat(100),
      nodest: fc.boolean(),
    })
    .map(
      ({ cp, f, udp, vip2, n, nodest }): FrameSpec => ({
        family: 4,
        protocol: udp ? 17 : 6,
        src: [v4(CLIENT), 0, 0, 0],
        dst: [v4(vip2 && !udp ? VIP2 : VIP), 0, 0, 0],
        sport: cp,
        dport: udp ? (nodest ? 54 : 53) : 80,
        tcpFlags: f,
        payload: new Array(n).fill(n),
      }),
    ),
  fc.record({ cp: cport, f: flags, udp: fc.boolean(), ttl: fc.constantFrom(64, 1) }).map(
    ({ cp, f, udp, ttl }): FrameSpec => ({
      family: 4,
      protocol: udp ? 17 : 6,
      src: [v4(RS), 0, 0, 0],
      dst: [v4(CLIENT), 0, 0, 0],
      sport: udp ? 53 : 8080,
      dport: cp,
      tcpFlags: f,
      ttl,
    }),
  ),
);

/** An ICMP error (types 3, 4, 11 and others) quoting a TCP/UDP packet between the same addresses. */
const icmpError: fc.Arbitrary<FrameSpec> = fc
  .record({
    outer: fc.oneof(
      fc.tuple(addr, addr),
      fc.constant<[number, number]>([v4(CLIENT), v4(VIP)]),
      fc.constant<[number, number]>([v4(RS), v4(CLIENT)]),
    ),
    type: fc.constantFrom(3, 4, 11, 12, 5, 0, 8),
    code: fc.integer({ min: 0, max: 15 }),
    quoted: fc.oneof(
      tcpUdp,
      serviceTraffic,
      serviceTraffic.map((q) => ({ ...q, src: q.dst, dst: q.src, sport: q.dport, dport: q.sport })),
    ),
    quoteLen: fc.integer({ min: 0, max: 60 }),
  })
  .map(({ outer, type, code, quoted, quoteLen }) => {
    const inner = buildFrame({ ...quoted, vlans: [] }).subarray(14);
    return {
      family: 4,
      protocol: 1,
      src: [outer[0], 0, 0, 0],
      dst: [outer[1], 0, 0, 0],
      payload: [type, code, 0, 0, 0, 0, 0, 0, ...inner.subarray(0, quoteLen)],
    } satisfies FrameSpec;
  });

/** ICMP errors about the conversations above: from the client side to the VIP, and from the RS. */
const relatedIcmp: fc.Arbitrary<FrameSpec> = fc
  .record({ q: serviceTraffic, type: fc.constantFrom(3, 4, 11), fromRs: fc.boolean() })
  .map(({ q, type, fromRs }): FrameSpec => {
    const rsSide = q.dst[0] === v4(VIP) && q.dport === 80 ? 8080 : q.dport;
    const quoted: FrameSpec = fromRs
      ? { ...q, dst: [v4(RS), 0, 0, 0], dport: rsSide }
      : { ...q, src: q.dst, dst: q.src, sport: q.dport, dport: q.sport };
    const inner = buildFrame(quoted).subarray(14, 14 + 28);
    return {
      family: 4,
      protocol: 1,
      src: fromRs ? [v4(RS), 0, 0, 0] : q.src,
      dst: fromRs ? q.src : q.dst,
      payload: [type, 0, 0, 0, 0, 0, 0, 0, ...inner],
    };
  });

const w6 = (s: string) => Array.from(IpAddr.mustParse(s).words);
/** IPv6 traffic of the rig's IPv6 services (NAT, DR, no real server) and its ICMPv6 errors. */
const serviceTraffic6: fc.Arbitrary<FrameSpec> = fc.oneof(
  fc
    .record({
      cp: cport,
      f: flags,
      udp: fc.boolean(),
      vip2: fc.boolean(),
      n: fc.nat(100),
      nodest: fc.boolean(),
    })
    .map(
      ({ cp, f, udp, vip2, n, nodest }): FrameSpec => ({
        family: 6,
        protocol: udp ? 17 : 6,
        src: w6(CLIENT6),
        dst: w6(vip2 && !udp ? VIP6_2 : VIP6),
        sport: cp,
        dport: udp && nodest ? 54 : 80,
        tcpFlags: f,
        payload: new Array(n).fill(n),
      }),
    ),
  fc.record({ cp: cport, f: flags, udp: fc.boolean(), ttl: fc.constantFrom(64, 1) }).map(
    ({ cp, f, udp, ttl }): FrameSpec => ({
      family: 6,
      protocol: udp ? 17 : 6,
      src: w6(RS6),
      dst: w6(CLIENT6),
      sport: 8080,
      dport: cp,
      tcpFlags: f,
      ttl,
    }),
  ),
);
const relatedIcmp6: fc.Arbitrary<FrameSpec> = fc
  .record({ q: serviceTraffic6, type: fc.constantFrom(1, 2, 3, 4, 128), fromRs: fc.boolean() })
  .map(({ q, type, fromRs }): FrameSpec => {
    const quoted: FrameSpec = fromRs
      ? { ...q, dst: w6(RS6), dport: 8080 }
      : { ...q, src: q.dst, dst: q.src, sport: q.dport, dport: q.sport };
    const inner = buildFrame(quoted).subarray(14, 14 + 48);
    return {
      family: 6,
      protocol: 58,
      src: fromRs ? w6(RS6) : q.src,
      dst: fromRs ? q.src : q.dst,
      payload: [type, 0, 0, 0, 0, 0, 0, 0, ...inner],
    };
  });

/** A valid frame, then byte flips and maybe a shorter length. */
const mutated = fc
  .record({
    spec: fc.oneof(tcpUdp, serviceTraffic, icmpError, relatedIcmp, serviceTraffic6, relatedIcmp6),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
  })
  .map(({ spec, flips, cut }) => {
    const f = buildFrame(spec);
    for (const [at, x] of flips) f[at % f.length]! ^= x;
    return cut === undefined ? f : f.subarray(0, cut % (f.length + 1));
  });

const anyFrame = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 3, arbitrary: tcpUdp.map(buildFrame) },
  { weight: 4, arbitrary: serviceTraffic.map(buildFrame) },
  { weight: 2, arbitrary: icmpError.map(buildFrame) },
  // Weighted up: an ICMP error is forwarded only when an earlier frame of the same run made its
  // conn, and the coverage check below needs a few of those in every run of the test.
  { weight: 6, arbitrary: relatedIcmp.map(buildFrame) },
  { weight: 3, arbitrary: serviceTraffic6.map(buildFrame) },
  { weight: 1, arbitrary: relatedIcmp6.map(buildFrame) },
  { weight: 3, arbitrary: mutated },
);

function drops(c: FrameCounters): number {
  return (
    c.malformed +
    c.dropped +
    c.passedAndDropped +
    c.noRoute +
    c.ttlExpired +
    c.rewriteFailed +
    c.icmpUnrelated +
    c.fragmentsDropped +
    c.sctpBadChecksum
  );
}

test("fuzz: random and mutated frames through the frame path", (t) => {
  const parsed = new ParsedFrame();
  const seen: Record<string, number> = { sent: 0, sent6: 0 };
  fc.assert(
    fc.property(
      fc.array(fc.tuple(anyFrame, fc.integer({ min: 0, max: 5 })), { minLength: 1, maxLength: 25 }),
      (frames) => {
        const { path } = makeRig();
        const d = new TxDecision();
        let now = 1;
        let sent = 0;
        let dropped = 0;
        for (const [frame, dt] of frames) {
          now += dt;
          const buf = inGuardedBuffer(frame, GUARD + OFF, ROOM - frame.length + GUARD);
          const before = drops(path.counters);
          const ok = path.process(
            buf,
            GUARD + OFF,
            frame.length,
            ROOM,
            { ifindex: IF_OUT, mac: MAC_DIRECTOR_OUT },
            now,
            d,
          );
          assert.ok(guardIntact(buf, GUARD + OFF, ROOM), "a byte outside the frame's slot changed");
          if (ok) {
            sent++;
            assert.equal(drops(path.counters), before, "a sent frame was counted as a drop");
            assert.ok(
              d.offset >= GUARD + OFF && d.offset + d.length <= GUARD + OFF + ROOM,
              "sent outside the slot",
            );
            assert.equal(parseFrame(buf, d.offset, d.length, parsed), PARSE_OK, "what is sent parses");
            if (parsed.family === 6) seen.sent6!++;
            assert.ok(d.ifindex > 0);
          } else {
            dropped++;
            assert.equal(drops(path.counters), before + 1, "a dropped frame was not counted exactly once");
          }
        }
        assert.equal(sent + dropped, frames.length);
        seen.sent! += sent;
        for (const [k, v] of Object.entries(path.counters)) seen[k] = (seen[k] ?? 0) + v;
      },
    ),
    { numRuns: 400 },
  );
  t.diagnostic(JSON.stringify(seen));
  // The generators reach the forwarding paths, not only the drops.
  for (const k of [
    "sent",
    "sent6",
    "icmpSent",
    "icmpForwarded",
    "passedAndDropped",
    "malformed",
    "fragmentsDropped",
  ])
    assert.ok(seen[k]! > 0, `no frame reached ${k}`);
});

test("fuzz: arguments out of range are refused, not thrown", () => {
  const { path } = makeRig();
  const d = new TxDecision();
  fc.assert(
    fc.property(
      fc.integer({ min: -100, max: 5000 }),
      fc.integer({ min: -100, max: 5000 }),
      fc.integer({ min: -100, max: 5000 }),
      (off, len, room) => {
        const buf = new Uint8Array(2048);
        const before = drops(path.counters);
        const ok = path.process(buf, off, len, room, { ifindex: IF_OUT, mac: 1 }, 1, d);
        assert.equal(ok, false);
        assert.equal(drops(path.counters), before + 1);
      },
    ),
  );
});

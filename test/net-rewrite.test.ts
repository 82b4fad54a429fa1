import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import {
  drRewrite,
  fullnatInbound,
  fullnatOutbound,
  natInbound,
  natOutbound,
  RW_CHECKSUM_UNFIXABLE,
  RW_NOT_REWRITABLE,
  RW_OK,
  RW_TTL_EXPIRED,
  rewriteBothEnds,
  rewriteDestination,
  rewriteSource,
} from "../src/net/rewrite.js";
import { buildFrame, type FrameSpec, frameSpec, V4 } from "./net-frames.js";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const port = fc.integer({ min: 0, max: 0xffff });

const kind = fc.constantFrom("natIn", "natOut", "fullnatIn", "fullnatOut", "dst", "src", "both");

function words(family: 4 | 6, w: number[]): number[] {
  return family === 4 ? [w[0]!, 0, 0, 0] : w;
}

test("every rewrite equals the frame built from scratch with the new header values (incremental == full)", () => {
  fc.assert(
    fc.property(
      frameSpec,
      kind,
      fc.array(u32, { minLength: 8, maxLength: 8 }),
      port,
      port,
      (spec, k, w, p1, p2) => {
        const a = words(spec.family, w.slice(0, 4));
        const b = words(spec.family, w.slice(4, 8));
        // Keep the addresses 8 words apart in one table, as a connection table would.
        const table = new Uint32Array(16);
        table.set(a, 4);
        table.set(b, 12);
        const frame = buildFrame(spec);
        const f = new ParsedFrame();
        assert.equal(parseFrame(frame, 0, frame.length, f), 0);
        const expect: FrameSpec = { ...spec, udpNoChecksum: spec.family === 4 && spec.udpNoChecksum };
        let r: number;
        const ttlDown = k !== "dst" && k !== "src" && k !== "both";
        switch (k) {
          case "natIn":
          case "dst":
            r =
              k === "natIn" ? natInbound(frame, f, table, 4, p1) : rewriteDestination(frame, f, table, 4, p1);
            expect.dst = a;
            expect.dport = p1;
            break;
          case "natOut":
          case "src":
            r = k === "natOut" ? natOutbound(frame, f, table, 4, p1) : rewriteSource(frame, f, table, 4, p1);
            expect.src = a;
            expect.sport = p1;
            break;
          default:
            r =
              k === "fullnatIn"
                ? fullnatInbound(frame, f, table, 4, p1, table, 12, p2)
                : k === "fullnatOut"
                  ? fullnatOutbound(frame, f, table, 4, p1, table, 12, p2)
                  : rewriteBothEnds(frame, f, table, 4, p1, table, 12, p2);
            expect.src = a;
            expect.sport = p1;
            expect.dst = b;
            expect.dport = p2;
        }
        assert.equal(r, RW_OK);
        if (ttlDown) expect.ttl = spec.ttl! - 1;
        assert.deepEqual(frame, buildFrame(expect));
        // The parse result follows the bytes.
        const again = new ParsedFrame();
        parseFrame(frame, 0, frame.length, again);
        assert.deepEqual(
          [again.saddr, again.daddr, again.sport, again.dport, again.ttl],
          [f.saddr, f.daddr, f.sport, f.dport, f.ttl],
        );
      },
    ),
    { numRuns: 400 },
  );
});

test("TTL 1 is not forwarded and nothing changes; TTL 2 goes out as 1", () => {
  for (const family of [4, 6] as const) {
    const src = family === 4 ? V4(198, 18, 0, 1) : [0x20010db8, 0, 0, 1];
    const spec: FrameSpec = { family, protocol: 6, src, dst: src, sport: 1, dport: 2, ttl: 1 };
    const frame = buildFrame(spec);
    const f = new ParsedFrame();
    parseFrame(frame, 0, frame.length, f);
    const before = Uint8Array.from(frame);
    assert.equal(natInbound(frame, f, new Uint32Array(4), 0, 9), RW_TTL_EXPIRED);
    assert.equal(drRewrite(frame, f, 1, 2), RW_TTL_EXPIRED);
    assert.deepEqual(frame, before);
    const f2 = buildFrame({ ...spec, ttl: 2 });
    parseFrame(f2, 0, f2.length, f);
    assert.equal(drRewrite(f2, f, 0x0200000000aa, 0x0200000000bb), RW_OK);
    assert.deepEqual(
      f2,
      buildFrame({ ...spec, ttl: 1, dstMac: [2, 0, 0, 0, 0, 0xaa], srcMac: [2, 0, 0, 0, 0, 0xbb] }),
    );
  }
});

test("IPv4 UDP without checksum keeps none; IPv6 UDP with 0 gets a real one", () => {
  const v4: FrameSpec = {
    family: 4,
    protocol: 17,
    src: V4(198, 18, 0, 1),
    dst: V4(198, 18, 0, 2),
    sport: 1,
    dport: 2,
    payload: [1, 2, 3],
    udpNoChecksum: true,
  };
  const f = new ParsedFrame();
  const a = buildFrame(v4);
  parseFrame(a, 0, a.length, f);
  assert.equal(natInbound(a, f, Uint32Array.of(0xc6120009, 0, 0, 0), 0, 53), RW_OK);
  assert.equal(a[14 + 20 + 6], 0);
  assert.equal(a[14 + 20 + 7], 0);
  assert.deepEqual(a, buildFrame({ ...v4, dst: V4(198, 18, 0, 9), dport: 53, ttl: 63 }));
  const v6: FrameSpec = { ...v4, family: 6, src: [0x20010db8, 0, 0, 1], dst: [0x20010db8, 0, 0, 2] };
  const b = buildFrame(v6);
  parseFrame(b, 0, b.length, f);
  assert.equal(natInbound(b, f, Uint32Array.of(0x20010db8, 0, 0, 9), 0, 53), RW_OK);
  assert.deepEqual(
    b,
    buildFrame({ ...v6, dst: [0x20010db8, 0, 0, 9], dport: 53, ttl: 63, udpNoChecksum: false }),
  );
  // An IPv6 UDP first fragment with checksum 0 cannot be fixed.
  const frag = buildFrame({ ...v6, ipv6Ext: { first: 44, bytes: [17, 0, 0, 1, 0, 0, 0, 7] } });
  parseFrame(frag, 0, frag.length, f);
  const before = Uint8Array.from(frag);
  assert.equal(natInbound(frag, f, Uint32Array.of(1, 2, 3, 4), 0, 53), RW_CHECKSUM_UNFIXABLE);
  assert.deepEqual(frag, before);
});

test("a later fragment gets its addresses rewritten and nothing past the IP header", () => {
  const spec: FrameSpec = {
    family: 4,
    protocol: 17,
    src: V4(198, 18, 0, 1),
    dst: V4(198, 18, 0, 2),
    payload: [1, 2, 3, 4, 5, 6, 7, 8],
    frag: 2,
    udpNoChecksum: true,
  };
  const a = buildFrame(spec);
  const f = new ParsedFrame();
  parseFrame(a, 0, a.length, f);
  assert.equal(natInbound(a, f, Uint32Array.of(0xc6120063), 0, 8080), RW_OK);
  assert.deepEqual(a, buildFrame({ ...spec, dst: V4(198, 18, 0, 0x63), ttl: 63 }));
});

test("rewrites refuse what the classifier did not accept, and non-TCP/UDP for port rewrites", () => {
  const f = new ParsedFrame();
  const icmp = buildFrame({
    family: 4,
    protocol: 1,
    src: V4(198, 18, 0, 1),
    dst: V4(198, 18, 0, 2),
    payload: [8, 0, 0, 0, 0, 0, 0, 0],
  });
  parseFrame(icmp, 0, icmp.length, f);
  assert.equal(natInbound(icmp, f, Uint32Array.of(1), 0, 1), RW_NOT_REWRITABLE);
  assert.equal(drRewrite(icmp, f, 1, 2), RW_OK);
  const junk = new Uint8Array(60);
  parseFrame(junk, 0, 60, f);
  assert.equal(natOutbound(junk, f, Uint32Array.of(1), 0, 1), RW_NOT_REWRITABLE);
  assert.equal(drRewrite(junk, f, 1, 2), RW_NOT_REWRITABLE);
  assert.ok(junk.every((x) => x === 0));
});

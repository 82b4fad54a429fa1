import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { FRAG_LATER } from "../src/net/ip.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_NOT_IP, PARSE_OK, PARSE_REASON_COUNT } from "../src/net/reason.js";
import {
  drRewrite,
  fullnatInbound,
  fullnatOutbound,
  natInbound,
  natOutbound,
  rewriteBothEnds,
  rewriteDestination,
  rewriteSource,
} from "../src/net/rewrite.js";
import { buildFrame, frameSpec, guardIntact, inGuardedBuffer } from "./net-frames.js";

const ADDRS = Uint32Array.of(0xc6120001, 0x20010db8, 0, 7, 0xc6120002, 0x20010db8, 0, 9);

/** What a PARSE_OK result promises about offsets: everything inside the frame, in order. */
function checkInvariants(p: ParsedFrame): void {
  assert.ok(p.reason >= 0 && p.reason < PARSE_REASON_COUNT);
  if (p.reason !== PARSE_OK) return;
  const end = p.frameOff + p.frameLen;
  assert.ok(p.family === 4 || p.family === 6);
  assert.ok(p.l3Off >= p.frameOff + 14 && p.l3Off + p.ipLen <= end);
  assert.ok(p.l4Off > p.l3Off && p.l4Off + p.l4Len === p.l3Off + p.ipLen);
  assert.ok(p.l4Len >= 0);
  if (p.fragment !== FRAG_LATER) assert.ok(p.l4HeaderLen <= p.l4Len);
  assert.ok(p.payloadOff >= p.l4Off && p.payloadOff + p.payloadLen <= p.l3Off + p.ipLen);
  assert.ok(p.payloadLen >= 0);
}

/** Runs every rewrite on a copy of the guarded buffer; none may throw or touch bytes outside the frame. */
function rewriteAll(buf: Uint8Array, off: number, len: number): void {
  const p = new ParsedFrame();
  const ops = [
    (b: Uint8Array) => natInbound(b, p, ADDRS, 0, 80),
    (b: Uint8Array) => natOutbound(b, p, ADDRS, 4, 81),
    (b: Uint8Array) => fullnatInbound(b, p, ADDRS, 0, 1025, ADDRS, 4, 80),
    (b: Uint8Array) => fullnatOutbound(b, p, ADDRS, 4, 80, ADDRS, 0, 1234),
    (b: Uint8Array) => rewriteDestination(b, p, ADDRS, 0, 1),
    (b: Uint8Array) => rewriteSource(b, p, ADDRS, 0, 2),
    (b: Uint8Array) => rewriteBothEnds(b, p, ADDRS, 0, 3, ADDRS, 4, 4),
    (b: Uint8Array) => drRewrite(b, p, 0x020000000001, 0x020000000002),
  ];
  for (const op of ops) {
    const copy = Uint8Array.from(buf);
    parseFrame(copy, off, len, p);
    const r = op(copy);
    assert.ok(Number.isInteger(r));
    assert.ok(guardIntact(copy, off, len), "bytes outside the frame changed");
    // A rewritten frame still parses the same way.
    const q = new ParsedFrame();
    parseFrame(copy, off, len, q);
    assert.equal(q.reason, p.reason);
  }
}

test("random bytes: the classifier never throws, results are consistent, rewrites stay inside", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom(0x0800, 0x86dd, 0x8100, 0x0806, -1),
      fc.nat(16),
      (bytes, etherType, off) => {
        if (etherType >= 0 && bytes.length >= 14) {
          bytes[12] = etherType >>> 8;
          bytes[13] = etherType & 255;
          if (bytes.length > 14) bytes[14] = (bytes[14]! & 15) | (etherType === 0x86dd ? 0x60 : 0x40);
        }
        const buf = inGuardedBuffer(bytes, off, 16);
        const p = new ParsedFrame();
        parseFrame(buf, off, bytes.length, p);
        checkInvariants(p);
        assert.ok(guardIntact(buf, off, bytes.length));
        rewriteAll(buf, off, bytes.length);
      },
    ),
    { numRuns: 3000 },
  );
});

type Mutation =
  | { t: "truncate"; at: number }
  | { t: "byte"; at: number; v: number }
  | { t: "ihl"; v: number }
  | { t: "totlen"; v: number }
  | { t: "frag"; v: number }
  | { t: "doff"; v: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ t: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ t: fc.constant("byte" as const), at: fc.nat(), v: fc.nat(255) }),
  fc.record({ t: fc.constant("ihl" as const), v: fc.nat(15) }),
  fc.record({ t: fc.constant("totlen" as const), v: fc.nat(0xffff) }),
  fc.record({ t: fc.constant("frag" as const), v: fc.nat(0xffff) }),
  fc.record({ t: fc.constant("doff" as const), v: fc.nat(15) }),
);

test("mutated valid frames: malformed ones get a reason, none breaks a rewrite", () => {
  fc.assert(
    fc.property(
      frameSpec,
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      fc.nat(8),
      (spec, muts, off) => {
        let frame = buildFrame(spec);
        const ref = new ParsedFrame();
        parseFrame(frame, 0, frame.length, ref);
        assert.equal(ref.reason, PARSE_OK);
        let mustFail = false;
        let l2Hit = false;
        // Byte edits first, so the structural edits below decide whether the frame must be refused.
        const ordered = [...muts].sort((a, b) => (a.t === "byte" ? 0 : 1) - (b.t === "byte" ? 0 : 1));
        for (const m of ordered) {
          switch (m.t) {
            case "truncate": {
              const n = m.at % (frame.length + 1);
              if (n < ref.l3Off + ref.ipLen) mustFail = true;
              frame = frame.slice(0, n);
              break;
            }
            case "byte":
              if (frame.length) {
                frame[m.at % frame.length] = m.v;
                if (m.at % frame.length < ref.l3Off) l2Hit = true;
              }
              break;
            case "ihl":
              if (spec.family === 4 && frame.length > ref.l3Off) {
                frame[ref.l3Off] = 0x40 | m.v;
                if (m.v < 5) mustFail = true;
              }
              break;
            case "totlen":
              if (frame.length > ref.l3Off + 4) {
                frame[ref.l3Off + (spec.family === 4 ? 2 : 4)] = m.v >>> 8;
                frame[ref.l3Off + (spec.family === 4 ? 3 : 5)] = m.v & 255;
                const hdr = spec.family === 4 ? 0 : 40;
                if (m.v + hdr > frame.length - ref.l3Off) mustFail = true;
              }
              break;
            case "frag":
              if (spec.family === 4 && frame.length > ref.l3Off + 8) {
                frame[ref.l3Off + 6] = m.v >>> 8;
                frame[ref.l3Off + 7] = m.v & 255;
              }
              break;
            case "doff":
              if (spec.protocol === 6 && frame.length > ref.l4Off + 12) frame[ref.l4Off + 12] = m.v << 4;
              break;
          }
        }
        const buf = inGuardedBuffer(frame, off, 24);
        const p = new ParsedFrame();
        parseFrame(buf, off, frame.length, p);
        checkInvariants(p);
        if (mustFail && !l2Hit)
          assert.ok(p.reason !== PARSE_OK && p.reason !== PARSE_NOT_IP, `reason ${p.reason}`);
        rewriteAll(buf, off, frame.length);
      },
    ),
    { numRuns: 2000 },
  );
});

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { buildIcmpError } from "../src/net/icmp.js";
import { IcmpQuote, parseIcmpQuote } from "../src/net/icmp-quote.js";
import { buildIcmpv6Error } from "../src/net/icmpv6.js";
import { FRAG_LATER } from "../src/net/ip.js";
import { ipipDecapsulate, ipipEncapsulate } from "../src/net/ipip.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_NOT_IP, PARSE_OK, PARSE_REASON_COUNT } from "../src/net/reason.js";
import {
  decrementTtl,
  drRewrite,
  fullnatInbound,
  fullnatOutbound,
  natInbound,
  natOutbound,
  rewriteBothEnds,
  rewriteDestination,
  rewriteSource,
} from "../src/net/rewrite.js";
import {
  fullnatInboundIcmp,
  fullnatOutboundIcmp,
  natInboundIcmp,
  natOutboundIcmp,
} from "../src/net/rewrite-icmp.js";
import { tcpClampMss } from "../src/net/tcp.js";
import { insertToa } from "../src/net/toa.js";
import {
  buildFrame,
  type FrameSpec,
  frameSpec,
  guardIntact,
  inGuardedBuffer,
  refChecksum,
} from "./net-frames.js";

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

/** How many exercised frames parsed, and how many operations then succeeded: the fuzzing must reach them. */
let parsedOk = 0;
let opsOk = 0;

const HEAD = 40;
const TAIL = 40;

/**
 * Runs every rewrite and frame-changing operation on a fresh guarded copy of `frame` (HEAD bytes of
 * headroom, TAIL of tailroom). None may throw; each may only write inside the window it is allowed:
 * the frame itself, plus 20 bytes of headroom for IPIP and 20 of tailroom for TOA.
 */
function exerciseAll(frame: Uint8Array): void {
  const len = frame.length;
  const p = new ParsedFrame();
  const q = new IcmpQuote();
  const withQuote =
    (fn: (b: Uint8Array) => number) =>
    (b: Uint8Array): number => {
      parseIcmpQuote(b, p.payloadOff, p.l3Off + p.ipLen, p.family === 6 ? 6 : 4, q);
      return fn(b);
    };
  type Op = [(b: Uint8Array) => number, number, number];
  const inPlace = (fn: (b: Uint8Array) => number): Op => [fn, 0, 0];
  const ops: Op[] = [
    inPlace((b) => natInbound(b, p, ADDRS, 0, 80)),
    inPlace((b) => natOutbound(b, p, ADDRS, 4, 81)),
    inPlace((b) => fullnatInbound(b, p, ADDRS, 0, 1025, ADDRS, 4, 80)),
    inPlace((b) => fullnatOutbound(b, p, ADDRS, 4, 80, ADDRS, 0, 1234)),
    inPlace((b) => rewriteDestination(b, p, ADDRS, 0, 1)),
    inPlace((b) => rewriteSource(b, p, ADDRS, 0, 2)),
    inPlace((b) => rewriteBothEnds(b, p, ADDRS, 0, 3, ADDRS, 4, 4)),
    inPlace((b) => drRewrite(b, p, 0x020000000001, 0x020000000002)),
    inPlace((b) => decrementTtl(b, p)),
    inPlace((b) =>
      p.reason === PARSE_OK && p.protocol === 6 && p.fragment !== FRAG_LATER
        ? tcpClampMss(b, p.l4Off, 500)
        : 0,
    ),
    inPlace(withQuote((b) => natInboundIcmp(b, p, q, ADDRS, 0, 80))),
    inPlace(withQuote((b) => natOutboundIcmp(b, p, q, ADDRS, 4, 80))),
    inPlace(withQuote((b) => fullnatInboundIcmp(b, p, q, ADDRS, 0, 1, ADDRS, 4, 2))),
    inPlace(withQuote((b) => fullnatOutboundIcmp(b, p, q, ADDRS, 4, 3, ADDRS, 0, 4))),
    inPlace((b) => ipipDecapsulate(b, p)),
    [(b) => insertToa(b, p, HEAD + len + 20, 6, ADDRS, 0, 5), 0, 20],
    [
      (b) => {
        const o = ipipEncapsulate(b, p, HEAD - 20, 1, 2, 3, true);
        if (o < 0) return o;
        const e = new ParsedFrame();
        assert.equal(parseFrame(b, o, p.l3Off - p.frameOff + 20 + p.ipLen, e), PARSE_OK);
        return ipipDecapsulate(b, e);
      },
      20,
      0,
    ],
  ];
  for (const [op, head, tail] of ops) {
    const buf = inGuardedBuffer(frame, HEAD, TAIL);
    parseFrame(buf, HEAD, len, p);
    checkInvariants(p);
    const reason = p.reason;
    const r = op(buf);
    assert.ok(Number.isInteger(r));
    if (reason === PARSE_OK) parsedOk++;
    // Success is RW_OK (0) for in-place rewrites, a non-negative offset/length for TOA and IPIP.
    if (reason === PARSE_OK && (head + tail === 0 ? r === 0 : r >= 0)) opsOk++;
    assert.ok(guardIntact(buf, HEAD - head, len + head + tail), "bytes outside the allowed window changed");
    if (head === 0 && tail === 0) {
      // An in-place rewrite leaves a frame that still parses the same way.
      const again = new ParsedFrame();
      parseFrame(buf, HEAD, len, again);
      assert.equal(again.reason, reason);
    }
  }
}

/** Makes the IPv4 header checksum of an IPv4-looking frame right, so fuzzing reaches the layers above. */
function fixIpv4Checksum(b: Uint8Array): void {
  if (b.length < 34 || b[12] !== 0x08 || b[13] !== 0x00) return;
  const hl = (b[14]! & 15) * 4;
  if (hl < 20 || 14 + hl > b.length) return;
  b[24] = b[25] = 0;
  const c = refChecksum(b.subarray(14, 14 + hl));
  b[24] = c >>> 8;
  b[25] = c & 255;
}

/** An ICMP / ICMPv6 error about a random TCP/UDP packet, as a frame: seeds for mutation. */
function icmpErrorFrame(spec: FrameSpec, type: number): Uint8Array {
  const orig = buildFrame(spec);
  const o = new ParsedFrame();
  parseFrame(orig, 0, orig.length, o);
  const out = new Uint8Array(1400);
  const n =
    spec.family === 4
      ? buildIcmpError(out, 14, 1400, orig, o.l3Off, o.ipLen, type, 0, 0, 0xc6120063, 1)
      : buildIcmpv6Error(out, 14, 1400, orig, o.l3Off, o.ipLen, type, 0, 0, ADDRS, 4, new Uint32Array(4));
  out.set([
    2,
    0,
    0,
    0,
    0,
    2,
    2,
    0,
    0,
    0,
    0,
    1,
    spec.family === 4 ? 0x08 : 0x86,
    spec.family === 4 ? 0x00 : 0xdd,
  ]);
  return out.slice(0, 14 + n);
}

test("random bytes: the classifier never throws, results are consistent, rewrites stay inside", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom(0x0800, 0x86dd, 0x8100, 0x0806, -1),
      fc.nat(16),
      fc.boolean(),
      (bytes, etherType, off, fixCsum) => {
        if (etherType >= 0 && bytes.length >= 14) {
          bytes[12] = etherType >>> 8;
          bytes[13] = etherType & 255;
          if (bytes.length > 14) bytes[14] = (bytes[14]! & 15) | (etherType === 0x86dd ? 0x60 : 0x40);
        }
        if (fixCsum) fixIpv4Checksum(bytes);
        const buf = inGuardedBuffer(bytes, off, 16);
        const p = new ParsedFrame();
        parseFrame(buf, off, bytes.length, p);
        checkInvariants(p);
        assert.ok(guardIntact(buf, off, bytes.length));
        exerciseAll(bytes);
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
      fc.constantFrom(0, 3, 11, 1, 2),
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      fc.nat(8),
      fc.boolean(),
      (spec, icmpType, muts, off, fixCsum) => {
        // Seeds: the TCP/UDP frame itself, or an ICMP / ICMPv6 error quoting it.
        let frame = icmpType === 0 ? buildFrame(spec) : icmpErrorFrame(spec, icmpType);
        const ref = new ParsedFrame();
        parseFrame(frame, 0, frame.length, ref);
        assert.equal(ref.reason, PARSE_OK);
        let l2Hit = false;
        // Byte edits first, so the structural edits below decide whether the frame must be refused.
        const ordered = [...muts].sort((a, b) => (a.t === "byte" ? 0 : 1) - (b.t === "byte" ? 0 : 1));
        for (const m of ordered) {
          switch (m.t) {
            case "truncate": {
              const n = m.at % (frame.length + 1);
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
              if (ref.family === 4 && frame.length > ref.l3Off) {
                frame[ref.l3Off] = 0x40 | m.v;
              }
              break;
            case "totlen":
              if (frame.length > ref.l3Off + 4) {
                frame[ref.l3Off + (ref.family === 4 ? 2 : 4)] = m.v >>> 8;
                frame[ref.l3Off + (ref.family === 4 ? 3 : 5)] = m.v & 255;
              }
              break;
            case "frag":
              if (ref.family === 4 && frame.length > ref.l3Off + 8) {
                frame[ref.l3Off + 6] = m.v >>> 8;
                frame[ref.l3Off + 7] = m.v & 255;
              }
              break;
            case "doff":
              if (ref.protocol === 6 && frame.length > ref.l4Off + 12) frame[ref.l4Off + 12] = m.v << 4;
              break;
          }
        }
        if (fixCsum) fixIpv4Checksum(frame);
        // Whether the final bytes break the IP length rules, judged independently of the classifier.
        const l3 = ref.l3Off;
        const avail = frame.length - l3;
        const be16 = (o: number) => frame[o]! * 256 + frame[o + 1]!;
        let mustFail: boolean;
        if (ref.family === 4) {
          const hl = avail >= 1 ? (frame[l3]! & 15) * 4 : 0;
          mustFail = avail < 20 || hl < 20 || hl > avail || be16(l3 + 2) > avail || be16(l3 + 2) < hl;
        } else {
          mustFail = avail < 40 || 40 + be16(l3 + 4) > avail;
        }
        const buf = inGuardedBuffer(frame, off, 24);
        const p = new ParsedFrame();
        parseFrame(buf, off, frame.length, p);
        checkInvariants(p);
        if (mustFail && !l2Hit)
          assert.ok(p.reason !== PARSE_OK && p.reason !== PARSE_NOT_IP, `reason ${p.reason}`);
        exerciseAll(frame);
      },
    ),
    { numRuns: 2000 },
  );
  // Most mutations leave a frame that still parses: the rewrites must really have run on many.
  assert.ok(parsedOk > 3000, `only ${parsedOk} parsed frames exercised`);
  assert.ok(opsOk > 1500, `only ${opsOk} operations succeeded`);
});

/**
 * SCTP through the engine's frame path (a real Director, fake next hops): an association's packets
 * forwarded by NAT with the port changed and the CRC32c computed again, and hostile SCTP — truncated,
 * damaged, forged chunk layouts — never throwing, never writing outside the frame's slot, every frame
 * not sent counted exactly once (a bad CRC as sctpBadChecksum).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IpAddr } from "../src/core/address.js";
import { IPPROTO_SCTP } from "../src/core/flow.js";
import type { ServiceKey } from "../src/core/service.js";
import { type FrameCounters, TxDecision } from "../src/dataplane/slow-path.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { sctpChecksumValid } from "../src/net/sctp.js";
import { destSpec, svcSpec } from "./director-fixtures.js";
import { buildFrame, guardIntact, inGuardedBuffer, sctpChunkBytes, sctpPacket } from "./net-frames.js";
import { CLIENT, IF_IN, IF_OUT, MAC_DIRECTOR_OUT, makeRig, RS, VIP } from "./support/slow-path-rig.js";

const SLOT = 2048;
const OFF = 256;
const ROOM = SLOT - OFF;
const GUARD = 128;
const VPORT = 3868;
const RPORT = 3869;
const v4 = (s: string) => IpAddr.mustParse(s).v4Value;

function sctpRig() {
  const rig = makeRig();
  const key: ServiceKey = { kind: "addr", protocol: IPPROTO_SCTP, addr: IpAddr.mustParse(VIP), port: VPORT };
  rig.director.addService(svcSpec(key));
  rig.director.addDest(key, destSpec(RS, RPORT, "masq"));
  return rig;
}

function frame(src: string, dst: string, l4: number[]): Uint8Array {
  return buildFrame({
    family: 4,
    protocol: 132,
    src: [v4(src), 0, 0, 0],
    dst: [v4(dst), 0, 0, 0],
    payload: l4,
  });
}

const INIT = sctpChunkBytes(1, 0, [0x11, 0x22, 0x33, 0x44, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1]);
const INIT_ACK = sctpChunkBytes(2, 0, [0x55, 0x66, 0x77, 0x88, 0, 1, 0, 0, 0, 10, 0, 10, 0, 0, 0, 1]);

test("NAT: the INIT reaches the real server's port with a valid CRC32c, the INIT ACK returns from the VIP's", () => {
  const { path, director } = sctpRig();
  const d = new TxDecision();
  const p = new ParsedFrame();
  const run = (f: Uint8Array) => {
    const buf = inGuardedBuffer(f, OFF, ROOM - f.length);
    assert.ok(path.process(buf, OFF, f.length, ROOM, { ifindex: IF_OUT, mac: MAC_DIRECTOR_OUT }, 1, d));
    assert.equal(parseFrame(buf, d.offset, d.length, p), PARSE_OK);
    assert.ok(sctpChecksumValid(buf, p.l4Off, p.l4Len), "the CRC32c of what is sent checks");
    return p;
  };
  let out = run(frame(CLIENT, VIP, sctpPacket(40000, VPORT, 0, [INIT])));
  assert.equal(d.ifindex, IF_IN);
  assert.deepEqual([IpAddr.fromWords(4, out.daddr).toString(), out.dport, out.sctpChunk], [RS, RPORT, 1]);
  out = run(frame(RS, CLIENT, sctpPacket(RPORT, 40000, 0x11223344, [INIT_ACK])));
  assert.equal(d.ifindex, IF_OUT);
  assert.deepEqual([IpAddr.fromWords(4, out.saddr).toString(), out.sport, out.sctpChunk], [VIP, VPORT, 2]);
  assert.equal(director.connections(1)[0]!.state, "C-SENT");
});

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

const chunkType = fc.oneof(
  { weight: 2, arbitrary: fc.constant(1) },
  { weight: 4, arbitrary: fc.constantFrom(0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14) },
  { weight: 1, arbitrary: fc.nat(255) },
);
const anyChunk = fc
  .record({ type: chunkType, flags: fc.nat(255), value: fc.uint8Array({ maxLength: 40 }) })
  .map(({ type, flags, value }) => sctpChunkBytes(type, flags, value));
/** Chunks with a forged length field (shorter or longer than the bytes). */
const forgedChunk = fc
  .record({ type: chunkType, len: fc.nat(0xffff), value: fc.uint8Array({ maxLength: 20 }) })
  .map(({ type, len, value }) => [type, 0, len >> 8, len & 255, ...value]);

const hostile = fc
  .record({
    toVip: fc.boolean(),
    cport: fc.constantFrom(40000, 40001),
    chunks: fc.array(fc.oneof(anyChunk, forgedChunk), { maxLength: 3 }),
    flips: fc.oneof(
      fc.constant([] as [number, number][]),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 2 }),
    ),
    cut: fc.option(fc.nat(80), { freq: 3 }),
  })
  .map(({ toVip, cport, chunks, flips, cut }) => {
    const l4 = toVip
      ? sctpPacket(cport, VPORT, 0, chunks as number[][])
      : sctpPacket(RPORT, cport, 0, chunks as number[][]);
    // Damage the SCTP bytes (the CRC then fails) or cut them short (with a consistent IP length).
    for (const [at, x] of flips) if (l4.length) l4[at % l4.length]! ^= x;
    const body = cut === null ? l4 : l4.slice(0, cut);
    return frame(toVip ? CLIENT : RS, toVip ? VIP : CLIENT, body);
  });

test("hostile SCTP: truncated, damaged and forged packets are dropped and counted, never thrown", (t) => {
  const parsed = new ParsedFrame();
  const seen: Record<string, number> = { sent: 0 };
  fc.assert(
    fc.property(fc.array(hostile, { minLength: 1, maxLength: 20 }), (frames) => {
      const { path } = sctpRig();
      const d = new TxDecision();
      for (const f of frames) {
        const buf = inGuardedBuffer(f, GUARD + OFF, ROOM - f.length + GUARD);
        const before = drops(path.counters);
        const ok = path.process(
          buf,
          GUARD + OFF,
          f.length,
          ROOM,
          { ifindex: IF_OUT, mac: MAC_DIRECTOR_OUT },
          1,
          d,
        );
        assert.ok(guardIntact(buf, GUARD + OFF, ROOM), "a byte outside the frame's slot changed");
        if (ok) {
          seen.sent!++;
          assert.equal(drops(path.counters), before, "a sent frame was counted as a drop");
          assert.equal(parseFrame(buf, d.offset, d.length, parsed), PARSE_OK);
          assert.ok(sctpChecksumValid(buf, parsed.l4Off, parsed.l4Len), "what is sent has a valid CRC32c");
        } else {
          assert.equal(drops(path.counters), before + 1, "a dropped frame was not counted exactly once");
        }
      }
      for (const [k, v] of Object.entries(path.counters)) seen[k] = (seen[k] ?? 0) + v;
    }),
    { numRuns: 300 },
  );
  t.diagnostic(JSON.stringify(seen));
  for (const k of ["sent", "sctpBadChecksum", "malformed", "passedAndDropped"])
    assert.ok(seen[k]! > 0, `no frame reached ${k}`);
});

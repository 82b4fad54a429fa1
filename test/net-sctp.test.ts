/**
 * SCTP in src/net: CRC32c against published vectors and an independent bit-at-a-time reference,
 * the checksum of packets built by scapy (another implementation), the classifier's SCTP fields, and
 * NAT's CRC recomputation.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IpAddr } from "../src/core/address.js";
import { PROTO_SCTP } from "../src/net/ip.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_L4_TRUNCATED, PARSE_OK } from "../src/net/reason.js";
import { fullnatInbound, fullnatOutbound, natInbound, natOutbound, RW_OK } from "../src/net/rewrite.js";
import {
  crc32c,
  crc32cUpdate,
  SCTP_CID_ABORT,
  SCTP_CID_COOKIE_ECHO,
  SCTP_CID_DATA,
  SCTP_CID_INIT,
  sctpChecksum,
  sctpChecksumField,
  sctpChecksumValid,
  writeSctpChecksum,
} from "../src/net/sctp.js";
import { buildFrame, refChecksum, refCrc32c, sctpChunkBytes, sctpPacket } from "./net-frames.js";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));

test("CRC32c: the test vectors of RFC 3720 §B.4 (the CRC of RFC 3309 / RFC 9260) and the catalogue check", () => {
  const ramp = Uint8Array.from({ length: 32 }, (_, i) => i);
  // The RFC lists the bytes as sent: least significant byte first.
  const sent = (b: Uint8Array) => {
    const c = crc32c(b, 0, b.length);
    return [c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24];
  };
  assert.deepEqual(sent(new Uint8Array(32)), [0xaa, 0x36, 0x91, 0x8a]);
  assert.deepEqual(sent(new Uint8Array(32).fill(0xff)), [0x43, 0xab, 0xa8, 0x62]);
  assert.deepEqual(sent(ramp), [0x4e, 0x79, 0xdd, 0x46]);
  assert.deepEqual(sent(ramp.slice().reverse()), [0x5c, 0xdb, 0x3f, 0x11]);
  const iscsiRead = hex(`
    01 c0 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    14 00 00 00 00 00 04 00 00 00 00 14 00 00 00 18
    28 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00`);
  assert.deepEqual(sent(iscsiRead), [0x56, 0x3a, 0x96, 0xd9]);
  const check = new TextEncoder().encode("123456789");
  assert.equal(crc32c(check, 0, check.length), 0xe3069283);
});

test("CRC32c: any bytes, offset and split equal the bit-at-a-time reference", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(200), fc.nat(200), (b, a, s) => {
      const off = Math.min(a, b.length);
      const len = b.length - off;
      const cut = Math.min(s, len);
      const ref = refCrc32c(b.subarray(off));
      assert.equal(crc32c(b, off, len), ref);
      const split = ~crc32cUpdate(crc32cUpdate(0xffffffff, b, off, cut), b, off + cut, len - cut) >>> 0;
      assert.equal(split, ref);
    }),
  );
});

// Two IPv4 SCTP packets as scapy 2.5 builds them (an INIT, then a DATA chunk "hello sctp"), its
// CRC32c in the checksum field: 198.18.0.100:40000 -> 198.18.0.10:3868.
const SCAPY_INIT =
  "45000034000100004084edb2c6120064c612000a9c400f1c00000000f39f9f8a010000141122334400010000000a000a00000001";
const SCAPY_DATA =
  "4500003c000200004084eda9c6120064c612000a9c400f1c55667788d514f04c0000001a00000001000000000000000068656c6c6f20736374700000";

function frameOf(ipHex: string): Uint8Array {
  const ip = hex(ipHex);
  const f = new Uint8Array(14 + ip.length);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
  f.set(ip, 14);
  return f;
}

test("the checksum of packets scapy built is read, recomputed and checked the same way", () => {
  for (const h of [SCAPY_INIT, SCAPY_DATA]) {
    const f = frameOf(h);
    const l4 = 14 + 20;
    const len = f.length - l4;
    assert.ok(sctpChecksumValid(f, l4, len));
    assert.equal(sctpChecksum(f, l4, len), sctpChecksumField(f, l4));
    f[l4 + 20] = f[l4 + 20]! ^ 1;
    assert.ok(!sctpChecksumValid(f, l4, len), "one flipped bit is caught");
  }
});

test("the classifier reads ports and chunk types; too short an SCTP header is refused", () => {
  const p = new ParsedFrame();
  const init = frameOf(SCAPY_INIT);
  assert.equal(parseFrame(init, 0, init.length, p), PARSE_OK);
  assert.equal(p.protocol, PROTO_SCTP);
  assert.deepEqual(
    [p.sport, p.dport, p.l4HeaderLen, p.sctpChunk, p.sctpNextChunk],
    [40000, 3868, 12, SCTP_CID_INIT, -1],
  );
  const data = frameOf(SCAPY_DATA);
  assert.equal(parseFrame(data, 0, data.length, p), PARSE_OK);
  assert.equal(p.sctpChunk, SCTP_CID_DATA);

  // A COOKIE ECHO (a 10-byte cookie, padded) with an ABORT bundled after it: kernel set_sctp_state
  // looks at that second chunk.
  const common = "9c400f1c5566778800000000";
  const bundled = sctpFrame(`${common}0a00000e6b6b6b6b6b6b6b6b6b6b000006000004`);
  assert.equal(parseFrame(bundled, 0, bundled.length, p), PARSE_OK);
  assert.deepEqual([p.sctpChunk, p.sctpNextChunk], [SCTP_CID_COOKIE_ECHO, SCTP_CID_ABORT]);
  // A chunk length below 4 stops the walk: no second chunk.
  const badLen = sctpFrame(`${common}0a00000206000004`);
  assert.equal(parseFrame(badLen, 0, badLen.length, p), PARSE_OK);
  assert.deepEqual([p.sctpChunk, p.sctpNextChunk], [SCTP_CID_COOKIE_ECHO, -1]);

  // A common header with no chunk: parsed, no chunk type.
  const bare = sctpFrame(common);
  assert.equal(parseFrame(bare, 0, bare.length, p), PARSE_OK);
  assert.equal(p.sctpChunk, -1);
  // Eleven bytes of SCTP: truncated.
  const short = sctpFrame(common.slice(0, 22));
  assert.equal(parseFrame(short, 0, short.length, p), PARSE_L4_TRUNCATED);
});

/** An Ethernet frame with an IPv4 header (checksum right) around the SCTP bytes given in hex. */
function sctpFrame(l4Hex: string): Uint8Array {
  const l4 = hex(l4Hex);
  const ip = new Uint8Array(20 + l4.length);
  ip.set([0x45, 0, (ip.length >> 8) & 0xff, ip.length & 0xff, 0, 9, 0, 0, 64, 132, 0, 0]);
  ip.set([198, 18, 0, 100, 198, 18, 0, 10], 12);
  const ck = refChecksum(ip.subarray(0, 20));
  ip[10] = ck >> 8;
  ip[11] = ck & 0xff;
  ip.set(l4, 20);
  return frameOf(Buffer.from(ip).toString("hex"));
}

test("NAT recomputes the CRC32c when a port changes and leaves it when none does", () => {
  const p = new ParsedFrame();
  const f = frameOf(SCAPY_DATA);
  const l4 = 14 + 20;
  parseFrame(f, 0, f.length, p);
  const before = sctpChecksumField(f, l4);
  const rs = Uint32Array.of(0xc6130a14); // 198.19.10.20
  assert.equal(natInbound(f, p, rs, 0, 3868), RW_OK);
  assert.equal(sctpChecksumField(f, l4), before, "same port: the CRC does not cover addresses");
  assert.ok(sctpChecksumValid(f, l4, f.length - l4));
  assert.equal(natInbound(f, p, rs, 0, 9000), RW_OK);
  assert.equal(p.dport, 9000);
  assert.notEqual(sctpChecksumField(f, l4), before);
  assert.ok(sctpChecksumValid(f, l4, f.length - l4), "a new port: a new, valid CRC");
  assert.equal(refCrc32c(zeroedCrc(f, l4)), sctpChecksumField(f, l4));

  parseFrame(f, 0, f.length, p);
  const vip = Uint32Array.of(0xc612000a);
  assert.equal(natOutbound(f, p, vip, 0, 3868), RW_OK);
  assert.equal(p.sport, 3868);
  assert.ok(sctpChecksumValid(f, l4, f.length - l4));
});

test("writeSctpChecksum fills the field so that the packet checks", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 12, maxLength: 120 }), (b) => {
      const c = b.slice();
      writeSctpChecksum(c, 0, c.length);
      assert.ok(sctpChecksumValid(c, 0, c.length));
      assert.equal(sctpChecksumField(c, 0), refCrc32c(zeroedCrc(c, 0)));
    }),
  );
});

function zeroedCrc(f: Uint8Array, l4: number): Uint8Array {
  const c = f.slice(l4);
  c.fill(0, 8, 12);
  return c;
}

test("FULLNAT both ways and NAT over IPv6 leave a valid CRC32c (no pseudo-header: addresses do not enter it)", () => {
  const p = new ParsedFrame();
  const chunk = sctpChunkBytes(0, 3, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 104, 105]);
  const l4 = sctpPacket(40000, 3868, 0x0a0b0c0d, [chunk]);
  const v4frame = buildFrame({ family: 4, protocol: 132, src: [0xc6120064], dst: [0xc612000a], payload: l4 });
  parseFrame(v4frame, 0, v4frame.length, p);
  const lip = Uint32Array.of(0xc6130a01);
  const rs = Uint32Array.of(0xc6130a14);
  assert.equal(fullnatInbound(v4frame, p, lip, 0, 5001, rs, 0, 3869), RW_OK);
  assert.deepEqual([p.sport, p.dport], [5001, 3869]);
  assert.ok(sctpChecksumValid(v4frame, p.l4Off, p.l4Len));
  parseFrame(v4frame, 0, v4frame.length, p);
  const vip = Uint32Array.of(0xc612000a);
  const client = Uint32Array.of(0xc6120064);
  assert.equal(fullnatOutbound(v4frame, p, vip, 0, 3868, client, 0, 40000), RW_OK);
  assert.ok(sctpChecksumValid(v4frame, p.l4Off, p.l4Len));
  assert.deepEqual(
    Array.from(v4frame.subarray(p.l4Off)),
    sctpPacket(3868, 40000, 0x0a0b0c0d, [chunk]),
    "the bytes an SCTP stack at VIP:3868 would send to the client's port",
  );

  const six = (s: string) => IpAddr.mustParse(s).words;
  const v6frame = buildFrame({
    family: 6,
    protocol: 132,
    src: six("2001:2::100"),
    dst: six("2001:2::10"),
    payload: l4,
  });
  assert.equal(parseFrame(v6frame, 0, v6frame.length, p), PARSE_OK);
  assert.deepEqual([p.family, p.sctpChunk, p.dport], [6, SCTP_CID_DATA, 3868]);
  assert.equal(natInbound(v6frame, p, Uint32Array.from(six("2001:2:0:1::20")), 0, 3869), RW_OK);
  assert.ok(sctpChecksumValid(v6frame, p.l4Off, p.l4Len));
  assert.equal(refCrc32c(zeroedCrc(v6frame, p.l4Off)), sctpChecksumField(v6frame, p.l4Off));
});

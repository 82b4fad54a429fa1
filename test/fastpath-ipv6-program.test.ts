/**
 * The IPv6 fast path in the kernel (BPF_PROG_TEST_RUN), at XDP and at TC: NAT inbound and outbound,
 * FULLNAT and DR hits come out as src/net rewrites them (the slow path's bytes, whose checksums an
 * independent reference sum checks), and redirected; SYN/FIN/RST, extension headers, a hop limit of
 * 1, a partial checksum and a miss are left to the slow path; at TC a GSO aggregate's partial
 * checksum follows the addresses.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { IpAddr } from "../src/core/address.js";
import { FLOW_DIR_IN, FLOW_DIR_OUT } from "../src/dataplane/fastpath/flow-layout.js";
import {
  encodeFlow6,
  encodeFlow6Key,
  FLOW6_KEY_SIZE,
  FLOW6_VALUE_SIZE,
  type Flow6Spec,
} from "../src/dataplane/fastpath/flow-layout-ipv6.js";
import { writeMac } from "../src/net/ethernet.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { drRewrite, fullnatInbound, natInbound, natOutbound, RW_OK } from "../src/net/rewrite.js";
import { sctpChecksumValid } from "../src/net/sctp.js";
import { mapDelete, mapUpdate } from "../src/platform/bpf.js";
import { buildFrame, pseudoHeader, refChecksum, refSum, sctpChunkBytes, sctpPacket } from "./net-frames.js";
import {
  ACK_PSH,
  CLIENT_MAC,
  FastPathRig,
  LOOPBACK,
  OUR_MAC,
  OUR_MAC_N,
  OUT_IFINDEX,
  OUT_MAC,
  type ProgramHook,
  RS_MAC,
  SCTP,
  TCP,
  UDP,
  XDP_DROP,
  XDP_REDIRECT,
} from "./support/fastpath-rig.js";
import { haveRoot } from "./support/privileged.js";

const w = (s: string) => Uint32Array.from(IpAddr.mustParse(s).words);
const CLIENT6 = w("2001:2::100");
const VIP6 = w("2001:2::10");
const RIP6 = w("2001:2:0:2::20");
const LIP6 = w("2001:2:0:2::1");

/** The TCP/UDP checksum of an untagged IPv6 frame is right (reference sum, not src/net's). */
function l4ChecksumValid(frame: Uint8Array): boolean {
  const proto = frame[14 + 6]!;
  const l4 = frame.subarray(54);
  const src = [0, 1, 2, 3].map((k) => new DataView(frame.buffer, frame.byteOffset).getUint32(22 + 4 * k));
  const dst = [0, 1, 2, 3].map((k) => new DataView(frame.buffer, frame.byteOffset).getUint32(38 + 4 * k));
  return refChecksum([...pseudoHeader(6, src, dst, proto, l4.length), ...l4]) === 0;
}

function fastPathIpv6Tests(hook: ProgramHook): void {
  const rig = new FastPathRig(hook);
  before(() => {
    rig.open(true);
    if (rig.steering) {
      rig.steering.addService(TCP, IpAddr.fromWords(6, VIP6), 80);
      rig.steering.addService(UDP, IpAddr.fromWords(6, VIP6), 53);
    }
  });
  after(() => rig.close());
  const key = new Uint8Array(FLOW6_KEY_SIZE);
  const value = new Uint8Array(FLOW6_VALUE_SIZE);
  const withFlow = (s: Flow6Spec, body: () => void) => {
    encodeFlow6(key, 0, value, 0, s);
    mapUpdate(rig.fast!.fds.flows6, key, value);
    try {
      body();
    } finally {
      encodeFlow6Key(key, 0, s.protocol, s.saddr, s.daddr, s.sport, s.dport);
      mapDelete(rig.fast!.fds.flows6, key);
    }
  };
  const spec = (over: Partial<Flow6Spec>): Flow6Spec => ({
    conn: 9,
    direction: FLOW_DIR_IN,
    protocol: TCP,
    saddr: CLIENT6,
    daddr: VIP6,
    sport: 40000,
    dport: 80,
    newSaddr: CLIENT6,
    newDaddr: RIP6,
    newSport: 40000,
    newDport: 8080,
    rewrite: true,
    inIfindex: LOOPBACK,
    outIfindex: OUT_IFINDEX,
    inMac: OUR_MAC_N,
    dstMac: RS_MAC,
    srcMac: OUT_MAC,
    maxLen: 1500,
    ...over,
  });
  const frameOf = (s: Flow6Spec, over: Partial<Parameters<typeof buildFrame>[0]> = {}) =>
    buildFrame({
      family: 6,
      protocol: s.protocol,
      src: s.saddr,
      dst: s.daddr,
      sport: s.sport,
      dport: s.dport,
      tcpFlags: ACK_PSH,
      payload: [1, 2, 3, 4, 5, 6, 7, 8, 9],
      dstMac: OUR_MAC,
      srcMac: [2, 0xaa, 0xbb, 0xcc, 0xdd, 0x01],
      ...over,
    });
  /** What src/net's rewrite makes of the frame (the slow path's bytes). */
  function slowPathRewrite(frame: Uint8Array, s: Flow6Spec, fullnat = false): Uint8Array {
    const buf = frame.slice();
    const f = new ParsedFrame();
    assert.equal(parseFrame(buf, 0, buf.length, f), PARSE_OK);
    let rc: number;
    if (!s.rewrite) rc = drRewrite(buf, f, s.dstMac, s.srcMac);
    else if (fullnat)
      rc = fullnatInbound(
        buf,
        f,
        Uint32Array.from(s.newSaddr),
        0,
        s.newSport,
        Uint32Array.from(s.newDaddr),
        0,
        s.newDport,
      );
    else if (s.direction === FLOW_DIR_IN)
      rc = natInbound(buf, f, Uint32Array.from(s.newDaddr), 0, s.newDport);
    else rc = natOutbound(buf, f, Uint32Array.from(s.newSaddr), 0, s.newSport);
    assert.equal(rc, RW_OK);
    writeMac(buf, 0, s.dstMac);
    writeMac(buf, 6, s.srcMac);
    return buf;
  }

  const natIn = spec({});
  const natOut = spec({
    direction: FLOW_DIR_OUT,
    saddr: RIP6,
    sport: 8080,
    daddr: CLIENT6,
    dport: 40000,
    newSaddr: VIP6,
    newSport: 80,
    newDaddr: CLIENT6,
    newDport: 40000,
    dstMac: CLIENT_MAC,
  });
  const dr = spec({ newDaddr: VIP6, newDport: 80, rewrite: false, sport: 40001 });
  const fullnatIn = spec({ newSaddr: LIP6, newSport: 5000, sport: 40002 });

  test(`${hook}: IPv6 NAT in and out, FULLNAT and DR hits are rewritten as src/net rewrites them, and redirected`, (t) => {
    if (!haveRoot(t)) return;
    for (const [s, fullnat] of [
      [natIn, false],
      [natOut, false],
      [dr, false],
      [fullnatIn, true],
    ] as const) {
      withFlow(s, () => {
        const frame = frameOf(s);
        const r = rig.run(frame);
        assert.equal(r.verdict, XDP_REDIRECT);
        assert.equal(r.counter, "FORWARDED");
        assert.deepEqual(r.data, slowPathRewrite(frame, s, fullnat));
        assert.ok(l4ChecksumValid(r.data), "the TCP checksum is right");
        assert.equal(r.data[14 + 7], 63, "hop limit one lower");
      });
    }
  });

  test(`${hook}: IPv6 SCTP DR: DATA and HEARTBEAT forwarded untouched but for MACs and hop limit; control chunks and NAT flows not`, (t) => {
    if (!haveRoot(t)) return;
    const sctpDr = spec({ protocol: SCTP, dport: 3868, newDaddr: VIP6, newDport: 3868, rewrite: false });
    const sctpFrame = (s: Flow6Spec, type: number) =>
      frameOf(s, {
        payload: sctpPacket(s.sport, s.dport, 0x0a0b0c0d, [sctpChunkBytes(type, 3, [1, 2, 3, 4, 5])]),
      });
    withFlow(sctpDr, () => {
      for (const type of [0, 3, 4, 5]) {
        const frame = sctpFrame(sctpDr, type);
        const r = rig.run(frame);
        assert.equal(r.verdict, XDP_REDIRECT, `chunk ${type}`);
        assert.equal(r.counter, "FORWARDED");
        assert.deepEqual(r.data, slowPathRewrite(frame, sctpDr));
        assert.ok(sctpChecksumValid(r.data, 54, r.data.length - 54));
      }
      for (const type of [1, 2, 6, 7, 8, 10, 11, 14]) {
        const frame = sctpFrame(sctpDr, type);
        const r = rig.run(frame);
        assert.equal(r.counter, "SLOW_CONTROL", `chunk ${type}`);
        assert.deepEqual(r.data, frame);
      }
    });
    const sctpNat = spec({ protocol: SCTP, dport: 3868, newDport: 3869 });
    withFlow(sctpNat, () => {
      const frame = sctpFrame(sctpNat, 0);
      const r = rig.run(frame);
      assert.equal(r.counter, "SLOW_CONTROL", "a NAT flow would need a new CRC32c: never in XDP");
      assert.deepEqual(r.data, frame);
    });
  });

  test(`${hook}: LVS-TUN to an IPv6 real server: the packet, hop limit one lower, inside an outer IPv6 header (RFC 2473)`, (t) => {
    if (!haveRoot(t)) return;
    const src6 = w("2001:2:0:2::1");
    const tun = spec({
      sport: 40003,
      newSaddr: src6,
      newDaddr: RIP6,
      newSport: 40003,
      newDport: 80,
      tunnel: true,
    });
    withFlow(tun, () => {
      for (const tc of [0x00, 0xb8, 0x03]) {
        // Traffic class in the inner header: version 6, tc, flow label 0x12345.
        const frame = frameOf(tun);
        frame[14] = 0x60 | (tc >> 4);
        frame[15] = ((tc & 0x0f) << 4) | 0x1;
        frame[16] = 0x23;
        frame[17] = 0x45;
        const r = rig.run(frame);
        assert.equal(r.verdict, XDP_REDIRECT);
        assert.equal(r.counter, "FORWARDED");
        const inner = frame.slice(14);
        inner[7] = inner[7]! - 1;
        const outerTc = (tc & 3) === 3 ? tc ^ 1 : tc;
        const outer = [
          0x60 | (outerTc >> 4),
          (outerTc & 0x0f) << 4,
          0,
          0,
          inner.length >> 8,
          inner.length & 0xff,
          41,
          inner[7]!,
        ];
        for (const a of [src6, RIP6])
          for (const x of a) outer.push(x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff);
        const eth = new Uint8Array(14);
        writeMac(eth, 0, RS_MAC);
        writeMac(eth, 6, OUT_MAC);
        eth[12] = 0x86;
        eth[13] = 0xdd;
        assert.deepEqual(r.data, Uint8Array.from([...eth, ...outer, ...inner]), `traffic class ${tc}`);
      }
    });
  });

  test(`${hook}: IPv6 UDP`, (t) => {
    if (!haveRoot(t)) return;
    const s = spec({ protocol: UDP, dport: 53, newDport: 5353 });
    withFlow(s, () => {
      const frame = frameOf(s);
      const r = rig.run(frame);
      assert.equal(r.verdict, XDP_REDIRECT);
      assert.deepEqual(r.data, slowPathRewrite(frame, s));
      assert.ok(l4ChecksumValid(r.data));
    });
  });

  test(`${hook}: SYN/FIN/RST, extension headers, hop limit 1, a partial checksum and a miss take the slow path untouched`, (t) => {
    if (!haveRoot(t)) return;
    withFlow(natIn, () => {
      for (const flags of [0x02, 0x01, 0x04]) {
        const frame = frameOf(natIn, { tcpFlags: flags });
        const r = rig.run(frame);
        assert.equal(r.counter, "SLOW_CONTROL");
        assert.equal(r.verdict, XDP_DROP, "steered (dropped here: no AF_XDP socket)");
        assert.deepEqual(r.data, frame);
      }
      const withExt = frameOf(natIn, { ipv6Ext: { first: 60, bytes: [6, 0, 1, 4, 0, 0, 0, 0] } });
      assert.equal(rig.run(withExt).counter, null, "not looked up: the slow path's");
      const hop1 = frameOf(natIn, { ttl: 1 });
      const r1 = rig.run(hop1);
      assert.equal(r1.counter, "SLOW_TTL");
      assert.deepEqual(r1.data, hop1);
      // A local sender's CHECKSUM_PARTIAL packet: the field holds only the pseudo-header's sum.
      const partial = frameOf(natIn);
      const sum = refSum(pseudoHeader(6, natIn.saddr, natIn.daddr, TCP, partial.length - 54));
      partial[54 + 16] = sum >>> 8;
      partial[54 + 17] = sum & 0xff;
      const rp = rig.run(partial);
      assert.equal(rp.counter, "SLOW_PARTIAL_CHECKSUM");
      assert.deepEqual(rp.data, partial);
    });
    const miss = frameOf(spec({ sport: 41000 }));
    assert.equal(rig.run(miss).counter, "MISS");
  });

  if (hook === "tc")
    test("tc: an IPv6 TCP GSO aggregate is taken when its segments fit, its partial checksum moved by the addresses", (t) => {
      if (!haveRoot(t)) return;
      withFlow(natIn, () => {
        const payload = Array.from({ length: 3000 }, (_, i) => i & 0xff);
        const agg = frameOf(natIn, { payload });
        const sum = refSum(pseudoHeader(6, natIn.saddr, natIn.daddr, TCP, agg.length - 54));
        agg[54 + 16] = sum >>> 8;
        agg[54 + 17] = sum & 0xff;
        const r = rig.run(agg, 1400);
        assert.equal(r.verdict, XDP_REDIRECT);
        assert.equal(r.counter, "FORWARDED");
        const want = refSum(pseudoHeader(6, natIn.saddr, natIn.newDaddr, TCP, agg.length - 54));
        assert.equal(
          (r.data[54 + 16]! << 8) | r.data[54 + 17]!,
          want,
          "partial sum of the new pseudo-header",
        );
        assert.equal(rig.run(agg, 1500).counter, "SLOW_TOO_LONG", "segments over the MTU");
      });
    });
}

for (const hook of ["xdp", "tc"] as const)
  describe(`IPv6 fast path at ${hook}`, () => fastPathIpv6Tests(hook));

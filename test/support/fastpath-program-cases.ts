import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import {
  encodeFlowKey,
  FLOW_DIR_IN,
  FLOW_DIR_OUT,
  FLOW_KEY_SIZE,
  FLOW_VALUE_SIZE,
  type FlowSpec,
} from "../../src/dataplane/fastpath/flow-layout.js";
import { writeMac } from "../../src/net/ethernet.js";
import { ParsedFrame, parseFrame } from "../../src/net/parse.js";
import { PARSE_OK } from "../../src/net/reason.js";
import { drRewrite, natInbound, natOutbound, RW_OK } from "../../src/net/rewrite.js";
import { sctpChecksumValid } from "../../src/net/sctp.js";
import { mapLookup } from "../../src/platform/bpf.js";
import {
  buildFrame,
  ipv4ChecksumsValid,
  pseudoHeader,
  refSum,
  sctpChunkBytes,
  sctpPacket,
} from "../net-frames.js";
import type { ProgramHook } from "./fastpath-rig.js";
import {
  ACK_PSH,
  CLIENT,
  CLIENT_MAC,
  FastPathRig,
  LOOPBACK,
  OUR_MAC,
  OUR_MAC_N,
  OUT_IFINDEX,
  OUT_MAC,
  RIP,
  RS_MAC,
  SCTP,
  TCP,
  UDP,
  VIP,
  v4,
  XDP_DROP,
  XDP_PASS,
  XDP_REDIRECT,
} from "./fastpath-rig.js";
import { haveRoot } from "./privileged.js";

// The steering program with the fast path, run in the kernel by BPF_PROG_TEST_RUN (which presents
// the frame as received on loopback, ifindex 1). Fast-pathed frames come back as XDP_REDIRECT with
// the rewritten bytes; the others as the steering program decides (missAction "drop" and no
// AF_XDP socket: a steered frame comes back as XDP_DROP, untouched).

/** The tests, for the program generated for `hook` (test/fastpath-program.test.ts runs them for both). */
export function fastPathProgramTests(hook: ProgramHook): void {
  const rig = new FastPathRig(hook);
  before(() => rig.open(true));
  after(() => rig.close());
  const install = (s: FlowSpec) => rig.install(s);
  /** Runs `body` with the flow `s` installed, and removes it afterwards. */
  const withFlow = (s: FlowSpec, body: () => void): void => {
    install(s);
    try {
      body();
    } finally {
      rig.remove(s);
    }
  };
  const run = (frame: Uint8Array) => rig.run(frame);

  function spec(over: Partial<FlowSpec>): FlowSpec {
    return {
      conn: 7,
      direction: FLOW_DIR_IN,
      protocol: TCP,
      saddr: CLIENT,
      daddr: VIP,
      sport: 40000,
      dport: 80,
      newSaddr: CLIENT,
      newDaddr: RIP,
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
    };
  }

  const key = new Uint8Array(FLOW_KEY_SIZE);

  /** What src/net's rewrite makes of the frame (the slow path's bytes). */
  function slowPathRewrite(frame: Uint8Array, s: FlowSpec): Uint8Array {
    const buf = frame.slice();
    const f = new ParsedFrame();
    assert.equal(parseFrame(buf, 0, buf.length, f), PARSE_OK);
    let rc: number;
    if (!s.rewrite) rc = drRewrite(buf, f, s.dstMac, s.srcMac);
    else if (s.direction === FLOW_DIR_IN) rc = natInbound(buf, f, Uint32Array.of(s.newDaddr), 0, s.newDport);
    else rc = natOutbound(buf, f, Uint32Array.of(s.newSaddr), 0, s.newSport);
    assert.equal(rc, RW_OK);
    writeMac(buf, 0, s.dstMac);
    writeMac(buf, 6, s.srcMac);
    return buf;
  }

  /**
   * Writes the pseudo-header sum for (saddr, daddr) into an untagged IPv4 frame's L4 checksum
   * field, as a local sender's CHECKSUM_PARTIAL packet carries it; returns the sum.
   */
  function setPartialChecksum(frame: Uint8Array, protocol: number, saddr: number, daddr: number): number {
    const sum = refSum(pseudoHeader(4, [saddr], [daddr], protocol, frame.length - 34));
    const at = 34 + (protocol === TCP ? 16 : 6);
    frame[at] = sum >>> 8;
    frame[at + 1] = sum & 0xff;
    return sum;
  }

  function frameOf(s: FlowSpec, over: Parameters<typeof buildFrame>[0] extends infer T ? Partial<T> : never) {
    return buildFrame({
      family: 4,
      protocol: s.protocol,
      src: [s.saddr],
      dst: [s.daddr],
      sport: s.sport,
      dport: s.dport,
      tcpFlags: ACK_PSH,
      payload: [1, 2, 3, 4, 5, 6, 7],
      dstMac: OUR_MAC,
      srcMac: [2, 0xaa, 0xbb, 0xcc, 0xdd, 0x01],
      ...over,
    });
  }

  const natIn = spec({});
  const natOut = spec({
    direction: FLOW_DIR_OUT,
    saddr: RIP,
    sport: 8080,
    daddr: CLIENT,
    dport: 40000,
    newSaddr: VIP,
    newSport: 80,
    newDaddr: CLIENT,
    newDport: 40000,
    dstMac: CLIENT_MAC,
  });
  const dr = spec({ newDaddr: VIP, newDport: 80, rewrite: false, sport: 40001 });

  test("NAT inbound, NAT outbound and DR hits are rewritten as src/net rewrites them, and redirected", (t) => {
    if (!haveRoot(t)) return;
    for (const s of [natIn, natOut, dr]) {
      withFlow(s, () => {
        const frame = frameOf(s, {});
        const r = run(frame);
        assert.equal(r.verdict, XDP_REDIRECT);
        assert.equal(r.counter, "FORWARDED");
        assert.deepEqual(r.data, slowPathRewrite(frame, s));
        assert.ok(ipv4ChecksumsValid(r.data));
      });
    }
  });

  test("UDP: checksummed and checksum-less datagrams", (t) => {
    if (!haveRoot(t)) return;
    const s = spec({ protocol: UDP, dport: 53, newDport: 5353 });
    withFlow(s, () => {
      for (const udpNoChecksum of [false, true]) {
        const frame = frameOf(s, { udpNoChecksum });
        const r = run(frame);
        assert.equal(r.verdict, XDP_REDIRECT);
        assert.deepEqual(r.data, slowPathRewrite(frame, s));
        assert.ok(ipv4ChecksumsValid(r.data));
        if (udpNoChecksum) assert.equal((r.data[40]! << 8) | r.data[41]!, 0);
      }
    });
  });

  test("SYN, FIN and RST never take the fast path", (t) => {
    if (!haveRoot(t)) return;
    withFlow(natIn, () => {
      for (const flags of [0x02, 0x12, 0x11, 0x01, 0x04, 0x14]) {
        const frame = frameOf(natIn, { tcpFlags: flags });
        const r = run(frame);
        assert.equal(r.verdict, XDP_DROP, `flags ${flags}: steered to the slow path`);
        assert.equal(r.counter, "SLOW_CONTROL");
        assert.deepEqual(r.data, frame);
      }
    });
  });

  // SCTP: DR (and TUN) flows only; the chunks that leave ESTABLISHED alone are forwarded untouched
  // but for MACs and TTL, every other chunk goes to the state machine (decision 1120).
  const sctpDr = spec({ protocol: SCTP, dport: 3868, newDaddr: VIP, newDport: 3868, rewrite: false });
  const sctpFrame = (s: FlowSpec, chunks: number[][], over: Partial<Parameters<typeof buildFrame>[0]> = {}) =>
    frameOf(s, { payload: sctpPacket(s.sport, s.dport, 0x01020304, chunks), ...over });

  test("SCTP DR: DATA, SACK and HEARTBEAT(-ACK) are forwarded as DR forwards them, CRC32c untouched", (t) => {
    if (!haveRoot(t)) return;
    withFlow(sctpDr, () => {
      for (const type of [0, 3, 4, 5]) {
        const frame = sctpFrame(sctpDr, [sctpChunkBytes(type, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9])]);
        const r = run(frame);
        assert.equal(r.verdict, XDP_REDIRECT, `chunk ${type}`);
        assert.equal(r.counter, "FORWARDED");
        assert.deepEqual(r.data, slowPathRewrite(frame, sctpDr));
        assert.ok(ipv4ChecksumsValid(r.data), "IPv4 header checksum and the CRC32c (reference) hold");
        assert.ok(sctpChecksumValid(r.data, 34, r.data.length - 34));
      }
    });
  });

  test("SCTP: every other chunk, a packet without a chunk and a rewriting flow go to the slow path", (t) => {
    if (!haveRoot(t)) return;
    withFlow(sctpDr, () => {
      for (const type of [1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 200]) {
        const frame = sctpFrame(sctpDr, [sctpChunkBytes(type, 0, [0, 0, 0, 0])]);
        const r = run(frame);
        assert.equal(r.counter, "SLOW_CONTROL", `chunk ${type}`);
        assert.notEqual(r.verdict, XDP_REDIRECT);
        assert.deepEqual(r.data, frame);
      }
      const bare = sctpFrame(sctpDr, []);
      const r = run(bare);
      assert.notEqual(r.verdict, XDP_REDIRECT);
      assert.deepEqual(r.data, bare);
    });
    const sctpNat = spec({ protocol: SCTP, dport: 3868, newDport: 3869 });
    withFlow(sctpNat, () => {
      const frame = sctpFrame(sctpNat, [sctpChunkBytes(0, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9])]);
      const r = run(frame);
      assert.equal(r.counter, "SLOW_CONTROL", "a NAT flow would need a new CRC32c: never in XDP");
      assert.deepEqual(r.data, frame);
    });
  });

  test("a partial checksum (pseudo-header sum only) goes to the slow path untouched", (t) => {
    if (!haveRoot(t)) return;
    for (const s of [natIn, spec({ protocol: UDP, dport: 53, newDport: 5353 })]) {
      withFlow(s, () => {
        const frame = frameOf(s, {});
        setPartialChecksum(frame, s.protocol, s.saddr, s.daddr);
        const r = run(frame);
        assert.equal(r.verdict, XDP_DROP);
        assert.equal(r.counter, "SLOW_PARTIAL_CHECKSUM");
        assert.deepEqual(r.data, frame);
      });
    }
  });

  test("a TCP GSO aggregate longer than the MTU: at TC its segments' size counts, and its partial checksum follows the addresses", (t) => {
    if (!haveRoot(t)) return;
    for (const s of [natIn, natOut, dr]) {
      withFlow(s, () => {
        // 3 segments of 1000 bytes in one aggregate (a test run takes less than a page), with a
        // partial checksum (the pseudo-header sum).
        const frame = frameOf(s, { payload: new Array(3000).fill(0).map((_, i) => i & 0xff) });
        setPartialChecksum(frame, TCP, s.saddr, s.daddr);
        if (hook === "xdp") {
          assert.equal(run(frame).counter, "SLOW_TOO_LONG");
          return;
        }
        const r = rig.run(frame, 1000);
        assert.equal(r.verdict, XDP_REDIRECT);
        assert.equal(r.counter, "FORWARDED");
        // What the slow path's rewrite makes of the headers; the checksum field is the new
        // addresses' pseudo-header sum, for the segmentation to complete.
        const want = slowPathRewrite(frame, s);
        if (s.rewrite) setPartialChecksum(want, TCP, s.newSaddr, s.newDaddr);
        assert.deepEqual(r.data, want);
        // Segments larger than the egress MTU allows: the slow path.
        assert.equal(rig.run(frame, 1480).counter, "SLOW_TOO_LONG");
        // A GSO aggregate whose checksum is not partial is not what the kernel makes: not touched.
        const odd = frame.slice();
        odd[50] ^= 0xff;
        assert.equal(rig.run(odd, 1000).counter, "SLOW_TOO_LONG");
      });
    }
  });

  test("a miss is steered as before; host traffic still passes", (t) => {
    if (!haveRoot(t)) return;
    const frame = frameOf(natIn, {});
    const r = run(frame);
    assert.equal(r.verdict, XDP_DROP);
    assert.equal(r.counter, "MISS");
    assert.deepEqual(r.data, frame);
    const host = frameOf(spec({ daddr: v4(198, 18, 0, 2), dport: 22 }), {});
    assert.equal(run(host).verdict, XDP_PASS);
  });

  test("hits that must not be forwarded here: other MAC, TTL 1, over the MTU, VLAN", (t) => {
    if (!haveRoot(t)) return;
    withFlow(natIn, () => {
      const other = frameOf(natIn, { dstMac: [2, 0, 0, 0, 0, 9] });
      assert.deepEqual(run(other), { verdict: XDP_PASS, data: other, counter: "SLOW_OTHER_HOST" });
      const ttl1 = frameOf(natIn, { ttl: 1 });
      assert.deepEqual(run(ttl1), { verdict: XDP_DROP, data: ttl1, counter: "SLOW_TTL" });
      const big = frameOf(natIn, { payload: new Array(1600).fill(7) });
      assert.deepEqual(run(big), { verdict: XDP_DROP, data: big, counter: "SLOW_TOO_LONG" });
      const tagged = frameOf(natIn, { vlans: [5] });
      assert.equal(run(tagged).verdict, XDP_DROP);
      // Installed for another ingress interface: not served on this one.
      install(spec({ inIfindex: 99 }));
      const r = run(frameOf(natIn, {}));
      assert.equal(r.counter, "SLOW_OTHER_HOST");
    });
  });

  test("the flow value counts packets and IP bytes and stamps the time", (t) => {
    if (!haveRoot(t)) return;
    withFlow(natIn, () => {
      const frame = frameOf(natIn, {});
      run(frame);
      run(frame);
      encodeFlowKey(key, 0, TCP, CLIENT, VIP, 40000, 80);
      const out = new Uint8Array(FLOW_VALUE_SIZE);
      assert.ok(mapLookup(rig.fast!.fds.flows, key, out));
      const dv = new DataView(out.buffer);
      assert.equal(dv.getBigUint64(56, true), 2n);
      assert.equal(dv.getBigUint64(64, true), BigInt(2 * (frame.length - 14)));
      assert.ok(dv.getBigUint64(72, true) > 0n);
    });
  });

  test("property: any NAT/DR flow over random tuples, TTLs and payloads matches src/net byte for byte", (t) => {
    if (!haveRoot(t)) return;
    const u32 = fc.integer({ min: 1, max: 0xfffffffe });
    const port = fc.integer({ min: 1, max: 65535 });
    fc.assert(
      fc.property(
        fc.record({
          kind: fc.constantFrom("in", "out", "dr"),
          protocol: fc.constantFrom(TCP, UDP),
          a: u32,
          b: u32,
          c: u32,
          p1: port,
          p2: port,
          p3: port,
          ttl: fc.integer({ min: 2, max: 255 }),
          payload: fc.uint8Array({ maxLength: 300 }),
          udpNoChecksum: fc.boolean(),
          ipOptions: fc.constantFrom([], [1, 1, 1, 0]),
        }),
        (r) => {
          const s =
            r.kind === "in"
              ? spec({
                  protocol: r.protocol,
                  saddr: r.a,
                  daddr: r.b,
                  sport: r.p1,
                  dport: r.p2,
                  newSaddr: r.a,
                  newSport: r.p1,
                  newDaddr: r.c,
                  newDport: r.p3,
                })
              : r.kind === "out"
                ? spec({
                    direction: FLOW_DIR_OUT,
                    protocol: r.protocol,
                    saddr: r.a,
                    daddr: r.b,
                    sport: r.p1,
                    dport: r.p2,
                    newSaddr: r.c,
                    newSport: r.p3,
                    newDaddr: r.b,
                    newDport: r.p2,
                  })
                : spec({
                    protocol: r.protocol,
                    saddr: r.a,
                    daddr: r.b,
                    sport: r.p1,
                    dport: r.p2,
                    newSaddr: r.a,
                    newSport: r.p1,
                    newDaddr: r.b,
                    newDport: r.p2,
                    rewrite: false,
                  });
          const frame = frameOf(s, {
            ttl: r.ttl,
            payload: Array.from(r.payload),
            udpNoChecksum: r.udpNoChecksum,
            ipOptions: r.ipOptions,
          });
          withFlow(s, () => {
            const out = run(frame);
            const l4Len = frame.length - 34 - r.ipOptions.length;
            const pseudo = refSum(pseudoHeader(4, [s.saddr], [s.daddr], s.protocol, l4Len));
            const at = 34 + r.ipOptions.length + (s.protocol === TCP ? 16 : 6);
            const field = (frame[at]! << 8) | frame[at + 1]!;
            if (field === pseudo) {
              // Indistinguishable from a partial checksum: the slow path completes it (same value).
              assert.equal(out.counter, "SLOW_PARTIAL_CHECKSUM");
              return;
            }
            assert.equal(out.verdict, XDP_REDIRECT);
            assert.deepEqual(out.data, slowPathRewrite(frame, s));
            assert.ok(ipv4ChecksumsValid(out.data));
          });
        },
      ),
      { numRuns: 300 },
    );
  });
}

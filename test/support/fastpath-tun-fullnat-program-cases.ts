import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { IpAddr } from "../../src/core/address.js";
import { EngineCounters } from "../../src/dataplane/engine.js";
import {
  FLOW_DIR_IN,
  FLOW_DIR_OUT,
  FLOW_KEY_SIZE,
  FLOW_VALUE_SIZE,
  type FlowSpec,
} from "../../src/dataplane/fastpath/flow-layout.js";
import type { NextHop, NextHopCache } from "../../src/dataplane/next-hops.js";
import { PathMtuCache } from "../../src/dataplane/path-mtu.js";
import type { Umem } from "../../src/dataplane/xdp/umem.js";
import type { XmitEnv } from "../../src/dataplane/xmit-env.js";
import { FullnatXmit } from "../../src/dataplane/xmit-fullnat.js";
import { TunnelXmit } from "../../src/dataplane/xmit-tunnel.js";
import { ParsedFrame, parseFrame } from "../../src/net/parse.js";
import { PARSE_OK } from "../../src/net/reason.js";
import { gueSourcePort, TUN_GRE, TUN_GUE } from "../../src/net/tunnel-encap.js";
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
  LIP,
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
  XDP_DROP,
  XDP_REDIRECT,
} from "./fastpath-rig.js";
import { haveRoot } from "./privileged.js";

// FULLNAT (both directions) and TUN flows in the XDP fast path, run in the kernel by
// BPF_PROG_TEST_RUN (the frame arrives on loopback, ifindex 1), compared byte for byte with what the
// slow path's own transmitters (FullnatXmit, TunnelXmit) send for the same frame and next hop.

const MTU = 1500;

/** The tests, for the program generated for `hook` (test/fastpath-tun-fullnat-program.test.ts runs them for both). */
export function tunFullnatProgramTests(hook: ProgramHook): void {
  const rig = new FastPathRig(hook);
  before(() => rig.open(false));
  after(() => rig.close());
  const install = (s: FlowSpec) => rig.install(s);
  const remove = (s: FlowSpec) => rig.remove(s);
  const run = (frame: Uint8Array) => rig.run(frame);

  const _key = new Uint8Array(FLOW_KEY_SIZE);
  const _value = new Uint8Array(FLOW_VALUE_SIZE);

  // ---- the slow path's transmitters, over one frame slot, with the flow's next hop ----

  const SLOT = 2048;
  const HEADROOM = 256;

  interface Sent {
    bytes: Uint8Array | null;
  }

  function slowEnv(hop: NextHop, sent: Sent, ids: { next: number }): XmitEnv {
    const slot = new Uint8Array(SLOT);
    return {
      umem: { frameSize: SLOT, bytes: slot } as unknown as Umem,
      nextHops: { get: () => hop, get6: () => hop } as unknown as NextHopCache,
      transmit(ifindex, addr, len) {
        assert.equal(ifindex, hop.ifindex);
        sent.bytes = slot.slice(addr, addr + len);
        return true;
      },
      nextIpId: () => ids.next++ & 0xffff,
      hold: () => false,
    };
  }

  function hopOf(s: FlowSpec): NextHop {
    // A tunnel's outer source is the route's source toward the real server.
    return {
      ifindex: s.outIfindex,
      dstMac: s.dstMac,
      srcMac: s.srcMac,
      srcV4: s.tunnel ? s.newSaddr : LIP,
      mtu: MTU,
    };
  }

  /** What the slow path sends for `frame` on flow `s` (FULLNAT or TUN, no TOA). */
  function slowPath(frame: Uint8Array, s: FlowSpec): Uint8Array {
    const hop = hopOf(s);
    const sent: Sent = { bytes: null };
    const env = slowEnv(hop, sent, { next: 0x7777 });
    const slot = env.umem.bytes;
    slot.set(frame, HEADROOM);
    const f = new ParsedFrame();
    assert.equal(parseFrame(slot, HEADROOM, frame.length, f), PARSE_OK);
    const counters = new EngineCounters();
    let ok: boolean;
    if (s.tunnel) {
      // A GUE or GRE flow: the dest's settings as the director would hold them (no checksums).
      const kind = s.encap === TUN_GUE ? "gue" : s.encap === TUN_GRE ? "gre" : "ipip";
      const tun = { tunType: kind, tunPort: s.encap === TUN_GUE ? s.newDport : 0, tunCsum: "nocsum" };
      ok = new TunnelXmit(env, counters, new PathMtuCache(() => 0)).send(slot, f, IpAddr.v4(s.newDaddr), tun);
    } else {
      ok = sendFullnat(new FullnatXmit(env, counters, 16), slot, f, s, false, false);
    }
    assert.ok(ok, "the slow path sends it");
    return sent.bytes!;
  }

  /** The FULLNAT slow path's send of frame `f` with the flow's rewrite (conn 3). */
  function sendFullnat(
    x: FullnatXmit,
    bytes: Uint8Array,
    f: ParsedFrame,
    s: FlowSpec,
    isNew: boolean,
    toa: boolean,
  ): boolean {
    const [saddr, daddr] = [Uint32Array.of(s.newSaddr), Uint32Array.of(s.newDaddr)];
    return x.send(bytes, f, s.direction === FLOW_DIR_IN, 3, isNew, toa, saddr, s.newSport, daddr, s.newDport);
  }

  /** Independent check of the IPv4 header (and L4) checksums at `l3` of a frame. */
  function flow(over: Partial<FlowSpec>): FlowSpec {
    return {
      conn: 3,
      direction: FLOW_DIR_IN,
      protocol: TCP,
      saddr: CLIENT,
      daddr: VIP,
      sport: 40000,
      dport: 80,
      newSaddr: LIP,
      newDaddr: RIP,
      newSport: 5001,
      newDport: 8080,
      rewrite: true,
      tunnel: false,
      inIfindex: LOOPBACK,
      outIfindex: OUT_IFINDEX,
      inMac: OUR_MAC_N,
      dstMac: RS_MAC,
      srcMac: OUT_MAC,
      maxLen: MTU,
      ...over,
    };
  }

  const fnIn = flow({});
  const fnOut = flow({
    direction: FLOW_DIR_OUT,
    saddr: RIP,
    sport: 8080,
    daddr: LIP,
    dport: 5001,
    newSaddr: VIP,
    newSport: 80,
    newDaddr: CLIENT,
    newDport: 40000,
    dstMac: CLIENT_MAC,
  });
  const tun = flow({
    newSaddr: LIP,
    newDaddr: RIP,
    newSport: 40000,
    newDport: 80,
    tunnel: true,
    maxLen: MTU - 20,
  });

  type FrameOver = Parameters<typeof buildFrame>[0] extends infer T ? Partial<T> : never;

  function frameOf(s: FlowSpec, over: FrameOver, padding = 0): Uint8Array {
    const f = buildFrame({
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
    if (padding === 0) return f;
    const padded = new Uint8Array(f.length + padding);
    padded.set(f);
    return padded;
  }

  test("FULLNAT inbound and outbound, TCP and UDP: the slow path's bytes, redirected", (t) => {
    if (!haveRoot(t)) return;
    for (const base of [fnIn, fnOut]) {
      for (const protocol of [TCP, UDP]) {
        const s = { ...base, protocol };
        install(s);
        try {
          for (const udpNoChecksum of protocol === UDP ? [false, true] : [false]) {
            const frame = frameOf(s, { udpNoChecksum });
            const r = run(frame);
            assert.equal(r.verdict, XDP_REDIRECT);
            assert.equal(r.counter, "FORWARDED");
            assert.deepEqual(r.data, slowPath(frame, s));
            assert.ok(ipv4ChecksumsValid(r.data, 14));
          }
        } finally {
          remove(s);
        }
      }
    }
  });

  test("TUN: IPIP with outer id 0 and DF, the inner TTL decremented, padding dropped: the slow path's bytes", (t) => {
    if (!haveRoot(t)) return;
    // SCTP too (decision 1120): a DATA chunk of an established association, CRC32c untouched.
    for (const protocol of [TCP, UDP, SCTP]) {
      const s = { ...tun, protocol };
      const payload =
        protocol === SCTP
          ? sctpPacket(s.sport, s.dport, 7, [sctpChunkBytes(0, 3, [9, 8, 7, 6, 5])])
          : undefined;
      install(s);
      try {
        for (const padding of [0, 6]) {
          const frame = frameOf(s, { ttl: 9, tos: 0x2b, ...(payload ? { payload } : {}) }, padding);
          const r = run(frame);
          assert.equal(r.verdict, XDP_REDIRECT);
          assert.equal(r.counter, "FORWARDED");
          const want = slowPath(frame, s);
          assert.deepEqual(r.data, want);
          assert.equal(r.data.length, frame.length - padding + 20);
          // Outer: 45, TOS 0x2b with CE (3) made ECT(0) (2), length, id 0, DF, TTL = the inner TTL
          // after the decrement, protocol 4.
          const outerLen = frame.length - padding - 14 + 20;
          assert.deepEqual(
            [...r.data.subarray(14, 24)],
            [0x45, 0x2a, outerLen >>> 8, outerLen & 0xff, 0, 0, 0x40, 0, 8, 4],
          );
          assert.equal(r.data[34 + 8], 8);
          assert.ok(ipv4ChecksumsValid(r.data, 14));
        }
      } finally {
        remove(s);
      }
    }
  });

  test("TUN to GUE and GRE real servers (nocsum): UDP + GUE or GRE after the outer header, the slow path's bytes", (t) => {
    if (!haveRoot(t)) return;
    const GUE_PORT = 6080;
    for (const encap of [TUN_GUE, TUN_GRE]) {
      for (const protocol of [TCP, UDP]) {
        const extra = encap === TUN_GUE ? 12 : 4;
        const base = { ...tun, protocol, encap, maxLen: MTU - 20 - extra };
        const s =
          encap === TUN_GUE
            ? {
                ...base,
                newSport: gueSourcePort([base.saddr], [base.daddr], 1, base.sport, base.dport, protocol),
                newDport: GUE_PORT,
              }
            : base;
        install(s);
        try {
          for (const padding of [0, 6]) {
            const frame = frameOf(s, { ttl: 9, tos: 0x2b }, padding);
            const r = run(frame);
            assert.equal(r.verdict, XDP_REDIRECT);
            assert.equal(r.counter, "FORWARDED");
            assert.deepEqual(r.data, slowPath(frame, s));
            const innerLen = frame.length - padding - 14;
            const outerLen = innerLen + 20 + extra;
            assert.equal(r.data.length, 14 + outerLen);
            // Outer: protocol 17 (GUE) or 47 (GRE), the rest as IPIP's.
            assert.deepEqual(
              [...r.data.subarray(14, 24)],
              [0x45, 0x2a, outerLen >>> 8, outerLen & 0xff, 0, 0, 0x40, 0, 8, encap === TUN_GUE ? 17 : 47],
            );
            const h = [...r.data.subarray(34, 34 + extra)];
            if (encap === TUN_GUE) {
              const udpLen = innerLen + 12;
              // UDP: the flow's source port, the tun-port, length, checksum 0; GUE: 0, proto 4, flags 0.
              assert.deepEqual(h, [
                s.newSport >>> 8,
                s.newSport & 0xff,
                GUE_PORT >>> 8,
                GUE_PORT & 0xff,
                udpLen >>> 8,
                udpLen & 0xff,
                0,
                0,
                0,
                4,
                0,
                0,
              ]);
            } else {
              assert.deepEqual(h, [0, 0, 0x08, 0x00]);
            }
            assert.equal(r.data[14 + 20 + extra + 8], 8, "inner TTL decremented");
            assert.equal(refSum(r.data.subarray(14, 34)), 0xffff, "outer header checksum");
            assert.ok(ipv4ChecksumsValid(r.data, 14 + 20 + extra), "inner checksums still valid");
          }
        } finally {
          remove(s);
        }
      }
    }
  });

  test("TUN: no DF, or too big once encapsulated: the slow path, untouched", (t) => {
    if (!haveRoot(t)) return;
    install(tun);
    try {
      const noDf = frameOf(tun, { frag: 0 });
      assert.deepEqual(run(noDf), { verdict: XDP_DROP, data: noDf, counter: "SLOW_TUNNEL_NO_DF" });
      // 1481 bytes of IP: fits the 1500 MTU, not once 20 more are in front.
      const big = frameOf(tun, { payload: new Array(1481 - 40).fill(3) });
      assert.deepEqual(run(big), { verdict: XDP_DROP, data: big, counter: "SLOW_TOO_LONG" });
      const fits = frameOf(tun, { payload: new Array(1480 - 40).fill(3) });
      assert.equal(run(fits).counter, "FORWARDED");
      const syn = frameOf(tun, { tcpFlags: 0x02 });
      assert.deepEqual(run(syn), { verdict: XDP_DROP, data: syn, counter: "SLOW_CONTROL" });
      const ttl1 = frameOf(tun, { ttl: 1 });
      assert.deepEqual(run(ttl1), { verdict: XDP_DROP, data: ttl1, counter: "SLOW_TTL" });
    } finally {
      remove(tun);
    }
  });

  test("property: FULLNAT both ways and TUN over random tuples, TTLs, TOS, payloads match the slow path", (t) => {
    if (!haveRoot(t)) return;
    const u32 = fc.integer({ min: 1, max: 0xfffffffe });
    const port = fc.integer({ min: 1, max: 65535 });
    fc.assert(
      fc.property(
        fc.record({
          kind: fc.constantFrom("in", "out", "tun"),
          protocol: fc.constantFrom(TCP, UDP),
          addrs: fc.tuple(u32, u32, u32, u32),
          ports: fc.tuple(port, port, port, port),
          ttl: fc.integer({ min: 2, max: 255 }),
          tos: fc.integer({ min: 0, max: 255 }),
          payload: fc.uint8Array({ maxLength: 300 }),
          udpNoChecksum: fc.boolean(),
          ipOptions: fc.constantFrom([], [1, 1, 1, 0]),
          padding: fc.constantFrom(0, 0, 1, 13),
        }),
        (r) => {
          const [a, b, c, d] = r.addrs;
          const [p, q, x, y] = r.ports;
          const s =
            r.kind === "tun"
              ? flow({
                  protocol: r.protocol,
                  saddr: a,
                  daddr: b,
                  sport: p,
                  dport: q,
                  newSaddr: c,
                  newDaddr: d,
                  tunnel: true,
                  maxLen: MTU - 20,
                })
              : flow({
                  direction: r.kind === "in" ? FLOW_DIR_IN : FLOW_DIR_OUT,
                  protocol: r.protocol,
                  saddr: a,
                  daddr: b,
                  sport: p,
                  dport: q,
                  newSaddr: c,
                  newDaddr: d,
                  newSport: x,
                  newDport: y,
                });
          const frame = frameOf(
            s,
            {
              ttl: r.ttl,
              tos: r.tos,
              payload: Array.from(r.payload),
              udpNoChecksum: r.udpNoChecksum,
              ipOptions: r.ipOptions,
            },
            r.padding,
          );
          install(s);
          try {
            const out = run(frame);
            const l4Len = frame.length - r.padding - 34 - r.ipOptions.length;
            const pseudo = refSum(pseudoHeader(4, [s.saddr], [s.daddr], s.protocol, l4Len));
            const at = 34 + r.ipOptions.length + (s.protocol === TCP ? 16 : 6);
            if (((frame[at]! << 8) | frame[at + 1]!) === pseudo) {
              // Indistinguishable from a partial checksum: the slow path completes it.
              assert.equal(out.counter, "SLOW_PARTIAL_CHECKSUM");
              return;
            }
            assert.equal(out.verdict, XDP_REDIRECT);
            assert.equal(out.counter, "FORWARDED");
            const want = slowPath(frame, s);
            // FULLNAT rewrites in place: link padding stays on both paths; TUN drops it on both.
            assert.deepEqual(out.data, want);
            assert.ok(ipv4ChecksumsValid(out.data, 14));
          } finally {
            remove(s);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  test("FULLNAT with TOA: the inbound direction is offered to the fast path only once the option is in", () => {
    // A small path MTU, so that an acknowledgement with data has no room for the 8-byte option.
    const hop = { ...hopOf(fnIn), mtu: 100 };
    const sent: Sent = { bytes: null };
    const env = slowEnv(hop, sent, { next: 1 });
    const counters = new EngineCounters();
    const x = new FullnatXmit(env, counters, 16);
    const f = new ParsedFrame();
    const send = (s: FlowSpec, over: FrameOver, isNew: boolean, toa = true) => {
      const frame = frameOf(s, over);
      env.umem.bytes.set(frame, HEADROOM);
      assert.equal(parseFrame(env.umem.bytes, HEADROOM, frame.length, f), PARSE_OK);
      assert.ok(sendFullnat(x, env.umem.bytes, f, s, isNew, toa));
      return x.lastHop;
    };
    const mss = [2, 4, 0x05, 0xb4];
    assert.equal(send(fnIn, { tcpFlags: 0x02, tcpOptions: mss }, true), hop, "SYN");
    assert.equal(send(fnOut, { tcpFlags: 0x12, tcpOptions: mss }, false), hop, "SYN-ACK (outbound)");
    assert.equal(
      send(fnIn, { tcpFlags: 0x10, payload: new Array(60).fill(1) }, false),
      null,
      "no room: pending",
    );
    assert.equal(counters.toaNoRoom, 1);
    assert.equal(send(fnOut, { tcpFlags: 0x10 }, false), hop, "the outbound direction is not held back");
    assert.equal(send(fnIn, { tcpFlags: 0x10 }, false), hop, "the option went in");
    assert.equal(counters.toaInserted, 1);
    assert.equal(send(fnIn, { tcpFlags: 0x18 }, false), hop);
    // The conn index reused by a service without TOA: nothing pending from its predecessor.
    assert.equal(send(fnIn, { tcpFlags: 0x02 }, true, true), hop);
    assert.equal(send(fnOut, { tcpFlags: 0x12, tcpOptions: mss }, false, true), hop);
    assert.equal(send(fnIn, { tcpFlags: 0x02 }, true, false), hop);
    assert.equal(send(fnIn, { tcpFlags: 0x10, payload: new Array(60).fill(1) }, false, false), hop);
  });
}

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ip6TunnelEncapsulate } from "../src/net/ip6-tunnel.js";
import { ipipEncapsulate } from "../src/net/ipip.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import {
  encapChecksum,
  encapKind,
  GUE_SPORT_MAX,
  GUE_SPORT_MIN,
  gueSourcePort,
  TUN_GRE,
  TUN_GUE,
  type TunnelEncap,
} from "../src/net/tunnel-encap.js";
import {
  addrBytes,
  buildFrame,
  frameSpec,
  inGuardedBuffer,
  pseudoHeader,
  refChecksum,
  V4,
} from "./net-frames.js";

// The bytes LVS-TUN sends to a GUE or GRE real server, against the layout the kernel builds
// (net/netfilter/ipvs/ip_vs_xmit.c: ipvs_gue_encap writes struct guehdr {hlen:5, control:1,
// version:2; proto_ctype; flags} after a UDP header {source = udp_flow_src_port, dest = tun_port,
// len = skb->len, check by udp_set_csum(!csum)}; ipvs_gre_encap calls gre_build_header with
// TUNNEL_CSUM for --tun-csum: flags 0x8000, protocol ETH_P_IP / ETH_P_IPV6, then the checksum of
// everything from the GRE header on and 2 reserved bytes). Expected bytes are written out here and
// checksums recomputed with the test's own reference sum.

const DIR = V4(198, 18, 2, 1);
const RS = V4(198, 18, 2, 5);
const DIR6 = [0x20010002, 0, 0, 0x1];
const RS6 = [0x20010002, 0, 0, 0x5];
const be16 = (v: number) => [v >>> 8, v & 0xff];

interface Wrapped {
  /** The outer IP header's bytes and where the encapsulation header starts. */
  outer: Uint8Array;
  at: number;
  inner: Uint8Array;
  frame: Uint8Array;
}

function wrap(
  frame: Uint8Array,
  e: TunnelEncap,
  outer6: boolean,
  sport: number,
): { buf: Uint8Array; off: number; len: number; l2: number } {
  const off = 128;
  const buf = inGuardedBuffer(frame, off, 8);
  const f = new ParsedFrame();
  parseFrame(buf, off, frame.length, f);
  const newOff = outer6
    ? ip6TunnelEncapsulate(buf, f, 0, DIR6, 0, RS6, 0, e, sport)
    : ipipEncapsulate(buf, f, 0, DIR[0]!, RS[0]!, 0, true, e, sport);
  assert.ok(newOff > 0);
  const l2 = f.l3Off - f.frameOff;
  const extra = off - newOff;
  return { buf, off: newOff, len: l2 + extra + f.ipLen, l2 };
}

function parts(frame: Uint8Array, e: TunnelEncap, outer6: boolean, sport: number): Wrapped {
  const { buf, off, len, l2 } = wrap(frame, e, outer6, sport);
  const out = buf.slice(off, off + len);
  const ipLen = outer6 ? 40 : 20;
  return {
    frame: out,
    outer: out.subarray(l2, l2 + ipLen),
    at: l2 + ipLen,
    inner: out.subarray(len - (frame.length - l2)),
  };
}

const innerFrame = () =>
  buildFrame({
    family: 4,
    protocol: 6,
    src: V4(198, 18, 9, 9),
    dst: V4(198, 18, 1, 10),
    sport: 41000,
    dport: 80,
    ttl: 20,
    payload: [1, 2, 3, 4, 5],
  });

test("GUE nocsum over IPv4: UDP from the flow port to tun-port, checksum 0, GUE version 0 proto 4", () => {
  const frame = innerFrame();
  const w = parts(frame, { kind: TUN_GUE, port: 6080, csum: false }, false, 40001);
  const innerLen = frame.length - 14;
  // Outer IPv4: protocol 17, length = 20 + 8 + 4 + inner.
  assert.equal(w.outer[9], 17);
  assert.deepEqual([w.outer[2], w.outer[3]], be16(20 + 12 + innerLen));
  assert.equal(refChecksum(w.outer), 0, "outer header checksum");
  assert.deepEqual(
    [...w.frame.subarray(w.at, w.at + 12)],
    [...be16(40001), ...be16(6080), ...be16(12 + innerLen), 0, 0, 0x00, 4, 0, 0],
  );
  // The inner packet unchanged but for the TTL (decremented by the caller, not here).
  assert.deepEqual(w.inner, frame.subarray(14));
});

test("GUE csum and remcsum over IPv4: the full UDP checksum (remcsum: no option for a complete inner checksum)", () => {
  const frame = innerFrame();
  for (const csum of ["csum", "remcsum"]) {
    const e = { kind: encapKind("gue"), port: 5555, csum: encapChecksum("gue", csum) };
    const w = parts(frame, e, false, 33333);
    const udp = w.frame.subarray(w.at);
    assert.deepEqual([...udp.subarray(8, 12)], [0, 4, 0, 0], "hlen 0: no private option");
    assert.notDeepEqual([udp[6], udp[7]], [0, 0]);
    assert.equal(
      refChecksum([...pseudoHeader(4, DIR, RS, 17, udp.length), ...udp]),
      0,
      `${csum}: UDP checksum`,
    );
  }
});

test("GRE over IPv4: flags 0 or C with the checksum over GRE and inner, protocol 0x0800 / 0x86DD", () => {
  for (const family of [4, 6] as const) {
    const frame = buildFrame(
      family === 4
        ? {
            family,
            protocol: 17,
            src: V4(198, 18, 9, 9),
            dst: V4(198, 18, 1, 10),
            sport: 1,
            dport: 53,
            payload: [9, 9, 9],
          }
        : {
            family,
            protocol: 17,
            src: [0x20010002, 0, 9, 9],
            dst: [0x20010002, 0, 1, 10],
            sport: 1,
            dport: 53,
            payload: [9],
          },
    );
    const ptype = family === 4 ? [0x08, 0x00] : [0x86, 0xdd];
    const plain = parts(frame, { kind: TUN_GRE, port: 0, csum: false }, false, 0);
    assert.equal(plain.outer[9], 47);
    assert.deepEqual([...plain.frame.subarray(plain.at, plain.at + 4)], [0, 0, ...ptype]);
    assert.deepEqual(plain.inner, frame.subarray(14));
    const c = parts(frame, { kind: TUN_GRE, port: 0, csum: true }, false, 0);
    const gre = c.frame.subarray(c.at);
    assert.deepEqual([...gre.subarray(0, 4)], [0x80, 0, ...ptype]);
    assert.deepEqual([gre[6], gre[7]], [0, 0], "reserved1");
    assert.equal(refChecksum(gre), 0, "GRE checksum over header and payload");
    assert.deepEqual([c.outer[2], c.outer[3]], be16(20 + 8 + frame.length - 14));
  }
});

test("GUE and GRE over IPv6: next header 17 / 47, payload length counts them, UDP checksum over the IPv6 pseudo-header", () => {
  const frame = innerFrame();
  const innerLen = frame.length - 14;
  const g = parts(frame, { kind: TUN_GUE, port: 6080, csum: true }, true, 50000);
  assert.equal(g.outer[6], 17);
  assert.deepEqual([g.outer[4], g.outer[5]], be16(12 + innerLen));
  const udp = g.frame.subarray(g.at);
  assert.equal(refChecksum([...pseudoHeader(6, DIR6, RS6, 17, udp.length), ...udp]), 0);
  assert.deepEqual([...g.outer.subarray(8, 24)], addrBytes(6, DIR6));
  const r = parts(frame, { kind: TUN_GRE, port: 0, csum: false }, true, 0);
  assert.equal(r.outer[6], 47);
  assert.deepEqual([r.outer[4], r.outer[5]], be16(4 + innerLen));
});

test("GUE/GRE: any inner packet survives inside, checksums valid, the outer length exact", () => {
  fc.assert(
    fc.property(
      frameSpec,
      fc.constantFrom(TUN_GUE, TUN_GRE),
      fc.boolean(),
      fc.boolean(),
      (spec, kind, csum, outer6) => {
        const frame = buildFrame(spec);
        const { buf, off, len, l2 } = wrap(frame, { kind, port: 6080, csum }, outer6, 40000);
        const out = buf.subarray(off, off + len);
        const ipLen = outer6 ? 40 : 20;
        const extra = kind === TUN_GUE ? 12 : csum ? 8 : 4;
        const innerLen = len - l2 - ipLen - extra;
        assert.deepEqual(out.subarray(l2 + ipLen + extra), frame.subarray(l2, l2 + innerLen));
        const seg = out.subarray(l2 + ipLen);
        if (kind === TUN_GUE && csum) {
          const pseudo = outer6
            ? pseudoHeader(6, DIR6, RS6, 17, seg.length)
            : pseudoHeader(4, DIR, RS, 17, seg.length);
          assert.equal(refChecksum([...pseudo, ...seg]), 0);
        }
        if (kind === TUN_GRE && csum) assert.equal(refChecksum(seg), 0);
      },
    ),
    { numRuns: 200 },
  );
});

test("the GUE source port: one per flow, within the local port range, spread over it", () => {
  const seen = new Set<number>();
  for (let p = 0; p < 2000; p++) {
    const port = gueSourcePort([0xc6120909], [0xc612010a], 1, 30000 + p, 80, 6);
    assert.ok(port >= GUE_SPORT_MIN && port < GUE_SPORT_MAX, `${port}`);
    assert.equal(port, gueSourcePort([0xc6120909], [0xc612010a], 1, 30000 + p, 80, 6));
    seen.add(port);
  }
  assert.ok(seen.size > 1900, `${seen.size} distinct ports for 2000 flows`);
});

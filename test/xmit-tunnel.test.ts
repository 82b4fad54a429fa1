/**
 * LVS-TUN's transmitter (src/dataplane/xmit-tunnel.ts) through the frame path, with a real Director,
 * a real UMEM and fixed next hops: every pairing of inner and outer family (IPv4 in IPv4, IPv6 in
 * IPv6, IPv4 in IPv6, IPv6 in IPv4) leaves as the kernel's ip_vs_tunnel_xmit(_v6) builds it, packets
 * too big once encapsulated are answered with ICMP fragmentation needed or ICMPv6 Packet Too Big from
 * the VIP, and a random packet always decapsulates back to itself with its TTL one lower.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IpAddr } from "../src/core/address.js";
import { EngineCounters } from "../src/dataplane/engine.js";
import type { NextHop, NextHopCache } from "../src/dataplane/next-hops.js";
import { PathMtuCache } from "../src/dataplane/path-mtu.js";
import { SlowPath, TxDecision } from "../src/dataplane/slow-path.js";
import { Umem } from "../src/dataplane/xdp/umem.js";
import type { XmitEnv } from "../src/dataplane/xmit-env.js";
import { TunnelXmit } from "../src/dataplane/xmit-tunnel.js";
import { transportChecksumValid } from "../src/net/checksum.js";
import { readMac } from "../src/net/ethernet.js";
import { ip6TunnelDecapsulate } from "../src/net/ip6-tunnel.js";
import { ipipDecapsulate } from "../src/net/ipip.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { destSpec, svcSpec, tcpKey } from "./director-fixtures.js";
import { buildFrame, type FrameSpec, frameSpec, refChecksum } from "./net-frames.js";
import {
  CLIENT,
  CLIENT6,
  IF_IN,
  IF_OUT,
  MAC_CLIENT,
  MAC_DIRECTOR_OUT,
  makeRig,
} from "./support/slow-path-rig.js";

const w = (s: string) => Array.from(IpAddr.mustParse(s).words);
const HEADROOM = 256;
const MAC_TUN_RS = 0x02000000bb77;
const MAC_DIRECTOR_TUN = 0x02000000aa77;

const DIR4 = "198.18.9.1";
const DIR6 = "2001:2:0:9::1";
const RS4 = "198.19.9.20";
const RS6 = "2001:2:0:19::20";
/** TUN services: inner family x outer family. */
const VIP_44 = "198.18.9.10";
const VIP_46 = "198.18.9.11";
const VIP6_66 = "2001:2:0:8::10";
const VIP6_64 = "2001:2:0:8::11";

interface Sent {
  ifindex: number;
  addr: number;
  len: number;
}

function makeTunnelRig(rsMtu = 1500, withSrc6 = true) {
  const rig = makeRig();
  const { director, hops, hops6 } = rig;
  const v4 = new Set([VIP_44, VIP_46].map((a) => IpAddr.mustParse(a).v4Value));
  const v6 = [VIP6_66, VIP6_64].map((a) => IpAddr.mustParse(a));
  const path = new SlowPath(
    director,
    { get: (a) => hops.get(a) ?? null, get6: (x, at) => hops6.get(x, at) ?? null, key6: () => -1 },
    {
      isVirtualAddress: (a) => v4.has(a),
      isVirtualAddress6: (x) => v6.some((a) => a.words.every((y, k) => y === x[k])),
    },
  );
  const pairs: [string, string][] = [
    [VIP_44, RS4],
    [VIP_46, RS6],
    [VIP6_66, RS6],
    [VIP6_64, RS4],
  ];
  for (const [vip, rs] of pairs) {
    director.addService(svcSpec(tcpKey(vip, 80)));
    director.addDest(tcpKey(vip, 80), destSpec(rs, 80, "tunnel"));
  }
  const tunHop = (): NextHop => ({
    ifindex: IF_IN,
    dstMac: MAC_TUN_RS,
    srcMac: MAC_DIRECTOR_TUN,
    srcV4: 0,
    mtu: rsMtu,
  });
  hops.set(IpAddr.mustParse(RS4).v4Value, { ...tunHop(), srcV4: IpAddr.mustParse(DIR4).v4Value });
  const hop6 = tunHop();
  if (withSrc6) hop6.src6 = Uint32Array.from(w(DIR6));
  hops6.set(IpAddr.mustParse(RS6), hop6);
  const umem = new Umem({ frames: 16, frameSize: 2048 });
  const sent: Sent[] = [];
  let id = 100;
  const env: XmitEnv = {
    umem,
    nextHops: {
      get: (a: number) => hops.get(a) ?? null,
      get6: (words: ArrayLike<number>, at = 0) => hops6.get(words, at) ?? null,
    } as unknown as NextHopCache,
    transmit: (ifindex, addr, len) => {
      sent.push({ ifindex, addr, len });
      return true;
    },
    nextIpId: () => id++,
    hold: () => false,
  };
  const counters = new EngineCounters();
  const tx = new TunnelXmit(env, counters, new PathMtuCache(() => 1));
  // The engine's dispatch (engine.ts): the real server's address decides the outer family.
  path.methods = {
    tunnel: (bytes, f, v) => v.dest !== null && tx.send(bytes, f, v.dest.addr),
    tunnelError: () => false,
    fullnat: () => false,
    sentHop: () => null,
  };
  return { ...rig, umem, sent, counters, path, tx, env };
}

/**
 * Hands `frame` to the frame path as received on the client side (in a fresh UMEM frame) at time
 * `now`; returns whether the path gave the frame back for transmission.
 */
function feed(
  rig: { path: SlowPath; umem: Umem },
  frame: Uint8Array,
  d: TxDecision,
  now = 1,
  ingress = { ifindex: IF_OUT, mac: 1 },
): boolean {
  return rig.path.process(
    rig.umem.bytes,
    receive(rig.umem, frame),
    frame.length,
    2048 - HEADROOM,
    ingress,
    now,
    d,
  );
}

/** Puts `frame` in a fresh UMEM frame after AF_XDP's 256 bytes of headroom; returns its address. */
function receive(umem: Umem, frame: Uint8Array): number {
  const slot = umem.alloc();
  umem.bytes.set(frame, slot + HEADROOM);
  return slot + HEADROOM;
}

function clientSyn(vip: string, payloadLen = 0, dontFragment = true): Uint8Array {
  const v6 = vip.includes(":");
  return buildFrame({
    family: v6 ? 6 : 4,
    protocol: 6,
    src: w(v6 ? CLIENT6 : CLIENT),
    dst: w(vip),
    sport: 40000,
    dport: 80,
    tcpFlags: 0x02,
    ttl: 64,
    tos: 0x03,
    frag: dontFragment ? 0x4000 : 0,
    payload: new Array(payloadLen).fill(7),
  });
}

for (const [vip, rs, name] of [
  [VIP_44, RS4, "IPv4 in IPv4"],
  [VIP_46, RS6, "IPv4 in IPv6"],
  [VIP6_66, RS6, "IPv6 in IPv6"],
  [VIP6_64, RS4, "IPv6 in IPv4"],
] as const) {
  test(`TUN ${name}: the outer header as the kernel writes it, the inner packet unchanged but its TTL`, () => {
    const rig = makeTunnelRig();
    const { path, umem, sent, counters } = rig;
    const d = new TxDecision();
    assert.equal(feed(rig, clientSyn(vip, 32), d, 1, { ifindex: IF_OUT, mac: MAC_DIRECTOR_OUT }), false);
    assert.equal(
      d.held,
      true,
      `the transmitter queued the frame itself: ${JSON.stringify(path.counters)} ${JSON.stringify(counters)}`,
    );
    assert.equal(sent.length, 1);
    assert.equal(counters.tunnelled, 1);
    const out = sent[0]!;
    assert.equal(out.ifindex, IF_IN);
    const o = new ParsedFrame();
    assert.equal(parseFrame(umem.bytes, out.addr, out.len, o), PARSE_OK);
    assert.equal(readMac(umem.bytes, out.addr), MAC_TUN_RS);
    assert.equal(readMac(umem.bytes, out.addr + 6), MAC_DIRECTOR_TUN);
    const outer6 = rs.includes(":");
    const inner6 = vip.includes(":");
    assert.equal(o.family, outer6 ? 6 : 4);
    assert.equal(o.protocol, inner6 ? 41 : 4);
    assert.deepEqual([...o.saddr], outer6 ? w(DIR6) : [IpAddr.mustParse(DIR4).v4Value, 0, 0, 0]);
    assert.deepEqual([...o.daddr], outer6 ? w(RS6) : [IpAddr.mustParse(RS4).v4Value, 0, 0, 0]);
    assert.equal(o.ttl, 63, "outer TTL / hop limit = the inner one after the decrement");
    assert.equal(o.tos, 0x02, "CE in the inner header becomes ECT(0) outside");
    if (outer6) {
      const l3 = o.l3Off;
      const flowLabel = ((umem.bytes[l3 + 1]! & 15) << 16) | (umem.bytes[l3 + 2]! << 8) | umem.bytes[l3 + 3]!;
      assert.equal(flowLabel, 0);
    } else {
      assert.equal(refChecksum(umem.bytes.subarray(o.l3Off, o.l3Off + 20)), 0, "outer IPv4 checksum");
      assert.equal(o.dontFragment, !inner6, "DF copied from an IPv4 inner packet, 0 for IPv6 inside");
    }
    const back = outer6 ? ip6TunnelDecapsulate(umem.bytes, o) : ipipDecapsulate(umem.bytes, o);
    assert.ok(back >= 0);
    const i = new ParsedFrame();
    assert.equal(parseFrame(umem.bytes, back, o.l3Off + o.ipLen - back, i), PARSE_OK);
    assert.equal(i.ttl, 63);
    assert.equal(i.tos, 0x03, "the inner packet keeps its ECN bits");
    assert.deepEqual([...i.daddr], inner6 ? w(vip) : [IpAddr.mustParse(vip).v4Value, 0, 0, 0]);
    assert.ok(transportChecksumValid(umem.bytes, i.l3Off, inner6, 6, i.l4Off, i.l4Len));
    if (!inner6) assert.equal(refChecksum(umem.bytes.subarray(i.l3Off, i.l3Off + 20)), 0, "inner checksum");
  });
}

test("TUN over IPv6: an IPv6 packet too big for the tunnel gets Packet Too Big (route MTU - 40) from the VIP", () => {
  const rig = makeTunnelRig(1400);
  const { umem, sent, counters } = rig;
  const frame = clientSyn(VIP6_66, 1400 - 40 - 20 - 40 + 1); // inner 1361 bytes: one more than fits
  assert.equal(feed(rig, frame, new TxDecision()), false);
  assert.equal(counters.tunnelled, 0);
  assert.equal(counters.fragNeeded, 1);
  assert.equal(sent.length, 1, "only the ICMPv6 error left");
  const e = new ParsedFrame();
  assert.equal(parseFrame(umem.bytes, sent[0]!.addr, sent[0]!.len, e), PARSE_OK);
  assert.equal(readMac(umem.bytes, sent[0]!.addr), MAC_CLIENT);
  assert.deepEqual([e.family, e.protocol, e.icmpType, e.icmpCode], [6, 58, 2, 0]);
  assert.deepEqual([...e.saddr], w(VIP6_66), "from the address the client sent to");
  assert.deepEqual([...e.daddr], w(CLIENT6));
  const mtuAt = e.l4Off + 4;
  assert.equal(new DataView(umem.bytes.buffer, umem.bytes.byteOffset).getUint32(mtuAt), 1360);
  assert.ok(transportChecksumValid(umem.bytes, e.l3Off, true, 58, e.l4Off, e.l4Len));
  // The quote starts with the client's own IPv6 header.
  assert.deepEqual(umem.bytes.subarray(e.l4Off + 8, e.l4Off + 48), frame.subarray(14, 54));
});

test("TUN over IPv6: an IPv4 packet with DF gets fragmentation needed (MTU - 40); without DF it is dropped", () => {
  const rig = makeTunnelRig(1400);
  const { umem, sent, counters } = rig;
  const d = new TxDecision();
  feed(rig, clientSyn(VIP_46, 1400 - 40 - 20 - 20 + 1), d);
  assert.equal(counters.fragNeeded, 1);
  assert.equal(sent.length, 1);
  const e = new ParsedFrame();
  assert.equal(parseFrame(umem.bytes, sent[0]!.addr, sent[0]!.len, e), PARSE_OK);
  assert.deepEqual([e.family, e.protocol, e.icmpType, e.icmpCode], [4, 1, 3, 4]);
  assert.equal(e.saddr[0], IpAddr.mustParse(VIP_46).v4Value);
  assert.equal((umem.bytes[e.l4Off + 6]! << 8) | umem.bytes[e.l4Off + 7]!, 1360, "next-hop MTU");
  feed(rig, clientSyn(VIP_46, 1400 - 40 - 20 - 20 + 1, false), d, 2);
  assert.equal(counters.tooBig, 1, "not fragmented: dropped and counted");
  assert.equal(sent.length, 1);
});

test("TUN over IPv6: a route leaving less than 1280 bytes inside drops silently, as the kernel does", () => {
  const rig = makeTunnelRig(1319);
  const { sent, counters } = rig;
  const d = new TxDecision();
  feed(rig, clientSyn(VIP6_66, 10), d);
  assert.equal(counters.tooBig, 1);
  assert.equal(sent.length, 0);
});

test("TUN over IPv6: without an IPv6 source address toward the real server nothing is sent", () => {
  const rig = makeTunnelRig(1500, false);
  const { sent, counters } = rig;
  const d = new TxDecision();
  feed(rig, clientSyn(VIP6_66, 10), d);
  assert.equal(counters.noRoute, 1);
  assert.equal(sent.length, 0);
  assert.equal(d.held, false);
});

test("TUN: an ICMP error from the client side about a tunnelled connection goes to the real server encapsulated", () => {
  const rig = makeTunnelRig();
  const { path, umem, sent, counters } = rig;
  const d = new TxDecision();
  feed(rig, clientSyn(VIP6_66, 0), d);
  assert.equal(sent.length, 1);
  // Packet Too Big from a router on the client's side, quoting a reply VIP -> client.
  const reply = buildFrame({
    family: 6,
    protocol: 6,
    src: w(VIP6_66),
    dst: w(CLIENT6),
    sport: 80,
    dport: 40000,
  }).subarray(14);
  const ptb = buildFrame({
    family: 6,
    protocol: 58,
    src: w("2001:2::1"),
    dst: w(VIP6_66),
    payload: [2, 0, 0, 0, 0, 0, 5, 0, ...reply],
  });
  // The ICMPv6 checksum does not matter to the director; the real server's stack checks it.
  feed(rig, ptb, d, 2);
  assert.equal(d.held, true);
  assert.equal(sent.length, 2);
  assert.equal(path.counters.icmpForwarded, 1);
  const o = new ParsedFrame();
  parseFrame(umem.bytes, sent[1]!.addr, sent[1]!.len, o);
  assert.deepEqual([o.family, o.protocol], [6, 41]);
  assert.deepEqual([...o.daddr], w(RS6));
  assert.equal(counters.tunnelled, 2);
});

test("property: any packet tunnelled to an IPv4 or IPv6 real server decapsulates to itself, TTL one lower", () => {
  const { umem, sent, tx, counters } = makeTunnelRig(9000);
  const f = new ParsedFrame();
  const o = new ParsedFrame();
  fc.assert(
    fc.property(frameSpec, fc.boolean(), fc.integer({ min: 0, max: 255 }), (base, toV6, tos) => {
      const spec: FrameSpec = { ...base, tos };
      const frame = buildFrame(spec);
      const addr = receive(umem, frame);
      try {
        sent.length = 0;
        assert.equal(parseFrame(umem.bytes, addr, frame.length, f), PARSE_OK);
        const l2 = f.l3Off - f.frameOff;
        assert.equal(
          tx.send(umem.bytes, f, IpAddr.mustParse(toV6 ? RS6 : RS4)),
          true,
          JSON.stringify(counters),
        );
        const out = sent[0]!;
        assert.equal(out.len, frame.length + (toV6 ? 40 : 20));
        assert.equal(parseFrame(umem.bytes, out.addr, out.len, o), PARSE_OK);
        assert.equal(o.family, toV6 ? 6 : 4);
        assert.equal(o.vlanId, f.vlanId, "VLAN tags kept in front of the outer header");
        const back = toV6 ? ip6TunnelDecapsulate(umem.bytes, o) : ipipDecapsulate(umem.bytes, o);
        assert.equal(back, addr);
        const expected = Uint8Array.from(frame);
        if (spec.family === 4) {
          expected[l2 + 8]!--;
          // The header checksum follows the TTL (RFC 1624): compare it by validity instead.
          expected[l2 + 10] = umem.bytes[back + l2 + 10]!;
          expected[l2 + 11] = umem.bytes[back + l2 + 11]!;
          assert.equal(refChecksum(umem.bytes.subarray(back + l2, back + l2 + (f.l4Off - f.l3Off))), 0);
        } else {
          expected[l2 + 7]!--;
        }
        // The MACs are the next hop's now; everything after them is the original frame.
        assert.deepEqual(umem.bytes.subarray(back + 12, back + frame.length), expected.subarray(12));
      } finally {
        umem.free(addr);
      }
    }),
    { numRuns: 300 },
  );
});

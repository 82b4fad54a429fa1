import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { IpAddr } from "../src/core/address.js";
import { IpipSteeringMaps, type IpipXdpCounts } from "../src/dataplane/realserver/ipip-steering-maps.js";
import { loadIpipSteeringProgram } from "../src/dataplane/realserver/ipip-steering-program.js";
import { ip6TunnelDecapsulate, ip6TunnelEncapsulate } from "../src/net/ip6-tunnel.js";
import { ipipDecapsulate, ipipEncapsulate } from "../src/net/ipip.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { TUN_GRE, TUN_GUE } from "../src/net/tunnel-encap.js";
import { closeFd, MapType, mapCreate, progTestRun } from "../src/platform/bpf.js";
import { buildFrame, type FrameSpec, refChecksum, V4 } from "./net-frames.js";
import { haveRoot, PRIVILEGED } from "./support/privileged.js";

// The TUN real server's XDP program run in the kernel by BPF_PROG_TEST_RUN: tunnel packets it
// unwraps come back as XDP_PASS with the inner packet behind the same Ethernet addresses (what the
// user-space receiver writes into its TUN device, and what src/net's decapsulation makes of the
// frame); those it leaves to user space come back untouched (no AF_XDP socket in the map: the
// redirect falls back to XDP_PASS), those for no VIP as XDP_DROP.

const XDP_DROP = 1;
const XDP_PASS = 2;
const TCP = 6;
const UDP = 17;
const RIP = V4(198, 18, 7, 20);
const DIP = V4(198, 18, 7, 1);
const VIP = V4(198, 18, 9, 10);
const OTHER = V4(198, 18, 9, 11);
const RIP6 = [0x20010002, 0, 0x70000, 0x20];
const DIP6 = [0x20010002, 0, 0x70000, 0x1];
const VIP6 = [0x20010002, 0, 0x90000, 0x10];
const OTHER6 = [0x20010002, 0, 0x90000, 0x11];
const CLIENT = V4(198, 19, 0, 100);
const CLIENT6 = [0x20010002, 0, 0x100000, 0x100];
const RS_MAC = [2, 0, 0, 0, 7, 20];
const ROUTER_MAC = [2, 0, 0, 0, 7, 1];

let maps: IpipSteeringMaps | null = null;
let xsks = -1;
let prog = -1;

before(() => {
  if (!PRIVILEGED) return;
  maps = IpipSteeringMaps.create();
  xsks = mapCreate({ type: MapType.XSKMAP, keySize: 4, valueSize: 4, maxEntries: 4, name: "tslvs_t_xsks" });
  prog = loadIpipSteeringProgram({ ...maps.fds, xsks });
  maps.addHostAddress(IpAddr.v4(RIP[0]!));
  maps.addHostAddress(IpAddr.fromWords(6, RIP6));
  maps.addVip(IpAddr.v4(VIP[0]!));
  maps.addVip(IpAddr.fromWords(6, VIP6));
});

after(() => {
  if (prog >= 0) closeFd(prog);
  if (xsks >= 0) closeFd(xsks);
  maps?.close();
});

const be16 = (v: number) => [(v >>> 8) & 255, v & 255];
const words = (w: ArrayLike<number>, n: number) =>
  Array.from({ length: n }, (_, i) => (w[i >> 2]! >>> (24 - 8 * (i & 3))) & 255);

/** The client's packet (IP header on), as the director puts it in the tunnel. */
function innerPacket(spec: Partial<FrameSpec> & { family: 4 | 6 }): number[] {
  const frame = buildFrame({
    protocol: TCP,
    src: spec.family === 4 ? CLIENT : CLIENT6,
    dst: spec.family === 4 ? VIP : VIP6,
    sport: 40000,
    dport: 80,
    payload: [1, 2, 3, 4, 5],
    ...spec,
  });
  return Array.from(frame.subarray(14));
}

interface Outer {
  family: 4 | 6;
  dst?: ArrayLike<number>;
  /** IPv4 option bytes (a multiple of 4). */
  options?: number[];
  /** Added to the declared outer length. */
  lengthDelta?: number;
  badChecksum?: boolean;
  frag?: number;
  /** Bytes after the inner packet inside the tunnel. */
  innerTrailer?: number[];
  /** Link padding after the outer packet. */
  padding?: number;
  /** The outer header's ECN field (3: CE). */
  ecn?: number;
}

/** A tunnel frame router -> real server around `inner`. */
function tunnelFrame(inner: number[], o: Outer): Uint8Array {
  const payload = [...inner, ...(o.innerTrailer ?? [])];
  const innerProto = inner[0]! >>> 4 === 4 ? 4 : 41;
  const out = [...RS_MAC, ...ROUTER_MAC];
  if (o.family === 4) {
    const opts = o.options ?? [];
    const hl = 20 + opts.length;
    const hdr = [
      0x40 | (hl / 4),
      o.ecn ?? 0,
      ...be16(hl + payload.length + (o.lengthDelta ?? 0)),
      0x12,
      0x34,
      ...be16(o.frag ?? 0x4000),
      63,
      innerProto,
      0,
      0,
      ...words(DIP, 4),
      ...words(o.dst ?? RIP, 4),
      ...opts,
    ];
    const c = refChecksum(hdr) ^ (o.badChecksum ? 0x0101 : 0);
    hdr[10] = c >>> 8;
    hdr[11] = c & 255;
    out.push(0x08, 0x00, ...hdr, ...payload);
  } else {
    out.push(
      0x86,
      0xdd,
      0x60,
      (o.ecn ?? 0) << 4,
      0,
      0,
      ...be16(payload.length + (o.lengthDelta ?? 0)),
      innerProto,
      63,
      ...words(DIP6, 16),
      ...words(o.dst ?? RIP6, 16),
      ...payload,
    );
  }
  for (let i = 0; i < (o.padding ?? 0); i++) out.push(0);
  return Uint8Array.from(out);
}

function run(frame: Uint8Array): { verdict: number; data: Uint8Array; moved: IpipXdpCounts } {
  const before = maps!.counts();
  const r = progTestRun(prog, frame);
  const now = maps!.counts();
  return {
    verdict: r.retval,
    data: r.data,
    moved: {
      decapsulated: now.decapsulated - before.decapsulated,
      notForVip: now.notForVip - before.notForVip,
    },
  };
}

/** The inner packet behind the frame's own Ethernet addresses, with the inner EtherType. */
function expectedFrame(inner: number[], padding = 0): Uint8Array {
  const type = inner[0]! >>> 4 === 4 ? [0x08, 0x00] : [0x86, 0xdd];
  return Uint8Array.from([
    ...RS_MAC,
    ...ROUTER_MAC,
    ...type,
    ...inner,
    ...new Array<number>(padding).fill(0),
  ]);
}

/** What src/net's decapsulation (as the user-space receiver unwraps) makes of the frame. */
function libraryDecap(frame: Uint8Array): Uint8Array {
  const buf = Uint8Array.from(frame);
  const f = new ParsedFrame();
  parseFrame(buf, 0, buf.length, f);
  const at = f.family === 4 ? ipipDecapsulate(buf, f) : ip6TunnelDecapsulate(buf, f);
  assert.ok(at > 0, "the library unwraps it");
  return buf.subarray(at, f.l4Off + f.l4Len);
}

const PAIRS: [4 | 6, 4 | 6][] = [
  [4, 4],
  [4, 6],
  [6, 4],
  [6, 6],
];

for (const [outer, inner] of PAIRS) {
  test(`IPv${inner} in IPv${outer} to a VIP is unwrapped in XDP, bytes as user space would deliver`, (tc) => {
    if (!haveRoot(tc)) return;
    const pkt = innerPacket({ family: inner });
    const frame = tunnelFrame(pkt, { family: outer });
    const r = run(frame);
    assert.equal(r.verdict, XDP_PASS);
    assert.deepEqual(r.moved, { decapsulated: 1, notForVip: 0 });
    assert.deepEqual(r.data, expectedFrame(pkt));
    assert.deepEqual(r.data, libraryDecap(frame));
  });

  test(`IPv${inner} in IPv${outer} to an address that is no VIP is dropped and counted`, (tc) => {
    if (!haveRoot(tc)) return;
    const pkt = innerPacket({ family: inner, dst: inner === 4 ? OTHER : OTHER6 });
    const r = run(tunnelFrame(pkt, { family: outer }));
    assert.equal(r.verdict, XDP_DROP);
    assert.deepEqual(r.moved, { decapsulated: 0, notForVip: 1 });
  });
}

test("link padding after the outer packet stays behind the inner packet (the stack trims it)", (tc) => {
  if (!haveRoot(tc)) return;
  const pkt = innerPacket({ family: 4, payload: [] });
  const r = run(tunnelFrame(pkt, { family: 4, padding: 6 }));
  assert.equal(r.verdict, XDP_PASS);
  assert.equal(r.moved.decapsulated, 1);
  assert.deepEqual(r.data, expectedFrame(pkt, 6));
});

test("tunnel packets the program does not unwrap go on untouched (to user space), uncounted", (tc) => {
  if (!haveRoot(tc)) return;
  const v4 = innerPacket({ family: 4 });
  const v6 = innerPacket({ family: 6 });
  const cases: [string, Uint8Array][] = [
    ["outer IPv4 options", tunnelFrame(v4, { family: 4, options: [1, 1, 1, 0] })],
    ["bad outer header checksum", tunnelFrame(v4, { family: 4, badChecksum: true })],
    ["inner packet shorter than the outer payload", tunnelFrame(v4, { family: 4, innerTrailer: [9, 9] })],
    ["IPv6 inner packet shorter than the outer payload", tunnelFrame(v6, { family: 6, innerTrailer: [9] })],
    ["outer length beyond the frame", tunnelFrame(v4, { family: 4, lengthDelta: 4 })],
    ["IPv6 outer length beyond the frame", tunnelFrame(v6, { family: 6, lengthDelta: 8 })],
    ["protocol 4 with an IPv6 packet inside", mislabelled(tunnelFrame(v6, { family: 4 }), 4)],
    ["next header 41 with an IPv4 packet inside", mislabelled(tunnelFrame(v4, { family: 6 }), 41)],
    ["inner IHL below 5", withByte(tunnelFrame(v4, { family: 6 }), 14 + 40, 0x44)],
    ["inner header cut short", tunnelFrame(v4.slice(0, 12), { family: 4 })],
    ["an outer fragment", tunnelFrame(v4, { family: 4, frag: 0x2000 })],
    ["to another host", tunnelFrame(v4, { family: 4, dst: OTHER })],
    ["IPv6 to another host", tunnelFrame(v6, { family: 6, dst: OTHER6 })],
    ["outer IPv4 marked CE (user space carries the mark inside)", tunnelFrame(v4, { family: 4, ecn: 3 })],
    ["outer IPv6 marked CE", tunnelFrame(v6, { family: 6, ecn: 3 })],
  ];
  for (const [what, frame] of cases) {
    const r = run(frame);
    assert.equal(r.verdict, XDP_PASS, what);
    assert.deepEqual(r.moved, { decapsulated: 0, notForVip: 0 }, what);
    assert.deepEqual(r.data, frame, what);
  }
});

/** The frame with the outer protocol / next header set to `proto` (IPv4 checksum kept right). */
function mislabelled(frame: Uint8Array, proto: number): Uint8Array {
  const f = Uint8Array.from(frame);
  if (f[12] === 0x08) {
    f[14 + 9] = proto;
    f[24] = 0;
    f[25] = 0;
    const c = refChecksum(f.subarray(14, 34));
    f[24] = c >>> 8;
    f[25] = c & 255;
  } else {
    f[14 + 6] = proto;
  }
  return f;
}

function withByte(frame: Uint8Array, at: number, v: number): Uint8Array {
  const f = Uint8Array.from(frame);
  f[at] = v;
  return f;
}

test("property: any TCP/UDP packet to a VIP, in either outer family, comes out as user space would deliver it", (tc) => {
  if (!haveRoot(tc)) return;
  fc.assert(
    fc.property(
      fc.constantFrom<4 | 6>(4, 6),
      fc.constantFrom<4 | 6>(4, 6),
      fc.constantFrom(TCP, UDP),
      fc.uint8Array({ maxLength: 1200 }),
      fc.integer({ min: 1, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom([], [1, 1, 1, 0], [7, 7, 0, 0, 0, 0, 0, 0]),
      (outer, inner, protocol, payload, ttl, tos, ipOptions) => {
        const pkt = innerPacket({ family: inner, protocol, payload, ttl, tos, ipOptions });
        const frame = tunnelFrame(pkt, { family: outer });
        const r = run(frame);
        assert.equal(r.verdict, XDP_PASS);
        assert.equal(r.moved.decapsulated, 1);
        assert.deepEqual(r.data, expectedFrame(pkt));
        assert.deepEqual(r.data, libraryDecap(frame));
      },
    ),
    { numRuns: 200 },
  );
});

test("an outer ECN field other than CE (ECT(0), ECT(1)) is unwrapped in XDP, the inner packet as it was", (tc) => {
  if (!haveRoot(tc)) return;
  const v4 = innerPacket({ family: 4 });
  const v6 = innerPacket({ family: 6 });
  for (const ecn of [1, 2]) {
    for (const [inner, family] of [
      [v4, 4],
      [v6, 6],
    ] as const) {
      const r = run(tunnelFrame(inner, { family, ecn }));
      assert.equal(r.verdict, XDP_PASS);
      assert.deepEqual(r.moved, { decapsulated: 1, notForVip: 0 }, `ecn ${ecn} outer IPv${family}`);
      assert.deepEqual(r.data, expectedFrame(inner));
    }
  }
});

test("with GUE and GRE taken (--tun-type): the program loads, IPIP is still unwrapped in XDP, GUE and GRE go on untouched (to user space)", (tc) => {
  if (!haveRoot(tc)) return;
  const withEncap = loadIpipSteeringProgram({ ...maps!.fds, xsks }, { guePort: 6080, gre: true });
  try {
    for (const outer of [4, 6] as const) {
      const pkt = innerPacket({ family: 4 });
      const before = maps!.counts().decapsulated;
      const r = progTestRun(withEncap, tunnelFrame(pkt, { family: outer }));
      assert.equal(r.retval, XDP_PASS);
      assert.deepEqual(r.data, expectedFrame(pkt));
      assert.equal(maps!.counts().decapsulated, before + 1);
      for (const kind of [TUN_GUE, TUN_GRE]) {
        // The director's own encapsulation of an IPv4 packet in IPv4 / IPv6 toward RIP.
        const plain = Uint8Array.from([...RS_MAC, ...ROUTER_MAC, 0x08, 0x00, ...pkt]);
        const buf = new Uint8Array(plain.length + 128);
        buf.set(plain, 128);
        const f = new ParsedFrame();
        parseFrame(buf, 128, plain.length, f);
        const e = { kind, port: 6080, csum: true };
        const off =
          outer === 4
            ? ipipEncapsulate(buf, f, 0, DIP[0]!, RIP[0]!, 0, true, e, 40000)
            : ip6TunnelEncapsulate(buf, f, 0, DIP6, 0, RIP6, 0, e, 40000);
        const frame = buf.slice(off);
        const n = maps!.counts();
        const g = progTestRun(withEncap, frame);
        assert.equal(g.retval, XDP_PASS);
        assert.deepEqual(g.data, frame, "left whole for user space");
        assert.deepEqual(maps!.counts(), n, "not counted in XDP");
      }
    }
  } finally {
    closeFd(withEncap);
  }
});

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ip6TunnelEncapsulate } from "../src/net/ip6-tunnel.js";
import { ipipEncapsulate } from "../src/net/ipip.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { DECAP_MALFORMED, DECAP_NOT_TUNNEL, TunnelInner, tunnelInner } from "../src/net/tunnel-decap.js";
import { TUN_GRE, TUN_GUE } from "../src/net/tunnel-encap.js";
import {
  buildFrame,
  frameSpec,
  inGuardedBuffer,
  pseudoHeader,
  refChecksum,
  refSum,
  V4,
} from "./net-frames.js";

// The receiving side of `tslvs rs --tun-type gue|gre`: what the director sends comes back out whole;
// what fou / ip_gre would refuse is refused.

const DIR = V4(198, 18, 2, 1);
const RS = V4(198, 18, 2, 5);
const DIR6 = [0x20010002, 0, 0, 0x1];
const RS6 = [0x20010002, 0, 0, 0x5];
const PORT = 6080;

/** A frame wrapped by the director's code; parsed again as the receiver parses it. */
function wrapped(frame: Uint8Array, kind: number, csum: boolean, outer6: boolean) {
  const buf = inGuardedBuffer(frame, 128, 8);
  const f = new ParsedFrame();
  parseFrame(buf, 128, frame.length, f);
  const e = { kind, port: PORT, csum };
  const off = outer6
    ? ip6TunnelEncapsulate(buf, f, 0, DIR6, 0, RS6, 0, e, 40000)
    : ipipEncapsulate(buf, f, 0, DIR[0]!, RS[0]!, 0, true, e, 40000);
  const o = new ParsedFrame();
  parseFrame(buf, off, 128 - off + frame.length, o);
  return { buf, o, l2: f.l3Off - f.frameOff };
}

test("what the director sends (GUE, GRE; csum or not; IPv4 or IPv6 outside) comes out as the inner packet", () => {
  fc.assert(
    fc.property(
      frameSpec,
      fc.constantFrom(TUN_GUE, TUN_GRE),
      fc.boolean(),
      fc.boolean(),
      (spec, kind, csum, outer6) => {
        const frame = buildFrame(spec);
        const { buf, o, l2 } = wrapped(frame, kind, csum, outer6);
        const inner = new TunnelInner();
        const at = tunnelInner(buf, o, PORT, true, inner);
        assert.ok(at > 0);
        assert.equal(inner.v4, spec.family === 4);
        assert.deepEqual(buf.subarray(at, o.l4Off + o.l4Len), frame.subarray(l2, frame.length));
      },
    ),
    { numRuns: 200 },
  );
});

test("refused: a wrong UDP or GRE checksum, another GUE version, a control message, a GRE key", () => {
  const frame = buildFrame({
    family: 4,
    protocol: 6,
    src: V4(198, 18, 9, 9),
    dst: V4(198, 18, 1, 10),
    payload: [1, 2, 3],
  });
  const inner = new TunnelInner();
  const flip = (kind: number, csum: boolean, at: number, xor: number) => {
    const { buf, o } = wrapped(frame, kind, csum, false);
    buf[o.l4Off + at]! ^= xor;
    return tunnelInner(buf, o, PORT, true, inner);
  };
  assert.equal(flip(TUN_GUE, true, 30, 0x01), DECAP_MALFORMED, "payload changed under a UDP checksum");
  assert.ok(flip(TUN_GUE, false, 30, 0x01) > 0, "no UDP checksum: nothing to check there");
  assert.equal(flip(TUN_GUE, false, 8, 0x40), DECAP_MALFORMED, "GUE version 1");
  assert.equal(flip(TUN_GUE, false, 8, 0x20), DECAP_MALFORMED, "GUE control message");
  assert.equal(flip(TUN_GRE, true, 20, 0x01), DECAP_MALFORMED, "payload changed under a GRE checksum");
  assert.equal(flip(TUN_GRE, false, 0, 0x20), DECAP_MALFORMED, "GRE key present");
  assert.equal(flip(TUN_GRE, false, 1, 0x01), DECAP_MALFORMED, "GRE version 1");
  // Not for this receiver: another UDP port, GRE when only GUE is taken.
  const { buf, o } = wrapped(frame, TUN_GUE, false, false);
  assert.equal(tunnelInner(buf, o, PORT + 1, true, inner), DECAP_NOT_TUNNEL);
  const g = wrapped(frame, TUN_GRE, false, false);
  assert.equal(tunnelInner(g.buf, g.o, PORT, false, inner), DECAP_NOT_TUNNEL);
});

test("GUE remote checksum offload: the inner TCP checksum completed from csum_start (as fou's gue_remcsum)", () => {
  // Built by hand as a kernel sender with remcsum writes it: GUE hlen 2, flags PRIV, private flags
  // REMCSUM, csum_start = the TCP header's offset in the inner packet, csum_offset field = start + 16;
  // the inner TCP checksum field holds only the pseudo-header sum.
  const src = V4(198, 18, 9, 9);
  const dst = V4(198, 18, 1, 10);
  const frame = buildFrame({
    family: 4,
    protocol: 6,
    src,
    dst,
    sport: 1234,
    dport: 80,
    payload: [5, 6, 7, 8, 9],
  });
  const ip = Array.from(frame.subarray(14));
  const good = [ip[36]!, ip[37]!];
  const pseudo = refSum(pseudoHeader(4, src, dst, 6, ip.length - 20));
  ip[36] = pseudo >>> 8;
  ip[37] = pseudo & 0xff;
  const gue = [0x02, 4, 0x00, 0x01, 0x80, 0, 0, 0, 0, 20, 0, 36];
  const udpLen = 8 + gue.length + ip.length;
  const udp = [0x9c, 0x40, PORT >>> 8, PORT & 0xff, udpLen >>> 8, udpLen & 0xff, 0, 0, ...gue, ...ip];
  const c = refChecksum([...pseudoHeader(4, DIR, RS, 17, udp.length), ...udp]);
  udp[6] = c >>> 8;
  udp[7] = c & 0xff;
  const total = 20 + udp.length;
  const outer = [
    0x45,
    0,
    total >>> 8,
    total & 0xff,
    0,
    0,
    0x40,
    0,
    64,
    17,
    0,
    0,
    198,
    18,
    2,
    1,
    198,
    18,
    2,
    5,
  ];
  const hc = refChecksum(outer);
  outer[10] = hc >>> 8;
  outer[11] = hc & 0xff;
  const buf = Uint8Array.from([...frame.subarray(0, 12), 0x08, 0x00, ...outer, ...udp]);
  const o = new ParsedFrame();
  parseFrame(buf, 0, buf.length, o);
  const inner = new TunnelInner();
  const at = tunnelInner(buf, o, PORT, false, inner);
  assert.equal(at, 14 + 20 + 8 + 12);
  assert.deepEqual(
    [buf[at + 36], buf[at + 37]],
    good,
    "the inner TCP checksum as the client would have sent it",
  );
});

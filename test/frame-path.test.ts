import assert from "node:assert/strict";
import { test } from "node:test";
import { IpAddr } from "../src/core/address.js";
import { TxDecision } from "../src/dataplane/frame-path.js";
import { readMac } from "../src/net/ethernet.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { buildFrame, guardIntact, inGuardedBuffer, V4 } from "./net-frames.js";
import {
  CLIENT,
  IF_IN,
  IF_OUT,
  MAC_CLIENT,
  MAC_DIRECTOR_OUT,
  MAC_RS,
  makeRig,
  RS,
  VIP,
  VIP2,
} from "./support/frame-path-rig.js";

const w = (s: string) => {
  const a = IpAddr.mustParse(s).v4Value;
  return [a, 0, 0, 0];
};
const SLOT = 2048;
const OFF = 256;
const ingressOut = { ifindex: IF_OUT, mac: MAC_DIRECTOR_OUT };

function slotWith(frame: Uint8Array): Uint8Array {
  return inGuardedBuffer(frame, OFF, SLOT - OFF - frame.length);
}

function parsed(buf: Uint8Array, d: TxDecision): ParsedFrame {
  const f = new ParsedFrame();
  assert.equal(parseFrame(buf, d.offset, d.length, f), PARSE_OK);
  return f;
}

test("NAT: a SYN to the VIP leaves toward the real server rewritten; its reply leaves toward the client as the VIP", () => {
  const { path, director } = makeRig();
  const syn = buildFrame({
    family: 4,
    protocol: 6,
    src: w(CLIENT),
    dst: w(VIP),
    sport: 40000,
    dport: 80,
    tcpFlags: 0x02,
  });
  const buf = slotWith(syn);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, syn.length, SLOT - OFF, ingressOut, 100, d), true);
  assert.equal(d.ifindex, IF_IN);
  assert.equal(readMac(buf, d.offset), MAC_RS);
  const f = parsed(buf, d);
  assert.equal(IpAddr.fromWords(4, f.daddr).toString(), RS);
  assert.equal(f.dport, 8080);
  assert.equal(director.connections(100).length, 1);
  assert.ok(guardIntact(buf, OFF, syn.length));

  const synack = buildFrame({
    family: 4,
    protocol: 6,
    src: w(RS),
    dst: w(CLIENT),
    sport: 8080,
    dport: 40000,
    tcpFlags: 0x12,
  });
  const buf2 = slotWith(synack);
  assert.equal(path.process(buf2, OFF, synack.length, SLOT - OFF, { ifindex: IF_IN, mac: 1 }, 100, d), true);
  assert.equal(d.ifindex, IF_OUT);
  assert.equal(readMac(buf2, d.offset), MAC_CLIENT);
  const g = parsed(buf2, d);
  assert.equal(IpAddr.fromWords(4, g.saddr).toString(), VIP);
  assert.equal(g.sport, 80);
});

test("DR: the frame keeps its addresses and goes to the real server's MAC", () => {
  const { path } = makeRig();
  const syn = buildFrame({
    family: 4,
    protocol: 6,
    src: w(CLIENT),
    dst: w(VIP2),
    sport: 1,
    dport: 80,
    tcpFlags: 2,
  });
  const buf = slotWith(syn);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, syn.length, SLOT - OFF, ingressOut, 1, d), true);
  assert.equal(readMac(buf, d.offset), MAC_RS);
  assert.equal(IpAddr.fromWords(4, parsed(buf, d).daddr).toString(), VIP2);
});

test("no real server: ICMP port unreachable is built in the frame's own slot, back out of its port", () => {
  const { path, director } = makeRig();
  director.delDest(
    { kind: "addr", protocol: 17, addr: IpAddr.mustParse(VIP), port: 53 },
    IpAddr.mustParse(RS),
    53,
  );
  const q = buildFrame({
    family: 4,
    protocol: 17,
    src: w(CLIENT),
    dst: w(VIP),
    sport: 5353,
    dport: 53,
    payload: [1, 2, 3],
    srcMac: [2, 0, 0, 0, 0xcc, 1],
  });
  const buf = slotWith(q);
  const d = new TxDecision();
  assert.equal(path.process(buf, OFF, q.length, SLOT - OFF, ingressOut, 1, d), true);
  assert.equal(d.ifindex, IF_OUT);
  assert.equal(d.offset, OFF);
  assert.equal(readMac(buf, d.offset), MAC_CLIENT);
  const f = parsed(buf, d);
  assert.equal(f.protocol, 1);
  assert.equal(f.icmpType, 3);
  assert.equal(f.icmpCode, 3);
  assert.equal(IpAddr.fromWords(4, f.daddr).toString(), CLIENT);
  assert.ok(guardIntact(buf, OFF, d.length));
  assert.equal(path.counters.icmpSent, 1);
});

test("a frame that is no packet of ours is dropped and counted", () => {
  const { path } = makeRig();
  const d = new TxDecision();
  const junk = new Uint8Array(SLOT);
  assert.equal(path.process(junk, OFF, 40, SLOT - OFF, ingressOut, 1, d), false);
  assert.equal(path.counters.malformed, 1);
  const other = buildFrame({
    family: 4,
    protocol: 6,
    src: V4(198, 18, 0, 5),
    dst: V4(198, 18, 0, 6),
    sport: 1,
    dport: 2,
  });
  assert.equal(path.process(slotWith(other), OFF, other.length, SLOT - OFF, ingressOut, 1, d), false);
  assert.equal(path.counters.passedAndDropped, 1);
});

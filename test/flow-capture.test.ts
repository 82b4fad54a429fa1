/**
 * The slow path's connection capture (tslvs trace --capture): the frames of the captured tuple's
 * connection, both directions, as received and as sent; nothing of other connections; the limits.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IpAddr } from "../src/core/address.js";
import { FlowCapture } from "../src/dataplane/flow-capture.js";
import { TxDecision } from "../src/dataplane/slow-path.js";
import { ParsedFrame, parseFrame } from "../src/net/parse.js";
import { PARSE_OK } from "../src/net/reason.js";
import { buildFrame, inGuardedBuffer } from "./net-frames.js";
import { CLIENT, IF_IN, IF_OUT, MAC_DIRECTOR_OUT, makeRig, RS, VIP } from "./support/slow-path-rig.js";

const w = (s: string) => [IpAddr.mustParse(s).v4Value, 0, 0, 0];
const tcp4 = (src: string, dst: string, sport: number, dport: number, tcpFlags: number) =>
  buildFrame({ family: 4, protocol: 6, src: w(src), dst: w(dst), sport, dport, tcpFlags });
const SLOT = 2048;
const OFF = 256;
const fromClient = { ifindex: IF_OUT, mac: MAC_DIRECTOR_OUT };
const fromRs = { ifindex: IF_IN, mac: 1 };

function tuple(cport: number) {
  return { family: 4 as const, protocol: 6, caddr: w(CLIENT), cport, vaddr: w(VIP), vport: 80 };
}

function send(
  path: ReturnType<typeof makeRig>["path"],
  frame: Uint8Array,
  ingress: { ifindex: number; mac: number },
): boolean {
  const buf = inGuardedBuffer(frame, OFF, SLOT - OFF - frame.length);
  return path.process(buf, OFF, frame.length, SLOT - OFF, ingress, 100, new TxDecision());
}

function ports(data: Uint8Array): { src: string; dst: string } {
  const f = new ParsedFrame();
  assert.equal(parseFrame(data, 0, data.length, f), PARSE_OK);
  return {
    src: `${IpAddr.fromWords(4, f.saddr)}:${f.sport}`,
    dst: `${IpAddr.fromWords(4, f.daddr)}:${f.dport}`,
  };
}

test("capture: the first connection of the tuple, both directions, as received and as sent; others left out", () => {
  const { path } = makeRig();
  const cap = new FlowCapture(tuple(40000));
  const adopted: number[] = [];
  cap.onConn = (i) => adopted.push(i);
  path.capture = cap;
  // Another client port: a connection not captured.
  assert.equal(send(path, tcp4(CLIENT, VIP, 40001, 80, 0x02), fromClient), true);
  const syn = tcp4(CLIENT, VIP, 40000, 80, 0x02);
  assert.equal(send(path, syn, fromClient), true);
  assert.equal(send(path, tcp4(RS, CLIENT, 8080, 40000, 0x12), fromRs), true);
  assert.equal(send(path, tcp4(RS, CLIENT, 8080, 40001, 0x12), fromRs), true);
  assert.equal(adopted.length, 1);
  assert.equal(cap.conn, adopted[0]);
  assert.deepEqual(
    cap.frames.map((f) => ({ dir: f.dir, ifindex: f.ifindex, ...ports(f.data) })),
    [
      { dir: "in", ifindex: IF_OUT, src: `${CLIENT}:40000`, dst: `${VIP}:80` },
      { dir: "out", ifindex: IF_IN, src: `${CLIENT}:40000`, dst: `${RS}:8080` },
      { dir: "in", ifindex: IF_IN, src: `${RS}:8080`, dst: `${CLIENT}:40000` },
      { dir: "out", ifindex: IF_OUT, src: `${VIP}:80`, dst: `${CLIENT}:40000` },
    ],
  );
  // The received frame is kept as it came, before the rewrite.
  assert.deepEqual(cap.frames[0]!.data, syn);
  assert.equal(cap.truncated, false);
  assert.ok(cap.frames.every((f) => f.t > 1.6e15));
});

test("capture: a connection existing at the start is captured by its index; the limits truncate", () => {
  const { path } = makeRig();
  assert.equal(send(path, tcp4(CLIENT, VIP, 40000, 80, 0x02), fromClient), true);
  const first = new FlowCapture(tuple(40000));
  path.capture = first;
  send(path, tcp4(CLIENT, VIP, 40000, 80, 0x10), fromClient);
  assert.ok(first.conn >= 0, "adopted from its first packet");
  const cap = new FlowCapture(tuple(40000), 3);
  cap.conn = first.conn;
  path.capture = cap;
  for (let k = 0; k < 3; k++) send(path, tcp4(CLIENT, VIP, 40000, 80, 0x10), fromClient);
  assert.equal(cap.frames.length, 3);
  assert.equal(cap.missed, 3);
  assert.equal(cap.truncated, true);
  path.capture = null;
  send(path, tcp4(CLIENT, VIP, 40000, 80, 0x10), fromClient);
  assert.equal(cap.frames.length + cap.missed, 6, "nothing recorded once detached");
});

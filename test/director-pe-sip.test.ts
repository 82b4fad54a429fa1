import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IPPROTO_TCP, IPPROTO_UDP, TCP_SYN } from "../src/core/flow.js";
import { SipMatch, sipCallId } from "../src/core/pe-sip.js";
import { SVC_F_PERSISTENT } from "../src/core/service.js";
import { ACTION_DROP, ACTION_FORWARD, Verdict } from "../src/core/verdict.js";
import {
  destSpec,
  FlowPacket,
  makeDirector,
  packet,
  svcSpec,
  tcpKey,
  udpKey,
  words,
} from "./director-fixtures.js";

const VIP = "10.0.0.1:5060";
const enc = new TextEncoder();

function sip(method: string, callId: string | null, header = "Call-ID"): Uint8Array {
  const lines = [
    `${method} sip:bob@10.0.0.1 SIP/2.0`,
    "Via: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1",
    "From: <sip:alice@1.2.3.4>;tag=1",
    "To: <sip:bob@10.0.0.1>",
  ];
  if (callId !== null) lines.push(`${header}: ${callId}`);
  lines.push("CSeq: 1 INVITE", "Content-Length: 0", "", "");
  return enc.encode(lines.join("\r\n"));
}

function sipSetup(timeout = 60, netmask = 0xffffffff) {
  const d = makeDirector();
  const key = udpKey("10.0.0.1", 5060);
  d.addService(svcSpec(key, { flags: SVC_F_PERSISTENT, timeout, netmask, pe: "sip" }));
  d.addDest(key, destSpec("192.168.1.2", 5060));
  d.addDest(key, destSpec("192.168.1.3", 5060));
  const p = new FlowPacket();
  const v = new Verdict();
  /** Offer one SIP datagram; returns the real server it went to ("" when not forwarded). */
  const send = (src: string, msg: Uint8Array | null, now: number): string => {
    packet(p, IPPROTO_UDP, src, VIP).setPayload(msg);
    d.inbound(p, now, v);
    return v.action === ACTION_FORWARD ? words(v.dstAddr, 4) : "";
  };
  return { d, key, p, v, send };
}

test("pe sip: two calls from one client address go to different real servers under rr", () => {
  const { send } = sipSetup();
  const a = send("1.2.3.4:5060", sip("INVITE", "call-a@host"), 0);
  const b = send("1.2.3.4:5062", sip("INVITE", "call-b@host"), 0);
  assert.ok(a && b);
  assert.notEqual(a, b);
});

test("pe sip: one call's datagrams from other client ports, and addresses within -M, reach one real server", () => {
  const { send } = sipSetup(60, 0xffffff00);
  const first = send("1.2.3.4:5060", sip("INVITE", "abc123@pc33.example.com"), 0);
  // Another call in between moves rr on: a plain client-address template would not keep this.
  assert.notEqual(send("1.2.3.4:5061", sip("INVITE", "other"), 1), first);
  for (const [k, src] of ["1.2.3.4:6000", "1.2.3.4:6001", "1.2.3.77:5060", "1.2.3.200:7000"].entries()) {
    const method = ["ACK", "BYE", "INVITE", "BYE"][k]!;
    assert.equal(send(src, sip(method, "abc123@pc33.example.com"), 2 + k), first, `${method} from ${src}`);
  }
});

test("pe sip: the template is keyed by the masked client address too (as the kernel's ct_match)", () => {
  const { d, send } = sipSetup();
  send("1.2.3.4:5060", sip("INVITE", "same-call"), 0);
  send("5.6.7.8:5060", sip("INVITE", "same-call"), 0);
  const tpl = d.connections(0).filter((c) => c.template);
  assert.deepEqual(tpl.map((c) => c.caddr).sort(), ["1.2.3.4", "5.6.7.8"]);
});

test("pe sip: the template is listed with pe sip and the Call-ID, cport 0, the persistence timeout", () => {
  const { d, send } = sipSetup(60);
  send("1.2.3.4:5060", sip("INVITE", "a84b4c76e66710@pc33.atlanta.com"), 10);
  const conns = d.connections(10);
  const tpl = conns.filter((c) => c.template);
  assert.equal(tpl.length, 1);
  assert.equal(tpl[0]!.peName, "sip");
  assert.equal(tpl[0]!.peData, "a84b4c76e66710@pc33.atlanta.com");
  assert.equal(tpl[0]!.cport, 0);
  assert.equal(tpl[0]!.vport, 5060);
  assert.equal(tpl[0]!.expires, 60);
  const conn = conns.find((c) => !c.template)!;
  assert.equal(conn.peName, "");
  assert.equal(conn.cport, 5060);
});

test("pe sip: the template expires with the persistence timeout; the call is then scheduled afresh", () => {
  const { d, send } = sipSetup(60);
  const first = send("1.2.3.4:5060", sip("INVITE", "call-x"), 0);
  send("1.2.3.4:5999", sip("INVITE", "filler"), 0);
  // UDP conns idle out after 300 s; the template (60 s) waits for them, then goes.
  for (let t = 1; t <= 400; t++) d.tick(t);
  assert.equal(d.connections(400).filter((c) => c.template && c.peData === "call-x").length, 0);
  assert.equal(d.connections(400).length, 0);
  // rr went on from the filler's dest: the call gets the one after it.
  const again = send("1.2.3.4:6000", sip("INVITE", "call-x"), 401);
  assert.ok(again);
  assert.equal(d.connections(401).find((c) => c.template)!.peData, "call-x");
  assert.ok(first);
});

test("pe sip: a template's timer restarts with each new conn of the call, not with each packet", () => {
  const { d, send } = sipSetup(60);
  send("1.2.3.4:5060", sip("INVITE", "call-t"), 0);
  send("1.2.3.4:5060", sip("ACK", "call-t"), 30);
  assert.equal(d.connections(30).find((c) => c.template)!.expires, 30);
  send("1.2.3.4:5070", sip("BYE", "call-t"), 40);
  assert.equal(d.connections(40).find((c) => c.template)!.expires, 60);
});

test("pe sip: the compact header i: is taken, case-insensitively", () => {
  const { d, send } = sipSetup();
  const a = send("1.2.3.4:5060", sip("INVITE", "compact-1", "i"), 0);
  assert.equal(send("1.2.3.4:5070", sip("BYE", "compact-1", "CALL-ID"), 1), a);
  assert.equal(send("1.2.3.4:5071", sip("BYE", "compact-1", "I"), 2), a);
  assert.deepEqual(
    d
      .connections(2)
      .filter((c) => c.template)
      .map((c) => c.peData),
    ["compact-1"],
  );
});

test("pe sip: a datagram without a Call-ID is dropped without ICMP (kernel: fill_param fails)", () => {
  const { d, v, send } = sipSetup();
  assert.equal(send("1.2.3.4:5060", sip("OPTIONS", null), 0), "");
  assert.equal(v.action, ACTION_DROP);
  assert.equal(v.reason, "no-pe-data");
  assert.equal(send("1.2.3.4:5060", null, 0), "", "no payload handed over");
  assert.equal(send("1.2.3.4:5060", sip("INVITE", "bad value"), 0), "", "value not ended by CR/LF");
  assert.equal(send("1.2.3.4:5060", sip("INVITE", "x".repeat(256)), 0), "", "longer than 255 bytes");
  assert.equal(d.connections(0).length, 0);
  // An existing conn's datagrams need no Call-ID: only new conns consult the engine.
  const a = send("1.2.3.4:5060", sip("INVITE", "ok"), 1);
  assert.equal(send("1.2.3.4:5060", enc.encode("keepalive\r\n\r\n"), 2), a);
});

test("pe sip on a TCP service: new connections are dropped, as the kernel's engine takes only UDP", () => {
  const d = makeDirector();
  const key = tcpKey("10.0.0.1", 5060);
  d.addService(svcSpec(key, { flags: SVC_F_PERSISTENT, timeout: 60, pe: "sip" }));
  d.addDest(key, destSpec("192.168.1.2", 5060));
  const p = new FlowPacket();
  const v = new Verdict();
  d.inbound(packet(p, IPPROTO_TCP, "1.2.3.4:5000", VIP, TCP_SYN), 0, v);
  assert.equal(v.action, ACTION_DROP);
  assert.equal(v.reason, "no-pe-data");
});

test("pe sip: templates of many calls from one client each find their own (hash chains)", () => {
  const { d, send } = sipSetup();
  const dest = new Map<string, string>();
  for (let k = 0; k < 200; k++)
    dest.set(`call-${k}`, send(`1.2.3.4:${10000 + k}`, sip("INVITE", `call-${k}`), 0));
  for (let k = 0; k < 200; k++)
    assert.equal(send(`1.2.3.4:${20000 + k}`, sip("BYE", `call-${k}`), 1), dest.get(`call-${k}`));
  assert.equal(d.connections(1).filter((c) => c.template).length, 200);
});

test("pe sip: a handed-over table keeps the templates' Call-IDs", () => {
  const { d, send } = sipSetup();
  const a = send("1.2.3.4:5060", sip("INVITE", "handover@x"), 0);
  const snap = d.exportConnections(0);
  const next = sipSetup();
  const r = next.d.importConnections(JSON.parse(JSON.stringify(snap)), 0);
  assert.equal(r.imported, 2);
  assert.equal(next.d.connections(0).find((c) => c.template)!.peData, "handover@x");
  assert.equal(next.send("1.2.3.4:7000", sip("BYE", "handover@x"), 1), a);
});

test("sipCallId: the kernel's header search", () => {
  const m = new SipMatch();
  const find = (s: string): string | null => {
    const b = enc.encode(s);
    return sipCallId(b, 0, b.length, m)
      ? new TextDecoder("latin1").decode(b.subarray(m.off, m.off + m.len))
      : null;
  };
  assert.equal(find("INVITE x SIP/2.0\r\nCall-ID: abc@def\r\n\r\n"), "abc@def");
  assert.equal(find("INVITE x SIP/2.0\ncall-id:abc\n"), "abc", "LF line ends, no space");
  assert.equal(find("INVITE x SIP/2.0\r\ni : abc\r\n"), "abc", "spaces before the colon");
  assert.equal(find("Call-ID: abc\r\n"), null, "the first line is never a header");
  assert.equal(find("INVITE x SIP/2.0\r\nCall-ID: abc"), null, "no line end after the value");
  assert.equal(find("INVITE x SIP/2.0\r\nCall-ID: abc@\r\n"), null, "@ without a host: the search goes on");
  assert.equal(
    find("INVITE x SIP/2.0\r\nCall-ID: ;x\r\nCall-ID: second\r\n"),
    "second",
    "no word: search on",
  );
  assert.equal(find("INVITE x SIP/2.0\r\nCall-ID: \r\nCall-ID: second\r\n"), null, "a bare line end ends it");
  assert.equal(find("INVITE x SIP/2.0\r\nIn-Reply-To: x\r\nCall-ID: y\r\n"), "y", "i followed by a letter");
  assert.equal(
    find("INVITE x SIP/2.0\r\ni-x: z\r\nCall-ID: y\r\n"),
    null,
    "a matched name without ':' ends it",
  );
  assert.equal(find("INVITE x SIP/2.0\r\nCall-ID:\tabc\r\n"), null, "a tab is not whitespace there");
  assert.equal(find(`INVITE x SIP/2.0\r\nCall-ID: ${"a".repeat(255)}\r\n`), "a".repeat(255));
});

test("sipCallId: never throws nor reads outside its range, whatever the bytes (property)", () => {
  const m = new SipMatch();
  const alphabet = fc.constantFrom(
    ..."\r\n \t:@iICall-d-xyz0123<>;".split("").map((c) => c.charCodeAt(0)),
    0xe9,
    0,
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(alphabet, { maxLength: 300 }).map((a) => new Uint8Array(a)),
      ),
      fc.nat({ max: 8 }),
      fc.nat({ max: 8 }),
      (body, pre, post) => {
        // The message sits inside a larger buffer whose outside bytes would change the answer if read.
        const buf = new Uint8Array(pre + body.length + post).fill(0x0a);
        buf.set(body, pre);
        const ok = sipCallId(buf, pre, body.length, m);
        const alone = new SipMatch();
        assert.equal(sipCallId(body, 0, body.length, alone), ok);
        if (ok) {
          assert.ok(m.len >= 1 && m.len <= 255 && m.off + m.len < body.length);
          assert.deepEqual([m.off, m.len], [alone.off, alone.len]);
          const after = body[m.off + m.len];
          assert.ok(after === 0x0d || after === 0x0a);
        }
      },
    ),
    { numRuns: 3000 },
  );
  // Truncations of a real message: every prefix is answered.
  const full = sip("INVITE", "trunc@host");
  for (let n = 0; n <= full.length; n++) sipCallId(full, 0, n, m);
});

test("pe sip: random payloads through the director never throw", () => {
  const { d, p, v } = sipSetup();
  let now = 0;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 65535 }), (body, port) => {
      packet(p, IPPROTO_UDP, `1.2.3.4:${port}`, VIP).setPayload(body);
      d.inbound(p, now++, v);
      assert.ok(v.action === ACTION_FORWARD || v.action === ACTION_DROP);
    }),
    { numRuns: 500 },
  );
});

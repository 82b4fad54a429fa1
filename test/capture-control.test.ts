/**
 * The `capture` control op: the trace's tuple checked, the existing connection's index handed to
 * the data plane, ENODEV without one; a capture's reply waits without holding up other requests
 * on the same socket; `tslvs trace --capture` arguments.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { captureRequest } from "../src/cli/tslvs-trace.js";
import type { CaptureEntry } from "../src/control/api.js";
import { ApiHandler, type CaptureQuery } from "../src/control/api-handler.js";
import { connect } from "../src/control/client.js";
import { CoreDirectorPort } from "../src/control/core-director-port.js";
import { ControlServer } from "../src/control/server.js";
import { FlowPacket, IPPROTO_TCP, TCP_SYN } from "../src/core/flow.js";
import { Verdict } from "../src/core/verdict.js";
import { destSpec, makeDirector, packet, svcSpec, tcpKey } from "./director-fixtures.js";
import { quietLog, tempDir } from "./support/control-fixtures.js";

const KEY = tcpKey("198.18.0.10", 80);
const REQ = {
  op: "capture",
  protocol: "tcp",
  client: "198.18.1.5",
  cport: 43512,
  vaddr: "198.18.0.10",
  vport: 80,
};

function director() {
  const d = makeDirector();
  d.addService(svcSpec(KEY, { scheduler: "rr" }));
  d.addDest(KEY, destSpec("198.19.0.1", 8080, "masq"));
  return d;
}

test("capture op: tuple and seconds checked, the connection's index passed on, ENODEV without a data plane", async () => {
  const d = director();
  const asked: CaptureQuery[] = [];
  const result: CaptureEntry = { frames: [], truncated: false, connection: false };
  const h = new ApiHandler(new CoreDirectorPort(d), {
    now: () => 2,
    capture: (q) => {
      asked.push(q);
      return Promise.resolve(result);
    },
  });
  assert.equal(await h.handle(REQ), result);
  assert.equal(asked[0]!.conn, -1, "no connection yet");
  assert.equal(asked[0]!.seconds, 10);
  assert.equal(asked[0]!.protocol, IPPROTO_TCP);
  d.inbound(
    packet(new FlowPacket(), IPPROTO_TCP, "198.18.1.5:43512", "198.18.0.10:80", TCP_SYN),
    1,
    new Verdict(),
  );
  await h.handle({ ...REQ, seconds: 4 });
  assert.ok(asked[1]!.conn >= 0, "the existing connection");
  assert.equal(asked[1]!.seconds, 4);
  assert.throws(() => h.handle({ ...REQ, seconds: 301 }), { errno: "EINVAL" });
  assert.throws(() => h.handle({ ...REQ, seconds: 0 }), { errno: "EINVAL" });
  assert.throws(() => h.handle({ ...REQ, vport: 81 }), { errno: "ESRCH" });
  const none = new ApiHandler(new CoreDirectorPort(d), { now: () => 2 });
  assert.throws(() => none.handle(REQ), { errno: "ENODEV" });
});

test("capture op over the socket: other requests are answered while it waits", async () => {
  const tmp = tempDir("capture");
  const path = join(tmp.dir, "ctl.sock");
  let release: (r: CaptureEntry) => void = () => {};
  const h = new ApiHandler(new CoreDirectorPort(director()), {
    now: () => 2,
    capture: () =>
      new Promise<CaptureEntry>((r) => {
        release = r;
      }),
  });
  const server = await ControlServer.listen({
    socketPath: path,
    handle: (req) => h.handle(req),
    log: quietLog,
  });
  const c = await connect(path);
  try {
    const order: string[] = [];
    const cap = c.call({ ...REQ, op: "capture" as const, protocol: "tcp" as const }).then((r) => {
      order.push("capture");
      return r;
    });
    await c.call({ op: "getInfo" });
    order.push("getInfo");
    release({ frames: [{ t: 1, dir: "in", data: "AAEC" }], truncated: true, connection: true });
    const r = await cap;
    assert.deepEqual(order, ["getInfo", "capture"]);
    assert.deepEqual(r, { frames: [{ t: 1, dir: "in", data: "AAEC" }], truncated: true, connection: true });
    // A refusal after the wait is a refusal.
    const none = new ApiHandler(new CoreDirectorPort(director()), {
      now: () => 2,
      capture: () => Promise.reject(Object.assign(new Error("busy"), { errno: "EBUSY" })),
    });
    const s2 = join(tmp.dir, "ctl2.sock");
    const server2 = await ControlServer.listen({
      socketPath: s2,
      handle: (req) => none.handle(req),
      log: quietLog,
    });
    const c2 = await connect(s2);
    await assert.rejects(c2.call({ ...REQ, op: "capture" as const, protocol: "tcp" as const }), {
      errno: "EBUSY",
    });
    c2.close();
    await server2.close();
  } finally {
    c.close();
    await server.close();
    tmp.cleanup();
  }
});

test("tslvs trace --capture arguments", () => {
  const trace = {
    op: "trace" as const,
    protocol: "tcp" as const,
    client: "198.18.0.100",
    cport: 43000,
    vaddr: "198.18.0.10",
    vport: 80,
  };
  assert.deepEqual(captureRequest(trace, undefined), { ...trace, op: "capture", seconds: 10 });
  assert.deepEqual(captureRequest(trace, "4"), { ...trace, op: "capture", seconds: 4 });
  assert.match(String(captureRequest(trace, "301")), /--seconds must be 1\.\.300/);
  assert.match(String(captureRequest(trace, "x")), /--seconds/);
});

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect } from "../src/control/client.js";
import { ControlServer } from "../src/control/server.js";
import { quietLog, RawConn, startServer, tempDir } from "./support/control-fixtures.js";

const svc = { protocol: "tcp", addr: "172.16.0.10", port: 80 };
const svcConfig = { id: svc, scheduler: "wrr", flags: 0, timeout: 0, netmask: "255.255.255.255", pe: "" };

describe("control protocol framing and replies", () => {
  const tmp = tempDir("proto");
  const path = join(tmp.dir, "ctl.sock");
  let srv: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    srv = await startServer(path, 4096);
  });
  after(async () => {
    await srv.server.close();
    tmp.cleanup();
  });

  it("answers a request with its id and result", async () => {
    const c = await RawConn.open(path);
    c.send(`${JSON.stringify({ v: 1, id: 7, op: "getInfo" })}\n`);
    const [r] = await c.replies(1);
    assert.deepEqual(r, {
      v: 1,
      id: 7,
      ok: true,
      // A server alone (no daemon): not ready, no data plane; an empty table of the default capacity.
      result: {
        version: "1.2.1",
        versionCode: 0x010201,
        connTabSize: 4096,
        ready: false,
        dataPlane: null,
        connections: 0,
        connCapacity: 4096,
        connRefusedFull: 0,
        defense: { dropEntry: false, dropRate: 0, secureTcp: false, packetsDropped: 0, entriesDropped: 0 },
        notActedOn: [],
        fwmarkRules: null,
      },
    });
    c.close();
  });

  it("answers pipelined requests in order, also when a line arrives in pieces", async () => {
    const c = await RawConn.open(path);
    const a = JSON.stringify({ v: 1, id: 1, op: "addService", config: svcConfig });
    const b = JSON.stringify({ v: 1, id: 2, op: "addService", config: svcConfig });
    const g = JSON.stringify({ v: 1, id: 3, op: "getService", service: svc });
    const all = `${a}\n${b}\n${g}\n`;
    c.send(all.slice(0, 10));
    c.send(all.slice(10, all.length - 5));
    c.send(all.slice(all.length - 5));
    const [r1, r2, r3] = await c.replies(3);
    assert.deepEqual(r1, { v: 1, id: 1, ok: true, result: null });
    assert.equal(r2!.ok, false);
    assert.equal(r2!.errno, "EEXIST");
    assert.equal(r2!.id, 2);
    assert.equal((r3!.result as { scheduler: string }).scheduler, "wrr");
    c.send(`${JSON.stringify({ v: 1, id: 4, op: "delService", service: svc })}\n`);
    assert.equal((await c.replies(4))[3]!.ok, true);
    c.close();
    // afterRequest sees each successful request, never a refused one.
    assert.deepEqual(srv.ops, ["getInfo", "addService", "getService", "delService"]);
  });

  it("refuses malformed JSON, non-objects, a wrong version, an unknown op and bad ids, and keeps serving", async () => {
    const c = await RawConn.open(path);
    c.send("{not json\n");
    c.send("[1,2]\n");
    c.send(`${JSON.stringify({ v: 2, id: 5, op: "getInfo" })}\n`);
    c.send(`${JSON.stringify({ v: 1, id: 6, op: "frobnicate" })}\n`);
    c.send(`${JSON.stringify({ v: 1, id: "x", op: "getInfo" })}\n`);
    c.send(
      `${JSON.stringify({ v: 1, id: 8, op: "addService", config: { ...svcConfig, id: { protocol: "tcp", addr: "300.1.1.1", port: 80 } } })}\n`,
    );
    c.send(`${JSON.stringify({ v: 1, id: 9, op: "getInfo" })}\n`);
    const r = await c.replies(7);
    assert.deepEqual(
      r.map((x) => [x.id, x.ok, x.errno]),
      [
        [0, false, "EINVAL"],
        [0, false, "EINVAL"],
        [5, false, "EPROTO"],
        [6, false, "ENOSYS"],
        [0, false, "EINVAL"],
        [8, false, "EINVAL"],
        [9, true, undefined],
      ],
    );
    for (const x of r.slice(0, 6)) assert.equal(typeof x.message, "string");
    assert.match(String(r[2]!.message), /version 2/);
    assert.match(String(r[3]!.message), /frobnicate/);
    assert.match(String(r[5]!.message), /300\.1\.1\.1/);
    c.close();
  });

  it("refuses a line longer than the limit and closes that connection only", async () => {
    const c = await RawConn.open(path);
    c.send(`{"v":1,"id":1,"op":"getInfo","pad":"${"x".repeat(5000)}`);
    const [r] = await c.replies(1);
    assert.equal(r!.errno, "EMSGSIZE");
    await c.untilClosed();
    const d = await RawConn.open(path);
    d.send(`${JSON.stringify({ v: 1, id: 1, op: "getInfo" })}\n`);
    assert.equal((await d.replies(1))[0]!.ok, true);
    d.close();
  });

  it("gives client calls their results and rejects refusals with the errno", async () => {
    const client = await connect(path);
    await client.call({ op: "addService", config: svcConfig as never });
    await client.call({
      op: "addDest",
      service: svc as never,
      dest: {
        addr: "192.168.10.2",
        port: 80,
        method: "masq",
        weight: 1,
        uThreshold: 0,
        lThreshold: 0,
        tunType: "ipip",
        tunPort: 0,
        tunCsum: "nocsum",
      },
    });
    const [list, missing] = await Promise.allSettled([
      client.call({ op: "getServices" }),
      client.call({ op: "delDest", service: svc as never, addr: "192.168.10.9", port: 80 }),
    ]);
    assert.equal(list.status, "fulfilled");
    assert.equal(list.status === "fulfilled" && list.value[0]!.dests[0]!.addr, "192.168.10.2");
    assert.equal(missing.status, "rejected");
    assert.equal(missing.status === "rejected" && (missing.reason as { errno: string }).errno, "ENOENT");
    await assert.rejects(
      client.call({ op: "getService", service: { protocol: "udp", addr: "1.2.3.4", port: 53 } }),
      {
        errno: "ESRCH",
      },
    );
    await client.call({ op: "flush" });
    client.close();
  });
});

describe("control socket file", () => {
  it("is created mode 0600, removed on close, and a missing socket gives ENOENT", async () => {
    const tmp = tempDir("sockfile");
    try {
      const path = join(tmp.dir, "sub", "ctl.sock");
      await assert.rejects(connect(path), { errno: "ENOENT" });
      const srv = await startServer(path);
      const { statSync, existsSync } = await import("node:fs");
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(statSync(join(tmp.dir, "sub")).mode & 0o777, 0o755);
      await srv.server.close();
      assert.equal(existsSync(path), false);
    } finally {
      tmp.cleanup();
    }
  });

  it("connect() fails with EACCES when the daemon refuses the peer", async () => {
    const tmp = tempDir("refuse");
    try {
      const path = join(tmp.dir, "ctl.sock");
      const server = await ControlServer.listen({
        socketPath: path,
        handle: () => null,
        allowUid: () => false,
        log: quietLog,
      });
      await assert.rejects(connect(path), { errno: "EACCES" });
      await server.close();
    } finally {
      tmp.cleanup();
    }
  });

  it("replaces a stale socket but refuses to start while another server answers", async () => {
    const tmp = tempDir("stale");
    try {
      const path = join(tmp.dir, "ctl.sock");
      // A process that dies while listening leaves a stale socket file behind.
      const child = spawn(process.execPath, [
        "-e",
        `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`,
      ]);
      await new Promise<void>((r) => child.stdout.once("data", () => r()));
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGKILL");
      await exited;
      await assert.rejects(connect(path), { errno: "ECONNREFUSED" });
      const first = await startServer(path);
      await assert.rejects(
        ControlServer.listen({ socketPath: path, handle: () => null, log: quietLog }),
        /another tslvs daemon is serving/,
      );
      await first.server.close();
      writeFileSync(path, "not a socket");
      await assert.rejects(
        ControlServer.listen({ socketPath: path, handle: () => null, log: quietLog }),
        /not a socket/,
      );
    } finally {
      tmp.cleanup();
    }
  });
});

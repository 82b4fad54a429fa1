/**
 * tslvsadm end to end through its socket client and the bin, against the daemon's control server,
 * request handler and real IPVS core on a Unix socket (JSON lines): framing, errno refusals, the
 * connection failure messages and the program name as invoked.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connectSocket } from "../src/cli/ipvsadm/connect.js";
import { startServer } from "./support/control-fixtures.js";

const BIN = join(import.meta.dirname, "..", "..", "bin", "tslvsadm");

function runBin(args: string[], socket: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, TSLVS_SOCKET: socket } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

test("socket client: requests and replies by id, refusals carry the errno", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tslvsadm-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "s.sock");
  const { server } = await startServer(path);
  t.after(() => server.close());
  const client = await connectSocket(path);
  const config = {
    id: { protocol: "tcp" as const, addr: "10.0.0.1", port: 80 },
    scheduler: "rr",
    flags: 0,
    timeout: 0,
    netmask: "255.255.255.255",
    pe: "",
  };
  const [a, b] = await Promise.allSettled([
    client.call({ op: "addService", config }),
    client.call({ op: "addService", config }),
  ]);
  assert.equal(a.status, "fulfilled");
  assert.equal(b.status, "rejected");
  assert.equal((b as PromiseRejectedResult).reason.errno, "EEXIST");
  const services = await client.call<{ scheduler: string }[]>({ op: "getServices" });
  assert.equal(services[0]!.scheduler, "rr");
  client.close();
});

test("bin: commands and listing over the socket, errors with ipvsadm's texts", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tslvsadm-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "s.sock");
  const { server } = await startServer(path);
  t.after(() => server.close());
  assert.equal((await runBin(["-A", "-t", "172.16.0.10:80", "-s", "wrr"], path)).code, 0);
  assert.equal((await runBin(["-a", "-t", "172.16.0.10:80", "-r", "192.168.10.20:80", "-m"], path)).code, 0);
  const dup = await runBin(["-A", "-t", "172.16.0.10:80"], path);
  assert.deepEqual(dup, { code: 255, stdout: "", stderr: "Service already exists\n" });
  const list = await runBin(["-Ln"], path);
  assert.equal(list.code, 0);
  assert.equal(
    list.stdout,
    "IP Virtual Server version 1.2.1 (size=4096)\n" +
      "Prot LocalAddress:Port Scheduler Flags\n" +
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
      "TCP  172.16.0.10:80 wrr\n" +
      "  -> 192.168.10.20:80             Masq    1      0          0         \n",
  );
  const bad = await runBin(["-nL"], path);
  assert.deepEqual(bad, {
    code: 255,
    stdout: "",
    stderr: "Try `tslvsadm -h' or 'tslvsadm --help' for more information.\n",
  });
});

test("bin: no daemon listening gives ipvsadm's initialisation failure, exit 2; -h still works", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tslvsadm-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await runBin(["-Ln"], join(dir, "missing.sock"));
  assert.deepEqual(r, {
    code: 2,
    stdout: "",
    stderr:
      "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?\n",
  });
  const h = await runBin(["-h"], join(dir, "missing.sock"));
  assert.equal(h.code, 0);
  assert.ok(
    h.stdout.startsWith(
      "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n  tslvsadm -A|E",
    ),
  );
});

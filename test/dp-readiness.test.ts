/**
 * Readiness: `tslvs start` says it is ready (systemd's READY=1 on $NOTIFY_SOCKET, getInfo's
 * `ready`, `tslvs wait-ready`) only once its data plane forwards. The control socket answers
 * earlier (rules are loaded first); a script that took "tslvsadm answers" for "frames flow" lost
 * its first requests. Here a request sent the moment READY=1 arrives must be answered at once.
 * The notification socket is read by python3's socket module (systemd's protocol is one datagram).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { TSLVS_BIN } from "../src/cli/lab/paths.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import { connect } from "../src/control/client.js";
import { curl, LineProcess, labPrefix, startRealServers, waitFor } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
s.settimeout(30)
print(s.recv(4096).decode().replace("\\n", " "), flush=True)
`;

test("the director says READY=1 (systemd, getInfo, wait-ready) only once it forwards: a request sent then is answered", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("ready"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-ready-"));
  const notifySocket = join(dir, "notify");
  const sock = join(dir, "tslvs.sock");
  let daemon: ReturnType<NetLab["spawn"]> | undefined;
  let receiver: LineProcess | undefined;
  try {
    const topo = buildNatLab(lab);
    await startRealServers(lab, topo.servers);
    const config = join(dir, "tslvs.yaml");
    writeFileSync(
      config,
      [
        "version: 1",
        "services:",
        `  - tcp: ${topo.vip}:80`,
        "    scheduler: rr",
        "    servers:",
        ...topo.servers.flatMap((rs) => [`      - address: ${rs.rip}:80`, "        method: masq"]),
        "",
      ].join("\n"),
    );
    receiver = new LineProcess(spawn("python3", ["-c", RECEIVER, notifySocket]), "the notify receiver");
    assert.equal(await receiver.nextLine(10000), "listening");
    daemon = lab.spawn(
      topo.director,
      [
        "node",
        TSLVS_BIN,
        "start",
        "--socket",
        sock,
        "--config",
        config,
        "--state",
        join(dir, "state.yaml"),
      ].concat(["--interface", topo.outsideIf, "--interface", topo.insideIf]),
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NOTIFY_SOCKET: notifySocket } },
    );
    let log = "";
    daemon.stdout?.on("data", (d: Buffer) => (log += d.toString()));
    daemon.stderr?.on("data", (d: Buffer) => (log += d.toString()));

    // What getInfo says from the moment the socket answers until the notification came.
    const seen: boolean[] = [];
    let notified: string | undefined;
    void receiver.nextLine(30000).then((l) => (notified = l));
    await waitFor(`no READY=1 came (log: ${log})`, 30000, () => {
      if (notified !== undefined) return true;
      if (!existsSync(sock)) return undefined;
      void connect(sock)
        .then(async (c) => {
          const info = await c.call({ op: "getInfo" });
          if (notified === undefined) seen.push(info.ready);
          c.close();
        })
        .catch(() => {});
      return undefined;
    });
    // The notification: sent once, after every served interface is attached.
    assert.match(notified!, /^READY=1 STATUS=forwarding/);
    const reply = curl(lab, topo.client, `http://${topo.vip}/`, [], 5);
    assert.equal(reply.status, 200, "a request sent as READY=1 arrived is answered");
    const lines = log.split("\n").filter(Boolean);
    const readyAt = lines.findIndex((l) => l.includes('"msg":"ready"'));
    const serving = lines.flatMap((l, i) => (l.includes('"serving interface"') ? [i] : []));
    assert.equal(serving.length, 2, log);
    assert.ok(readyAt > Math.max(...serving), "ready is said after the interfaces are attached");
    t.diagnostic(`getInfo before READY=1: ${JSON.stringify(seen)}`);
    assert.ok(!seen.slice(0, -1).includes(true), "no getInfo said ready before the notification");

    const w = spawnSync("node", [TSLVS_BIN, "wait-ready", "--socket", sock, "--timeout", "5"], {
      encoding: "utf8",
    });
    assert.equal(w.status, 0, w.stderr);
    assert.equal(w.stdout, "ready (af_xdp)\n");
  } finally {
    daemon?.kill("SIGTERM");
    await new Promise((r) => (daemon && daemon.exitCode === null ? daemon.once("exit", r) : r(null)));
    receiver?.child.kill();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("wait-ready gives up with exit 1 and says why when no daemon answers", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tslvs-ready-"));
  try {
    const w = spawnSync(
      "node",
      [TSLVS_BIN, "wait-ready", "--socket", join(dir, "none.sock"), "--timeout", "0.2"],
      {
        encoding: "utf8",
      },
    );
    assert.equal(w.status, 1);
    assert.match(w.stderr, /^tslvs wait-ready: not ready after 0\.2 s: the daemon at .* does not answer/);
    t.diagnostic(w.stderr.trim());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * tslvsadm start-up: median wall time of whole invocations (process start to exit) against a
 * socket serving the test double of the daemon, next to a bare `node -e 0` measured in the same run.
 * Run: node dist/bench/startup.js [runs]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";

const runs = Number(process.argv[2] ?? 21);
const root = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "tslvsadm-startup-"));
const socket = join(dir, "s.sock");

// The server lives in a worker: spawnSync blocks this thread.
const server = new Worker(
  `const { parentPort, workerData } = require("node:worker_threads");
  (async () => {
    const { TestIpvsDaemon } = await import(workerData.root + "/dist/test/helpers/ipvsadm-test-daemon.js");
    const { serveTestDaemon } = await import(workerData.root + "/dist/test/helpers/socket-test-daemon.js");
    const d = new TestIpvsDaemon();
    const c = d.client();
    const id = { protocol: "tcp", addr: "10.0.0.1", port: 80 };
    await c.call({ op: "addService", config: { id, scheduler: "rr", flags: 0, timeout: 0, netmask: "255.255.255.255", pe: "" } });
    await c.call({ op: "addDest", service: id, dest: { addr: "192.168.0.1", port: 80, method: "masq", weight: 1, uThreshold: 0, lThreshold: 0, tunType: "ipip", tunPort: 0, tunCsum: "nocsum" } });
    await serveTestDaemon(d, workerData.socket);
    parentPort.postMessage("ready");
  })();`,
  { eval: true, workerData: { root, socket } },
);
await new Promise((resolve) => server.once("message", resolve));

function median(cmd: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    spawnSync(cmd[0]!, cmd.slice(1), { stdio: "ignore", env: { ...process.env, TSLVS_SOCKET: socket } });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return times.sort((a, b) => a - b)[times.length >> 1]!;
}

const bin = join(root, "bin", "tslvsadm");
const base = median([process.execPath, "-e", "0"]);
console.log(`node -e 0: ${base.toFixed(1)} ms`);
for (const args of [["-h"], ["-Ln"], ["-L", "-n", "-t", "10.0.0.1:80"], ["-A", "-t", "10.0.0.1:80"]]) {
  const t = median([process.execPath, bin, ...args]);
  console.log(`tslvsadm ${args.join(" ")}: ${t.toFixed(1)} ms (+${(t - base).toFixed(1)} ms)`);
}
await server.terminate();
rmSync(dir, { recursive: true, force: true });

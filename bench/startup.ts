/**
 * tslvsadm start-up: median wall time of whole invocations (process start to exit) against a
 * socket served by the daemon's real request handler and core, next to a bare `node -e 0` measured in
 * the same run.
 * Run: node dist/bench/startup.js [runs]
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const runs = Number(process.argv[2] ?? 21);
const root = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "tslvsadm-startup-"));
const socket = join(dir, "s.sock");

// The server lives in a process of its own: spawnSync blocks this thread (and the control server
// sets the process's umask, which a worker may not).
const server = spawn(
  process.execPath,
  [
    "--input-type=module",
    "-e",
    `const { startServer } = await import(${JSON.stringify(`${root}/dist/test/support/control-fixtures.js`)});
    const { handler } = await startServer(${JSON.stringify(socket)});
    const id = { protocol: "tcp", addr: "198.18.0.10", port: 80 };
    handler.handle({ op: "addService", config: { id, scheduler: "rr", flags: 0, timeout: 0, netmask: "255.255.255.255", pe: "" } });
    handler.handle({ op: "addDest", service: id, dest: { addr: "198.19.0.1", port: 80, method: "masq", weight: 1, uThreshold: 0, lThreshold: 0, tunType: "ipip", tunPort: 0, tunCsum: "nocsum" } });
    process.stdout.write("ready\\n");`,
  ],
  { stdio: ["ignore", "pipe", "inherit"] },
);
await new Promise((resolve) => server.stdout.once("data", resolve));

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
for (const args of [["-h"], ["-Ln"], ["-L", "-n", "-t", "198.18.0.10:80"], ["-A", "-t", "198.18.0.10:80"]]) {
  const t = median([process.execPath, bin, ...args]);
  console.log(`tslvsadm ${args.join(" ")}: ${t.toFixed(1)} ms (+${(t - base).toFixed(1)} ms)`);
}
server.kill();
rmSync(dir, { recursive: true, force: true });

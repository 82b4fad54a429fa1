import assert from "node:assert/strict";
import { type ChildProcess, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { RS_SERVER_JS, TSLVS_BIN, TSLVSADM_BIN } from "../src/cli/lab/paths.js";
import { patternByte } from "../src/cli/lab/rs-server.js";
import { buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import { haveRoot } from "./support/privileged.js";
import { tcxLinkOn } from "./support/tcx-links.js";
import { labPrefix } from "./support/test-owner.js";

// A daemon restart under load (stop, then start within seconds) in the classic NAT lab: the XDP
// steering is held by a holder process while no daemon runs, the connection table goes through
// the handover file, and a slow download over one TCP connection finishes byte-exact. A stop with
// no start after it leaves nothing on the interfaces once the grace period is over.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rig {
  lab: NetLab;
  t: NatTopology;
  dir: string;
  sock: string;
  state: string;
}

function adm(r: Rig, args: string[]): string {
  return execFileSync(process.execPath, [TSLVSADM_BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, TSLVS_SOCKET: r.sock },
  });
}

async function until(what: string, ok: () => boolean, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (ok()) return;
    await sleep(50);
  }
  throw new Error(`gave up waiting: ${what}`);
}

type Mode = "generic" | "tc" | "auto" | "native";

function startDaemon(r: Rig, grace: number, mode: Mode): { child: ChildProcess; log: () => string } {
  const child = r.lab.spawn(r.t.director, [
    process.execPath,
    TSLVS_BIN,
    "start",
    "--socket",
    r.sock,
    "--state",
    r.state,
    "--interface",
    r.t.outsideIf,
    "--interface",
    r.t.insideIf,
    "--xdp-mode",
    mode,
    "--restart-grace",
    String(grace),
  ]);
  let log = "";
  child.stdout?.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  return { child, log: () => log };
}

async function daemonUp(r: Rig, d: { child: ChildProcess; log: () => string }): Promise<void> {
  await until(`the daemon answers (log: ${d.log()})`, () => {
    if (d.child.exitCode !== null) throw new Error(`the daemon exited:\n${d.log()}`);
    if (!d.log().includes("serving interface")) return false;
    try {
      adm(r, ["-ln"]);
      return true;
    } catch {
      return false;
    }
  });
}

async function stopDaemon(d: { child: ChildProcess }): Promise<void> {
  const done = new Promise((resolve) => d.child.once("exit", resolve));
  d.child.kill("SIGTERM");
  await done;
}

/** The steering program is attached to the director's `ifname` (at XDP, or at TC ingress). */
function steeringOn(r: Rig, ifname: string, mode: Mode): boolean {
  if (mode === "tc") return tcxLinkOn(r.lab, r.t.director, ifname);
  return /xdp/.test(r.lab.exec(r.t.director, ["ip", "link", "show", ifname]));
}

/** The tc mode's slow-path veths in the director's namespace. */
function slowPathVeths(r: Rig): string[] {
  return r.lab
    .exec(r.t.director, ["ls", "/sys/class/net"])
    .split(/\s+/)
    .filter((n) => n.startsWith("tslvs-sp"));
}

async function natLab(prefix: string): Promise<Rig> {
  const lab = new NetLab(labPrefix(prefix));
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const r: Rig = {
    lab,
    t: undefined as unknown as NatTopology,
    dir,
    sock: join(dir, "tslvs.sock"),
    state: join(dir, "state.yaml"),
  };
  r.t = buildNatLab(lab, 1);
  // Offloads off: every frame is a whole packet with a full checksum (a NIC's view of the wire).
  const off = (host: string, ifname: string) =>
    lab.exec(host, ["ethtool", "-K", ifname, "tx", "off", "tso", "off", "gso", "off", "gro", "off"]);
  off(r.t.client, "eth0");
  off(r.t.director, r.t.outsideIf);
  off(r.t.director, r.t.insideIf);
  off(r.t.servers[0]!.host, "eth0");
  const rs = lab.spawn(r.t.servers[0]!.host, [
    process.execPath,
    RS_SERVER_JS,
    "--name",
    "RS2",
    "--port",
    "80",
    // The server must not close the connection while the slow download is still in flight.
    "--keepalive-ms",
    "120000",
  ]);
  await new Promise<void>((resolve, reject) => {
    rs.stdout?.once("data", () => resolve());
    rs.once("exit", () => reject(new Error("the real server's web server exited")));
  });
  return r;
}

/** The lab's service: VIP:80, rr, its one real server by NAT. */
function addWebService(r: Rig): void {
  adm(r, ["-A", "-t", `${r.t.vip}:80`, "-s", "rr"]);
  adm(r, ["-a", "-t", `${r.t.vip}:80`, "-r", `${r.t.servers[0]!.rip}:80`, "-m"]);
}

async function cleanup(r: Rig): Promise<void> {
  await r.lab.destroy();
  rmSync(r.dir, { recursive: true, force: true });
}

for (const mode of ["generic", "tc"] as const)
  test(`a daemon restart under load breaks no established connection: a slow download finishes byte-exact (${mode})`, async (t) => {
    if (!haveRoot(t)) return;
    const r = await natLab(`rbt-restart-${mode}`);
    try {
      const first = startDaemon(r, 10, mode);
      await daemonUp(r, first);
      addWebService(r);

      // About 6 s at 64 KiB/s: the restart falls in the middle of it.
      const size = 384 * 1024;
      const out = join(r.dir, "download");
      const curl = r.lab.spawn(r.t.client, [
        "curl",
        "-sS",
        "--max-time",
        "60",
        "-o",
        out,
        `http://${r.t.vip}/bytes/${size}?rate=65536`,
      ]);
      let curlErr = "";
      curl.stderr?.on("data", (d: Buffer) => (curlErr += d.toString()));
      const curlDone = new Promise<number | null>((resolve) => curl.once("exit", resolve));
      await until("the download started", () => existsSync(out) && statSync(out).size > 64 * 1024);
      const before = adm(r, ["-lnc"]);
      assert.match(before, /ESTABLISHED/);

      await stopDaemon(first);
      const atStop = statSync(out).size;
      assert.ok(existsSync(`${r.state}.handover.json`), "the stopping daemon wrote its handover");
      assert.ok(steeringOn(r, r.t.outsideIf, mode), "the steering is held while no daemon runs");
      await sleep(500);
      const second = startDaemon(r, 10, mode);
      await daemonUp(r, second);
      t.diagnostic(`restarted with ${atStop} of ${size} bytes received`);
      assert.ok(atStop < size, "the download was still going when the daemon stopped");
      assert.match(second.log(), /took over the previous daemon's connections/);
      assert.match(second.log(), /took over the held XDP link/);
      assert.ok(!existsSync(`${r.state}.handover.json`), "the handover is read once");

      assert.equal(await curlDone, 0, `curl failed: ${curlErr}`);
      const got = readFileSync(out);
      const want = Buffer.alloc(size);
      for (let i = 0; i < size; i++) want[i] = patternByte(i);
      assert.equal(got.length, size);
      assert.equal(
        createHash("sha256").update(got).digest("hex"),
        createHash("sha256").update(want).digest("hex"),
      );
      // The one connection lived through: the real server counted a single connection.
      const stats = adm(r, ["-ln", "--stats"]);
      t.diagnostic(stats);
      assert.match(stats, new RegExp(`-> ${r.t.servers[0]!.rip.replace(/\./g, "\\.")}:80\\s+1\\s`));
      await stopDaemon(second);
    } finally {
      await cleanup(r);
    }
  });

for (const mode of ["generic", "tc"] as const)
  test(`a stop with no start after it leaves nothing behind once the grace period is over (${mode})`, async (t) => {
    if (!haveRoot(t)) return;
    const r = await natLab(`rbt-stop-${mode}`);
    try {
      const d = startDaemon(r, 2, mode);
      await daemonUp(r, d);
      addWebService(r);
      assert.equal(
        r.lab.exec(r.t.client, ["curl", "-sS", "--max-time", "10", `http://${r.t.vip}/`]),
        "RS2\n",
      );
      await stopDaemon(d);
      assert.ok(
        steeringOn(r, r.t.outsideIf, mode) && steeringOn(r, r.t.insideIf, mode),
        "held during the grace period",
      );
      assert.deepEqual(slowPathVeths(r), [], "the slow-path veths went with the daemon");
      // The holder exits after 2 s; allow it up to 10 s more.
      await until(
        "the held links are gone",
        () => !steeringOn(r, r.t.outsideIf, mode) && !steeringOn(r, r.t.insideIf, mode),
        240,
      );
      const pids = execFileSync("ip", ["netns", "pids", r.lab.ns(r.t.director)], { encoding: "utf8" }).trim();
      assert.equal(pids, "", "no process is left in the director's namespace");
      assert.ok(!existsSync("/sys/fs/bpf/tslvs"), "nothing is pinned");
      assert.equal(
        r.lab.exec(r.t.director, ["sh", "-c", "ls /sys/fs/bpf/tslvs 2>/dev/null | wc -l"]).trim(),
        "0",
      );
      // The host has its VIP back: it answers the client itself (a RST to port 80, no listener).
      const refused = r.lab.exec(r.t.client, [
        "sh",
        "-c",
        `curl -sS --max-time 5 http://${r.t.vip}/ 2>&1; true`,
      ]);
      assert.match(refused, /couldn't connect|refused|reset/i);
      // A start after the grace period finds the stale handover and ignores it.
      const again = startDaemon(r, 2, mode);
      await daemonUp(r, again);
      assert.match(again.log(), /handover file ignored/);
      assert.equal(
        adm(r, ["-lnc"])
          .split("\n")
          .filter((l) => /^TCP/.test(l)).length,
        0,
      );
      await stopDaemon(again);
    } finally {
      await cleanup(r);
    }
  });

for (const next of ["tc", "auto", "native"] as const)
  test(`tc mode: a killed daemon's slow-path veths are removed by the next start (${next}), which serves again`, async (t) => {
    if (!haveRoot(t)) return;
    const r = await natLab(`rbt-kill-${next}`);
    try {
      const d = startDaemon(r, 0, "tc");
      await daemonUp(r, d);
      assert.equal(slowPathVeths(r).length, 4, "one pair per served interface");
      addWebService(r);
      assert.equal(
        r.lab.exec(r.t.client, ["curl", "-sS", "--max-time", "10", `http://${r.t.vip}/`]),
        "RS2\n",
      );
      // The state file is written at most every 200 ms: the real server must be in it before the kill.
      const rip = r.t.servers[0]!.rip;
      await until(
        "the state file has the real server",
        () => existsSync(r.state) && readFileSync(r.state, "utf8").includes(rip),
      );
      const gone = new Promise((resolve) => d.child.once("exit", resolve));
      d.child.kill("SIGKILL");
      await gone;
      // The kernel detached the programs with the daemon's last link fds; the veths stay behind.
      await until("the tcx links are gone", () => !steeringOn(r, r.t.outsideIf, "tc"));
      assert.equal(slowPathVeths(r).length, 4, "a killed daemon leaves its veths");
      const again = startDaemon(r, 0, next);
      await daemonUp(r, again);
      assert.match(again.log(), /removed slow-path veths left by a previous daemon/);
      // `auto` serves veth in the tc mode (new veths of its own); native XDP needs none.
      assert.equal(slowPathVeths(r).length, next === "native" ? 0 : 4);
      const answer = r.lab.exec(r.t.client, [
        "sh",
        "-c",
        `curl -sS --max-time 10 http://${r.t.vip}/ 2>&1; true`,
      ]);
      assert.equal(answer, "RS2\n", again.log());
      await stopDaemon(again);
      assert.deepEqual(slowPathVeths(r), [], "a stop removes them");
      assert.ok(!steeringOn(r, r.t.outsideIf, "tc") && !steeringOn(r, r.t.insideIf, "tc"));
    } finally {
      await cleanup(r);
    }
  });

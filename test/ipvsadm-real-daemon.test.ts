/**
 * ipvsadm 1.31's verified transcripts (CLI spec section 9) replayed through tslvsadm against the REAL
 * daemon (`bin/tslvs start --no-dataplane`, the core Director behind the control socket): what the
 * kernel refuses, the core refuses, and every listing byte matches. Each test gets a fresh daemon.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { connectSocket } from "../src/cli/ipvsadm/connect.js";
import { GOLDENS } from "./fixtures/ipvsadm-spec-goldens.js";
import { Ipvsadm } from "./helpers/ipvsadm-run.js";
import { parseTranscript } from "./helpers/transcript.js";
import { tempDir } from "./support/control-fixtures.js";
import { DaemonProcess } from "./support/daemon-process.js";

const running: DaemonProcess[] = [];
const dirs: { cleanup(): void }[] = [];

after(() => {
  for (const d of running) d.kill();
  for (const t of dirs) t.cleanup();
});

async function realDaemon(): Promise<{ ipvsadm: Ipvsadm; daemon: DaemonProcess }> {
  const tmp = tempDir("goldens");
  dirs.push(tmp);
  const socket = join(tmp.dir, "tslvs.sock");
  const daemon = DaemonProcess.spawn([
    "start",
    "--no-dataplane",
    "--socket",
    socket,
    "--state",
    join(tmp.dir, "s.yaml"),
  ]);
  running.push(daemon);
  (await daemon.client(socket)).close();
  return { ipvsadm: new Ipvsadm(() => connectSocket(socket)), daemon };
}

async function replay(ipvsadm: Ipvsadm, transcript: string): Promise<void> {
  for (const step of parseTranscript(transcript)) {
    const r = await ipvsadm.run(step.args, step.stdin === undefined ? {} : { stdin: step.stdin });
    assert.equal(r.stdout, step.stdout, `stdout of: ${step.command}`);
    assert.equal(r.stderr, step.stderr, `stderr of: ${step.command}`);
    assert.equal(r.code, step.exit ?? 0, `exit of: ${step.command}`);
  }
}

describe("tslvsadm against the real daemon", () => {
  test("9.1 the classic NAT example", async () => {
    const { ipvsadm, daemon } = await realDaemon();
    await replay(ipvsadm, GOLDENS["9.1"]![0]!);
    await replay(ipvsadm, GOLDENS["9.1"]![2]!);
    assert.equal(await daemon.stop(), 0);
  });

  test("9.2-9.4 persistence, fwmark, UDP+OPS, IPv6, SCTP, tunnels; --tun-info/--thresholds/-S", async () => {
    const { ipvsadm, daemon } = await realDaemon();
    await replay(ipvsadm, GOLDENS["9.2"]![0]!);
    await replay(ipvsadm, GOLDENS["9.2"]![1]!);
    await replay(ipvsadm, GOLDENS["9.3"]![0]!);
    await replay(ipvsadm, GOLDENS["9.4"]![0]!);
    assert.equal(await daemon.stop(), 0);
  });

  test("9.11 error paths: the core refuses as the kernel does", async () => {
    const { ipvsadm, daemon } = await realDaemon();
    await replay(ipvsadm, GOLDENS["9.2"]![0]!);
    for (const t of GOLDENS["9.11"]!) await replay(ipvsadm, t);
    assert.equal(await daemon.stop(), 0);
  });

  test("9.12 restore, and -S | -R rebuilds what -S shows", async () => {
    const { ipvsadm, daemon } = await realDaemon();
    for (const t of GOLDENS["9.12"]!) await replay(ipvsadm, t);
    const saved = await ipvsadm.run("-S -n");
    const second = await realDaemon();
    const r = await second.ipvsadm.run("-R", { stdin: saved.stdout });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await second.ipvsadm.run("-S -n")).stdout, saved.stdout);
    assert.equal((await second.ipvsadm.run("-ln")).stdout, (await ipvsadm.run("-ln")).stdout);
    assert.equal(await daemon.stop(), 0);
    assert.equal(await second.daemon.stop(), 0);
  });

  test("--set changes the timeouts, 0 leaves one unchanged", async () => {
    // (9.8's sync-daemon part names interfaces of the capture host; the daemon checks they exist.)
    const { ipvsadm, daemon } = await realDaemon();
    assert.equal((await ipvsadm.run("-L --timeout")).stdout, "Timeout (tcp tcpfin udp): 900 120 300\n");
    assert.equal((await ipvsadm.run("--set 30 0 10")).code, 0);
    assert.equal((await ipvsadm.run("-L --timeout")).stdout, "Timeout (tcp tcpfin udp): 30 120 10\n");
    assert.equal(await daemon.stop(), 0);
  });
});

describe("plugin schedulers in the daemon", () => {
  test("--scheduler-plugin registers a scheduler that -s can name; an unknown one is refused", async () => {
    const tmp = tempDir("plugin");
    dirs.push(tmp);
    const socket = join(tmp.dir, "tslvs.sock");
    const plugin = fileURLToPath(new URL("../../examples/schedulers/random-weighted.js", import.meta.url));
    const daemon = DaemonProcess.spawn([
      "start",
      "--no-dataplane",
      "--socket",
      socket,
      "--state",
      join(tmp.dir, "s.yaml"),
      "--scheduler-plugin",
      plugin,
    ]);
    running.push(daemon);
    (await daemon.client(socket)).close();
    const ipvsadm = new Ipvsadm(() => connectSocket(socket));
    assert.equal((await ipvsadm.run("-A -t 198.18.0.10:80 -s random-weighted")).code, 0);
    assert.match((await ipvsadm.run("-Ln")).stdout, /TCP {2}198\.18\.0\.10:80 random-weighted\n/);
    const unknown = await ipvsadm.run("-A -t 198.18.0.11:80 -s no-such-scheduler");
    assert.deepEqual([unknown.code, unknown.stderr], [255, "Scheduler or persistence engine not found\n"]);
    assert.equal(await daemon.stop(), 0);
  });
});

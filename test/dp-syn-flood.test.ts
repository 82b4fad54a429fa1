/**
 * A spoofed SYN flood toward a NAT VIP whose return route leads to a next hop that never answers
 * ARP: the real servers' SYN-ACKs all need that next hop. The director used to spawn an `ip neigh`
 * process per spoofed destination (~300, each a fork of the daemon) and stop answering tslvsadm for
 * over a minute. Now neighbours are solicited over rtnetlink, one resolution per next hop, with a
 * bounded number under way: the daemon spawns nothing, tslvsadm keeps answering, and a legitimate
 * client is served during and after the flood. The flood is bounded (60,000 frames).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { TSLVS_BIN } from "../src/cli/lab/paths.js";
import { buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import { connect } from "../src/control/client.js";
import { buildFrame, V4 } from "./net-frames.js";
import {
  curl,
  DirectorProcess,
  labPrefix,
  sleep,
  startRealServers,
  supportScript,
  waitFor,
} from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

const FRAMES = 60000;
const SYN = 0x02;

/** `count` SYNs to VIP:80 from spoofed sources in 198.18.128.0/17, as hex lines for dp-raw-send. */
function writeSpoofedSyns(lab: NetLab, topo: NatTopology, file: string, count: number): string {
  const mac = (host: string, ifname: string) =>
    lab
      .mac(host, ifname)
      .split(":")
      .map((h) => Number.parseInt(h, 16));
  const dstMac = mac(topo.director, topo.outsideIf);
  const srcMac = mac(topo.client, "eth0");
  const vip = topo.vip.split(".").map(Number) as [number, number, number, number];
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const frame = buildFrame({
      family: 4,
      protocol: 6,
      src: V4(198, 18, 128 + ((i >>> 16) & 127), (i >>> 8) & 255).map((w, k) =>
        k === 0 ? (w | (i & 255)) >>> 0 : w,
      ),
      dst: V4(...vip),
      sport: 1024 + (i % 60000),
      dport: 80,
      tcpFlags: SYN,
      seq: i * 7919,
      dstMac,
      srcMac,
    });
    lines.push(Buffer.from(frame).toString("hex"));
  }
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** Every process the daemon `pid` has started that is still running (any of its threads'). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    /* the daemon ended: the test fails elsewhere */
  }
  return out;
}

test("a spoofed SYN flood with an unresolvable return next hop: no process spawned, tslvsadm answers, a client is served", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("synflood"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-flood-"));
  let director: DirectorProcess | undefined;
  try {
    const topo = buildNatLab(lab);
    await startRealServers(lab, topo.servers);
    // The spoofed sources (198.18.128.0/17) route through a next hop on the outside link that
    // nobody answers ARP for.
    lab.exec(topo.director, ["ip", "route", "add", "198.18.128.0/17", "via", "198.18.0.200"]);
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    director.adm(["-A", "-t", `${topo.vip}:80`, "-s", "rr"]);
    for (const rs of topo.servers) director.adm(["-a", "-t", `${topo.vip}:80`, "-r", `${rs.rip}:80`, "-m"]);
    assert.equal(curl(lab, topo.client, `http://${topo.vip}/`).status, 200);

    const file = writeSpoofedSyns(lab, topo, join(dir, "syns.hex"), FRAMES);

    const pid = director.child.pid!;
    const spawned = new Set<number>();
    const latencies: number[] = [];
    // The control socket itself, without a process start: one connected client, getInfo round trips.
    const client = await connect(director.socket);
    const roundTrips: number[] = [];
    let flooding = true;
    const flood = (async () => {
      const out = lab.spawn(topo.client, ["node", supportScript("dp-raw-send"), "eth0", file]);
      await new Promise((r) => out.once("exit", r));
      flooding = false;
    })();
    // While the flood runs and for 3 s after (the resolutions it started give up after ~1 s):
    // the daemon's children, and tslvsadm's answers.
    let settleEnd = Number.POSITIVE_INFINITY;
    while (Date.now() < settleEnd) {
      if (!flooding && settleEnd === Number.POSITIVE_INFINITY) settleEnd = Date.now() + 3000;
      for (const c of childrenOf(pid)) spawned.add(c);
      const asked = performance.now();
      await client.call({ op: "getInfo" });
      roundTrips.push(performance.now() - asked);
      const started = performance.now();
      director.adm(["-ln"]);
      latencies.push(performance.now() - started);
      await sleep(20);
    }
    await flood;
    client.close();
    roundTrips.sort((x, y) => x - y);
    t.diagnostic(
      `control socket during the flood: ${roundTrips.length} getInfo round trips, median ${roundTrips[roundTrips.length >> 1]!.toFixed(1)} ms, slowest ${roundTrips.at(-1)!.toFixed(1)} ms`,
    );
    // Before: no answer for 85-90 s after a 10 s flood.
    assert.ok(roundTrips.at(-1)! < 2000, `slowest getInfo: ${roundTrips.at(-1)} ms`);
    t.diagnostic(
      `tslvsadm -ln during the flood: ${latencies.length} calls, slowest ${Math.max(...latencies).toFixed(0)} ms (a tslvsadm process each)`,
    );
    assert.deepEqual([...spawned], [], "the daemon spawned no process");
    assert.ok(latencies.length > 0);
    // Each call is a new node process (~100-200 ms of its own); a daemon that stopped answering
    // made them wait for tens of seconds.
    assert.ok(Math.max(...latencies) < 5000, `slowest tslvsadm answer: ${Math.max(...latencies)} ms`);
    // ActiveConn + InActConn of the real servers in -Ln.
    const conns = director
      .adm(["-Ln"])
      .split("\n")
      .filter((l) => l.includes("Masq"))
      .map((l) => l.trim().split(/\s+/))
      .reduce((n, f) => n + Number(f[4]) + Number(f[5]), 0);
    t.diagnostic(`connections (active + inactive) after the flood: ${conns}`);
    assert.ok(conns > 1000, "the spoofed SYNs were scheduled");
    assert.equal(
      curl(lab, topo.client, `http://${topo.vip}/`).status,
      200,
      "a client is served after the flood",
    );
    await director.stop();
    t.diagnostic(`engine counters: ${JSON.stringify(director.engineCounters())}`);
  } finally {
    await director?.stop();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a full connection table is an event: a warning, and tslvs status counts the refused connections", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("tabfull"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-full-"));
  let director: DirectorProcess | undefined;
  try {
    const topo = buildNatLab(lab);
    await startRealServers(lab, topo.servers);
    director = await DirectorProcess.start(
      lab,
      topo.director,
      [topo.outsideIf, topo.insideIf],
      ["--conn-capacity", "256"],
    );
    director.adm(["-A", "-t", `${topo.vip}:80`, "-s", "rr"]);
    for (const rs of topo.servers) director.adm(["-a", "-t", `${topo.vip}:80`, "-r", `${rs.rip}:80`, "-m"]);
    const status = () =>
      execFileSync("node", [TSLVS_BIN, "status", "--socket", director!.socket], { encoding: "utf8" });
    assert.match(status(), /^refused because the table was full: 0$/m);
    const file = writeSpoofedSyns(lab, topo, join(dir, "syns.hex"), 1000);
    lab.exec(topo.client, ["node", supportScript("dp-raw-send"), "eth0", file]);
    await waitFor("no table-full warning", 5000, () =>
      director!.log.includes("connection table full") ? true : undefined,
    );
    const text = status();
    t.diagnostic(text);
    assert.match(text, /^state: +forwarding \(af_xdp\)$/m);
    assert.match(text, /^connections: 256 of 256 \(100\.0 %\)/m);
    const refused = Number(/^refused because the table was full: (\d+)$/m.exec(text)?.[1]);
    assert.ok(refused >= 1000 - 256, `refused ${refused}`);
    const warn = director.log.split("\n").find((l) => l.includes("connection table full"))!;
    assert.equal(JSON.parse(warn).capacity, 256);
  } finally {
    await director?.stop();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Health checking at scale, against the same daemon without the checks, in one run.
 *
 *   load    The classic NAT lab; a "farm" host on the real servers' switch holds 2,000 addresses
 *           (198.19.64.1-198.19.71.208 on one interface) with one HTTP server (:80) and one TLS
 *           server (:443, an ECDSA P-256 certificate made with openssl for the run). The director
 *           (tslvs start --keepalived-conf, data plane on, CPU 1) checks 1,000 real servers with
 *           HTTP_GET and 1,000 with SSL_GET at delay_loop 1, and forwards a NAT service VIP:80 with
 *           two unchecked real servers. Rounds alternate two files that program the same rules: with
 *           the checkers ("on") and without them ("off"), switched with `tslvs reload`. Per phase:
 *           the daemon's CPU while idle (the process from /proc/PID/stat, and its threads from
 *           /proc/PID/task/TID/stat), then new connections through the VIP (tcp-crr, 32 loops:
 *           connections/s; one loop: p50/p99 latency) with the daemon's CPU during it.
 *   detect  TCP_CHECK at delay_loop 1 (connect_timeout 1, retry 0) on four farm addresses: one is
 *           failed (nft in the farm: its port 80 dropped, "blackhole", or answered with a reset,
 *           "refused"), and the time until the director no longer lists it is polled every 10 ms
 *           on the control socket; then healed, and the time until it is listed again. With the
 *           2,000 other checks off and on.
 *   scale   --no-dataplane, a 10,000-real-server keepalived.conf (1,000 virtual servers x 10,
 *           TCP_CHECK at delay_loop 60) in a namespace where 198.19.0.0/16 is local (AnyIP) and a
 *           listener on :80 answers the checks: time from `tslvs start` to the "ready" log line,
 *           and of `tslvs reload` after an edit of router_id; the same for a one-server file.
 *
 *   node dist/bench/health-checks.js [--parts load,detect,scale] [--rounds 2] [--seconds 5]
 *        [--idle-seconds 5] [--trials 20] [--servers 1000] [--scale-servers 10000] [--runs 3]
 *        [--cpu-prof DIR]                                    (root; about 10 minutes by default)
 *
 * --cpu-prof DIR: one more start + reload of the large file under `node --cpu-prof`, the profile
 * kept in DIR and its heaviest functions printed per burst of work. Everything the benchmark makes
 * (namespaces, processes, temporary files) is removed at the end, on failure and on Ctrl-C/SIGTERM.
 */
import { type ChildProcess, execFile, execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import { TSLVS_BIN } from "../src/cli/lab/paths.js";
import { buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import type { HealthServiceEntry, ServiceEntry } from "../src/control/api.js";
import { connect, type SocketClient } from "../src/control/client.js";
import { makeEcdsaCert } from "../test/support/certificate.js";

interface Options {
  parts: Set<string>;
  rounds: number;
  seconds: number;
  idleSeconds: number;
  trials: number;
  servers: number;
  scaleServers: number;
  runs: number;
  cpuProf: string | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    parts: new Set(["load", "detect", "scale"]),
    rounds: 2,
    seconds: 5,
    idleSeconds: 5,
    trials: 20,
    servers: 1000,
    scaleServers: 10000,
    runs: 3,
    cpuProf: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const num = () => {
      const n = Number(v);
      if (!(Number.isFinite(n) && n > 0)) throw new Error(`${a} wants a positive number`);
      i++;
      return n;
    };
    if (a === "--parts") {
      o.parts = new Set((v ?? "").split(","));
      i++;
    } else if (a === "--rounds") o.rounds = num();
    else if (a === "--seconds") o.seconds = num();
    else if (a === "--idle-seconds") o.idleSeconds = num();
    else if (a === "--trials") o.trials = num();
    else if (a === "--servers") o.servers = num();
    else if (a === "--scale-servers") o.scaleServers = num();
    else if (a === "--runs") o.runs = num();
    else if (a === "--cpu-prof") {
      o.cpuProf = v ?? "";
      i++;
    } else throw new Error(`unknown option ${a} (see the comment at the top of bench/health-checks.ts)`);
  }
  if (o.servers > 1000) throw new Error("--servers: at most 1000 of each kind (2,000 farm addresses)");
  if (o.scaleServers > 60000) throw new Error("--scale-servers: at most 60000");
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TICK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

function median(xs: number[]): number {
  return pct(xs, 50);
}
function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);

// ---------------------------------------------------------------------------------------------
// Everything made, for the cleanup

const labs: NetLab[] = [];
let work = "";
async function cleanup(): Promise<void> {
  for (const lab of labs.splice(0)) {
    const left = await lab.destroy();
    for (const l of left) process.stderr.write(`could not delete ${l}\n`);
  }
  if (work) rmSync(work, { recursive: true, force: true });
  work = "";
}

function newLab(tag: string): NetLab {
  const lab = new NetLab(`bhc${tag}${process.pid % 100000}`);
  labs.push(lab);
  return lab;
}

function run(argv: string[], timeoutMs = 60000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: timeoutMs }, (err, out, errOut) => {
      if (err) reject(new Error(`${argv.join(" ")}: ${errOut.trim() || err.message}`));
      else resolve(out);
    });
  });
}

/** `tslvs start` in a namespace, its log lines collected with the time each arrived. */
class Daemon {
  lines: { at: number; text: string }[] = [];
  private partial = "";
  readonly started = performance.now();
  private poller: NodeJS.Timeout | null = null;
  /** `logFile`: the daemon's stdout and stderr go to that file (opened as `logFd`), read as it grows. */
  constructor(
    readonly child: ChildProcess,
    readonly socket: string,
    logFd?: number,
  ) {
    const take = (d: Buffer) => {
      const now = performance.now();
      const parts = (this.partial + d.toString()).split("\n");
      this.partial = parts.pop()!;
      for (const text of parts) this.lines.push({ at: now, text });
    };
    if (logFd === undefined) {
      child.stdout?.on("data", take);
      child.stderr?.on("data", take);
      return;
    }
    const buf = Buffer.alloc(1 << 20);
    let pos = 0;
    const poll = () => {
      for (;;) {
        const n = readSync(logFd, buf, 0, buf.length, pos);
        if (n <= 0) break;
        pos += n;
        take(buf.subarray(0, n));
      }
    };
    this.poller = setInterval(poll, 20);
    child.once("exit", () => {
      poll();
      if (this.poller) clearInterval(this.poller);
      closeSync(logFd);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The arrival time of the first log line containing `msg` after index `from`. */
  async waitLine(msg: string, from: number, ms: number): Promise<{ at: number; index: number }> {
    const deadline = performance.now() + ms;
    for (;;) {
      for (let i = from; i < this.lines.length; i++)
        if (this.lines[i]!.text.includes(msg)) return { at: this.lines[i]!.at, index: i };
      if (!this.alive)
        throw new Error(
          `the daemon exited:\n${this.lines
            .map((l) => l.text)
            .join("\n")
            .slice(-3000)}`,
        );
      if (performance.now() > deadline) throw new Error(`no "${msg}" from the daemon within ${ms} ms`);
      await sleep(5);
    }
  }

  reload(): Promise<string> {
    return run(["node", TSLVS_BIN, "reload", "--socket", this.socket]);
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill("SIGTERM");
    await Promise.race([new Promise((r) => this.child.once("exit", r)), sleep(10000)]);
    if (this.alive) this.child.kill("SIGKILL");
  }
}

// ---------------------------------------------------------------------------------------------
// CPU from /proc

interface ThreadCpu {
  tid: number;
  name: string;
  ticks: number;
}

function procTicks(pid: number, tid?: number): number {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  const s = readFileSync(path, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

function threads(pid: number): ThreadCpu[] {
  const out: ThreadCpu[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const tid = Number(t);
      out.push({
        tid,
        name: readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim(),
        ticks: procTicks(pid, tid),
      });
    } catch {
      /* the thread ended */
    }
  }
  return out;
}

interface CpuWindow {
  /** Whole process, share of one CPU. */
  process: number;
  /** The main thread (tid = pid). */
  main: number;
  /** Other threads named "node": the worker threads (the checker thread). */
  workers: number;
  /** Everything else (V8's platform threads, libuv's pool). */
  other: number;
}

async function cpuOver(pid: number, during: () => Promise<void>): Promise<CpuWindow> {
  const t0 = performance.now();
  const p0 = procTicks(pid);
  const th0 = new Map(threads(pid).map((t) => [t.tid, t]));
  await during();
  const p1 = procTicks(pid);
  const th1 = threads(pid);
  const secs = (performance.now() - t0) / 1000;
  const share = (ticks: number) => ticks / TICK / secs;
  let main = 0;
  let workers = 0;
  let other = 0;
  for (const t of th1) {
    const d = t.ticks - (th0.get(t.tid)?.ticks ?? 0);
    if (t.tid === pid) main += d;
    else if (t.name === "node") workers += d;
    else other += d;
  }
  return { process: share(p1 - p0), main: share(main), workers: share(workers), other: share(other) };
}

// ---------------------------------------------------------------------------------------------
// Tools

function buildTools(): { crr: string } {
  const crr = join(work, "tcp-crr");
  const src = fileURLToPath(new URL("../../bench/tcp-crr.c", import.meta.url));
  try {
    execFileSync("gcc", ["-O2", "-o", crr, src], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    throw new Error(`this benchmark compiles bench/tcp-crr.c with gcc: ${(e as Error).message}`);
  }
  return { crr };
}

function makeCert(): { cert: string; key: string } {
  return makeEcdsaCert(work, "farm.bench");
}

/** The farm: one HTTP and one TLS server on every address; prints "ready". */
const FARM = `
const http = require("node:http"), https = require("node:https"), fs = require("node:fs");
const [cert, key] = process.argv.slice(1);
const answer = (q, s) => { s.writeHead(200, { "content-type": "text/plain", "content-length": "3" }); s.end("ok\\n"); };
let up = 0;
const ready = () => { if (++up === 2) console.log("ready"); };
http.createServer(answer).listen(80, "0.0.0.0", ready);
https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, answer).listen(443, "0.0.0.0", ready);`;

/** A TCP listener that accepts and closes (TCP_CHECK's peer); prints "ready". */
const ACCEPTOR = `
require("node:net").createServer((c) => c.destroy()).listen(80, "0.0.0.0", () => console.log("ready"));`;

function waitReady(child: ChildProcess, what: string, ms = 15000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error(`${what} did not say ready: ${out}`)), ms);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) {
        clearTimeout(t);
        resolve();
      }
    });
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`${what} exited (${code}): ${out}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// keepalived.conf files

/** Farm address number i (1..2047) in 198.19.64.0/21. */
const farmAddr = (i: number) => `198.19.${64 + (i >> 8)}.${i & 255}`;
const DETECT_PORT = 90;
const DETECT_ADDRS = [2001, 2002, 2003, 2004].map(farmAddr);

function vs(vip: string, port: number, timing: string[], servers: string[][]): string {
  return [
    `virtual_server ${vip} ${port} {`,
    "    lvs_sched rr",
    "    lvs_method NAT",
    "    protocol TCP",
    ...timing.map((l) => `    ${l}`),
    ...servers.flatMap((s) => s.map((l) => `    ${l}`)),
    "}",
  ].join("\n");
}

function rs(addr: string, port: number, checker: string[]): string[] {
  return [`real_server ${addr} ${port} {`, "    weight 1", ...checker.map((l) => `    ${l}`), "}"];
}

/** The load part's file: same rules with and without the 2,000 checkers. */
function loadConf(topo: NatTopology, servers: number, checks: boolean): string {
  const out = ["global_defs {", "    router_id bench-health", "}"];
  out.push(
    vs(
      topo.vip,
      80,
      ["delay_loop 1"],
      topo.servers.map((s) => rs(s.rip, 80, [])),
    ),
  );
  out.push(
    vs(
      topo.vip,
      DETECT_PORT,
      ["delay_loop 1"],
      DETECT_ADDRS.map((a) => rs(a, 80, ["TCP_CHECK {", "    connect_timeout 1", "    retry 0", "}"])),
    ),
  );
  const perVs = 100;
  for (const [kind, port, first] of [
    ["HTTP_GET", 80, 1],
    ["SSL_GET", 443, 1001],
  ] as const) {
    const checker = checks
      ? [
          `${kind} {`,
          "    url {",
          "        path /health",
          "        status_code 200",
          "    }",
          "    connect_timeout 2",
          "    retry 1",
          "    delay_before_retry 1",
          "}",
        ]
      : [];
    for (let g = 0; g * perVs < servers; g++) {
      const members: string[][] = [];
      for (let j = g * perVs; j < Math.min(servers, (g + 1) * perVs); j++)
        members.push(rs(farmAddr(first + j), port, checker));
      out.push(vs(topo.vip, (port === 80 ? 1000 : 2000) + g, ["delay_loop 1"], members));
    }
  }
  return `${out.join("\n")}\n`;
}

/** The scale part's file: `n` real servers, 10 per virtual server, TCP_CHECK at delay_loop 60. */
function scaleConf(n: number, routerId: string): string {
  const out = ["global_defs {", `    router_id ${routerId}`, "}"];
  const check = ["TCP_CHECK {", "    connect_timeout 3", "}"];
  for (let v = 0; v * 10 < n; v++) {
    const members: string[][] = [];
    for (let j = v * 10; j < Math.min(n, v * 10 + 10); j++)
      members.push(rs(`198.19.${Math.floor(j / 250)}.${(j % 250) + 1}`, 80, check));
    out.push(vs(`198.18.${1 + Math.floor(v / 250)}.${(v % 250) + 1}`, 80, ["delay_loop 60"], members));
  }
  return `${out.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// Part 1 and 2: the NAT lab with the farm

interface Bed {
  lab: NetLab;
  topo: NatTopology;
  daemon: Daemon;
  farm: ChildProcess;
  conf: string;
  on: string;
  off: string;
  crr: string;
  client: SocketClient;
}

async function buildBed(o: Options): Promise<Bed> {
  const lab = newLab("");
  const { crr } = buildTools();
  const { cert, key } = makeCert();
  const topo = buildNatLab(lab, 2);
  for (const s of topo.servers)
    lab.spawn(s.host, ["taskset", "-c", "0", crr, "server", "80"], { stdio: "ignore" });
  // The farm: 2,000 addresses on one interface of one host on the real servers' switch.
  lab.addHost("farm");
  lab.plug("farm", "eth0", "switch", "br0");
  lab.addAddr("farm", "eth0", "198.19.10.250/24");
  const batch: string[] = [];
  for (let i = 1; i <= 2004; i++) batch.push(`addr add ${farmAddr(i)}/21 dev eth0`);
  lab.exec("farm", ["ip", "-batch", "-"], `${batch.join("\n")}\n`);
  lab.addRoute("director", "198.19.64.0/21", "via", "198.19.10.250");
  const farm = lab.spawn("farm", ["taskset", "-c", "0", "node", "-e", FARM, cert, key]);
  await waitReady(farm, "the farm");
  const on = join(work, "on.conf");
  const off = join(work, "off.conf");
  const conf = join(work, "keepalived.conf");
  writeFileSync(on, loadConf(topo, o.servers, true));
  writeFileSync(off, loadConf(topo, o.servers, false));
  writeFileSync(conf, readFileSync(off));
  const socket = join(work, "tslvs.sock");
  const child = lab.spawn(
    topo.director,
    [
      "taskset",
      "-c",
      "1",
      "node",
      TSLVS_BIN,
      "start",
      "--socket",
      socket,
      "--state",
      join(work, "state.yaml"),
      "--keepalived-conf",
      conf,
      "--restart-grace",
      "0",
      "--interface",
      topo.outsideIf,
      "--interface",
      topo.insideIf,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const daemon = new Daemon(child, socket);
  await daemon.waitLine('"msg":"ready"', 0, 30000);
  const client = await connect(socket);
  // Neighbours resolved, code warm.
  await run(["ip", "netns", "exec", lab.ns(topo.client), crr, "client", topo.vip, "80", "4", "1"]);
  return { lab, topo, daemon, farm, conf, on, off, crr, client };
}

/** Makes `file` the running configuration; waits `settleMs` for the checks to reach their pace. */
async function switchTo(bed: Bed, file: string, settleMs: number): Promise<void> {
  writeFileSync(bed.conf, readFileSync(file));
  const out = await bed.daemon.reload();
  if (!out.includes("applied")) throw new Error(`reload: ${out}`);
  await sleep(settleMs);
}

interface Crr {
  rate: number;
  errors: number;
  p50: number;
  p99: number;
}

async function crr(bed: Bed, conc: number, seconds: number): Promise<Crr> {
  const out = await run(
    [
      "ip",
      "netns",
      "exec",
      bed.lab.ns(bed.topo.client),
      "taskset",
      "-c",
      "0",
      bed.crr,
      "client",
      bed.topo.vip,
      "80",
      String(conc),
      String(seconds),
    ],
    (seconds + 30) * 1000,
  );
  const [conns, errors, secs, p50, , p99] = out.trim().split(/\s+/).map(Number);
  return { rate: conns! / secs!, errors: errors!, p50: p50!, p99: p99! };
}

async function healthCounts(bed: Bed): Promise<{ alive: number; failed: number; checked: number }> {
  const h = await bed.client.call<HealthServiceEntry[]>({ op: "getHealth" });
  let alive = 0;
  let failed = 0;
  let checked = 0;
  for (const s of h)
    for (const r of s.realServers) {
      if (r.checkers.length === 0) continue;
      checked++;
      if (r.state === "alive") alive++;
      else if (r.state === "failed") failed++;
    }
  return { alive, failed, checked };
}

interface Phase {
  checks: boolean;
  idle: CpuWindow;
  farmIdle: number;
  rate: Crr;
  rateCpu: CpuWindow;
  lat: Crr;
  health: { alive: number; failed: number; checked: number };
}

async function phase(bed: Bed, o: Options, checks: boolean): Promise<Phase> {
  await switchTo(bed, checks ? bed.on : bed.off, 5000);
  const farmPid = bed.farm.pid!;
  const f0 = procTicks(farmPid);
  const t0 = performance.now();
  const idle = await cpuOver(bed.daemon.pid, async () => {
    await sleep(o.idleSeconds * 1000);
  });
  const farmIdle = (procTicks(farmPid) - f0) / TICK / ((performance.now() - t0) / 1000);
  let rate: Crr | undefined;
  const rateCpu = await cpuOver(bed.daemon.pid, async () => {
    rate = await crr(bed, 32, o.seconds);
  });
  const lat = await crr(bed, 1, o.seconds);
  const health = await healthCounts(bed);
  const p: Phase = { checks, idle, farmIdle, rate: rate!, rateCpu, lat, health };
  const c = (w: CpuWindow) =>
    `process ${f1(w.process * 100)} % (main ${f1(w.main * 100)}, workers ${f1(w.workers * 100)}, other ${f1(w.other * 100)})`;
  process.stdout.write(
    `  checks ${checks ? "on " : "off"}: idle daemon CPU ${c(idle)}, farm ${f1(farmIdle * 100)} %\n` +
      `             ${f1(rate!.rate)} conn/s (${rate!.errors} errors; daemon ${c(rateCpu)}); one loop p50/p99 ${f1(lat.p50)}/${f1(lat.p99)} us (${lat.errors} errors)\n` +
      `             checked real servers: ${health.checked}, alive ${health.alive}, failed ${health.failed}\n`,
  );
  return p;
}

async function loadPart(bed: Bed, o: Options): Promise<string[]> {
  process.stdout.write(
    `\n== load: ${o.servers} HTTP_GET + ${o.servers} SSL_GET real servers at delay_loop 1; ${o.rounds} rounds of off/on, ${o.seconds} s of tcp-crr each\n`,
  );
  const off: Phase[] = [];
  const on: Phase[] = [];
  for (let r = 0; r < o.rounds; r++) {
    process.stdout.write(`round ${r + 1}\n`);
    off.push(await phase(bed, o, false));
    on.push(await phase(bed, o, true));
  }
  const m = (ps: Phase[], f: (p: Phase) => number) => median(ps.map(f));
  const rateRatios = on.map((p, i) => p.rate.rate / off[i]!.rate.rate);
  const p99Ratios = on.map((p, i) => p.lat.p99 / off[i]!.lat.p99);
  const p50Ratios = on.map((p, i) => p.lat.p50 / off[i]!.lat.p50);
  const checkerCpu = on.map((p, i) => p.idle.process - off[i]!.idle.process);
  const workerCpu = on.map((p, i) => p.idle.workers - off[i]!.idle.workers);
  const mainCpu = on.map((p, i) => p.idle.main - off[i]!.idle.main);
  const lines = [
    "",
    `load summary (medians over ${o.rounds} rounds; per round in brackets)`,
    `  checker cost, idle daemon, on - off: process ${f1(m(on, (p) => p.idle.process) * 100 - m(off, (p) => p.idle.process) * 100)} % of a CPU [${checkerCpu.map((x) => f1(x * 100)).join(", ")}]`,
    `    worker threads ${f1(median(workerCpu) * 100)} % [${workerCpu.map((x) => f1(x * 100)).join(", ")}], main thread ${f1(median(mainCpu) * 100)} % [${mainCpu.map((x) => f1(x * 100)).join(", ")}]`,
    `  farm CPU (the 2,000 real servers) with checks: ${f1(m(on, (p) => p.farmIdle) * 100)} %, without: ${f1(m(off, (p) => p.farmIdle) * 100)} %`,
    `  new connections/s through the VIP: off ${f1(m(off, (p) => p.rate.rate))}, on ${f1(m(on, (p) => p.rate.rate))}; ratio on/off ${f3(median(rateRatios))} [${rateRatios.map(f3).join(", ")}] (goal >= 0.9, 0.95)`,
    `  one-loop latency p99: off ${f1(m(off, (p) => p.lat.p99))} us, on ${f1(m(on, (p) => p.lat.p99))} us; on/off ${f3(median(p99Ratios))} [${p99Ratios.map(f3).join(", ")}], off/on ${f3(1 / median(p99Ratios))}`,
    `  one-loop latency p50: off ${f1(m(off, (p) => p.lat.p50))} us, on ${f1(m(on, (p) => p.lat.p50))} us; on/off ${f3(median(p50Ratios))} [${p50Ratios.map(f3).join(", ")}]`,
    `  daemon CPU during the 32-loop run: off ${f1(m(off, (p) => p.rateCpu.process) * 100)} %, on ${f1(m(on, (p) => p.rateCpu.process) * 100)} %`,
    `  connection errors: ${[...off, ...on].reduce((a, p) => a + p.rate.errors + p.lat.errors, 0)}; failed checked real servers at the end of each on phase: ${on.map((p) => p.health.failed).join(", ")}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return lines;
}

async function listed(bed: Bed, addr: string): Promise<boolean> {
  const s = await bed.client.call<ServiceEntry>({
    op: "getService",
    service: { protocol: "tcp", addr: bed.topo.vip, port: DETECT_PORT },
  });
  return s.dests.some((d) => d.addr === addr);
}

async function until(bed: Bed, addr: string, want: boolean, ms: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if ((await listed(bed, addr)) === want) return (performance.now() - t0) / 1000;
    await sleep(10);
  }
  throw new Error(`${addr} still ${want ? "not listed" : "listed"} after ${ms} ms`);
}

interface Detection {
  how: string;
  checks: boolean;
  out: number[];
  back: number[];
}

async function detectSeries(bed: Bed, o: Options, how: "blackhole" | "refused", checks: boolean) {
  const verdict = how === "blackhole" ? "drop" : "reject with tcp reset";
  const d: Detection = { how, checks, out: [], back: [] };
  for (let i = 0; i < o.trials; i++) {
    const addr = DETECT_ADDRS[i % DETECT_ADDRS.length]!;
    await until(bed, addr, true, 10000);
    await sleep(300 + Math.random() * 1000); // any phase of the checker's loop
    bed.lab.exec("farm", [
      "nft",
      `add table inet bhc; add chain inet bhc in { type filter hook input priority 0; }; add rule inet bhc in ip daddr ${addr} tcp dport 80 ${verdict}`,
    ]);
    d.out.push(await until(bed, addr, false, 15000));
    bed.lab.exec("farm", ["nft", "delete table inet bhc"]);
    d.back.push(await until(bed, addr, true, 15000));
  }
  process.stdout.write(
    `  ${how.padEnd(9)} checks ${checks ? "on " : "off"}: out median ${f3(median(d.out))} s, p99 ${f3(pct(d.out, 99))} s, max ${f3(Math.max(...d.out))} s; back median ${f3(median(d.back))} s, p99 ${f3(pct(d.back, 99))} s (${d.out.length} trials)\n`,
  );
  return d;
}

async function detectPart(bed: Bed, o: Options): Promise<string[]> {
  process.stdout.write(
    `\n== detect: TCP_CHECK delay_loop 1, connect_timeout 1, retry 0; ${o.trials} trials per row, polled every 10 ms\n`,
  );
  const rows: Detection[] = [];
  for (const checks of [false, true]) {
    await switchTo(bed, checks ? bed.on : bed.off, 3000);
    for (const how of ["blackhole", "refused"] as const) rows.push(await detectSeries(bed, o, how, checks));
  }
  const lines = ["", "detect summary (seconds until gone from the listing / until listed again)"];
  for (const r of rows)
    lines.push(
      `  ${r.how.padEnd(9)} other checks ${r.checks ? "on " : "off"}: median ${f3(median(r.out))}, p99 ${f3(pct(r.out, 99))}, min ${f3(Math.min(...r.out))}, max ${f3(Math.max(...r.out))}; back median ${f3(median(r.back))}, p99 ${f3(pct(r.back, 99))}`,
    );
  for (const how of ["blackhole", "refused"]) {
    const a = rows.find((r) => r.how === how && !r.checks)!;
    const b = rows.find((r) => r.how === how && r.checks)!;
    lines.push(
      `  ${how}: median with / without the 2,000 checks ${f3(median(b.out) / median(a.out))}, p99 ${f3(pct(b.out, 99) / pct(a.out, 99))}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Part 3: start-up and reload of a large file, --no-dataplane

interface ScaleRun {
  ready: number;
  applied: number;
  reloads: number[];
  reloadServer: number[];
}

/** The pino "time" field of a log line. */
function logTime(text: string): number {
  return (JSON.parse(text) as { time: number }).time;
}

async function scaleRun(
  lab: NetLab,
  file: string,
  n: number,
  reloads: number,
  log: "pipe" | "file",
  prof?: string,
) {
  const socket = join(work, "scale.sock");
  writeFileSync(file, scaleConf(n, "bench-a"));
  const node = prof ? ["node", "--cpu-prof", "--cpu-prof-dir", prof] : ["node"];
  const logPath = join(work, "scale.log");
  const fd = log === "file" ? openSync(logPath, "w+") : undefined;
  const t0 = Date.now();
  const child = lab.spawn(
    "scale",
    [
      "taskset",
      "-c",
      "1",
      ...node,
      TSLVS_BIN,
      "start",
      "--no-dataplane",
      "--socket",
      socket,
      "--state",
      join(work, "scale-state.yaml"),
      "--keepalived-conf",
      file,
    ],
    { stdio: fd === undefined ? ["ignore", "pipe", "pipe"] : ["ignore", fd, fd] },
  );
  const d = new Daemon(child, socket, fd);
  try {
    const applied = await d.waitLine('"msg":"rules applied"', 0, 120000);
    const ready = await d.waitLine('"msg":"ready"', 0, 120000);
    const r: ScaleRun = {
      // The daemon's own clock in its log line, against the wall clock at the spawn.
      ready: (logTime(d.lines[ready.index]!.text) - t0) / 1000,
      applied: (logTime(d.lines[applied.index]!.text) - t0) / 1000,
      reloads: [],
      reloadServer: [],
    };
    for (let i = 0; i < reloads; i++) {
      await sleep(prof ? 2000 : 500);
      writeFileSync(file, scaleConf(n, `bench-${i % 2 === 0 ? "b" : "a"}`));
      const from = d.lines.length;
      const s = performance.now();
      const out = await d.reload();
      r.reloads.push((performance.now() - s) / 1000);
      if (!out.includes("applied")) throw new Error(`reload: ${out}`);
      const begin = await d.waitLine("reloading keepalived.conf", from, 10000);
      const end = await d.waitLine('"msg":"rules applied"', begin.index, 10000);
      r.reloadServer.push((logTime(d.lines[end.index]!.text) - logTime(d.lines[begin.index]!.text)) / 1000);
    }
    if (prof) await sleep(2000);
    return r;
  } finally {
    await d.stop();
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The heaviest functions (self time) of each burst of work in a profile (bursts: < 200 ms apart). */
function summariseProfile(path: string): string[] {
  const p = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  let t = 0;
  const busy: { t: number; dt: number; node: ProfileNode }[] = [];
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    const node = byId.get(p.samples[i]!)!;
    const dt = p.timeDeltas[i + 1] ?? 0;
    if (node.callFrame.functionName === "(idle)") continue;
    busy.push({ t, dt, node });
  }
  const bursts: (typeof busy)[] = [];
  for (const s of busy) {
    const last = bursts.at(-1);
    if (last && s.t - last.at(-1)!.t < 200_000) last.push(s);
    else bursts.push([s]);
  }
  const out: string[] = [];
  for (const b of bursts) {
    const total = b.reduce((a, s) => a + s.dt, 0);
    if (total < 100_000) continue;
    const self = new Map<string, number>();
    for (const s of b) {
      const f = s.node.callFrame;
      const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, "$1/")}:${f.lineNumber + 1}` : "";
      const key = `${f.functionName || "(anonymous)"} ${where}`;
      self.set(key, (self.get(key) ?? 0) + s.dt);
    }
    out.push(
      `  burst at ${f2(b[0]!.t / 1e6)} s, ${f1(total / 1000)} ms busy over ${f1((b.at(-1)!.t - b[0]!.t) / 1000)} ms:`,
    );
    for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 12))
      out.push(`    ${f1(v / 1000).padStart(8)} ms ${f1((v / total) * 100).padStart(5)} %  ${k}`);
  }
  return out;
}

async function scalePart(o: Options): Promise<string[]> {
  process.stdout.write(
    `\n== scale: --no-dataplane, ${o.scaleServers} real servers (TCP_CHECK, delay_loop 60) against 1, ${o.runs} runs; the daemon's log to a file and to a pipe the benchmark reads\n`,
  );
  const lab = newLab("s");
  lab.addHost("scale");
  lab.exec("scale", ["ip", "route", "add", "local", "198.19.0.0/16", "dev", "lo"]);
  const acceptor = lab.spawn("scale", ["taskset", "-c", "0", "node", "-e", ACCEPTOR]);
  await waitReady(acceptor, "the listener");
  const file = join(work, "scale.conf");
  const results = new Map<string, ScaleRun[]>();
  for (let i = 0; i < o.runs; i++) {
    for (const log of ["file", "pipe"] as const)
      for (const n of [1, o.scaleServers]) {
        const r = await scaleRun(lab, file, n, 3, log);
        const key = `${n} ${log}`;
        results.set(key, [...(results.get(key) ?? []), r]);
        process.stdout.write(
          `  ${String(n).padStart(6)} real servers, log to a ${log}: rules applied ${f3(r.applied)} s, ready ${f3(r.ready)} s after the spawn; tslvs reload ${r.reloads.map(f3).join(" / ")} s (daemon's apply ${r.reloadServer.map(f3).join(" / ")} s)\n`,
        );
      }
  }
  const m = (key: string, f: (r: ScaleRun) => number[]) => median((results.get(key) ?? []).flatMap(f));
  const lines = ["", `scale summary (medians; ${o.runs} starts and ${o.runs * 3} reloads per row)`];
  for (const log of ["file", "pipe"]) {
    const big = `${o.scaleServers} ${log}`;
    const small = `1 ${log}`;
    lines.push(
      `  log to a ${log}: start to "ready" ${o.scaleServers} RS ${f3(m(big, (r) => [r.ready]))} s, 1 RS ${f3(m(small, (r) => [r.ready]))} s, difference ${f3(m(big, (r) => [r.ready]) - m(small, (r) => [r.ready]))} s (goal < 2 s)`,
      `    tslvs reload (router_id edit): ${o.scaleServers} RS ${f3(m(big, (r) => r.reloads))} s, 1 RS ${f3(m(small, (r) => r.reloads))} s; the daemon's own apply ${f3(m(big, (r) => r.reloadServer))} s vs ${f3(m(small, (r) => r.reloadServer))} s (goal < 2 s)`,
    );
  }
  if (o.cpuProf !== null) {
    const dir = o.cpuProf || join(work, "prof");
    mkdirSync(dir, { recursive: true });
    const before = new Set(readdirSync(dir));
    await scaleRun(lab, file, o.scaleServers, 1, "file", dir);
    for (const f of readdirSync(dir).filter((x) => !before.has(x) && x.endsWith(".cpuprofile"))) {
      lines.push(`  profile ${join(dir, f)} (a start, 2 s, one reload, 2 s, stop):`);
      lines.push(...summariseProfile(join(dir, f)));
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return lines;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error("needs root (namespaces, XDP)");
  // A closed stdout (`| head`) must not end the run before the cleanup.
  process.stdout.on("error", () => {});
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: removing the benchmark's namespaces and processes\n`);
      cleanup().finally(() => process.exit(130));
    });
  work = mkdtempSync(join(tmpdir(), "bhc-"));
  const model = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  process.stdout.write(
    `health checks: ${model}, kernel ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}, node ${process.version}, load ${loadavg()
      .map(f2)
      .join(" ")}, ${new Date().toISOString()}\n`,
  );
  const summary: string[] = [];
  if (o.parts.has("load") || o.parts.has("detect")) {
    const bed = await buildBed(o);
    try {
      if (o.parts.has("load")) summary.push(...(await loadPart(bed, o)));
      if (o.parts.has("detect")) summary.push(...(await detectPart(bed, o)));
    } finally {
      bed.client.close();
      await bed.daemon.stop();
    }
  }
  if (o.parts.has("scale")) summary.push(...(await scalePart(o)));
  process.stdout.write(`\n==== summary ====${summary.join("\n")}\n`);
}

main()
  .catch((e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());

/**
 * A scrape storm against the slow path: the classic NAT lab, the director holding 1,000 extra
 * services of 10 real servers (a 10,000-row /metrics), a client making new HTTP connections one
 * after another through the VIP (each connection's first packets take the slow path), its request
 * latencies measured alone and then while 100 clients in the director's namespace scrape /metrics
 * as fast as they can. Reports p50/p99 of both and their ratios, in the same run.
 *
 *   node dist/bench/metrics-storm.js [requests] [--gzip] [--nice]     (default 300; needs root)
 *
 * --gzip: the scrapers send `Accept-Encoding: gzip`, as Prometheus does, and get the compressed body.
 * --nice: the scrapers run at nice 19. On this 2-CPU machine the 100 scrapers (one Node process
 * reading 100 bodies a second) otherwise compete with the director for the CPUs, which scrapers on
 * another machine — Prometheus's — would not: with --nice the ratio is closer to the director's own.
 */
import { type ChildProcess, execFileSync } from "node:child_process";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { NetLab } from "../src/cli/lab/netns.js";
import { RS_SERVER_JS, TSLVS_BIN } from "../src/cli/lab/paths.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";

const GZIP = process.argv.includes("--gzip");
const NICE = process.argv.includes("--nice");
const REQUESTS = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 300);
const METRICS = "http://127.0.0.1:9300/metrics";

/** Sequential GETs, a new connection each; prints the latencies in ms as one JSON array. */
const CLIENT = `
const http = require("node:http");
const [url, n] = [process.argv[1], Number(process.argv[2])];
const out = [];
(function one() {
  if (out.length === n) { console.log(JSON.stringify(out)); return; }
  const t = process.hrtime.bigint();
  http.get(url, { agent: false }, (res) => {
    res.resume();
    res.on("end", () => { out.push(Number(process.hrtime.bigint() - t) / 1e6); one(); });
  }).on("error", (e) => { console.error(e.message); process.exit(1); });
})();`;

/** 100 concurrent scrapers until SIGTERM; prints how many scrapes completed. */
const STORM = `
const http = require("node:http");
let done = 0, stop = false;
process.on("SIGTERM", () => { stop = true; console.log(done); process.exit(0); });
const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
const headers = process.argv[2] === "gzip" ? { "accept-encoding": "gzip" } : {};
function loop() {
  if (stop) return;
  http.get(process.argv[1], { agent, headers }, (res) => { res.resume(); res.on("end", () => { done++; loop(); }); })
    .on("error", () => setTimeout(loop, 10));
}
for (let i = 0; i < 100; i++) loop();`;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function main(): Promise<void> {
  const lab = new NetLab(`bms${process.pid % 100000}`);
  const kill = () => void lab.destroy().then(() => process.exit(1));
  process.on("SIGINT", kill);
  process.on("SIGTERM", kill);
  try {
    const topo = buildNatLab(lab);
    for (const rs of topo.servers)
      lab.spawn(rs.host, ["node", RS_SERVER_JS, "--name", rs.name, "--port", "80"]);
    const sock = `/tmp/bms-${process.pid}.sock`;
    // The rules as a configuration file, applied before the data plane starts: the VIP's service,
    // then 1,000 services of 10 real servers that only fill /metrics.
    const yaml = ["services:", `  - tcp: ${topo.vip}:80`, "    scheduler: wrr", "    servers:"];
    for (const rs of topo.servers) yaml.push(`      - { address: ${rs.rip}:80, method: masq, weight: 1 }`);
    for (let i = 0; i < 1000; i++) {
      yaml.push(`  - tcp: ${topo.vip}:${2000 + i}`, "    scheduler: wlc", "    servers:");
      for (let j = 0; j < 10; j++)
        yaml.push(`      - { address: ${topo.servers[j % 2]!.rip}:${1000 + j}, method: masq, weight: 1 }`);
    }
    const config = `/tmp/bms-${process.pid}.config.yaml`;
    writeFileSync(config, `${yaml.join("\n")}\n`);
    const director: ChildProcess = lab.spawn(
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
        `/tmp/bms-${process.pid}.yaml`,
        "--http",
        "127.0.0.1:9300",
        "--interface",
        topo.outsideIf,
        "--interface",
        topo.insideIf,
      ],
      { stdio: "ignore" },
    );
    execFileSync("node", [TSLVS_BIN, "wait-ready", "--socket", sock, "--timeout", "20"], {
      stdio: "inherit",
    });
    const measure = () =>
      JSON.parse(
        lab.exec(topo.client, ["node", "-e", CLIENT, `http://${topo.vip}/`, String(REQUESTS)]),
      ) as number[];
    measure(); // warm: neighbours resolved, code paths compiled
    const calm = measure();
    const scrapers = ["node", "-e", STORM, METRICS, GZIP ? "gzip" : "plain"];
    const storm = lab.spawn(topo.director, NICE ? ["nice", "-n", "19", ...scrapers] : scrapers, {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let scrapes = "";
    storm.stdout?.on("data", (d: Buffer) => (scrapes += d.toString()));
    await new Promise((r) => setTimeout(r, 1000));
    const stormy = measure();
    storm.kill("SIGTERM");
    await new Promise((r) => storm.once("exit", r));
    const body = lab.exec(topo.director, [
      "node",
      "-e",
      `require("node:http").get(process.argv[1], (r) => { let n = 0; r.on("data", (c) => (n += c.length)); r.on("end", () => console.log(n)); })`,
      METRICS,
    ]);
    console.log(
      `/metrics body: ${(Number(body) / 1e6).toFixed(1)} MB; scrapes completed during the storm: ${scrapes.trim()}`,
    );
    console.log("                     p50 ms   p99 ms");
    console.log(
      `alone              ${pct(calm, 50).toFixed(2).padStart(8)} ${pct(calm, 99).toFixed(2).padStart(8)}`,
    );
    console.log(
      `100 scrapers       ${pct(stormy, 50).toFixed(2).padStart(8)} ${pct(stormy, 99).toFixed(2).padStart(8)}`,
    );
    console.log(
      `storm / alone      ${(pct(stormy, 50) / pct(calm, 50)).toFixed(2).padStart(8)} ${(pct(stormy, 99) / pct(calm, 99)).toFixed(2).padStart(8)}`,
    );
    director.kill("SIGTERM");
    await new Promise((r) => director.once("exit", r));
  } finally {
    await lab.destroy();
    for (const f of readdirSync("/tmp"))
      if (f.startsWith(`bms-${process.pid}.`) || f.startsWith(`.bms-${process.pid}.`))
        rmSync(`/tmp/${f}`, { force: true });
  }
}

await main();

/**
 * Detection latency of a refusing real server with the data-path sensor, against the same checker
 * without it, in one run.
 *
 * The classic NAT lab with two real servers (an HTTP server on :80 each); the director (tslvs start
 * --keepalived-conf, data plane on) serves VIP:80 with the sensor on and VIP:81 with
 * `tslvs_sensor off`, both over the same two real servers, both with TCP_CHECK at the same
 * delay_loop (connect_timeout 1, retry 0). A trial: both services list RS2; a random wait of up to
 * one delay_loop (any phase of the checkers' loops); RS2 starts refusing (nft on RS2: its port 80
 * answered with a reset, for the clients and the checks alike) while a client opens a connection
 * to each port every 50 ms; the time until RS2 is gone from each service's listing is polled every
 * 20 ms on the control socket. Then RS2 is healed and both services list it again before the next
 * trial.
 *
 *   node dist/bench/health-sensor.js [--trials 20] [--delay-loop 5]      (root; ~3 min by default)
 *
 * Everything the benchmark makes (namespaces, processes, temporary files) is removed at the end,
 * on failure and on Ctrl-C/SIGTERM.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { NetLab } from "../src/cli/lab/netns.js";
import { RS_SERVER_JS, TSLVS_BIN } from "../src/cli/lab/paths.js";
import { buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import type { ServiceEntry } from "../src/control/api.js";
import { connect, type SocketClient } from "../src/control/client.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const f3 = (x: number) => x.toFixed(3);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

let lab: NetLab | null = null;
let work = "";
async function cleanup(): Promise<void> {
  const l = lab;
  lab = null;
  if (l) for (const left of await l.destroy()) process.stderr.write(`could not delete ${left}\n`);
  if (work) rmSync(work, { recursive: true, force: true });
  work = "";
}

function conf(topo: NatTopology, delayLoop: number): string {
  const vs = (port: number, extra: string[]) =>
    [
      `virtual_server ${topo.vip} ${port} {`,
      "    lvs_sched rr",
      "    lvs_method NAT",
      "    protocol TCP",
      `    delay_loop ${delayLoop}`,
      ...extra.map((l) => `    ${l}`),
      ...topo.servers.flatMap((s) => [
        `    real_server ${s.rip} 80 {`,
        "        TCP_CHECK {",
        "            connect_timeout 1",
        "            retry 0",
        "            warmup 0",
        "        }",
        "    }",
      ]),
      "}",
    ].join("\n");
  return [vs(80, []), vs(81, ["tslvs_sensor off"])].join("\n");
}

/** A connection to VIP:80 and one to VIP:81 every 50 ms, each closed at once (or refused). */
const CLIENT = `
const net = require("node:net");
const [host] = process.argv.slice(1);
setInterval(() => {
  for (const port of [80, 81]) {
    const s = net.connect({ host, port });
    s.on("connect", () => s.destroy());
    s.on("error", () => {});
    s.setTimeout(2000, () => s.destroy());
  }
}, 50);`;

function waitLine(child: ChildProcess, text: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error(`no "${text}" within ${ms} ms:\n${out}`)), ms);
    const on = (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        clearTimeout(t);
        child.stdout?.off("data", on);
        resolve();
      }
    };
    child.stdout?.on("data", on);
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`exited (${code}):\n${out}`));
    });
  });
}

async function listed(client: SocketClient, vip: string, port: number, addr: string): Promise<boolean> {
  const s = await client.call<ServiceEntry>({
    op: "getService",
    service: { protocol: "tcp", addr: vip, port },
  });
  return s.dests.some((d) => d.addr === addr);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string, def: number) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : def;
  };
  const trials = arg("trials", 20);
  const delayLoop = arg("delay-loop", 5);
  if (process.getuid?.() !== 0) throw new Error("needs root (namespaces, XDP)");
  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: removing the benchmark's namespaces and processes\n`);
      cleanup().finally(() => process.exit(130));
    });
  const model = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  process.stdout.write(
    `health sensor: ${model}, kernel ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}, node ${process.version}, load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}\n`,
  );
  work = mkdtempSync(join(tmpdir(), "bhs-"));
  lab = new NetLab(`bhs${process.pid % 100000}`);
  const topo = buildNatLab(lab, 2);
  const rs2 = topo.servers[0]!;
  for (const s of topo.servers) {
    const p = lab.spawn(s.host, ["node", RS_SERVER_JS, "--name", s.name, "--port", "80"]);
    await waitLine(p, "", 10000).catch(() => undefined);
  }
  const file = join(work, "keepalived.conf");
  writeFileSync(file, conf(topo, delayLoop));
  const socket = join(work, "tslvs.sock");
  const director = lab.spawn(
    topo.director,
    [
      "node",
      TSLVS_BIN,
      "start",
      "--socket",
      socket,
      "--state",
      join(work, "state.yaml"),
      "--keepalived-conf",
      file,
      "--interface",
      topo.outsideIf,
      "--interface",
      topo.insideIf,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await waitLine(director, '"msg":"ready"', 30000);
  const client = await connect(socket);
  const vip = topo.vip;
  const until = async (port: number, want: boolean, ms: number, t0: number): Promise<number> => {
    while (performance.now() - t0 < ms) {
      if ((await listed(client, vip, port, rs2.rip)) === want) return (performance.now() - t0) / 1000;
      await sleep(20);
    }
    throw new Error(`${rs2.rip} still ${want ? "not listed" : "listed"} in :${port} after ${ms} ms`);
  };
  const on: number[] = [];
  const off: number[] = [];
  process.stdout.write(
    `TCP_CHECK delay_loop ${delayLoop}, connect_timeout 1, retry 0; RS2 refusing; ${trials} trials\n`,
  );
  try {
    for (let i = 0; i < trials; i++) {
      const ready = performance.now();
      await until(80, true, (delayLoop + 5) * 1000, ready);
      await until(81, true, (delayLoop + 5) * 1000, ready);
      await sleep(Math.random() * delayLoop * 1000);
      lab.exec(rs2.host, [
        "nft",
        "add table inet bhs; add chain inet bhs in { type filter hook input priority 0; }; add rule inet bhs in tcp dport 80 reject with tcp reset",
      ]);
      const t0 = performance.now();
      const load = lab.spawn(topo.client, ["node", "-e", CLIENT, vip], { stdio: "ignore" });
      const both = await Promise.all([
        until(80, false, (delayLoop + 5) * 1000, t0),
        (async () => {
          // Polled on its own socket: the two waits do not slow each other.
          const c2 = await connect(socket);
          try {
            while (performance.now() - t0 < (delayLoop + 5) * 1000) {
              const s = await c2.call<ServiceEntry>({
                op: "getService",
                service: { protocol: "tcp", addr: vip, port: 81 },
              });
              if (!s.dests.some((d) => d.addr === rs2.rip)) return (performance.now() - t0) / 1000;
              await sleep(20);
            }
            throw new Error(`${rs2.rip} still listed in :81`);
          } finally {
            c2.close();
          }
        })(),
      ]);
      load.kill();
      lab.exec(rs2.host, ["nft", "delete table inet bhs"]);
      on.push(both[0]);
      off.push(both[1]);
      process.stdout.write(`  trial ${i + 1}: sensor ${f3(both[0])} s, no sensor ${f3(both[1])} s\n`);
    }
  } finally {
    client.close();
    director.kill("SIGTERM");
    await new Promise((r) => director.once("exit", r));
  }
  const med = (xs: number[]) => pct(xs, 50);
  process.stdout.write(
    [
      "",
      `detection (s)  median   p99     max   (${trials} trials, delay_loop ${delayLoop})`,
      `  sensor       ${f3(med(on))}  ${f3(pct(on, 99))}  ${f3(Math.max(...on))}`,
      `  no sensor    ${f3(med(off))}  ${f3(pct(off, 99))}  ${f3(Math.max(...off))}`,
      `  median ratio no sensor / sensor: ${(med(off) / med(on)).toFixed(1)}x`,
      "",
    ].join("\n"),
  );
}

main()
  .catch((e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());

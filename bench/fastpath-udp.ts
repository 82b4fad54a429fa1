/**
 * Preliminary: UDP NAT forwarding rate of the real daemon with and without the XDP fast path, in
 * the classic NAT lab (one real server). A C generator (bench/udp-flood.c, compiled here with gcc;
 * benchmark tooling only) floods VIP:9 from 64 source ports with 60-byte frames for a few seconds
 * on CPU 0; the director (daemon, and its receive work via RPS) is pinned to CPU 1; the delivered
 * rate is the real server's eth0 rx packet count. Generic XDP. Runs are interleaved.
 *
 * Run (root): npx tsc -p tsconfig.json && node dist/bench/fastpath-udp.js [seconds] [rounds]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import { TSLVS_BIN, TSLVSADM_BIN } from "../src/cli/lab/paths.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";

const seconds = Number(process.argv[2] ?? 3);
const rounds = Number(process.argv[3] ?? 2);
const SRC = fileURLToPath(new URL("../../bench/udp-flood.c", import.meta.url));

async function once(fastPath: boolean, gen: string): Promise<{ offered: number; delivered: number }> {
  const lab = new NetLab("bfp");
  const dir = mkdtempSync(join(tmpdir(), "bfp-"));
  const sock = join(dir, "tslvs.sock");
  const adm = (args: string[]) =>
    execFileSync("node", [TSLVSADM_BIN, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TSLVS_SOCKET: sock },
    });
  try {
    const t = buildNatLab(lab, 1);
    const rs = t.servers[0]!;
    lab.exec(t.client, ["ethtool", "-K", "eth0", "tx", "off"]);
    for (const i of [t.outsideIf, t.insideIf])
      lab.exec(t.director, ["sh", "-c", `echo 2 > /sys/class/net/${i}/queues/rx-0/rps_cpus`]);
    const args = ["taskset", "-c", "1", "node", TSLVS_BIN, "start", "--socket", sock, "--state"];
    args.push(join(dir, "state.yaml"), "--interface", t.outsideIf, "--interface", t.insideIf);
    args.push("--xdp-mode", "generic", "--log-level", "warn");
    if (!fastPath) args.push("--no-fast-path");
    lab.spawn(t.director, args);
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        adm(["-ln"]);
        break;
      } catch {
        /* not up yet */
      }
    }
    adm(["-A", "-u", `${t.vip}:9`, "-s", "rr"]);
    adm(["-a", "-u", `${t.vip}:9`, "-r", `${rs.rip}:9`, "-m"]);
    // Warm-up: ARP, and the flows' first packets through the slow path.
    lab.exec(t.client, ["taskset", "-c", "0", gen, t.vip, "9", "64", "0.5"]);
    await new Promise((r) => setTimeout(r, 500));
    const rx = () => Number(lab.exec(rs.host, ["cat", "/sys/class/net/eth0/statistics/rx_packets"]));
    const before = rx();
    const [sent] = lab
      .exec(t.client, ["taskset", "-c", "0", gen, t.vip, "9", "64", String(seconds)])
      .split(" ");
    const offered = Number(sent);
    await new Promise((r) => setTimeout(r, 300));
    const delivered = rx() - before;
    return { offered: offered / seconds, delivered: delivered / seconds };
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root (namespaces, XDP)");
  const work = mkdtempSync(join(tmpdir(), "bfp-gen-"));
  const gen = join(work, "udp-flood");
  try {
    execFileSync("gcc", ["-O2", "-o", gen, SRC]);
  } catch (e) {
    throw new Error(`this benchmark compiles its generator with gcc: ${(e as Error).message}`);
  }
  try {
    for (let r = 0; r < rounds; r++) {
      for (const fp of [true, false]) {
        const o = await once(fp, gen);
        console.log(
          `${fp ? "fast path " : "slow path "} offered ${(o.offered / 1000).toFixed(0)} kpps, delivered ${(o.delivered / 1000).toFixed(0)} kpps`,
        );
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(String(e));
  process.exit(1);
});

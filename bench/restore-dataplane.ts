/**
 * The cost of rule changes while the data plane runs: `tslvsadm -R` of 100 services x 10 real
 * servers, then of 300 more, into a director forwarding in the NAT lab, against the same restores
 * into a director started with --no-dataplane, in the same run. Each rule change re-steers, and
 * a re-steer walks every rule: the per-rule cost grows with the rules already there.
 *
 *   node dist/bench/restore-dataplane.js     (needs root)
 */
import { execFileSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { NetLab } from "../src/cli/lab/netns.js";
import { TSLVS_BIN, TSLVSADM_BIN } from "../src/cli/lab/paths.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";

async function restores(dataPlane: boolean): Promise<number[]> {
  const lab = new NetLab(`brd${process.pid % 100000}`);
  const tag = `brd-${process.pid}-${dataPlane ? "dp" : "nodp"}`;
  try {
    const topo = buildNatLab(lab);
    const sock = `/tmp/${tag}.sock`;
    const args = ["node", TSLVS_BIN, "start", "--socket", sock, "--state", `/tmp/${tag}.yaml`];
    if (dataPlane) args.push("--interface", topo.outsideIf, "--interface", topo.insideIf);
    else args.push("--no-dataplane");
    const d = lab.spawn(topo.director, args, { stdio: "ignore" });
    execFileSync("node", [TSLVS_BIN, "wait-ready", "--socket", sock, "--timeout", "30"]);
    const seconds: number[] = [];
    let port = 10000;
    for (const n of [100, 300]) {
      const rules: string[] = [];
      for (let i = 0; i < n; i++, port++) {
        rules.push(`-A -t ${topo.vip}:${port} -s wlc`);
        for (let j = 0; j < 10; j++)
          rules.push(`-a -t ${topo.vip}:${port} -r ${topo.servers[j % 2]!.rip}:${1000 + j} -m`);
      }
      const t = performance.now();
      execFileSync("node", [TSLVSADM_BIN, "-R"], {
        input: `${rules.join("\n")}\n`,
        env: { ...process.env, TSLVS_SOCKET: sock },
      });
      seconds.push((performance.now() - t) / 1000);
    }
    d.kill("SIGTERM");
    await new Promise((r) => d.once("exit", r));
    return seconds;
  } finally {
    await lab.destroy();
    for (const f of readdirSync("/tmp")) if (f.includes(tag)) rmSync(`/tmp/${f}`, { force: true });
  }
}

const without = await restores(false);
const withDp = await restores(true);
console.log("restore                              --no-dataplane s  data plane s  ratio");
for (const [k, what] of ["100 services x 10 (1,100 rules)", "300 more x 10 (3,300 rules)"].entries())
  console.log(
    `${what.padEnd(36)} ${without[k]!.toFixed(2).padStart(16)}  ${withDp[k]!.toFixed(2).padStart(12)}  ${(withDp[k]! / without[k]!).toFixed(1).padStart(5)}`,
  );

/**
 * Health checks with the other forwarding methods, from an unchanged keepalived.conf: LVS-DR (the
 * checks go straight to RIP:port on the shared segment) and DPVS's FNAT with a local_address_group
 * (tslvs's FULLNAT: the real servers' answers to the checks come back to the director's own address
 * while client replies go to the pool's local addresses). A real server whose /health answers 500
 * leaves within spec A.9's worst case, gets none of 100 new requests meanwhile, and comes back after
 * one success. The same with the checks written in a YAML --config.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildDrLab, buildFullnatLab, buildNatLab, type RealServerHost } from "../src/cli/lab/topologies.js";
import { DirectorProcess, type LineProcess, labPrefix, sleep } from "./support/dp-harness.js";
import { members, requests, startWebServer, waitMembers } from "./support/health-lab.js";
import { haveRoot } from "./support/privileged.js";

/** delay_loop 1, connect_timeout 1, retry 1, delay_before_retry 1: 1 + 2 + 1, plus 2 s. */
const WORST_DETECTION_S = 6;
const WORST_RECOVERY_S = 4;

interface Lab {
  client: string;
  vip: string;
  director: string;
  ifaces: string[];
  servers: RealServerHost[];
  /** Lines before the virtual_server, and inside it after lvs_method. */
  top: string[];
  method: string[];
  /** Start from a YAML --config with the same checks instead of a keepalived.conf. */
  yaml?: { method: string };
}

/** The same service and checks as a YAML --config. */
function yamlConfig(l: Lab): string {
  return [
    "services:",
    `  - tcp: ${l.vip}:80`,
    "    scheduler: rr",
    "    health:",
    "      delay-loop: 1",
    "    servers:",
    ...l.servers.flatMap((rs) => [
      `      - address: ${rs.rip}:80`,
      `        method: ${l.yaml!.method}`,
      "        checks:",
      "          - http:",
      "              urls:",
      "                - path: /health",
      "                  status: 200",
      "              connect-timeout: 1",
      "              retry: 1",
      "              delay-before-retry: 1",
    ]),
  ].join("\n");
}

async function failAndHeal(t: { diagnostic(s: string): void }, lab: NetLab, l: Lab): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tslvs-hm-"));
  let director: DirectorProcess | undefined;
  const procs: LineProcess[] = [];
  try {
    const health = (rs: RealServerHost) => join(dir, `${rs.name}.health`);
    for (const rs of l.servers) {
      writeFileSync(health(rs), "200 ok");
      await startWebServer(lab, procs, rs.host, rs.name, 80, health(rs));
    }
    const conf = [
      ...l.top,
      `virtual_server ${l.vip} 80 {`,
      "    lvs_sched rr",
      ...l.method.map((x) => `    ${x}`),
      "    protocol TCP",
      "    delay_loop 1",
      ...l.servers.flatMap((rs) => [
        `    real_server ${rs.rip} 80 {`,
        "        HTTP_GET {",
        "            url {",
        "                path /health",
        "                status_code 200",
        "            }",
        "            connect_timeout 1",
        "            retry 1",
        "            delay_before_retry 1",
        "        }",
        "    }",
      ]),
      "}",
    ].join("\n");
    const file = join(dir, l.yaml ? "tslvs.yaml" : "keepalived.conf");
    writeFileSync(file, l.yaml ? yamlConfig(l) : conf);
    director = await DirectorProcess.start(lab, l.director, l.ifaces, [
      l.yaml ? "--config" : "--keepalived-conf",
      file,
    ]);
    const d = director;
    const all = l.servers.map((rs) => `${rs.rip}:80`);
    await waitMembers(d, l.vip, 80, all, 10, "start", false);
    await sleep(2500); // every checker has run once
    assert.deepEqual(members(d, l.vip, 80, false), [...all].sort(), "every real server passes its check");
    const [victim, ...others] = l.servers as [RealServerHost, ...RealServerHost[]];
    writeFileSync(health(victim), "500 broken");
    await waitMembers(
      d,
      l.vip,
      80,
      others.map((rs) => `${rs.rip}:80`),
      WORST_DETECTION_S,
      "500: out",
      false,
    );
    const seen = Object.fromEntries(requests(lab, l.client, l.vip, 80, 100));
    assert.equal(seen[victim.name], undefined, `${victim.name} got requests while out`);
    for (const rs of others) assert.ok((seen[rs.name] ?? 0) > 0, `${rs.name} served`);
    writeFileSync(health(victim), "200 ok");
    await waitMembers(d, l.vip, 80, all, WORST_RECOVERY_S, "healed: back", false);
    t.diagnostic(`requests while out: ${JSON.stringify(seen)}`);
  } finally {
    for (const p of procs) p.kill();
    await director?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One lab test: its namespaces built by `build`, then failAndHeal, then everything removed. */
function labTest(title: string, prefix: string, build: (lab: NetLab) => Lab): void {
  test(title, { timeout: 120_000 }, async (t) => {
    if (!haveRoot(t)) return;
    const lab = new NetLab(labPrefix(prefix));
    try {
      await failAndHeal(t, lab, build(lab));
    } finally {
      lab.destroy();
    }
  });
}

labTest("health checks with LVS-DR (HTTP_GET to RIP:port on the shared segment)", "hmdr", (lab) => {
  const topo = buildDrLab(lab, 3);
  return {
    client: topo.client,
    vip: topo.vip,
    director: topo.director,
    ifaces: [topo.lanIf],
    servers: topo.servers,
    top: [],
    method: ["lvs_method DR"],
  };
});

labTest("health checks with FNAT and a local_address_group (FULLNAT)", "hmfn", (lab) => {
  const topo = buildFullnatLab(lab, 3);
  return {
    client: topo.client,
    vip: topo.vip,
    director: topo.director,
    ifaces: [topo.outsideIf, topo.insideIf],
    servers: topo.servers,
    top: ["local_address_group laddr_g1 {", ...topo.poolLips.map((a) => `    ${a} ${topo.insideIf}`), "}"],
    method: ["lvs_method FNAT", "laddr_group_name laddr_g1"],
  };
});

labTest("health checks from a YAML --config (NAT): the same checks, the same outcome", "hmya", (lab) => {
  const topo = buildNatLab(lab, 3);
  return {
    client: topo.client,
    vip: topo.vip,
    director: topo.director,
    ifaces: [topo.outsideIf, topo.insideIf],
    servers: topo.servers,
    top: [],
    method: [],
    yaml: { method: "masq" },
  };
});

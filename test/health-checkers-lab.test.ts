import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import { makeEcdsaCert } from "./support/certificate.js";
import { DirectorProcess, LineProcess, labPrefix } from "./support/dp-harness.js";
import { waitMembers } from "./support/health-lab.js";
import { haveRoot, needsCommand } from "./support/privileged.js";

const SERVERS_JS = fileURLToPath(new URL("./support/probe-servers.js", import.meta.url));
/** delay_loop 1, connect_timeout 1, retry 1, delay_before_retry 1: 1 + 2 + 1, plus 2 s. */
const WORST_DETECTION_S = 6;
const WORST_RECOVERY_S = 5;
/** MD5 of probe-servers' "/ok" body ("probe body\n"). */
const OK_DIGEST = "e1a924a8138b7460d15f63e557d2bf9b";

const CHECKERS: Record<number, string[]> = {
  90: [
    "SSL_GET {",
    "    url {",
    "        path /ok",
    `        digest ${OK_DIGEST}`,
    "    }",
    "    connect_port 443",
    "}",
  ],
  91: ["UDP_CHECK {", "    connect_port 7", "    payload 01 02 03", "    require_reply 01 02 03", "}"],
  92: ["DNS_CHECK {", "    connect_port 53", "    type SOA", "}"],
  93: ["SMTP_CHECK {", "    connect_port 25", "    helo_name director.test", "}"],
  94: ["PING_CHECK {", "}"],
};

test("SSL_GET, UDP_CHECK, DNS_CHECK, SMTP_CHECK and PING_CHECK through the director (NAT lab)", {
  timeout: 180_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  const skip = needsCommand("openssl");
  if (skip) return t.skip(skip);
  const lab = new NetLab(labPrefix("hchk"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-hchk-"));
  let director: DirectorProcess | undefined;
  const servers = new Map<string, LineProcess>();
  try {
    const topo = buildNatLab(lab, 3);
    const rips = topo.servers.map((s) => s.rip);
    const { cert, key } = makeEcdsaCert(dir, "rs.test");
    const start = async (host: string) => {
      const p = new LineProcess(
        lab.spawn(host, [process.execPath, SERVERS_JS, "--cert", cert, "--key", key]),
        host,
      );
      servers.set(host, p);
      await p.nextLine(10000);
    };
    for (const s of topo.servers) await start(s.host);
    const conf = Object.entries(CHECKERS).flatMap(([port, checker]) => [
      `virtual_server ${topo.vip} ${port} {`,
      "    lvs_sched rr",
      "    lvs_method NAT",
      "    protocol TCP",
      "    delay_loop 1",
      "    connect_timeout 1",
      "    retry 1",
      "    delay_before_retry 1",
      ...rips.flatMap((ip) => [`    real_server ${ip} 80 {`, ...checker.map((l) => `        ${l}`), "    }"]),
      "}",
    ]);
    const file = join(dir, "keepalived.conf");
    writeFileSync(file, conf.join("\n"));
    director = await DirectorProcess.start(
      lab,
      topo.director,
      [topo.outsideIf, topo.insideIf],
      ["--keepalived-conf", file],
    );
    const d = director;
    const ports = Object.keys(CHECKERS).map(Number);
    const all = rips.map((ip) => `${ip}:80`);
    const [victim, ...others] = topo.servers;
    const rest = others.map((s) => `${s.rip}:80`);
    // Each checker has run (first at 1 s + warmup) and passed.
    await new Promise((r) => setTimeout(r, 3000));
    for (const port of ports) await waitMembers(d, topo.vip, port, all, 1, `port ${port}: all pass`, false);

    servers.get(victim!.host)!.kill();
    for (const port of [90, 91, 92, 93])
      await waitMembers(d, topo.vip, port, rest, WORST_DETECTION_S, `port ${port}: services stopped`, false);
    await waitMembers(d, topo.vip, 94, all, 1, "PING_CHECK: the host still answers", false);

    lab.exec(victim!.host, ["ip", "link", "set", "eth0", "down"]);
    await waitMembers(d, topo.vip, 94, rest, WORST_DETECTION_S, "PING_CHECK: link down", false);

    lab.exec(victim!.host, ["ip", "link", "set", "eth0", "up"]);
    await start(victim!.host);
    for (const port of ports)
      await waitMembers(d, topo.vip, port, all, WORST_RECOVERY_S + 3, `port ${port}: back`, false);
  } finally {
    for (const p of servers.values()) p.kill();
    await director?.stop();
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

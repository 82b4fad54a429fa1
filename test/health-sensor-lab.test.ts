/**
 * The data path as a health sensor, end to end in the classic NAT lab: the director started with
 * --keepalived-conf, TCP_CHECK at delay_loop 60 on two services of the same real servers, the
 * sensor on for :80 and off (`tslvs_sensor off`) for :81. Only the sensor can make a check run
 * before its minute is up:
 * - clients whose SYNs to RS3 are dropped (the director's checks still pass): the sensor sees their
 *   retransmits, RS3's :80 check runs at once, passes, and RS3 stays — the sensor removes nobody;
 * - RS2 refusing (RST): the sensor sees the RSTs, RS2's :80 check runs at once and fails, and RS2
 *   leaves :80 within seconds while it stays in :81, whose check is not due for a minute.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import { DirectorProcess, type LineProcess, labPrefix, sleep } from "./support/dp-harness.js";
import { startWebServer } from "./support/health-lab.js";
import { haveRoot, needsCommand } from "./support/privileged.js";

/** The sensor's tick (1 s), the check (refused at once), one retry after 1 s, and 2 s of slack. */
const SENSOR_BOUND_S = 1 + 1 + 1 + 2;

function conf(topo: NatTopology): string {
  const vs = (port: number, extra: string[]) =>
    [
      `virtual_server ${topo.vip} ${port} {`,
      "    lvs_sched rr",
      "    lvs_method NAT",
      "    protocol TCP",
      "    delay_loop 60",
      ...extra.map((l) => `    ${l}`),
      ...topo.servers.flatMap((s) => [
        `    real_server ${s.rip} 80 {`,
        // warmup 0: the first check 1 s after start, the next one a minute later.
        "        TCP_CHECK {",
        "            connect_timeout 1",
        "            retry 1",
        "            delay_before_retry 1",
        "            warmup 0",
        "        }",
        "    }",
      ]),
      "}",
    ].join("\n");
  return [vs(80, []), vs(81, ["tslvs_sensor off"])].join("\n");
}

function members(d: DirectorProcess, vip: string, port: number): string[] {
  return d
    .adm(["-Ln", "-t", `${vip}:${port}`])
    .split("\n")
    .filter((l) => l.includes("->") && !l.includes("RemoteAddress"))
    .map((l) => l.trim().split(/\s+/)[1]!)
    .sort();
}

/** `n` connections at once from the client to each port; each open, refused or timed out. */
function connects(lab: NetLab, topo: NatTopology, ports: number[], n: number, timeoutMs: number) {
  const script = `
    const net = require("node:net");
    const r = { open: 0, refused: 0, timeout: 0 };
    let left = ${ports.length * n};
    const done = () => { if (--left === 0) console.log(JSON.stringify(r)); };
    for (const port of ${JSON.stringify(ports)}) for (let i = 0; i < ${n}; i++) {
      const s = net.connect({ host: ${JSON.stringify(topo.vip)}, port });
      const t = setTimeout(() => { r.timeout++; s.destroy(); done(); }, ${timeoutMs});
      s.on("connect", () => { clearTimeout(t); r.open++; s.destroy(); done(); });
      s.on("error", () => { clearTimeout(t); r.refused++; done(); });
    }`;
  return JSON.parse(lab.exec(topo.client, [process.execPath, "-e", script])) as {
    open: number;
    refused: number;
    timeout: number;
  };
}

function sensorLines(d: DirectorProcess): string[] {
  return d.log.split("\n").filter((l) => l.includes('"msg":"sensor: '));
}

test("the data-path sensor runs a real server's checks at once; only the checks remove it (NAT lab)", {
  timeout: 120_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  needsCommand("nft");
  const lab = new NetLab(labPrefix("hsens"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-hsens-"));
  let director: DirectorProcess | undefined;
  const servers: LineProcess[] = [];
  try {
    const topo = buildNatLab(lab, 2);
    const [rs2, rs3] = topo.servers.map((s) => s.rip) as [string, string];
    for (const s of topo.servers) {
      await startWebServer(lab, servers, s.host, s.name, 80);
    }
    const file = join(dir, "keepalived.conf");
    writeFileSync(file, conf(topo));
    const started = Date.now();
    director = await DirectorProcess.start(
      lab,
      topo.director,
      [topo.outsideIf, topo.insideIf],
      ["--keepalived-conf", file],
    );
    const d = director;
    const vip = topo.vip;
    const both = [`${rs2}:80`, `${rs3}:80`].sort();
    // The first checks (1 s after start) pass; from then on none is due for a minute.
    await sleep(2500);
    for (const port of [80, 81]) assert.deepEqual(members(d, vip, port), both, `start, port ${port}`);
    assert.deepEqual(sensorLines(d), []);

    // 1. RS3 drops the client's SYNs (not the director's): 4 of 8 connections per port are RS3's,
    // each retransmits its SYN after 1 s (and, with Linux's tcp_syn_linear_timeouts, every second).
    const nft = (host: string, rule: string) =>
      lab.exec(host, [
        "nft",
        `add table inet hs; add chain inet hs in { type filter hook input priority 0; }; add rule inet hs in ${rule}`,
      ]);
    nft(topo.servers[1]!.host, `ip saddr ${topo.cip} tcp dport 80 drop`);
    const silent = connects(lab, topo, [80, 81], 8, 2500);
    assert.equal(silent.timeout, 8, `RS3's connections time out: ${JSON.stringify(silent)}`);
    await sleep(1500);
    const seen3 = sensorLines(d);
    assert.ok(seen3.length >= 1 && seen3.length <= 3, `a sensor line a second at most:\n${seen3.join("\n")}`);
    for (const l of seen3)
      assert.match(l, new RegExp(`sensor: ${rs3}:80 of tcp ${vip}:80: [3-9] SYN retransmits, 0 RSTs`));
    // Its check ran and passed: RS3 is still in (the sensor never takes a server out itself).
    await sleep(1500);
    assert.deepEqual(members(d, vip, 80), both, "a sensor hit whose check passes changes nothing");
    lab.exec(topo.servers[1]!.host, ["nft", "delete table inet hs"]);

    // 2. RS2 refuses everyone (the director's check too): 5 of 10 connections per port get a RST.
    nft(topo.servers[0]!.host, "tcp dport 80 reject with tcp reset");
    const t0 = Date.now();
    const refused = connects(lab, topo, [80, 81], 10, 2000);
    assert.equal(refused.refused, 10, `RS2's connections are refused: ${JSON.stringify(refused)}`);
    let out80 = Number.NaN;
    while (Date.now() - t0 < (SENSOR_BOUND_S + 10) * 1000) {
      if (members(d, vip, 80).length === 1) {
        out80 = (Date.now() - t0) / 1000;
        break;
      }
      await sleep(100);
    }
    assert.deepEqual(members(d, vip, 80), [`${rs3}:80`], "RS2 left :80");
    assert.ok(out80 <= SENSOR_BOUND_S, `RS2 left :80 after ${out80} s, more than ${SENSOR_BOUND_S} s`);
    await sleep(300); // the director's log lines reach this process
    const lines = sensorLines(d).slice(seen3.length);
    assert.equal(lines.length, 1, d.log.split("\n").slice(-10).join("\n"));
    assert.match(
      lines[0]!,
      new RegExp(`sensor: ${rs2}:80 of tcp ${vip}:80: \\d+ SYN retransmits, [3-9] RSTs`),
    );
    // :81 has the sensor off: RS2 stays until its check's minute is up.
    await sleep(2000);
    assert.ok((Date.now() - started) / 1000 < 55, "the test ran past :81's next regular check");
    assert.deepEqual(members(d, vip, 81), both, "the sensor is off for :81");
    t.diagnostic(`RS2 out of :80 ${out80} s after the first refused connection; still in :81`);
  } finally {
    for (const s of servers) s.kill();
    await director?.stop();
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

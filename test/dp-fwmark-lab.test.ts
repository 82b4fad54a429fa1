/**
 * The fwmark lab: HTTP and HTTPS grouped into one persistent firewall-mark service by an nftables
 * rule in the director's namespace (`meta mark set 1` in a prerouting chain at the mangle
 * priority), served by direct routing from two real servers (Node's HTTP and TLS servers). Each
 * client gets both ports from the same real server (the template is keyed by the mark, as the
 * kernel's -p with fwmark), the clients are spread over both servers, a rule tslvs cannot compile
 * is reported by its handle (log and `tslvs status`), and a rule added while the director runs —
 * with iptables-nft's `-j MARK` — steers a third port at once, to the client's same real server.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { TSLVS_BIN } from "../src/cli/lab/paths.js";
import { buildDrLab, buildNatLab } from "../src/cli/lab/topologies.js";
import { makeEcdsaCert } from "./support/certificate.js";
import {
  curl,
  DirectorProcess,
  LineProcess,
  labPrefix,
  startRealServers,
  supportScript,
  waitFor,
} from "./support/dp-harness.js";
import { haveRoot, needsCommand } from "./support/privileged.js";

const CLIENTS = ["198.18.0.100", "198.18.0.101", "198.18.0.102", "198.18.0.103", "198.18.0.104"];

/** Node's TLS server on 443 on every real server, answering with the server's name. */
async function startHttps(
  lab: NetLab,
  servers: { host: string; name: string }[],
  cert: string,
  key: string,
): Promise<LineProcess[]> {
  const started: LineProcess[] = [];
  for (const rs of servers) {
    const p = new LineProcess(
      lab.spawn(rs.host, [
        ...["node", supportScript("https-name-server"), "--name", rs.name, "--port", "443"],
        ...["--cert", cert, "--key", key],
      ]),
      `${rs.name}'s HTTPS server`,
    );
    started.push(p);
    assert.equal(await p.nextLine(10000), "ready");
  }
  return started;
}

function appliedCount(d: DirectorProcess): number {
  return d.log.split("\n").filter((l) => l.includes('"msg":"firewall-mark rules applied"')).length;
}

test("fwmark lab: HTTP + HTTPS on one persistent fwmark service from an nft mark, rules followed live", {
  skip: needsCommand("nft") || needsCommand("openssl") || needsCommand("iptables-nft"),
}, async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("fwmark"));
  const certDir = mkdtempSync(join(tmpdir(), "tslvs-fwmark-"));
  let director: DirectorProcess | undefined;
  const tls: LineProcess[] = [];
  try {
    const topo = buildDrLab(lab);
    for (const c of CLIENTS.slice(1)) lab.addAddr(topo.client, "eth0", `${c}/24`);
    const { cert, key } = makeEcdsaCert(certDir, "vip.test");
    await startRealServers(lab, topo.servers, { port: 80 });
    await startRealServers(lab, topo.servers, { port: 8080 });
    tls.push(...(await startHttps(lab, topo.servers, cert, key)));
    const nft = (rule: string) => lab.exec(topo.director, ["nft", "-e", "-a", ...rule.split(" ")]);
    nft("add table inet lb");
    lab.exec(topo.director, [
      ...["nft", "add", "chain", "inet", "lb", "pre"],
      "{ type filter hook prerouting priority mangle; policy accept; }",
    ]);
    nft(`add rule inet lb pre ip daddr ${topo.vip} tcp dport { 80, 443 } meta mark set 1`);
    // ct state is not compiled: reported by its handle, and left out.
    const ctRule = nft("add rule inet lb pre ip daddr 198.18.0.99 ct state new meta mark set 5");
    const ctHandle = Number(/# handle (\d+)/.exec(ctRule)?.[1]);
    assert.ok(ctHandle > 0, `nft echoed the rule's handle: ${ctRule}`);

    director = await DirectorProcess.start(lab, topo.director, [topo.lanIf]);
    const d = director;
    d.adm(["-A", "-f", "1", "-s", "rr", "-p", "60"]);
    for (const rs of topo.servers) d.adm(["-a", "-f", "1", "-r", rs.rip, "-g"]);
    await waitFor("the rules were not applied", 5000, () => (appliedCount(d) >= 1 ? true : undefined));

    const served = new Map<string, string>();
    for (const c of CLIENTS) {
      const http = curl(lab, topo.client, `http://${topo.vip}/`, ["--interface", c]);
      const https = curl(lab, topo.client, `https://${topo.vip}/`, ["--interface", c, "-k"]);
      assert.equal(http.status, 200);
      assert.equal(https.status, 200);
      assert.equal(http.seenClient, c);
      assert.equal(https.seenClient, c);
      assert.equal(https.server, http.server, `client ${c}: HTTP and HTTPS from one real server`);
      served.set(c, http.server);
      // The template holds: a second round goes to the same server.
      assert.equal(curl(lab, topo.client, `http://${topo.vip}/`, ["--interface", c]).server, http.server);
    }
    const names = new Set(served.values());
    t.diagnostic(`clients by real server: ${JSON.stringify(Object.fromEntries(served))}`);
    assert.deepEqual([...names].sort(), topo.servers.map((s) => s.name).sort(), "clients spread on both");
    const listing = d.adm(["-Ln"]);
    assert.match(listing, /FWM {2}1 rr persistent 60/);

    // The rule tslvs cannot compile: logged once by handle, listed by tslvs status.
    const reported = d.log.split("\n").filter((l) => l.includes(`inet lb pre handle ${ctHandle}`));
    assert.equal(reported.length, 1, `one log line for handle ${ctHandle}:\n${reported.join("\n")}`);
    assert.match(reported[0]!, /not compiled/);
    const status = execFileSync("node", [TSLVS_BIN, "status", "--socket", d.socket], { encoding: "utf8" });
    assert.match(status, new RegExp(`nftables rule not compiled: inet lb pre handle ${ctHandle}: .*ct`));
    const info = JSON.parse(
      execFileSync("node", [TSLVS_BIN, "status", "--json", "--socket", d.socket], { encoding: "utf8" }),
    ) as { fwmarkRules: { nftables: string; nftRules: number; uncompiled: { handle: number }[] } };
    assert.equal(info.fwmarkRules.nftables, "read");
    assert.equal(info.fwmarkRules.nftRules, 1);
    assert.deepEqual(
      info.fwmarkRules.uncompiled.map((u) => u.handle),
      [ctHandle],
    );

    // Port 8080 is not marked yet: the host has no listener there and refuses it.
    assert.throws(() => curl(lab, topo.client, `http://${topo.vip}:8080/`, ["--interface", CLIENTS[0]!], 2));
    const before = appliedCount(d);
    // iptables-nft's rule: an xtables MARK target, read from nft's translation.
    lab.exec(topo.director, [
      ...["iptables-nft", "-t", "mangle", "-A", "PREROUTING", "-d", topo.vip, "-p", "tcp"],
      ...["--dport", "8080", "-j", "MARK", "--set-mark", "1"],
    ]);
    await waitFor("the ruleset change was not picked up", 5000, () =>
      appliedCount(d) > before ? true : undefined,
    );
    for (const c of CLIENTS) {
      const r = curl(lab, topo.client, `http://${topo.vip}:8080/`, ["--interface", c]);
      assert.equal(r.server, served.get(c), `client ${c}: the new port from its real server`);
    }
  } finally {
    for (const p of tls) p.kill();
    await director?.stop();
    await lab.destroy();
    rmSync(certDir, { recursive: true, force: true });
  }
});

test("fwmark lab, NAT: the config's fwmarks: group HTTP and HTTPS; replies from real servers without a port", {
  skip: needsCommand("openssl"),
}, async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("fwmarknat"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-fwmark-"));
  let director: DirectorProcess | undefined;
  const tls: LineProcess[] = [];
  try {
    const topo = buildNatLab(lab);
    for (const c of CLIENTS.slice(1)) lab.addAddr(topo.client, "eth0", `${c}/24`);
    const { cert, key } = makeEcdsaCert(dir, "vip.test");
    await startRealServers(lab, topo.servers, { port: 80 });
    tls.push(...(await startHttps(lab, topo.servers, cert, key)));
    const config = join(dir, "tslvs.yaml");
    writeFileSync(
      config,
      [
        "fwmarks:",
        "  - mark: 7",
        "    protocol: tcp",
        `    daddr: ${topo.vip}`,
        "    dport: [80, 443]",
        "services:",
        "  - fwmark: 7",
        "    scheduler: rr",
        "    persistent: 60",
        "    servers:",
        ...topo.servers.flatMap((rs) => [`      - address: ${rs.rip}`, "        method: masq"]),
        "",
      ].join("\n"),
    );
    director = await DirectorProcess.start(
      lab,
      topo.director,
      [topo.outsideIf, topo.insideIf],
      ["--config", config],
    );
    const d = director;
    await waitFor("the rules were not applied", 5000, () => (appliedCount(d) >= 1 ? true : undefined));
    const served = new Map<string, string>();
    for (const c of CLIENTS) {
      const http = curl(lab, topo.client, `http://${topo.vip}/`, ["--interface", c]);
      const https = curl(lab, topo.client, `https://${topo.vip}/`, ["--interface", c, "-k"]);
      assert.equal(http.seenClient, c);
      assert.equal(https.seenClient, c);
      assert.equal(https.server, http.server, `client ${c}: HTTP and HTTPS from one real server`);
      served.set(c, http.server);
    }
    t.diagnostic(`clients by real server: ${JSON.stringify(Object.fromEntries(served))}`);
    assert.deepEqual(
      [...new Set(served.values())].sort(),
      topo.servers.map((s) => s.name).sort(),
      "clients spread on both",
    );
    const info = JSON.parse(
      execFileSync("node", [TSLVS_BIN, "status", "--json", "--socket", d.socket], { encoding: "utf8" }),
    ) as { fwmarkRules: { configRules: number } };
    assert.equal(info.fwmarkRules.configRules, 1);
  } finally {
    for (const p of tls) p.kill();
    await director?.stop();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

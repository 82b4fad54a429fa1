/**
 * keepalived.conf reloads that lose nothing (spec A.12), in the classic NAT lab with three real
 * servers and the data plane: twenty reloads with unrelated edits under a 50 MB download and a loop
 * of short connections (no failure, no reset, the download byte-exact); a real server removed from
 * the file while it serves a download is drained (the download completes, new connections go to
 * the others, then it is deleted); and each case where keepalived is known to lose traffic or state
 * on reload — a fixed MISC_CHECK script brings its server back at once (#1720), weights follow the
 * file (#1354, #187), weight 0 stays 0 (#1757), an inhibited failed server removed from the file
 * goes (#492), the sorry server survives reloads (#490), a server deleted by hand is put back
 * (#1877), a duplicate real server costs nothing but the duplicate (#1904) — and a reload with a
 * new problem in the file changes nothing.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import {
  DirectorProcess,
  firstPatternMismatch,
  LineProcess,
  labPrefix,
  sleep,
} from "./support/dp-harness.js";
import { health, members, startWebServer, tslvs, waitMembers } from "./support/health-lab.js";
import { haveRoot } from "./support/privileged.js";

interface Knobs {
  /** Real servers of VIP:80 (the download service). */
  main: string[];
  /** Weight of each real server of VIP:81 (the service the unrelated edits touch). */
  w81: number;
  /** The script VIP:82's MISC_CHECK runs. */
  misc: string;
  /** Real servers of VIP:84 (inhibited; the first one fails its check). */
  inhibited: string[];
}

function conf(topo: NatTopology, dir: string, k: Knobs): string {
  const [rs2, rs3, rs4] = topo.servers.map((s) => s.rip) as [string, string, string];
  const vip = topo.vip;
  const head = (port: number, extra: string[] = []) => [
    `virtual_server ${vip} ${port} {`,
    "    lvs_sched rr",
    "    lvs_method NAT",
    "    protocol TCP",
    "    delay_loop 1",
    ...extra.map((l) => `    ${l}`),
  ];
  const rs = (ip: string, lines: string[]) => [
    `    real_server ${ip} 80 {`,
    ...lines.map((l) => `        ${l}`),
    "    }",
  ];
  const tcpCheck = (port?: number) => [
    "TCP_CHECK {",
    "    connect_timeout 1",
    ...(port ? [`    connect_port ${port}`] : []),
    "}",
  ];
  return [
    "global_defs {",
    "    router_id reload-lab",
    "    script_user root",
    "}",
    ...head(80),
    ...k.main.flatMap((ip) => rs(ip, tcpCheck())),
    "}",
    ...head(81),
    ...[rs2, rs3, rs4].flatMap((ip) => rs(ip, [`weight ${k.w81}`, ...tcpCheck()])),
    "}",
    // delay_loop 30: only a reload can make this check run again soon.
    `virtual_server ${vip} 82 {`,
    "    lvs_sched rr",
    "    lvs_method NAT",
    "    protocol TCP",
    "    delay_loop 30",
    "    warmup 0",
    ...rs(rs2, ["MISC_CHECK {", `    misc_path "/bin/sh ${dir}/${k.misc}"`, "}"]),
    ...rs(rs3, tcpCheck()),
    "}",
    // Quorum 3 of three weight-1 servers, one always failing: the sorry server serves.
    ...head(83, ["quorum 3", `sorry_server ${rs4} 8080`]),
    ...rs(rs2, tcpCheck(9)),
    ...rs(rs3, tcpCheck()),
    ...rs(rs4, tcpCheck()),
    "}",
    ...head(84, ["inhibit_on_failure"]),
    ...k.inhibited.flatMap((ip) => rs(ip, tcpCheck(ip === rs2 ? 9 : undefined))),
    "}",
    // Weight 0 as written, and one real server listed twice.
    ...head(85),
    ...rs(rs2, ["weight 0"]),
    ...rs(rs3, ["weight 2"]),
    ...rs(rs3, ["weight 2"]),
    "}",
  ].join("\n");
}

/** Short connections to VIP:port for `seconds`, sequentially, from the client: {ok, failed, resets, seen}. */
function shortLoop(lab: NetLab, topo: NatTopology, port: number, seconds: number): LineProcess {
  const script = `
    const http = require("node:http");
    const end = Date.now() + ${seconds * 1000};
    const r = { ok: 0, failed: 0, resets: 0, seen: {} };
    const one = () => {
      if (Date.now() > end) { console.log(JSON.stringify(r)); return; }
      const req = http.get({ host: ${JSON.stringify(topo.vip)}, port: ${port}, path: "/", agent: false }, (res) => {
        res.resume();
        res.on("end", () => { r.ok++; const s = res.headers["x-server"]; r.seen[s] = (r.seen[s] || 0) + 1; one(); });
        res.on("error", (e) => { r.failed++; if (e.code === "ECONNRESET") r.resets++; one(); });
      });
      req.setTimeout(3000, () => req.destroy(new Error("timeout")));
      req.on("error", (e) => { r.failed++; if (e.code === "ECONNRESET") r.resets++; one(); });
    };
    one();`;
  return new LineProcess(lab.spawn(topo.client, [process.execPath, "-e", script]), "short connections");
}

/** A paced download of `bytes` from VIP:80 into `file` (curl), running in the background. */
function download(lab: NetLab, topo: NatTopology, bytes: number, rate: number, file: string): LineProcess {
  const url = `http://${topo.vip}/bytes/${bytes}?rate=${rate}`;
  return new LineProcess(
    lab.spawn(topo.client, [
      "curl",
      "-s",
      "-S",
      "-m",
      "60",
      "-o",
      file,
      "-w",
      "%{http_code} %{size_download}\n",
      url,
    ]),
    "download",
  );
}

function checkDownload(file: string, bytes: number): void {
  assert.equal(statSync(file).size, bytes, "download size");
  assert.equal(firstPatternMismatch(readFileSync(file)), -1, "download bytes");
}

test("keepalived.conf reloads lose no connection and no state (NAT lab)", { timeout: 300_000 }, async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("hrel"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-hrel-"));
  let director: DirectorProcess | undefined;
  const procs: LineProcess[] = [];
  try {
    const topo = buildNatLab(lab, 3);
    const [rs2, rs3, rs4] = topo.servers.map((s) => s.rip) as [string, string, string];
    for (const s of topo.servers) {
      await startWebServer(lab, procs, s.host, s.name, 80);
    }
    await startWebServer(lab, procs, topo.servers[2]!.host, "SORRY", 8080);
    writeFileSync(join(dir, "broken.sh"), "exit 1\n");
    writeFileSync(join(dir, "fixed.sh"), "exit 0\n");
    const file = join(dir, "keepalived.conf");
    const k: Knobs = { main: [rs2, rs3, rs4], w81: 1, misc: "broken.sh", inhibited: [rs2, rs3] };
    const write = () => writeFileSync(file, conf(topo, dir, k));
    write();
    director = await DirectorProcess.start(
      lab,
      topo.director,
      [topo.outsideIf, topo.insideIf],
      ["--keepalived-conf", file, "--drain-timeout", "30"],
    );
    const d = director;
    const vip = topo.vip;
    const all = [rs2, rs3, rs4].map((ip) => `${ip}:80 1`);

    // The start: weight 0 as written (#1757), the duplicate dropped alone (#1904).
    assert.deepEqual(members(d, vip, 85), [`${rs2}:80 0`, `${rs3}:80 2`]);
    await waitMembers(d, vip, 82, [`${rs3}:80 1`], 8, "MISC_CHECK failing");
    await waitMembers(d, vip, 83, [`${rs4}:8080 1`], 8, "quorum lost: sorry server");
    await waitMembers(d, vip, 84, [`${rs2}:80 0`, `${rs3}:80 1`], 8, "inhibited at weight 0");
    await waitMembers(d, vip, 80, all, 8, "all up");
    const before = health(d).find((s) => s.service === `tcp ${vip}:80`)!;

    // Twenty reloads with unrelated edits under a download and short connections.
    const dl = download(lab, topo, 50 * 1024 * 1024, 12 * 1024 * 1024, join(dir, "dl1"));
    procs.push(dl);
    const loop = shortLoop(lab, topo, 80, 6);
    procs.push(loop);
    await sleep(500);
    for (let i = 0; i < 20; i++) {
      k.w81 = (i % 3) + 1;
      write();
      d.child.kill("SIGHUP");
      await sleep(200);
    }
    const r = JSON.parse(await loop.nextLine(20000)) as { ok: number; failed: number; resets: number };
    assert.equal(
      r.failed,
      0,
      `${r.failed} of ${r.ok + r.failed} short connections failed (${r.resets} resets)`,
    );
    assert.ok(r.ok > 20, `only ${r.ok} short connections`);
    assert.match(await dl.nextLine(30000), /^200 52428800$/);
    checkDownload(join(dir, "dl1"), 50 * 1024 * 1024);
    for (let i = 0; i < 50 && (d.log.match(/reloading keepalived.conf/g)?.length ?? 0) < 20; i++)
      await sleep(100);
    assert.equal(d.log.match(/reloading keepalived.conf/g)?.length, 20, "every SIGHUP reloaded");
    await waitMembers(
      d,
      vip,
      81,
      [rs2, rs3, rs4].map((ip) => `${ip}:80 ${k.w81}`),
      5,
      "weights follow the file (#1354)",
    );
    const after = health(d).find((s) => s.service === `tcp ${vip}:80`)!;
    assert.deepEqual(
      after.realServers.map((x) => [x.target, x.state, x.lastTransition]),
      before.realServers.map((x) => [x.target, x.state, x.lastTransition]),
      "the unrelated reloads left the checked service's states alone",
    );
    // The sorry server survived every reload (#490); the inhibited server stayed at 0.
    assert.deepEqual(members(d, vip, 83), [`${rs4}:8080 1`]);
    assert.deepEqual(members(d, vip, 84), [`${rs2}:80 0`, `${rs3}:80 1`]);

    // A real server removed from the file while it serves a download: drained, not cut (#1228).
    const dl2 = download(lab, topo, 8 * 1024 * 1024, 2 * 1024 * 1024, join(dir, "dl2"));
    procs.push(dl2);
    let serving = "";
    let conns = "";
    for (let i = 0; i < 50 && !serving; i++) {
      await sleep(100);
      conns = d.adm(["-Lnc"]);
      serving = /ESTABLISHED\s+\S+\s+\S+\s+(\S+):80\s*$/m.exec(conns)?.[1] ?? "";
    }
    assert.ok(serving, `the download's connection is listed:\n${conns}`);
    k.main = [rs2, rs3, rs4].filter((ip) => ip !== serving);
    write();
    const rel = tslvs(d, ["reload"]);
    assert.equal(rel.status, 0, rel.out);
    assert.deepEqual(members(d, vip, 80), [...k.main.map((ip) => `${ip}:80 1`), `${serving}:80 0`].sort());
    const h80 = health(d).find((s) => s.service === `tcp ${vip}:80`)!;
    assert.equal(h80.realServers.find((x) => x.target === `${serving}:80`)?.state, "draining");
    const during = JSON.parse(await shortLoop(lab, topo, 80, 2).nextLine(15000)) as {
      failed: number;
      seen: Record<string, number>;
    };
    assert.equal(during.failed, 0);
    const servingName = topo.servers.find((s) => s.rip === serving)!.name;
    assert.equal(during.seen[servingName], undefined, "no new connection to the draining server");
    assert.match(await dl2.nextLine(30000), /^200 8388608$/);
    checkDownload(join(dir, "dl2"), 8 * 1024 * 1024);
    await waitMembers(
      d,
      vip,
      80,
      k.main.map((ip) => `${ip}:80 1`),
      5,
      "drained server deleted",
    );
    for (let i = 0; i < 50 && !d.log.includes("drained real server removed"); i++) await sleep(100);
    assert.match(d.log, /drained real server removed/);

    // #1720: the MISC_CHECK script fixed in the file: back at once, not after delay_loop 30.
    k.misc = "fixed.sh";
    write();
    assert.equal(tslvs(d, ["reload"]).status, 0);
    const back = await waitMembers(d, vip, 82, [`${rs2}:80 1`, `${rs3}:80 1`], 5, "fixed script: back");
    t.diagnostic(`fixed MISC_CHECK back ${back} s after the reload`);

    // #492: the inhibited failed server removed from the file goes (it has no connections).
    k.inhibited = [rs3];
    write();
    assert.equal(tslvs(d, ["reload"]).status, 0);
    await waitMembers(d, vip, 84, [`${rs3}:80 1`], 4, "inhibited server removed");

    // #1877: a managed real server deleted by hand is put back by the next reload.
    d.adm(["-d", "-t", `${vip}:81`, "-r", `${rs3}:80`]);
    assert.equal(tslvs(d, ["reload"]).status, 0);
    assert.deepEqual(
      members(d, vip, 81),
      [rs2, rs3, rs4].map((ip) => `${ip}:80 ${k.w81}`),
    );
    // A service added by hand is left alone.
    d.adm(["-A", "-t", `${vip}:99`, "-s", "rr"]);
    assert.equal(tslvs(d, ["reload"]).status, 0);
    assert.match(d.adm(["-Ln"]), new RegExp(`${vip.replaceAll(".", "\\.")}:99`));

    // A new problem in the file: refused, nothing changes.
    writeFileSync(
      file,
      `${conf(topo, dir, k)}\nvirtual_server ${vip} 86 {\n    lvs_sched rr\n    protocol TCP\n    real_server ${rs2} 80 {\n        wieght 3\n    }\n}\n`,
    );
    const bad = tslvs(d, ["reload"]);
    assert.equal(bad.status, 1);
    assert.match(bad.out, /refused, running state unchanged/);
    assert.doesNotMatch(d.adm(["-Ln"]), /:86/);
    assert.deepEqual(
      members(d, vip, 80),
      k.main.map((ip) => `${ip}:80 1`),
    );
  } finally {
    for (const p of procs) p.kill();
    await director?.stop();
    if (process.env.TSLVS_DUMP) writeFileSync(process.env.TSLVS_DUMP, director?.log ?? "");
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

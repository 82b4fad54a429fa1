/**
 * Health checking end to end, from an unchanged keepalived.conf: the classic NAT lab with three
 * real servers, the director started with --keepalived-conf and its data plane, one service per
 * way of failing a real server. Each real server is failed the way its checker detects, must leave
 * within spec A.9's worst case (delay_loop + (retry + 1) x connect_timeout + retry x
 * delay_before_retry, plus 2 s), must not get any of 200 new requests while out, and must come
 * back after one success. Then the quorum: two real servers lost puts the sorry server in, and it
 * goes only when the quorum is regained.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import { DirectorProcess, type LineProcess, labPrefix } from "./support/dp-harness.js";
import { health, members, requests, startWebServer, waitMembers } from "./support/health-lab.js";
import { haveRoot, needsCommand } from "./support/privileged.js";

/** Every checker: delay_loop 1, connect_timeout 1, retry 1, delay_before_retry 1. */
const WORST_DETECTION_S = 1 + 2 * 1 + 1 * 1 + 2;
/** Back after one success: the next delay_loop, plus the same 2 s of slack. */
const WORST_RECOVERY_S = 1 + 1 + 2;

const TIMING = ["delay_loop 1", "connect_timeout 1", "retry 1", "delay_before_retry 1"];

function conf(topo: NatTopology, dir: string): string {
  const rs = topo.servers.map((s) => s.rip);
  const vs = (port: number, body: string[], perRs: (ip: string) => string[]) =>
    [
      `virtual_server ${topo.vip} ${port} {`,
      `    lvs_sched ${port === 83 ? "wrr" : "rr"}`,
      "    lvs_method NAT",
      "    protocol TCP",
      ...body.map((l) => `    ${l}`),
      ...rs.flatMap((ip) => [`    real_server ${ip} 80 {`, ...perRs(ip).map((l) => `        ${l}`), "    }"]),
      "}",
    ].join("\n");
  const http = (urlLines: string[]) => [
    "HTTP_GET {",
    "    url {",
    ...urlLines.map((l) => `        ${l}`),
    "    }",
    "}",
  ];
  return [
    "global_defs {",
    "    router_id lab-director",
    "    enable_script_security",
    "    script_user root",
    `    lvs_notify_fifo ${dir}/fifo`,
    "    rs_init_notifies",
    "}",
    `track_file health_flag {`,
    `    file "${dir}/flag"`,
    "    weight 0",
    "}",
    vs(80, TIMING, (ip) => [
      `notify_up "/bin/sh -c 'echo up ${ip} >> ${dir}/notify'"`,
      `notify_down "/bin/sh -c 'echo down ${ip} >> ${dir}/notify'"`,
      "TCP_CHECK {",
      "}",
    ]),
    vs(81, TIMING, () => http(["path /health", "status_code 200"])),
    // "ok\n": the body every healthy server's /health gives.
    vs(82, [...TIMING, "inhibit_on_failure"], () =>
      http(["path /health", "digest eff5bc1ef8ec9d03e640fc4370f5eacd"]),
    ),
    vs(83, TIMING, (ip) => [
      "weight 1",
      "MISC_CHECK {",
      `    misc_path "/bin/sh ${dir}/misc.sh ${ip}"`,
      "    misc_timeout 2",
      "    misc_dynamic",
      "}",
    ]),
    vs(84, TIMING, (ip) =>
      ip === rs[0] ? ["FILE_CHECK {", "    track_file health_flag", "}"] : ["TCP_CHECK {", "}"],
    ),
    vs(
      85,
      [
        ...TIMING,
        "quorum 2",
        "hysteresis 0",
        `sorry_server ${rs[2]} 8080`,
        `quorum_down "/bin/sh -c 'echo quorum-down >> ${dir}/notify'"`,
        `quorum_up "/bin/sh -c 'echo quorum-up >> ${dir}/notify'"`,
      ],
      () => ["TCP_CHECK {", "    connect_port 80", "}"],
    ),
  ].join("\n");
}

test("keepalived.conf health checks take failed real servers out and put them back (NAT lab)", {
  timeout: 240_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  needsCommand("nft");
  const lab = new NetLab(labPrefix("hlab"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-hlab-"));
  let director: DirectorProcess | undefined;
  const servers: LineProcess[] = [];
  const cleanups: (() => void)[] = [];
  try {
    const topo = buildNatLab(lab, 3);
    const [rs2, rs3, rs4] = topo.servers.map((s) => s.rip) as [string, string, string];
    const names = new Map(topo.servers.map((s) => [s.rip, s.name]));
    const healthFile = (ip: string) => join(dir, `${names.get(ip)}.health`);
    for (const s of topo.servers) {
      writeFileSync(healthFile(s.rip), "200 ok");
      writeFileSync(join(dir, `misc-${s.rip}`), "0");
      await startWebServer(lab, servers, s.host, s.name, 80, healthFile(s.rip));
    }
    await startWebServer(lab, servers, topo.servers[2]!.host, "SORRY", 8080);
    writeFileSync(join(dir, "flag"), "0\n");
    writeFileSync(join(dir, "misc.sh"), 'exit "$(cat "$(dirname "$0")/misc-$1")"\n', { mode: 0o755 });
    const file = join(dir, "keepalived.conf");
    writeFileSync(file, conf(topo, dir));
    // keepalived's notify FIFO, held open for reading and writing so its reader never sees an end.
    execFileSync("mkfifo", [join(dir, "fifo")]);
    const fifoReader = spawn("sh", ["-c", `exec 3<> ${dir}/fifo; exec cat <&3 > ${dir}/fifo.out`]);
    cleanups.push(() => fifoReader.kill());
    director = await DirectorProcess.start(
      lab,
      topo.director,
      [topo.outsideIf, topo.insideIf],
      ["--keepalived-conf", file],
    );
    const d = director;
    const vip = topo.vip;
    const all = (w = 1) => [rs2, rs3, rs4].map((ip) => `${ip}:80 ${w}`);

    // -Sn: what the file declares, as keepalived would program it.
    const saved = d.adm(["-Sn"]);
    for (const port of [80, 81, 82, 83, 84, 85])
      assert.match(saved, new RegExp(`-A -t ${vip}:${port} -s ${port === 83 ? "wrr" : "rr"}`));
    assert.match(saved, new RegExp(`-a -t ${vip}:81 -r ${rs2}:80 -m -w 1`));

    // Every checker passes: everything in service.
    for (const port of [80, 81, 82, 83, 84, 85])
      await waitMembers(d, vip, port, all(), 10, `start, port ${port}`);

    // TCP_CHECK: RS2's port 80 blackholed for the director's checks (clients still reach it).
    const dip = topo.dip;
    const blackhole = (host: string) =>
      lab.exec(host, [
        "nft",
        `add table inet hc; add chain inet hc in { type filter hook input priority 0; }; add rule inet hc in ip saddr ${dip} tcp dport 80 drop`,
      ]);
    blackhole(topo.servers[0]!.host);
    const out80 = await waitMembers(
      d,
      vip,
      80,
      [`${rs3}:80 1`, `${rs4}:80 1`],
      WORST_DETECTION_S,
      "TCP_CHECK blackholed",
    );
    const seen80 = requests(lab, topo.client, vip, 80, 200);
    assert.equal(seen80.get("RS2"), undefined, "RS2 got requests while out");
    lab.exec(topo.servers[0]!.host, ["nft", "delete table inet hc"]);
    const back80 = await waitMembers(d, vip, 80, all(), WORST_RECOVERY_S, "TCP_CHECK healed");
    const rsDown = health(d).find((s) => s.service === `tcp ${vip}:80`)!;
    assert.equal(rsDown.realServers.find((r) => r.target === `${rs2}:80`)!.state, "alive");

    // HTTP_GET status: RS2's /health answers 500 (its HTTP checks failed with the blackhole too:
    // first they come back).
    for (const port of [81, 82, 85])
      await waitMembers(d, vip, port, all(), WORST_RECOVERY_S, `port ${port} after the blackhole`);
    writeFileSync(healthFile(rs2), "500 broken");
    const out81 = await waitMembers(
      d,
      vip,
      81,
      [`${rs3}:80 1`, `${rs4}:80 1`],
      WORST_DETECTION_S,
      "HTTP_GET 500",
    );
    const h81 = health(d).find((s) => s.service === `tcp ${vip}:81`)!;
    const failed = h81.realServers.find((r) => r.target === `${rs2}:80`)!;
    assert.equal(failed.state, "failed");
    assert.match(failed.checkers[0]!.last!.reason, /500/);
    const seen81 = requests(lab, topo.client, vip, 81, 200);
    assert.equal(seen81.get("RS2"), undefined);
    // Digest and inhibit_on_failure: the 500's body differs too, so 82 keeps RS2 at weight 0.
    await waitMembers(
      d,
      vip,
      82,
      [`${rs2}:80 0`, `${rs3}:80 1`, `${rs4}:80 1`],
      WORST_DETECTION_S,
      "HTTP_GET digest, inhibit",
    );
    writeFileSync(healthFile(rs2), "200 ok");
    const back81 = await waitMembers(d, vip, 81, all(), WORST_RECOVERY_S, "HTTP_GET healed");
    await waitMembers(d, vip, 82, all(), WORST_RECOVERY_S, "digest healed");
    // A 200 with another body: only the digest check fails.
    writeFileSync(healthFile(rs3), "200 changed");
    await waitMembers(
      d,
      vip,
      82,
      [`${rs2}:80 1`, `${rs3}:80 0`, `${rs4}:80 1`],
      WORST_DETECTION_S,
      "digest mismatch",
    );
    assert.deepEqual(members(d, vip, 81), all(), "status-only check unaffected by the body");
    writeFileSync(healthFile(rs3), "200 ok");
    await waitMembers(d, vip, 82, all(), WORST_RECOVERY_S, "digest healed");

    // MISC_CHECK misc_dynamic: exit 1 = down; exit 7 = up at weight 5.
    writeFileSync(join(dir, `misc-${rs4}`), "1");
    const out83 = await waitMembers(
      d,
      vip,
      83,
      [`${rs2}:80 1`, `${rs3}:80 1`],
      WORST_DETECTION_S + 2,
      "MISC_CHECK exit 1",
    );
    writeFileSync(join(dir, `misc-${rs4}`), "7");
    await waitMembers(
      d,
      vip,
      83,
      [`${rs2}:80 1`, `${rs3}:80 1`, `${rs4}:80 5`],
      WORST_RECOVERY_S + 2,
      "MISC_CHECK dynamic weight",
    );
    const seen83 = requests(lab, topo.client, vip, 83, 70);
    assert.equal(seen83.get("RS4"), 50, "wrr over weights 1, 1, 5: RS4 gets 5 of every 7");

    // FILE_CHECK (weight 0): a non-zero value fails.
    writeFileSync(join(dir, "flag"), "1\n");
    await waitMembers(d, vip, 84, [`${rs3}:80 1`, `${rs4}:80 1`], WORST_DETECTION_S, "FILE_CHECK value 1");
    writeFileSync(join(dir, "flag"), "0\n");
    await waitMembers(d, vip, 84, all(), WORST_RECOVERY_S, "FILE_CHECK value 0");

    // Quorum 2 of weights 1+1+1: two servers lost, the sorry server (RS4:8080) serves.
    writeFileSync(join(dir, "flag"), "0\n");
    for (const h of [topo.servers[0]!.host, topo.servers[1]!.host]) blackhole(h);
    await waitMembers(d, vip, 85, [`${rs4}:8080 1`], WORST_DETECTION_S, "quorum lost: sorry server");
    const sorrySeen = requests(lab, topo.client, vip, 85, 20);
    assert.deepEqual([...sorrySeen.keys()], ["SORRY"]);
    lab.exec(topo.servers[0]!.host, ["nft", "delete table inet hc"]);
    await waitMembers(
      d,
      vip,
      85,
      [`${rs2}:80 1`, `${rs4}:80 1`],
      WORST_RECOVERY_S,
      "quorum regained with two of three",
    );
    lab.exec(topo.servers[1]!.host, ["nft", "delete table inet hc"]);
    await waitMembers(d, vip, 85, all(), WORST_RECOVERY_S, "all back");

    // A server that flaps every half second: forwarding stays unharmed, the director answers.
    const flapper = spawn("sh", [
      "-c",
      `for i in 1 2 3 4 5 6 7 8; do echo "500 x" > ${healthFile(rs3)}; sleep 0.5; echo "200 ok" > ${healthFile(rs3)}; sleep 0.5; done`,
    ]);
    const flapSeen = requests(lab, topo.client, vip, 81, 200);
    await new Promise((r) => flapper.once("exit", r));
    t.diagnostic(`while RS3 flapped: ${JSON.stringify(Object.fromEntries(flapSeen))}`);
    await waitMembers(d, vip, 81, all(), WORST_RECOVERY_S + 1, "after the flapping");
    assert.ok(d.running, "the director survived the flapping");

    // A real server whose link goes down: unreachable, out; link up: back.
    lab.exec(topo.servers[2]!.host, ["ip", "link", "set", "eth0", "down"]);
    await waitMembers(d, vip, 80, [`${rs2}:80 1`, `${rs3}:80 1`], WORST_DETECTION_S, "link down: out");
    lab.exec(topo.servers[2]!.host, ["ip", "link", "set", "eth0", "up"]);
    await waitMembers(d, vip, 80, all(), WORST_RECOVERY_S + 3, "link up: back");

    // notify_up/notify_down, quorum_down/quorum_up ran; the FIFO got keepalived's lines (and, with
    // rs_init_notifies, a line for each real server at start).
    const notified = readFileSync(join(dir, "notify"), "utf8");
    for (const line of [`down ${rs2}`, `up ${rs2}`, `down ${rs4}`, `up ${rs4}`, "quorum-down", "quorum-up"])
      assert.ok(notified.split("\n").includes(line), `notify scripts: no "${line}" in:\n${notified}`);
    const fifo = readFileSync(join(dir, "fifo.out"), "utf8");
    for (const line of [
      `RS [${rs2}]:tcp:80 [${vip}]:tcp:80 DOWN`,
      `RS [${rs2}]:tcp:80 [${vip}]:tcp:80 UP`,
      `VS [${vip}]:tcp:85 DOWN`,
      `VS [${vip}]:tcp:85 UP`,
      // rs_init_notifies: the start's states, for a server that never changed.
      `RS [${rs3}]:tcp:80 [${vip}]:tcp:83 UP`,
    ])
      assert.ok(fifo.split("\n").includes(line), `notify FIFO: no "${line}" in:\n${fifo}`);

    t.diagnostic(
      `seconds out/back: tcp ${out80}/${back80}, http ${out81}/${back81}, misc ${out83}; requests ${[...seen81.values()].join("+")}`,
    );
    assert.doesNotMatch(d.log, /"level":50.*uncaught/);
  } finally {
    for (const s of servers) s.kill();
    for (const c of cleanups) c();
    await director?.stop();
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

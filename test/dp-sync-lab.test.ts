/**
 * Connection sync between two real directors (sync-link.ts, src/core/sync.ts, the v1 message):
 * the NAT lab's director runs a master sync daemon on a link to a second director (a backup
 * sync daemon, the same rules); a client holds a keep-alive HTTP connection through the master;
 * the backup's table then holds it — same client, same real server, ESTABLISHED, bound to its own
 * real server — and a closing connection's new state follows at once. Multicast to 224.0.0.81
 * inside the test's namespaces only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import type { DaemonEntry } from "../src/control/api.js";
import { DirectorProcess, LineProcess, labPrefix, startRealServers } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

/** One keep-alive HTTP connection from a fixed port: `n` requests, then held open `holdMs`. */
const CLIENT = `
const net = require("node:net");
const [vip, n, holdMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const s = net.connect({ host: vip, port: 80, localPort: 41234 }, () => {
  let left = n, buf = "";
  const ask = () => s.write("GET / HTTP/1.1\\r\\nHost: vip\\r\\n\\r\\n");
  s.on("data", (d) => {
    buf += d.toString();
    const done = buf.split("\\r\\n\\r\\n").length - 1;
    if (done >= n - left + 1) {
      left--;
      if (left > 0) ask();
      else {
        console.log(JSON.stringify({ answered: n, text: buf.slice(0, 200) }));
        setTimeout(() => s.end(), holdMs);
      }
    }
  });
  ask();
});
s.on("close", () => process.exit(0));
`;

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("sync lab: the backup director's table holds the master's established connection", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("sync"));
  let master: DirectorProcess | undefined;
  let backup: DirectorProcess | undefined;
  const clients: LineProcess[] = [];
  try {
    const topo = buildNatLab(lab);
    await startRealServers(lab, topo.servers, { keepAliveMs: 20000 });
    lab.addHost("backup");
    const b = "backup";
    lab.link(topo.director, "sync0", b, "sync0");
    lab.addAddr(topo.director, "sync0", "198.18.200.1/24");
    lab.addAddr(b, "sync0", "198.18.200.2/24");
    master = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    backup = await DirectorProcess.start(lab, b, ["sync0"]);
    for (const d of [master, backup]) {
      assert.equal(d.adm(["-A", "-t", `${topo.vip}:80`, "-s", "rr"]), "");
      for (const rs of topo.servers)
        assert.equal(d.adm(["-a", "-t", `${topo.vip}:80`, "-r", `${rs.rip}:80`, "-m"]), "");
    }
    assert.equal(master.adm(["--start-daemon", "master", "--mcast-interface", "sync0", "--syncid", "7"]), "");
    assert.equal(backup.adm(["--start-daemon", "backup", "--mcast-interface", "sync0", "--syncid", "7"]), "");
    assert.match(
      master.adm(["-L", "--daemon"]),
      /master sync daemon \(mcast=sync0, syncid=7, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1\)/,
    );
    const listed = (d: DirectorProcess) =>
      (JSON.parse(d.adm(["-L", "--daemon", "--json"])) as { daemons: DaemonEntry[] }).daemons[0]!;
    assert.deepEqual(listed(backup).notActedOn ?? [], [], "acted on: no longer marked");
    assert.deepEqual(listed(backup).counters, { messages: 0, conns: 0, byReason: {} });

    // Ten requests on one connection (more than sync_threshold's 3 packets in), then held open.
    const client = new LineProcess(
      lab.spawn(topo.client, ["node", "-e", CLIENT, topo.vip, "10", "4000"]),
      "client",
    );
    clients.push(client);
    const answer = JSON.parse(await client.nextLine(10000)) as { answered: number };
    assert.equal(answer.answered, 10);
    const onMaster = master
      .adm(["-Lnc"])
      .split("\n")
      .find((l) => l.includes("198.18.0.100:41234"));
    assert.ok(onMaster, `the master lists the connection:\n${master.adm(["-Lnc"])}`);
    const rs = /198\.19\.\d+\.\d+:80/.exec(onMaster)![0];

    let onBackup: string | undefined;
    for (let k = 0; k < 30 && !onBackup; k++) {
      await wait(100);
      onBackup = backup
        .adm(["-Lnc"])
        .split("\n")
        .find((l) => l.includes("198.18.0.100:41234"));
    }
    assert.ok(
      onBackup,
      `the backup lists the connection:\n${backup.adm(["-Lnc"])}\nmaster:\n${master.log.slice(-2000)}`,
    );
    assert.match(onBackup, /^TCP .*ESTABLISHED .*198\.18\.0\.100:41234 +198\.18\.0\.10:80 /);
    assert.ok(onBackup.includes(rs), `the same real server ${rs}: ${onBackup}`);
    const stats = backup.adm(["-Ln"]);
    assert.match(
      stats,
      new RegExp(`-> ${rs.replace(/\./g, "\\.")} +Masq +1 +1 +0`),
      `counted active on the backup:\n${stats}`,
    );

    // The client closes: the master's new closing state reaches the backup at once (not ESTABLISHED).
    await client.finish(10000);
    let closing: string | undefined;
    for (let k = 0; k < 30 && !closing; k++) {
      await wait(100);
      closing = backup
        .adm(["-Lnc"])
        .split("\n")
        .find((l) => l.includes("198.18.0.100:41234") && !l.includes("ESTABLISHED"));
    }
    assert.ok(closing, `the closing state follows:\n${backup.adm(["-Lnc"])}`);
    // What each side counted: messages and connections sent, received, added then updated.
    const sent = listed(master).counters!;
    const received = listed(backup).counters!;
    assert.ok(sent.messages >= 2 && sent.conns >= 2, JSON.stringify(sent));
    assert.equal(received.conns, sent.conns, "every connection sent was received");
    assert.equal(received.byReason.added, 1);
    assert.ok((received.byReason.updated ?? 0) >= 1, JSON.stringify(received));

    // Hostile datagrams on the wire, from the master's side: each refused and counted, the table
    // unchanged, the daemon still running.
    // The table without its countdown column.
    const table = () => backup!.adm(["-Lnc"]).replace(/ \d\d:\d\d /g, " ");
    const before = table();
    const FORGE = `
const s = require("node:dgram").createSocket("udp4");
const h = (id, size, n, ver) => [0, id, size >> 8, size & 255, n, ver, 0, 0];
const msgs = [
  Buffer.from([0, 7, 0, 7, 0, 1, 0]),                              // short header
  Buffer.from(h(9, 8, 0, 1)),                                      // another syncid
  Buffer.from([...h(7, 12, 200, 1), 0, 6, 0, 36]),                 // 200 entries claimed, 4 bytes
  Buffer.from(h(7, 8, 0, 0)),                                      // version 0
  Buffer.from([...h(7, 200, 0, 1), 0]),                            // header says 200 bytes, datagram 9
];
let left = msgs.length;
for (const m of msgs) s.send(m, 8848, "198.18.200.2", () => { if (--left === 0) s.close(); });`;
    lab.exec(topo.director, ["node", "-e", FORGE]);
    let refused: Record<string, number> = {};
    for (let k = 0; k < 30; k++) {
      await wait(100);
      refused = listed(backup).counters!.byReason;
      if (refused["bad-size"] && refused["version-0"]) break;
    }
    for (const reason of ["short-header", "other-syncid", "entry-truncated", "version-0", "bad-size"])
      assert.equal(refused[reason], 1, `${reason}: ${JSON.stringify(refused)}`);
    assert.equal(table(), before, "the table is unchanged");
  } finally {
    for (const c of clients) c.kill();
    await master?.stop();
    await backup?.stop();
    await lab.destroy();
  }
});

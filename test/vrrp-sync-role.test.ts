/**
 * keepalived's `lvs_sync_daemon IF VI_1`: the sync daemon's role follows the VRRP instance. Two
 * tslvs directors with their data planes on one segment: A (priority 150) is MASTER and runs the
 * master sync daemon, B the backup one; when A is killed, B becomes MASTER and its sync daemon
 * the master. Multicast (VRRP, sync) inside the test's namespaces only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DaemonEntry } from "../src/control/api.js";
import { type DirectorProcess, sleep } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";
import { buildSegment, instanceConf, kill, startTslvs, vrrpState, waitVip } from "./support/vrrp-lab.js";

const roles = (d: DirectorProcess) =>
  (JSON.parse(d.adm(["-L", "--daemon", "--json"])) as { daemons: DaemonEntry[] }).daemons.map((x) => x.state);

test("lvs_sync_daemon: the sync daemon is the master where VI_1 is MASTER, and follows a failover", async (t) => {
  if (!haveRoot(t)) return;
  const v = buildSegment("vsync", ["a", "b"]);
  const running: DirectorProcess[] = [];
  try {
    const conf = (priority: number, state: "MASTER" | "BACKUP") =>
      `global_defs {\n    lvs_sync_daemon eth0 VI_1 id 7\n}\n${instanceConf({ priority, state })}`;
    const a = await startTslvs(v, "a", conf(150, "MASTER"), "sync", { dataPlane: true });
    running.push(a);
    const b = await startTslvs(v, "b", conf(100, "BACKUP"), "sync", { dataPlane: true });
    running.push(b);
    await waitVip(v, "a", true, 10000);
    for (let k = 0; k < 50 && vrrpState(b) !== "BACKUP"; k++) await sleep(100);
    assert.equal(vrrpState(a), "MASTER");
    assert.equal(vrrpState(b), "BACKUP");
    assert.deepEqual(roles(a), ["master"]);
    assert.deepEqual(roles(b), ["backup"]);
    const daemon = (JSON.parse(b.adm(["-L", "--daemon", "--json"])) as { daemons: DaemonEntry[] })
      .daemons[0]!;
    assert.equal(daemon.syncId, 7);
    assert.ok(daemon.counters, "the backup's sync daemon runs (it has counters)");

    await kill(a);
    running.shift();
    await waitVip(v, "b", true, 10000);
    for (let k = 0; k < 30 && roles(b)[0] !== "master"; k++) await sleep(100);
    assert.equal(vrrpState(b), "MASTER");
    assert.deepEqual(roles(b), ["master"], "B's sync daemon became the master with VI_1");
  } finally {
    for (const d of running) await d.stop();
    await v.destroy();
  }
});

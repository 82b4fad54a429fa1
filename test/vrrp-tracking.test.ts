/**
 * Tracking on the wire, two tslvs directors: A (priority 150) tracks a vrrp_script (`test -f ok`,
 * weight -60) and an interface (dum0, unweighted), and syncs VI_1 with a second instance VI_2 in a
 * vrrp_sync_group; B (priority 100) runs VI_1 only. A notify script records A's transitions.
 * - the script fails: A's priority drops to 90, B preempts it and takes the VIP;
 * - the script passes again: A (150) preempts B back;
 * - dum0 goes down: A's VI_1 goes to FAULT (B takes over), and VI_2 follows it into FAULT,
 *   giving its own VIP up; dum0 up: both come back as master.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type DirectorProcess, sleep } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";
import { buildSegment, hasVip, instanceConf, startTslvs, status, waitVip } from "./support/vrrp-lab.js";

const VIP2 = "198.18.5.101";
const DOWN_MS = (3 + (256 - 100) / 256) * 1000;

test("track_script moves the priority, track_interface makes a FAULT, a sync group moves together, notify runs", {
  timeout: 90_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  const v = buildSegment("vrrp-track", ["a", "b"]);
  const directors: DirectorProcess[] = [];
  try {
    // The tracked link: a veth pair inside A (this kernel has no dummy devices).
    v.lab.exec("a", ["ip", "link", "add", "dum0", "type", "veth", "peer", "name", "dum1"]);
    v.lab.exec("a", ["ip", "link", "set", "dum1", "up"]);
    v.lab.exec("a", ["ip", "link", "set", "dum0", "up"]);
    const ok = join(v.dir, "ok");
    const notes = join(v.dir, "notes");
    writeFileSync(ok, "");
    writeFileSync(join(v.dir, "note.sh"), `#!/bin/sh\necho "$*" >> ${notes}\n`, { mode: 0o755 });
    const aConf = [
      "vrrp_script chk {",
      `    script "/usr/bin/test -f ${ok}"`,
      "    interval 1",
      "    weight -60",
      "}",
      "vrrp_sync_group G {",
      "    group {",
      "        VI_1",
      "        VI_2",
      "    }",
      "}",
      instanceConf({
        priority: 150,
        extra: [
          "track_script {",
          "    chk",
          "}",
          "track_interface {",
          "    dum0",
          "}",
          `notify ${join(v.dir, "note.sh")}`,
        ],
      }),
      "vrrp_instance VI_2 {",
      "    interface eth0",
      "    virtual_router_id 52",
      "    priority 150",
      "    virtual_ipaddress {",
      `        ${VIP2}/24 dev eth0`,
      "    }",
      "}",
      "",
    ].join("\n");
    const a = await startTslvs(v, "a", aConf, "1");
    directors.push(a);
    const b = await startTslvs(v, "b", instanceConf({ priority: 100 }), "1");
    directors.push(b);
    await waitVip(v, "a", true, DOWN_MS + 3000);
    await sleep(1000);
    assert.equal(hasVip(v, "b"), false);

    // The script fails: 150 - 60 = 90 < 100, B preempts.
    rmSync(ok);
    await waitVip(v, "b", true, 1500 + DOWN_MS + 500);
    await waitVip(v, "a", false, 1000);
    const low = status(a).vrrp!.instances.find((i) => i.name === "VI_1")!;
    assert.deepEqual([low.priority, low.configuredPriority, low.state], [90, 150, "BACKUP"]);
    // VI_2 moved with VI_1 (the sync group), though nobody else runs it.
    assert.equal(status(a).vrrp!.instances.find((i) => i.name === "VI_2")!.state, "BACKUP");

    // Passes again: A preempts B.
    writeFileSync(ok, "");
    await waitVip(v, "a", true, 1500 + (3 + (256 - 150) / 256) * 1000 + 500);
    await waitVip(v, "b", false, 1000);

    // The tracked interface goes down: FAULT, B takes over at once (A sent priority 0); VI_2 follows.
    await sleep(500);
    v.lab.exec("a", ["ip", "link", "set", "dum0", "down"]);
    await waitVip(v, "b", true, 500 + 1000 + 500);
    const fault = status(a).vrrp!.instances;
    assert.deepEqual(
      fault.map((i) => [i.name, i.state]),
      [
        ["VI_1", "FAULT"],
        ["VI_2", "FAULT"],
      ],
    );
    assert.match(fault[0]!.fault ?? "", /dum0 is down/);
    assert.ok(!hasVip(v, "a"));
    assert.ok(
      !v.lab.exec("a", ["ip", "addr", "show", "dev", "eth0"]).includes(VIP2),
      "VI_2's VIP went with the group",
    );

    v.lab.exec("a", ["ip", "link", "set", "dum0", "up"]);
    await waitVip(v, "a", true, 1000 + DOWN_MS + 1000);
    await sleep(300);
    assert.ok(v.lab.exec("a", ["ip", "addr", "show", "dev", "eth0"]).includes(VIP2));
    const notes1 = readFileSync(notes, "utf8");
    assert.match(notes1, /INSTANCE VI_1 BACKUP 150\nINSTANCE VI_1 MASTER 150\nINSTANCE VI_1 BACKUP 90\n/);
    assert.match(notes1, /INSTANCE VI_1 FAULT \d+\n/);
  } finally {
    for (const d of directors) await d.stop();
    await v.destroy();
  }
});

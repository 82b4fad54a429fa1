/**
 * A tslvs director and Debian's keepalived 2.2 (VRRP only, `-P`) on one segment, the same
 * vrrp_instance (VRRPv2, PASS auth, advert_int 1) with different priorities, in both roles:
 * - tslvs 150 / keepalived 100: tslvs is master, keepalived stays backup (it accepts tslvs's
 *   adverts: checksum, auth, interval, addresses);
 * - tslvs killed: keepalived takes the VIP within its master down interval;
 * - tslvs back at 50: it removes the VIP its killed run left, stays backup under keepalived's
 *   adverts, and names keepalived's address as the master;
 * - tslvs back at 150: it preempts keepalived, which goes back to BACKUP and gives the VIP up;
 * - tslvs with another password: both sides report the mismatch, and tslvs counts the drops.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DirectorProcess } from "./support/dp-harness.js";
import { haveRoot, needsCommand } from "./support/privileged.js";
import {
  buildSegment,
  hasVip,
  instanceConf,
  type KeepalivedProcess,
  kill,
  startKeepalived,
  startTslvs,
  status,
  vrrpState,
  waitVip,
} from "./support/vrrp-lab.js";

const MASTER_DOWN_MS = (3 + (256 - 100) / 256) * 1000;
const SLACK_MS = 300;

test("tslvs and keepalived elect one master in both roles, with preemption, and report a wrong password", {
  skip: needsCommand("keepalived"),
  timeout: 90_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  const v = buildSegment("vrrp-ka", ["a", "k"]);
  const directors: DirectorProcess[] = [];
  let k: KeepalivedProcess | null = null;
  try {
    let a = await startTslvs(v, "a", instanceConf({ priority: 150, state: "MASTER" }), "1");
    directors.push(a);
    await waitVip(v, "a", true, 6000);
    k = startKeepalived(v, "k", instanceConf({ priority: 100 }), "1");
    await k.waitLog("(VI_1) Entering BACKUP STATE", 10_000);
    await new Promise((r) => setTimeout(r, MASTER_DOWN_MS + 1000));
    assert.doesNotMatch(
      k.log,
      /Entering MASTER STATE/,
      `keepalived took over beside a tslvs master:\n${k.log}`,
    );
    assert.equal(hasVip(v, "k"), false);
    assert.equal(vrrpState(a), "MASTER");
    assert.ok((status(a).vrrp?.instances[0]?.advertsSent ?? 0) >= 4);

    // tslvs dies: keepalived takes over.
    await kill(a);
    const took = await waitVip(v, "k", true, MASTER_DOWN_MS + 3000);
    t.diagnostic(`keepalived took the VIP ${took} ms after tslvs was killed`);
    assert.ok(took <= MASTER_DOWN_MS + SLACK_MS, `keepalived took the VIP after ${took} ms`);
    await k.waitLog("(VI_1) Entering MASTER STATE", 2000);

    // tslvs as the backup of keepalived.
    a = await startTslvs(v, "a", instanceConf({ priority: 50 }), "2");
    directors.push(a);
    await waitVip(v, "a", false, 3000);
    await new Promise((r) => setTimeout(r, (3 + (256 - 50) / 256) * 1000 + 1000));
    const s = status(a).vrrp!;
    assert.equal(s.instances[0]!.state, "BACKUP");
    assert.equal(s.instances[0]!.master, v.addr.k, "keepalived is the master it hears");
    assert.ok(s.instances[0]!.advertsReceived >= 3);
    assert.equal(
      Object.values(s.dropped).reduce((x, y) => x + y, 0),
      0,
      `keepalived's adverts all accepted: ${JSON.stringify(s.dropped)}`,
    );
    assert.ok(hasVip(v, "k") && !hasVip(v, "a"));

    // tslvs back with the higher priority: it preempts keepalived.
    await a.stop();
    a = await startTslvs(v, "a", instanceConf({ priority: 150 }), "3");
    directors.push(a);
    await waitVip(v, "a", true, MASTER_DOWN_MS + 3000);
    await k.waitLog("(VI_1) Entering BACKUP STATE", 3000, 2);
    await waitVip(v, "k", false, 2000);
    assert.equal(vrrpState(a), "MASTER");

    // A wrong password: tslvs drops and counts keepalived's adverts, and says so once.
    await a.stop();
    await waitVip(v, "k", true, MASTER_DOWN_MS + 3000);
    a = await startTslvs(v, "a", instanceConf({ priority: 50, pass: "other" }), "4");
    directors.push(a);
    await new Promise((r) => setTimeout(r, 2500));
    const bad = status(a).vrrp!;
    assert.ok((bad.dropped["bad-auth"] ?? 0) >= 2, `bad-auth drops: ${JSON.stringify(bad.dropped)}`);
    assert.match(a.log, /received an advertisement with the wrong authentication/);
  } finally {
    await k?.stop();
    for (const d of directors) await d.stop();
    await v.destroy();
  }
});

const VIP6 = "2001:2:0:5::100";

/** Two VRRPv3 instances: IPv4 (vrid 51) and IPv6 (vrid 7, from the link-local addresses). */
function v3Conf(priority: number, state: "MASTER" | "BACKUP" = "BACKUP"): string {
  const inst = (name: string, vrid: number, vip: string) =>
    [
      `vrrp_instance ${name} {`,
      `    state ${state}`,
      "    interface eth0",
      `    virtual_router_id ${vrid}`,
      `    priority ${priority}`,
      "    advert_int 1",
      "    version 3",
      "    virtual_ipaddress {",
      `        ${vip} dev eth0`,
      "    }",
      "}",
    ].join("\n");
  return `${inst("VI_4", 51, "198.18.5.100/24")}\n${inst("VI_6", 7, `${VIP6}/64`)}\n`;
}

test("VRRPv3 over IPv4 and IPv6: tslvs and keepalived elect one master, in both roles", {
  skip: needsCommand("keepalived"),
  timeout: 90_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  const v = buildSegment("vrrp-ka3", ["a", "k"]);
  const directors: DirectorProcess[] = [];
  let k: KeepalivedProcess | null = null;
  try {
    let a = await startTslvs(v, "a", v3Conf(150, "MASTER"), "1");
    directors.push(a);
    await waitVip(v, "a", true, 6000);
    await waitVip(v, "a", true, 2000, VIP6);
    k = startKeepalived(v, "k", v3Conf(100), "1");
    await k.waitLog("(VI_4) Entering BACKUP STATE", 10_000);
    await k.waitLog("(VI_6) Entering BACKUP STATE", 2000);
    await new Promise((r) => setTimeout(r, MASTER_DOWN_MS + 1000));
    assert.doesNotMatch(
      k.log,
      /Entering MASTER STATE/,
      `keepalived took over beside a tslvs master:\n${k.log}`,
    );
    assert.ok(!hasVip(v, "k") && !hasVip(v, "k", VIP6));

    await kill(a);
    const took4 = await waitVip(v, "k", true, MASTER_DOWN_MS + 3000);
    const took6 = await waitVip(v, "k", true, MASTER_DOWN_MS + 3000, VIP6);
    t.diagnostic(`keepalived took the v3 VIPs after ${took4} ms (IPv4) and ${took4 + took6} ms (IPv6)`);

    a = await startTslvs(v, "a", v3Conf(50), "2");
    directors.push(a);
    await waitVip(v, "a", false, 3000);
    await waitVip(v, "a", false, 1000, VIP6);
    await new Promise((r) => setTimeout(r, (3 + (256 - 50) / 256) * 1000 + 1000));
    const s = status(a).vrrp!;
    assert.deepEqual(
      s.instances.map((i) => [i.name, i.state]),
      [
        ["VI_4", "BACKUP"],
        ["VI_6", "BACKUP"],
      ],
    );
    assert.equal(s.instances[0]!.master, v.addr.k);
    assert.match(
      s.instances[1]!.master ?? "",
      /^fe80:/,
      "the IPv6 master is keepalived's link-local address",
    );
    assert.equal(
      Object.values(s.dropped).reduce((x, y) => x + y, 0),
      0,
      `keepalived's v3 adverts all accepted: ${JSON.stringify(s.dropped)}`,
    );
    assert.ok(hasVip(v, "k") && hasVip(v, "k", VIP6) && !hasVip(v, "a", VIP6));
  } finally {
    await k?.stop();
    for (const d of directors) await d.stop();
    await v.destroy();
  }
});

test("unicast VRRP (unicast_src_ip / unicast_peer) with keepalived: adverts to the peer only, failover", {
  skip: needsCommand("keepalived") || needsCommand("tcpdump"),
  timeout: 60_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  const v = buildSegment("vrrp-kau", ["a", "k"]);
  const directors: DirectorProcess[] = [];
  let k: KeepalivedProcess | null = null;
  const unicast = (self: string, peer: string) => [
    `unicast_src_ip ${self}`,
    "unicast_peer {",
    `    ${peer}`,
    "}",
  ];
  try {
    const a = await startTslvs(
      v,
      "a",
      instanceConf({ priority: 150, state: "MASTER", extra: unicast(v.addr.a!, v.addr.k!) }),
      "1",
    );
    directors.push(a);
    await waitVip(v, "a", true, 6000);
    k = startKeepalived(v, "k", instanceConf({ priority: 100, extra: unicast(v.addr.k!, v.addr.a!) }), "1");
    await k.waitLog("(VI_1) Entering BACKUP STATE", 10_000);
    const seen = v.lab.exec("k", ["timeout", "5", "tcpdump", "-i", "eth0", "-nn", "-c", "2", "ip proto 112"]);
    assert.match(seen, new RegExp(`${v.addr.a} > ${v.addr.k}: VRRPv2, Advertisement, vrid 51, prio 150`));
    assert.doesNotMatch(seen, /224\.0\.0\.18/, "unicast: nothing to the group");
    await new Promise((r) => setTimeout(r, MASTER_DOWN_MS));
    assert.doesNotMatch(
      k.log,
      /Entering MASTER STATE/,
      `keepalived took over beside a tslvs master:\n${k.log}`,
    );

    await kill(a);
    await waitVip(v, "k", true, MASTER_DOWN_MS + 3000);
    const b = await startTslvs(
      v,
      "a",
      instanceConf({ priority: 50, extra: unicast(v.addr.a!, v.addr.k!) }),
      "2",
    );
    directors.push(b);
    await new Promise((r) => setTimeout(r, (3 + (256 - 50) / 256) * 1000 + 500));
    const s = status(b).vrrp!.instances[0]!;
    assert.deepEqual([s.state, s.master], ["BACKUP", v.addr.k], "keepalived's unicast adverts heard");
  } finally {
    await k?.stop();
    for (const d of directors) await d.stop();
    await v.destroy();
  }
});

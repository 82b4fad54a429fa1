/**
 * Two tslvs directors on one segment, each started with `--keepalived-conf` holding one
 * vrrp_instance (advert_int 1, PASS auth), and an observer capturing ARP with tcpdump:
 * - one master is elected (A, priority 150), the VIP is on A only;
 * - SIGKILL of A: B has the VIP within 3 * advert_int + skew (RFC 5798: 3 + (256-100)/256 s),
 *   and a gratuitous ARP for it from B's MAC is seen on the segment within a second of B becoming
 *   master; the killed A's VIP stays on A's interface;
 * - A restarted with nopreempt: it removes the VIP its killed run left, and stays backup;
 * - A restarted with preemption: it takes the VIP back, and B gives it up;
 * - split brain: VRRP dropped by the switch both ways makes two masters; healed, one again.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { type DirectorProcess, waitFor } from "./support/dp-harness.js";
import { haveRoot, needsCommand } from "./support/privileged.js";
import {
  buildSegment,
  enteredAt,
  hasVip,
  instanceConf,
  kill,
  startTslvs,
  VIP,
  vrrpState,
  waitVip,
} from "./support/vrrp-lab.js";

/** RFC 5798 §6.1 for the backup's priority 100 and advert_int 1. */
const MASTER_DOWN_MS = (3 + (256 - 100) / 256) * 1000;
/** The engine's 10 ms turn and this test's 20 ms polling of `ip addr`. */
const SLACK_MS = 150;

test("two tslvs directors: one master, failover on SIGKILL within the master down interval with a GARP, nopreempt, preemption", {
  skip: needsCommand("tcpdump") || needsCommand("nft"),
  timeout: 90_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  const v = buildSegment("vrrp-fo", ["a", "b", "obs"]);
  const directors: DirectorProcess[] = [];
  const arp = spawn(
    "ip",
    ["netns", "exec", v.lab.ns("obs"), "tcpdump", "-i", "eth0", "-nn", "-e", "-tt", "-l", "arp"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let arpLines = "";
  let arpErr = "";
  arp.stdout.on("data", (d: Buffer) => (arpLines += d.toString()));
  arp.stderr.on("data", (d: Buffer) => (arpErr += d.toString()));
  try {
    const macB = v.lab.mac("b", "eth0");
    const aConf = instanceConf({ priority: 150, state: "MASTER" });
    const bConf = instanceConf({ priority: 100 });
    let a = await startTslvs(v, "a", aConf, "1");
    directors.push(a);
    const b = await startTslvs(v, "b", bConf, "1");
    directors.push(b);
    await waitVip(v, "a", true, 6000);
    // B hears A's adverts: it stays backup past its own master down interval.
    await new Promise((r) => setTimeout(r, MASTER_DOWN_MS + 500));
    assert.equal(vrrpState(a), "MASTER");
    assert.equal(vrrpState(b), "BACKUP");
    assert.equal(hasVip(v, "b"), false, "one master: the VIP is on A only");
    assert.ok(arpErr.includes("listening"), `tcpdump runs: ${arpErr}`);

    await kill(a);
    const killedAt = Date.now();
    const took = await waitVip(v, "b", true, MASTER_DOWN_MS + 3000);
    assert.ok(
      took <= MASTER_DOWN_MS + SLACK_MS,
      `the VIP moved in ${took} ms, more than 3 * advert_int + skew (${MASTER_DOWN_MS} ms)`,
    );
    t.diagnostic(`VIP moved to B ${took} ms after A was killed (bound ${MASTER_DOWN_MS} ms)`);
    assert.equal(vrrpState(b), "MASTER");
    assert.ok(hasVip(v, "a"), "a killed director leaves its VIP on the interface");
    // The log line comes through a pipe: it may arrive after the address is seen.
    const masterAt = await waitFor("B's MASTER log line", 2000, () => enteredAt(b, "MASTER") ?? undefined);
    assert.ok(
      masterAt !== null && masterAt >= killedAt - 50,
      `B became master after the kill (${killedAt}):\n${b.log
        .split("\n")
        .filter((l) => l.includes("Entering"))
        .join("\n")}`,
    );

    // The gratuitous ARP: from B's MAC, broadcast, who-has VIP tell VIP.
    await new Promise((r) => setTimeout(r, 500));
    const garps = arpLines
      .split("\n")
      .filter((l) => l.includes(`${macB} > ff:ff:ff:ff:ff:ff`) && l.includes(`who-has ${VIP} tell ${VIP}`))
      .map((l) => Number(l.split(" ")[0]) * 1000);
    assert.ok(garps.length > 0, `no gratuitous ARP from B (${macB}) seen:\n${arpLines}`);
    const first = garps[0]! - masterAt!;
    assert.ok(first >= -20 && first <= 1000, `the first GARP came ${first} ms after B became master`);
    t.diagnostic(`first gratuitous ARP ${first} ms after B entered MASTER (${garps.length} seen)`);

    // A comes back with nopreempt: the left VIP goes, B stays master.
    a = await startTslvs(v, "a", instanceConf({ priority: 150, nopreempt: true }), "2");
    directors.push(a);
    await waitVip(v, "a", false, 3000);
    await new Promise((r) => setTimeout(r, MASTER_DOWN_MS + 1000));
    assert.equal(vrrpState(a), "BACKUP", "nopreempt: a higher priority does not take over");
    assert.equal(vrrpState(b), "MASTER");
    assert.ok(hasVip(v, "b") && !hasVip(v, "a"));
    assert.match(a.log, /removed 198\.18\.5\.100\/24 left on the interface by an earlier run/);

    // A again, preempting: it takes the VIP back, B gives it up.
    await a.stop();
    a = await startTslvs(v, "a", aConf, "3");
    directors.push(a);
    await waitVip(v, "a", true, MASTER_DOWN_MS + 3000);
    await waitVip(v, "b", false, 2000);
    assert.equal(vrrpState(a), "MASTER");
    assert.equal(vrrpState(b), "BACKUP");

    // Split brain: the switch drops VRRP both ways, so B takes over beside A; when it heals,
    // B hears the higher A and gives the VIP back: one master again.
    v.lab.exec("sw", ["nft", "add table bridge vrrpcut"]);
    v.lab.exec("sw", ["nft", "add chain bridge vrrpcut cut { type filter hook forward priority 0 ; }"]);
    v.lab.exec("sw", ["nft", "add rule bridge vrrpcut cut ether type ip ip protocol 112 drop"]);
    await waitVip(v, "b", true, MASTER_DOWN_MS + 1000);
    assert.ok(hasVip(v, "a"), "two masters while the adverts are lost");
    v.lab.exec("sw", ["nft", "delete table bridge vrrpcut"]);
    await waitVip(v, "b", false, 2500);
    assert.deepEqual([vrrpState(a), vrrpState(b)], ["MASTER", "BACKUP"]);
    t.diagnostic(
      `B's transitions: ${b.log
        .split("\n")
        .filter((l) => l.includes("Entering"))
        .map((l) => (JSON.parse(l) as { to: string }).to)
        .join(" -> ")}`,
    );
  } finally {
    arp.kill("SIGTERM");
    for (const d of directors) await d.stop();
    await v.destroy();
  }
});

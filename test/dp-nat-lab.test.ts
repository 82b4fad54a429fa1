/**
 * The classic LVS-NAT lab through the real daemon and its AF_XDP engine: the guide's commands, the
 * byte-exact `-ln` listing, ten requests alternating between the real servers under wrr 1:1 (the
 * last-added first), the client's own address seen by every RS, and 0 active / 5 inactive per RS
 * once the ten connections have closed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import { curl, DirectorProcess, labPrefix, startRealServers, waitFor } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

const HEAD = [
  "IP Virtual Server version 1.2.1 (size=4096)",
  "Prot LocalAddress:Port Scheduler Flags",
  "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
  "TCP  198.18.0.10:80 wrr",
];

function listing(inact2: number, inact3: number): string {
  const col = (n: number) => String(n).padEnd(10);
  return `${[
    ...HEAD,
    `  -> 198.19.10.20:80              Masq    1      0          ${col(inact2)}`,
    `  -> 198.19.10.30:80              Masq    1      0          ${col(inact3)}`,
  ].join("\n")}\n`;
}

test("classic NAT lab: byte-exact listing, wrr alternation, client address kept, 5 inactive per RS", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("natlab"));
  let director: DirectorProcess | undefined;
  try {
    const topo = buildNatLab(lab);
    await startRealServers(lab, topo.servers);
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    const vip = `${topo.vip}:80`;
    assert.equal(director.adm(["-A", "-t", vip, "-s", "wrr"]), "");
    for (const rs of topo.servers) {
      assert.equal(director.adm(["-a", "-t", vip, "-r", `${rs.rip}:80`, "-m", "-w", "1"]), "");
    }
    assert.equal(director.adm(["-ln"]), listing(0, 0));

    const answered: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = curl(lab, topo.client, `http://${topo.vip}/`);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), `${r.server}\n`);
      assert.equal(r.seenClient, topo.cip, `request ${i + 1}: the RS saw ${r.seenClient}`);
      answered.push(r.server);
    }
    assert.deepEqual(answered, ["RS3", "RS2", "RS3", "RS2", "RS3", "RS2", "RS3", "RS2", "RS3", "RS2"]);

    // The closes (FIN both ways, then the client's last ACK) are seen by the engine shortly after curl
    // returns; the listing settles at 0 active / 5 inactive per RS.
    const expected = listing(5, 5);
    const final = await waitFor("the listing did not settle at 0 active / 5 inactive", 5000, () => {
      const l = director!.adm(["-ln"]);
      return l === expected ? l : undefined;
    }).catch(() => director!.adm(["-ln"]));
    assert.equal(final, expected);

    await director.stop();
    const counters = director.engineCounters();
    assert.ok(counters, "the engine logged its counters on stop");
    // The first packets toward a real server and back to the client wait for their next hop's MAC
    // (held, as the kernel's neighbour queue holds them) instead of being dropped.
    assert.equal(counters.noRoute, 0, JSON.stringify(counters));
    assert.equal(counters.errors, 0);
  } finally {
    await director?.stop();
    await lab.destroy();
  }
});

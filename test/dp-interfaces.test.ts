/**
 * Interfaces that appear or go away while the director runs: a new link toward a second client is
 * served within a refresh (its clients reach the VIP through it), and a link that is deleted is let
 * go without disturbing the others.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import { curl, DirectorProcess, labPrefix, startRealServers, waitFor } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

test("a link added later is served, a link deleted is let go", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("ifchg"));
  let director: DirectorProcess | undefined;
  try {
    const topo = buildNatLab(lab, 1);
    await startRealServers(lab, topo.servers);
    // No --interface: every non-loopback interface that is up, now and later.
    director = await DirectorProcess.start(lab, topo.director, []);
    const d = director;
    await waitFor("the director did not serve both interfaces", 10000, () =>
      d.log.split('"serving interface"').length - 1 >= 2 ? true : undefined,
    );
    d.adm(["-A", "-t", `${topo.vip}:80`, "-s", "rr"]);
    d.adm(["-a", "-t", `${topo.vip}:80`, "-r", `${topo.servers[0]!.rip}:80`, "-m"]);
    assert.equal(curl(lab, topo.client, `http://${topo.vip}/`).server, "RS2");

    lab.addHost("client2");
    lab.link("client2", "eth0", topo.director, "eth2");
    lab.addAddr("client2", "eth0", "198.18.2.100/24");
    lab.addAddr(topo.director, "eth2", "198.18.2.1/24");
    lab.addRoute("client2", `${topo.vip}/32`, "via", "198.18.2.1");
    await waitFor("the new interface was not served", 10000, () =>
      /"interface":"eth2"[^\n]*"serving interface"/.test(d.log) ? true : undefined,
    );
    const r = curl(lab, "client2", `http://${topo.vip}/`);
    assert.deepEqual([r.status, r.server, r.seenClient], [200, "RS2", "198.18.2.100"]);

    lab.exec(topo.director, ["ip", "link", "del", "eth2"]);
    await waitFor("the deleted interface was not let go", 10000, () =>
      /"interface":"eth2"[^\n]*no longer served/.test(d.log) ? true : undefined,
    );
    assert.equal(curl(lab, topo.client, `http://${topo.vip}/`).server, "RS2");
    assert.ok(d.running, "the director is still running");
  } finally {
    await director?.stop();
    await lab.destroy();
  }
});

test("auto: a veth is served in the tc mode; a driver without native XDP (ifb) falls back to tc, not generic", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("ifauto"));
  let director: DirectorProcess | undefined;
  try {
    const topo = buildNatLab(lab, 1);
    lab.exec(topo.director, ["ip", "link", "add", "ifb9", "type", "ifb"]);
    lab.addAddr(topo.director, "ifb9", "198.18.9.1/24");
    lab.exec(topo.director, ["ip", "link", "set", "ifb9", "up"]);
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf, "ifb9"]);
    const served = director.log
      .split("\n")
      .filter((l) => l.includes('"serving interface"'))
      .map((l) => JSON.parse(l) as { interface: string; mode: string; fallback: string | null });
    const by = new Map(served.map((s) => [s.interface, s]));
    assert.equal(by.get(topo.outsideIf)?.mode, "tc");
    assert.match(by.get(topo.outsideIf)?.fallback ?? "", /veth/);
    assert.equal(by.get("ifb9")?.mode, "tc", director.log);
    assert.match(by.get("ifb9")?.fallback ?? "", /no native XDP/);
    // One slow-path veth pair per served interface, and nothing of the tc mode served itself.
    const links = lab.exec(topo.director, ["ls", "/sys/class/net"]).split(/\s+/);
    assert.equal(links.filter((n) => n.startsWith("tslvs-sp")).length, 6);
    assert.ok(!served.some((s) => s.interface.startsWith("tslvs-sp")));
  } finally {
    await director?.stop();
    await lab.destroy();
  }
});

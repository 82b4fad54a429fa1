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

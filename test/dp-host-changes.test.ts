/**
 * The engine follows a host change as soon as the kernel reports it, not on a timer: a real server's
 * MAC changes, and the director's new neighbour entry for it is used for the next connection well
 * before the 30 s safety refresh could have brought it (the old poll ran every 2 s). No timing is
 * asserted: the effect is awaited with a deadline that only an event-driven refresh can meet.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import { DEFAULT_REFRESH_TIMING } from "../src/dataplane/refresh-scheduler.js";
import { curl, DirectorProcess, labPrefix, startRealServers, waitFor } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

const NEW_MAC = "02:00:00:00:77:02";

test("a neighbour's new MAC is used for the next connection without waiting for a poll", async (t) => {
  if (!haveRoot(t)) return;
  const deadline = 15_000;
  assert.ok(
    deadline < DEFAULT_REFRESH_TIMING.safetyMs,
    "the deadline must be shorter than the safety refresh",
  );
  const lab = new NetLab(labPrefix("hostchg"));
  let director: DirectorProcess | undefined;
  try {
    const topo = buildNatLab(lab, 1);
    const rs = topo.servers[0]!;
    await startRealServers(lab, topo.servers);
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    director.adm(["-A", "-t", `${topo.vip}:80`, "-s", "rr"]);
    director.adm(["-a", "-t", `${topo.vip}:80`, "-r", `${rs.rip}:80`, "-m"]);
    assert.equal(curl(lab, topo.client, `http://${topo.vip}/`).server, rs.name);

    // The real server takes a new MAC: frames to the old one are no longer its own and it drops them.
    lab.exec(rs.host, ["ip", "link", "set", "eth0", "address", NEW_MAC]);
    assert.throws(() => curl(lab, topo.client, `http://${topo.vip}/`, [], 2), "the old MAC is not answered");

    // The director's kernel learns the new MAC; the notification makes the engine re-read its tables.
    lab.exec(topo.director, [
      ...["ip", "neigh", "replace", rs.rip, "lladdr", NEW_MAC, "dev", topo.insideIf, "nud", "permanent"],
    ]);
    const reply = await waitFor("the new MAC was not used", deadline, () => {
      try {
        return curl(lab, topo.client, `http://${topo.vip}/`, [], 1);
      } catch {
        return undefined;
      }
    });
    assert.deepEqual([reply.status, reply.server], [200, rs.name]);
    assert.ok(director.running, "the director is still running");
    assert.ok(
      !director.log.includes("polling the host"),
      `the engine fell back to polling:\n${director.log}`,
    );
    await director.stop();
    const counters = director.engineCounters();
    t.diagnostic(`host refreshes: ${counters?.hostRefreshes}`);
    assert.ok((counters?.hostRefreshes ?? 0) >= 1, "the engine refreshed the host's state");
  } finally {
    await director?.stop();
    await lab.destroy();
  }
});

/**
 * `tslvs trace` on the classic NAT lab with the data plane: for a new tuple it names the real server
 * the next real connection from that client port gets, and changes nothing (the trace repeated
 * gives the same answer); for an established connection (a paced download) it reports the
 * connection's state and that the fast path holds it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import {
  curl,
  DirectorProcess,
  type LineProcess,
  labPrefix,
  startRealServers,
} from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";
import { pacedDownload, trace, untilOnFastPath } from "./support/trace-lab.js";

test("tslvs trace predicts the next connection's real server and reports a live one (NAT lab)", {
  timeout: 120_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("trace"));
  let d: DirectorProcess | undefined;
  let download: LineProcess | undefined;
  try {
    const topo = buildNatLab(lab, 2);
    await startRealServers(lab, topo.servers);
    d = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    d.adm(["-A", "-t", `${topo.vip}:80`, "-s", "rr"]);
    for (const s of topo.servers) d.adm(["-a", "-t", `${topo.vip}:80`, "-r", `${s.rip}:80`, "-m"]);
    const names = new Map(topo.servers.map((s) => [`${s.rip}:80`, s.name]));
    for (let i = 0; i < 4; i++) {
      const port = 41000 + i;
      const client = `${topo.cip}:${port}`;
      const first = trace(d, topo.vip, client);
      assert.equal(first.outcome, "scheduler");
      assert.deepEqual(trace(d, topo.vip, client), first, "a trace changes nothing");
      const r = curl(lab, topo.client, `http://${topo.vip}/`, ["--local-port", String(port)]);
      assert.equal(
        r.server,
        names.get(first.dest!),
        `trace said ${first.dest}, the connection went to ${r.server}`,
      );
    }
    // A long download: ESTABLISHED, and the fast path forwards it.
    const port = 42000;
    download = pacedDownload(lab, topo.client, topo.vip, port, 4_000_000, 1_000_000);
    const live = await untilOnFastPath(d, topo.vip, `${topo.cip}:${port}`);
    assert.equal(live?.outcome, "connection");
    assert.equal(live?.connection?.state, "ESTABLISHED");
    assert.equal(live?.connection?.fastPath, true, "the fast path holds the established NAT flow");
    assert.match(await download.nextLine(20000), /^200$/);
  } finally {
    download?.kill();
    await d?.stop();
    lab.destroy();
  }
});

/**
 * Virtual-service features through the real daemon and its AF_XDP engine, on the NAT lab (and UDP on
 * the DR lab): NAT to another port, UDP request/response, one-packet scheduling, persistence, a
 * weight-0 real server, a real server deleted under load with expire_nodest_conn 0 and 1, and the
 * director's own services (ssh-like TCP, ping) left to the host.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildDrLab, buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import {
  curl,
  DirectorProcess,
  destCounts,
  LineProcess,
  labPrefix,
  startRealServers,
  supportScript,
  waitFor,
} from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

interface Answer {
  server?: string;
  localPort?: number;
  error?: string;
}

/** Datagrams of one client socket; returns the answers' "NAME SEEN" prefixes. */
async function udpAnswers(lab: NetLab, client: string, vip: string, port: number, count: number) {
  const c = LineProcess.script(lab, client, "dp-udp-client", [vip, String(port), String(count)]);
  const lines = await c.finish(count * 4000 + 2000);
  return lines.map((l) => {
    const o = JSON.parse(l) as { n: number; answer?: string; error?: string };
    assert.ok(o.answer, `datagram ${o.n}: ${o.error}`);
    assert.ok(o.answer.endsWith(` msg ${o.n}`), o.answer);
    return o.answer.slice(0, -` msg ${o.n}`.length);
  });
}

test("NAT lab services: port change, UDP, persistence, weight 0, deleted RS, own traffic", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("svc"));
  let director: DirectorProcess | undefined;
  const clients: LineProcess[] = [];
  try {
    const topo: NatTopology = buildNatLab(lab);
    // Port 80 (HTTP + UDP) and 8080 (HTTP + UDP, answering as "RSn:8080") on both real servers.
    await startRealServers(lab, topo.servers, { keepAliveMs: 60000 });
    await startRealServers(lab, topo.servers, { port: 8080, label: (n) => `${n}:8080`, keepAliveMs: 60000 });
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    const d = director;
    const vip = `${topo.vip}:80`;
    const [rs2, rs3] = topo.servers as [(typeof topo.servers)[0], (typeof topo.servers)[0]];
    const get = () => curl(lab, topo.client, `http://${topo.vip}/`);
    /** A fresh TCP service VIP:80 (rr) with RS2 then RS3 added: RS3 is picked first. */
    const freshTcpService = (extra: string[] = []) => {
      d.adm(["-C"]);
      d.adm(["-A", "-t", vip, "-s", "rr", ...extra]);
      for (const rs of topo.servers) d.adm(["-a", "-t", vip, "-r", `${rs.rip}:80`, "-m"]);
    };
    const keepAlive = () => {
      const c = LineProcess.script(lab, topo.client, "dp-http-keepalive", [`http://${topo.vip}/`, "1500"]);
      clients.push(c);
      return async () => {
        c.send("go");
        return c.next<Answer>(5000);
      };
    };

    await t.test("the director's own services pass to its host: ssh-like TCP and ping", async () => {
      freshTcpService();
      const banner = LineProcess.script(lab, topo.director, "dp-tcp-banner", ["serve", "0.0.0.0", "22"]);
      clients.push(banner);
      assert.equal(await banner.nextLine(10000), "listening");
      // The VIP is also the director's own address on the client side: port 22 is not a service.
      for (const addr of [topo.vip]) {
        const out = lab.exec(topo.client, [
          "node",
          supportScript("dp-tcp-banner"),
          "ask",
          addr,
          "22",
          "hello",
        ]);
        assert.equal(out, "SSH-2.0-dp-test\r\nhello");
      }
      lab.exec(topo.client, ["ping", "-c", "2", "-i", "0.2", "-W", "2", topo.vip]);
      assert.equal(get().status, 200, "the virtual service still answers");
    });

    await t.test("NAT to another port: -r RIP:8080 -m", async () => {
      d.adm(["-C"]);
      d.adm(["-A", "-t", vip, "-s", "rr"]);
      d.adm(["-a", "-t", vip, "-r", `${rs2.rip}:8080`, "-m"]);
      const r = get();
      assert.equal(r.server, `${rs2.name}:8080`);
      assert.equal(r.seenClient, topo.cip);
      assert.match(d.adm(["-lnc"]), new RegExp(`${topo.vip}:80 +${rs2.rip.replaceAll(".", "\\.")}:8080`));
    });

    await t.test("UDP request/response through NAT; one client socket stays on one RS", async () => {
      d.adm(["-C"]);
      d.adm(["-A", "-u", vip, "-s", "rr"]);
      for (const rs of topo.servers) d.adm(["-a", "-u", vip, "-r", `${rs.rip}:80`, "-m"]);
      const answers = await udpAnswers(lab, topo.client, topo.vip, 80, 4);
      assert.deepEqual(answers, Array(4).fill(`${rs3.name} ${topo.cip}`));
      const counts = destCounts(d.adm(["-ln"]));
      assert.equal(counts.get(`${rs3.rip}:80`)?.inactive, 1, "one UDP connection, counted inactive");
      assert.equal(counts.get(`${rs2.rip}:80`)?.inactive, 0);
    });

    await t.test("persistence (-p) keeps one client on one RS across connections", async () => {
      freshTcpService(["-p", "60"]);
      const servers = [get(), get(), get(), get()].map((r) => r.server);
      assert.deepEqual(servers, Array(4).fill(rs3.name));
    });

    await t.test("a weight-0 RS gets no new connections while its open one goes on", async () => {
      freshTcpService();
      const ask = keepAlive();
      const first = await ask();
      assert.equal(first.server, rs3.name, JSON.stringify(first));
      d.adm(["-e", "-t", vip, "-r", `${rs3.rip}:80`, "-m", "-w", "0"]);
      assert.deepEqual(
        [get(), get(), get()].map((r) => r.server),
        [rs2.name, rs2.name, rs2.name],
      );
      for (let i = 0; i < 3; i++) {
        const again = await ask();
        assert.deepEqual(again, first, "the open connection keeps its RS");
      }
      assert.equal(destCounts(d.adm(["-ln"])).get(`${rs3.rip}:80`)?.active, 1);
    });

    await t.test(
      "RS deleted under load, expire_nodest_conn=0: its flow stalls, new ones go elsewhere",
      async () => {
        freshTcpService();
        assert.match(d.sysctl("expire_nodest_conn", 0), /expire_nodest_conn = 0/);
        const ask = keepAlive();
        const first = await ask();
        assert.equal(first.server, rs3.name, JSON.stringify(first));
        d.adm(["-d", "-t", vip, "-r", `${rs3.rip}:80`]);
        // Packets of the established flow are dropped (the kernel does so too): no answer, and the
        // connection entry stays.
        const stalled = await ask();
        assert.equal(stalled.error, "timeout", JSON.stringify(stalled));
        const entry = new RegExp(`^TCP .*${topo.cip}:${first.localPort} +${topo.vip}:80 +${rs3.rip}:80`, "m");
        assert.match(d.adm(["-lnc"]), entry);
        assert.equal(get().server, rs2.name);
      },
    );

    await t.test("RS deleted under load, expire_nodest_conn=1: its flow is dropped at once", async () => {
      freshTcpService();
      assert.match(d.sysctl("expire_nodest_conn", 1), /expire_nodest_conn = 1/);
      const ask = keepAlive();
      const first = await ask();
      assert.equal(first.server, rs3.name, JSON.stringify(first));
      d.adm(["-d", "-t", vip, "-r", `${rs3.rip}:80`]);
      const entry = new RegExp(`^TCP .*${topo.cip}:${first.localPort} +${topo.vip}:80 `, "m");
      // The delete sweeps the deleted RS's connections (or the next packet expires its own).
      const next = await ask();
      t.diagnostic(`after the delete, the old connection's request got ${JSON.stringify(next)}`);
      assert.ok(next.error !== undefined || next.server === rs2.name, JSON.stringify(next));
      await waitFor("the deleted RS's connection entry was not dropped", 5000, () =>
        entry.test(d.adm(["-lnc"])) ? undefined : true,
      );
      assert.equal(get().server, rs2.name);
      d.sysctl("expire_nodest_conn", 0);
    });
  } finally {
    for (const c of clients) c.kill();
    await director?.stop();
    await lab.destroy();
  }
});

test("UDP through DR: request/response, and one-packet scheduling (-o) spreading one socket's datagrams", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("svcdr"));
  let director: DirectorProcess | undefined;
  try {
    const topo = buildDrLab(lab);
    // Bound to the VIP, as a DR real server's DNS-like service is: its answers leave from the VIP.
    await startRealServers(lab, topo.servers, { port: 53, addr: topo.vip });
    director = await DirectorProcess.start(lab, topo.director, [topo.lanIf]);
    const d = director;
    const vip = `${topo.vip}:53`;
    const service = (extra: string[]) => {
      d.adm(["-C"]);
      d.adm(["-A", "-u", vip, "-s", "rr", ...extra]);
      for (const rs of topo.servers) d.adm(["-a", "-u", vip, "-r", `${rs.rip}:53`, "-g"]);
    };
    const [rs1, rs2] = topo.servers as [(typeof topo.servers)[0], (typeof topo.servers)[0]];
    const a1 = `${rs1.name} ${topo.cip}`;
    const a2 = `${rs2.name} ${topo.cip}`;

    // The client's socket is connected to VIP:53, so only answers from the VIP reach it: they come
    // from the RS directly, and the RS saw the client's address. One socket = one connection = one RS.
    service([]);
    assert.deepEqual(await udpAnswers(lab, topo.client, topo.vip, 53, 3), [a2, a2, a2]);
    assert.match(d.adm(["-lnc"]), /^UDP /m);

    // One-packet scheduling: every datagram is scheduled on its own and no connection is kept.
    // (-C leaves the connection above in the table until it times out, as the kernel does.)
    const udpEntries = () => d.adm(["-lnc"]).match(/^UDP /gm)?.length ?? 0;
    const before = udpEntries();
    service(["-o"]);
    assert.deepEqual(await udpAnswers(lab, topo.client, topo.vip, 53, 4), [a2, a1, a2, a1]);
    assert.equal(udpEntries(), before, "one-packet connections are never kept");
  } finally {
    await director?.stop();
    await lab.destroy();
  }
});

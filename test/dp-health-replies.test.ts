/**
 * Health checks from the director itself while its data plane runs (spec A.13): a checker is an
 * ordinary socket of the director's host connecting to a real server's RIP:port — the very
 * (address, port) whose replies the steering program takes for the NAT and FULLNAT services. The
 * real server's answers to the director's own addresses, on ports outside the FULLNAT range, must
 * reach the host's socket; client traffic through the VIP keeps working meanwhile.
 *
 * The classic NAT lab with three services on one VIP, all to the real servers' port 80: NAT (port
 * 80, which puts RIP:80 in the steering's `replies`), FULLNAT without a pool (8080: the director's
 * own inside address, the checks' default source, is then a LIP too) and FULLNAT with a pool address
 * (8081); and UDP NAT on 53, where the real servers listen on nothing (a UDP probe must see the ICMP
 * port unreachable). Checks go from the default source, from the pool LIP, and from an address added
 * while the daemon runs (the steering follows the host's addresses). Then the same over IPv6.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import { curl, DirectorProcess, labPrefix, startRealServers, waitFor } from "./support/dp-harness.js";
import { buildNat6Lab } from "./support/ipv6-labs.js";
import { haveRoot } from "./support/privileged.js";

/** An address on the director's inside interface for 8081's local-address pool. */
const POOL_LIP = "198.19.10.5";
/** An address the director gets after the daemon started: no LIP, only a checker's source. */
const LATE_ADDR = "198.19.10.7";

/**
 * A TCP check as keepalived's TCP_CHECK makes it: connect from `host` to addr:port (from `bind`
 * when given) within 3 s, and close. Returns the local address:port the connection had.
 */
function tcpConnect(lab: NetLab, host: string, addr: string, port: number, bind?: string): string {
  const script = `
    const net = require("node:net");
    const s = net.connect({ host: ${JSON.stringify(addr)}, port: ${port}${bind ? `, localAddress: ${JSON.stringify(bind)}` : ""} });
    const timer = setTimeout(() => { console.error("connect timed out"); process.exit(1); }, 3000);
    s.on("connect", () => { clearTimeout(timer); console.log(s.localAddress + ":" + s.localPort); s.end(); });
    s.on("error", (e) => { console.error(String(e)); process.exit(1); });`;
  return lab.exec(host, [process.execPath, "-e", script]).trim();
}

/**
 * A UDP check's probe from `host` to addr:port: "refused" when an ICMP port unreachable came back to
 * the socket, "answered", or "silence" after 3 s.
 */
function udpProbe(lab: NetLab, host: string, addr: string, port: number): string {
  const script = `
    const s = require("node:dgram").createSocket(${JSON.stringify(addr.includes(":") ? "udp6" : "udp4")});
    s.on("error", (e) => { process.stdout.write(e.code === "ECONNREFUSED" ? "refused" : e.code); process.exit(0); });
    s.on("message", () => { process.stdout.write("answered"); process.exit(0); });
    s.connect(${port}, ${JSON.stringify(addr)}, () => { s.send("x"); setInterval(() => s.send("x"), 300); });
    setTimeout(() => { process.stdout.write("silence"); process.exit(0); }, 3000);`;
  return lab.exec(host, [process.execPath, "-e", script]);
}

/** One request through each service of the VIP from the client, each answered by a real server. */
function clientRound(lab: NetLab, topo: NatTopology): void {
  for (const port of [80, 8080, 8081]) {
    const r = curl(lab, topo.client, `http://${topo.vip}:${port}/`);
    assert.equal(r.status, 200, `VIP:${port}`);
    assert.ok(["RS2", "RS3"].includes(r.server), `VIP:${port} answered by ${r.server}`);
  }
}

test("health checks from the director reach NAT and FULLNAT real servers while clients use the VIP", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("hcr"));
  let director: DirectorProcess | undefined;
  try {
    const topo = buildNatLab(lab);
    lab.addAddr(topo.director, topo.insideIf, `${POOL_LIP}/24`);
    await startRealServers(lab, topo.servers);
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    const d = director;
    const vip = topo.vip;
    d.adm(["-A", "-t", `${vip}:80`, "-s", "rr"]);
    d.adm(["-A", "-t", `${vip}:8080`, "-s", "rr"]);
    d.adm(["-A", "-t", `${vip}:8081`, "-s", "rr"]);
    for (const rs of topo.servers) {
      d.adm(["-a", "-t", `${vip}:80`, "-r", `${rs.rip}:80`, "-m"]);
      d.adm(["-a", "-t", `${vip}:8080`, "-r", `${rs.rip}:80`, "-b"]);
      d.adm(["-a", "-t", `${vip}:8081`, "-r", `${rs.rip}:80`, "-b"]);
    }
    d.adm(["-P", "-t", `${vip}:8081`, "-z", POOL_LIP, "-F", topo.insideIf]);
    // A UDP NAT service to a port the real servers do not listen on: its probe's port unreachable.
    d.adm(["-A", "-u", `${vip}:53`, "-s", "rr"]);
    for (const rs of topo.servers) d.adm(["-a", "-u", `${vip}:53`, "-r", `${rs.rip}:53`, "-m"]);

    // Client traffic flows through all three services before, between and after the checks.
    clientRound(lab, topo);
    for (let round = 0; round < 2; round++) {
      for (const rs of topo.servers) {
        // HTTP_GET from the director's default source toward the RS (its inside address, a LIP of
        // 8080) and from the pool LIP: the real server's page, not a timeout.
        for (const extra of [[], ["--interface", POOL_LIP]]) {
          const r = curl(lab, topo.director, `http://${rs.rip}/`, extra, 3);
          assert.equal(r.status, 200, `HTTP check of ${rs.rip} ${extra.join(" ")}`);
          assert.equal(r.server, rs.name);
        }
        // TCP_CHECK: a connection from the inside address, from an ephemeral port (outside the
        // FULLNAT range, which keeps clear of the host's ephemeral ports).
        const local = tcpConnect(lab, topo.director, rs.rip, 80);
        assert.match(local, new RegExp(`^${topo.dip.replaceAll(".", "\\.")}:\\d+$`));
        assert.ok(tcpConnect(lab, topo.director, rs.rip, 80, POOL_LIP).startsWith(`${POOL_LIP}:`));
        // UDP_CHECK of a closed port: the ICMP error about the director's own datagram reaches it.
        assert.equal(udpProbe(lab, topo.director, rs.rip, 53), "refused");
        clientRound(lab, topo);
      }
    }

    // An address the host gets while the daemon runs: the rtnetlink notification's refresh puts it
    // in the steering maps, and checks from it are answered (bounded wait for the refresh).
    lab.addAddr(topo.director, topo.insideIf, `${LATE_ADDR}/24`);
    const rs = topo.servers[0]!;
    await waitFor(`no answer to a check from ${LATE_ADDR}`, 10000, () =>
      curl(lab, topo.director, `http://${rs.rip}/`, ["--interface", LATE_ADDR], 2).status === 200
        ? true
        : undefined,
    );
    assert.ok(tcpConnect(lab, topo.director, rs.rip, 80, LATE_ADDR).startsWith(`${LATE_ADDR}:`));
    clientRound(lab, topo);

    await d.stop();
    const counters = d.engineCounters();
    assert.ok(counters, "the engine logged its counters on stop");
    assert.equal(counters.errors, 0);
    const line = d.log.split("\n").find((l) => l.includes('"steering program counters"'));
    assert.ok(line, "the engine logged the steering program's counters");
    const steering = (JSON.parse(line) as { steering: Record<string, number> }).steering;
    t.diagnostic(`steering counters: ${JSON.stringify(steering)}; engine: ${JSON.stringify(counters)}`);
    // Every check's SYN-ACK (and the rest of its replies) passed to the host; the clients' replies
    // were steered.
    assert.ok(steering.PASS_TO_HOST! >= 20, `PASS_TO_HOST ${steering.PASS_TO_HOST}`);
    assert.ok(steering.REPLY! > 0 && steering.SERVICE! > 0, JSON.stringify(steering));
  } finally {
    await director?.stop();
    await lab.destroy();
  }
});

test("IPv6: health checks from the director reach NAT and FULLNAT real servers while clients use the VIP", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("hcr6"));
  let director: DirectorProcess | undefined;
  try {
    const topo = buildNat6Lab(lab);
    await startRealServers(lab, topo.servers, { addr: "::" });
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    const d = director;
    const vip = `[${topo.vip}]`;
    // NAT on 80, FULLNAT without a pool on 8080 (the director's inside address is its LIP), UDP
    // NAT on 53 where the real servers listen on nothing.
    d.adm(["-A", "-t", `${vip}:80`, "-s", "rr"]);
    d.adm(["-A", "-t", `${vip}:8080`, "-s", "rr"]);
    d.adm(["-A", "-u", `${vip}:53`, "-s", "rr"]);
    for (const rs of topo.servers) {
      d.adm(["-a", "-t", `${vip}:80`, "-r", `[${rs.rip}]:80`, "-m"]);
      d.adm(["-a", "-t", `${vip}:8080`, "-r", `[${rs.rip}]:80`, "-b"]);
      d.adm(["-a", "-u", `${vip}:53`, "-r", `[${rs.rip}]:53`, "-m"]);
    }
    const clients = () => {
      for (const port of [80, 8080]) {
        const r = curl(lab, topo.client, `http://${vip}:${port}/`, ["-g"]);
        assert.equal(r.status, 200, `VIP:${port}`);
      }
    };
    clients();
    for (const rs of topo.servers) {
      const r = curl(lab, topo.director, `http://[${rs.rip}]/`, ["-g"], 3);
      assert.equal(r.status, 200, `HTTP check of ${rs.rip}`);
      assert.equal(r.server, rs.name);
      assert.ok(tcpConnect(lab, topo.director, rs.rip, 80).startsWith(`${topo.dip}:`));
      assert.equal(udpProbe(lab, topo.director, rs.rip, 53), "refused");
      clients();
    }
    await d.stop();
    const line = d.log.split("\n").find((l) => l.includes('"steering program counters"'));
    assert.ok(line, "the engine logged the steering program's counters");
    const steering = (JSON.parse(line) as { steering: Record<string, number> }).steering;
    t.diagnostic(`steering counters: ${JSON.stringify(steering)}`);
    assert.ok(steering.PASS_TO_HOST! >= 8, `PASS_TO_HOST ${steering.PASS_TO_HOST}`);
  } finally {
    await director?.stop();
    await lab.destroy();
  }
});

/**
 * SCTP services through the real daemon and its AF_XDP engine, in the NAT lab: both ends are played
 * with raw sockets as SCTP stacks would (test/support/sctp-peer.ts; this kernel has no SCTP
 * sockets), and scapy — not tslvs — decodes what crosses the wire on each side. One association
 * goes through its whole life (INIT, INIT ACK, COOKIE ECHO/ACK, DATA/SACK, HEARTBEAT, SHUTDOWN,
 * SHUTDOWN ACK, SHUTDOWN COMPLETE) with `tslvsadm -Lnc` showing the kernel's state names after each
 * step; the real server's port differs from the VIP's, so every packet's CRC32c must have been
 * computed again by the director, and scapy checks it on both sides. A second association goes to
 * the other real server (rr) and ends with an ABORT; an INIT with a wrong CRC32c reaches nobody and
 * is counted. In the DR lab, an ESTABLISHED association's DATA and HEARTBEATs are forwarded by the
 * XDP/TC fast path and its SHUTDOWN still reaches the state machine (decision 1120); in the TUN lab
 * (IPIP across a router, `tslvs rs --mode tun` at the real server) the same, encapsulated; in the
 * FULLNAT lab the real server sees only the director's address and a local port.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildDrLab, buildFullnatLab, buildNatLab, buildTunLab } from "../src/cli/lab/topologies.js";
import { DirectorProcess, type LineProcess, labPrefix, sleep } from "./support/dp-harness.js";
import { startRsHelper } from "./support/lvs-lab.js";
import { haveRoot } from "./support/privileged.js";
import { DEBIAN_PYTHON, type SctpSeen, sctpAsk, startSctpPeer } from "./support/sctp-peer.js";

const VPORT = 3868;
const RPORT = 3869;
// RFC 9260 chunk types, as scapy reports them.
const DATA = 0;
const INIT = 1;
const INIT_ACK = 2;
const SACK = 3;
const HEARTBEAT = 4;
const HEARTBEAT_ACK = 5;
const ABORT = 6;
const SHUTDOWN = 7;
const SHUTDOWN_ACK = 8;
const COOKIE_ECHO = 10;
const COOKIE_ACK = 11;
const SHUTDOWN_COMPLETE = 14;

test("SCTP NAT lab: an association's life in -Lnc, ports translated, CRC32c valid on both sides (scapy)", async (t) => {
  if (!haveRoot(t)) return;
  const scapy = spawnSync(DEBIAN_PYTHON, ["-c", "import scapy.layers.sctp"], { stdio: "ignore" });
  assert.equal(scapy.status, 0, "python3-scapy is missing: 'npm test' installs test/system-packages.txt");
  const lab = new NetLab(labPrefix("sctp"));
  let director: DirectorProcess | undefined;
  const peers: LineProcess[] = [];
  try {
    const topo = buildNatLab(lab);
    const servers = new Map<string, LineProcess>();
    await Promise.all(
      topo.servers.map(async (rs) => {
        const p = await startSctpPeer(lab, rs.host, ["server", rs.name, String(RPORT)]);
        servers.set(rs.rip, p);
        peers.push(p);
      }),
    );
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    const vip = `${topo.vip}:${VPORT}`;
    assert.equal(director.adm(["-A", "--sctp-service", vip, "-s", "rr"]), "");
    for (const rs of topo.servers)
      assert.equal(director.adm(["-a", "--sctp-service", vip, "-r", `${rs.rip}:${RPORT}`, "-m"]), "");
    assert.match(director.adm(["-Ln"]), /\nSCTP 198\.18\.0\.10:3868 rr\n/);
    assert.doesNotMatch(director.log, /not acted on.*sctp/i);

    const conn = (cport: number): string => {
      const line = director!
        .adm(["-Lnc"])
        .split("\n")
        .find((l) => l.includes(`${topo.cip}:${cport} `));
      return line ?? "";
    };
    const stateOf = (cport: number) => conn(cport).split(/\s+/)[2];
    /** The one packet of `rx` carrying chunk `type`, checked as the client must see it. */
    const answer = (rx: SctpSeen[], type: number, cport: number): SctpSeen => {
      const p = rx.find((x) => x.chunks.includes(type));
      assert.ok(p, `no chunk ${type} came back: ${JSON.stringify(rx)}`);
      assert.deepEqual([p.src, p.sport, p.dport], [topo.vip, VPORT, cport], "answered from the VIP's port");
      assert.ok(p.crcOk, `CRC32c of the translated packet (chunk ${type}) is right for scapy`);
      return p;
    };

    const a = await startSctpPeer(lab, topo.client, ["client", topo.vip, String(VPORT), "40000"]);
    peers.push(a);
    let rx = await sctpAsk(a, "init");
    const initAck = answer(rx, INIT_ACK, 40000);
    assert.deepEqual(initAck.chunks, [INIT_ACK], "an INIT ACK travels alone");
    assert.equal(stateOf(40000), "C-SENT");
    const rsA = conn(40000).split(/\s+/)[5]!.replace(/:\d+$/, "");
    assert.match(
      conn(40000),
      new RegExp(`^SCTP .* ${topo.vip}:${VPORT} +${rsA.replace(/\./g, "\\.")}:${RPORT}`),
    );
    rx = await sctpAsk(a, "cookie-echo");
    answer(rx, COOKIE_ACK, 40000);
    assert.equal(stateOf(40000), "ESTABLISHED");
    assert.match(
      director.adm(["-Ln"]),
      new RegExp(`-> ${rsA.replace(/\./g, "\\.")}:${RPORT} +Masq +1 +1 +0 *\\n`),
    );

    rx = await sctpAsk(a, "data hello over sctp");
    answer(rx, SACK, 40000);
    const echoed = answer(rx, DATA, 40000);
    const nameA = topo.servers.find((s) => s.rip === rsA)!.name;
    assert.equal(echoed.data, `${nameA} got hello over sctp`, "the DATA chunk's payload crossed intact");
    rx = await sctpAsk(a, "heartbeat");
    answer(rx, HEARTBEAT_ACK, 40000);
    assert.equal(stateOf(40000), "ESTABLISHED");
    rx = await sctpAsk(a, "shutdown");
    answer(rx, SHUTDOWN_ACK, 40000);
    assert.equal(stateOf(40000), "S-ACK-SENT");
    await sctpAsk(a, "shutdown-complete");
    assert.equal(stateOf(40000), "CLOSED");
    const [mm, ss] = conn(40000).split(/\s+/)[1]!.split(":").map(Number) as [number, number];
    const left = mm * 60 + ss;
    assert.ok(left > 50 && left <= 61, `CLOSED keeps the kernel's 61 s: ${conn(40000)}`);

    // What the real server received: its own port, the client's address, CRC32c right, one chunk each.
    const seenA = servers.get(rsA)!;
    const got: SctpSeen[] = [];
    for (let k = 0; k < 6; k++) got.push(await seenA.next<SctpSeen>(3000));
    assert.deepEqual(
      got.map((g) => g.chunks),
      [[INIT], [COOKIE_ECHO], [DATA], [HEARTBEAT], [SHUTDOWN], [SHUTDOWN_COMPLETE]],
    );
    for (const g of got) {
      assert.deepEqual([g.src, g.sport, g.dst, g.dport], [topo.cip, 40000, rsA, RPORT]);
      assert.ok(g.crcOk, `CRC32c right at the real server for chunks ${g.chunks}`);
    }

    // A second association: the other real server (rr), rejected with an ABORT from the client.
    const b = await startSctpPeer(lab, topo.client, ["client", topo.vip, String(VPORT), "40001"]);
    peers.push(b);
    rx = await sctpAsk(b, "init");
    answer(rx, INIT_ACK, 40001);
    const rsB = conn(40001).split(/\s+/)[5]!.replace(/:\d+$/, "");
    assert.notEqual(rsB, rsA, "rr sent the second association to the other real server");
    await sctpAsk(b, "abort");
    assert.equal(stateOf(40001), "CLOSED");
    const seenB = servers.get(rsB)!;
    assert.deepEqual((await seenB.next<SctpSeen>(3000)).chunks, [INIT]);
    assert.deepEqual((await seenB.next<SctpSeen>(3000)).chunks, [ABORT]);

    // A damaged INIT: no answer, no connection, nothing at either real server; counted at stop.
    const c = await startSctpPeer(lab, topo.client, ["client", topo.vip, String(VPORT), "40002"]);
    peers.push(c);
    assert.deepEqual(await sctpAsk(c, "bad-init"), []);
    assert.equal(conn(40002), "");
    await sleep(200);
    // "ready" and the packets above, nothing more.
    for (const s of servers.values())
      assert.equal(s.lines.length, s === seenA ? 7 : 3, "nothing more arrived");
    await director.stop();
    const counters = director.engineCounters();
    assert.ok(counters && counters.sctpBadChecksum! >= 1, `bad CRC counted: ${JSON.stringify(counters)}`);
  } finally {
    for (const p of peers) p.child.kill();
    await director?.stop();
    await lab.destroy();
  }
});

test("SCTP DR lab: an ESTABLISHED association's DATA and HEARTBEATs take the fast path, its SHUTDOWN the state machine", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("sctpdr"));
  let director: DirectorProcess | undefined;
  const peers: LineProcess[] = [];
  try {
    const topo = buildDrLab(lab);
    const servers = new Map<string, LineProcess>();
    await Promise.all(
      topo.servers.map(async (rs) => {
        const p = await startSctpPeer(lab, rs.host, ["server", rs.name, String(VPORT)]);
        servers.set(rs.rip, p);
        peers.push(p);
      }),
    );
    director = await DirectorProcess.start(lab, topo.director, [topo.lanIf]);
    const vip = `${topo.vip}:${VPORT}`;
    assert.equal(director.adm(["-A", "--sctp-service", vip, "-s", "rr"]), "");
    for (const rs of topo.servers)
      assert.equal(director.adm(["-a", "--sctp-service", vip, "-r", `${rs.rip}:${VPORT}`, "-g"]), "");
    const conn = () =>
      director!
        .adm(["-Lnc"])
        .split("\n")
        .find((l) => l.includes(`${topo.cip}:40010 `)) ?? "";
    const answer = (rx: SctpSeen[], type: number): SctpSeen => {
      const p = rx.find((x) => x.chunks.includes(type));
      assert.ok(p, `no chunk ${type} came back: ${JSON.stringify(rx)}`);
      assert.deepEqual([p.src, p.sport, p.dport, p.crcOk], [topo.vip, VPORT, 40010, true]);
      return p;
    };

    const a = await startSctpPeer(lab, topo.client, ["client", topo.vip, String(VPORT), "40010"]);
    peers.push(a);
    answer(await sctpAsk(a, "init"), INIT_ACK);
    // DR sees the client's side only: the kernel's INPUT_ONLY table.
    assert.match(conn(), /^SCTP \S+ +INIT1 /);
    const rs = conn().split(/\s+/)[5]!.replace(/:\d+$/, "");
    answer(await sctpAsk(a, "cookie-echo"), COOKIE_ACK);
    assert.match(conn(), /^SCTP 1[45]:\d\d {2}ESTABLISHED /);
    const rounds = 6;
    for (let k = 0; k < rounds; k++) {
      const rx = await sctpAsk(a, `data message ${k}`);
      assert.equal(answer(rx, DATA).data, `${topo.servers.find((s) => s.rip === rs)!.name} got message ${k}`);
      answer(await sctpAsk(a, "heartbeat"), HEARTBEAT_ACK);
    }
    answer(await sctpAsk(a, "shutdown"), SHUTDOWN_ACK);
    assert.match(conn(), /^SCTP \S+ +S-RECEIVED /, "the SHUTDOWN reached the state machine");
    await sctpAsk(a, "shutdown-complete");
    assert.match(conn(), /^SCTP \S+ +CLOSED /);

    const seen = servers.get(rs)!;
    const chunks: number[][] = [];
    for (let k = 0; k < 2 * rounds + 4; k++) {
      const g = await seen.next<SctpSeen>(3000);
      assert.ok(g.crcOk, "DR and the fast path leave the CRC32c as the client wrote it");
      assert.deepEqual([g.src, g.dst, g.dport], [topo.cip, topo.vip, VPORT]);
      chunks.push(g.chunks);
    }
    const middle = Array.from({ length: rounds }, () => [[DATA], [HEARTBEAT]]).flat();
    assert.deepEqual(chunks, [[INIT], [COOKIE_ECHO], ...middle, [SHUTDOWN], [SHUTDOWN_COMPLETE]]);

    await director.stop();
    const fp = director.log
      .split("\n")
      .filter((l) => l.includes('"fast path stopped"'))
      .map((l) => JSON.parse(l) as { fastPath: { program: { FORWARDED: number; SLOW_CONTROL: number } } })[0];
    assert.ok(fp, `the daemon logged the fast path's counters:\n${director.log}`);
    t.diagnostic(`fast path: ${JSON.stringify(fp.fastPath.program)}`);
    // The first DATA installs the flow from the slow path; the others and the HEARTBEATs are XDP's.
    assert.ok(
      fp.fastPath.program.FORWARDED >= 2 * rounds - 2,
      "DATA and HEARTBEAT forwarded in the fast path",
    );
    assert.ok(fp.fastPath.program.SLOW_CONTROL >= 1, "the SHUTDOWN went to the slow path");
  } finally {
    for (const p of peers) p.child.kill();
    await director?.stop();
    await lab.destroy();
  }
});

test("SCTP TUN lab: IPIP to a real server behind a router, answered from the VIP; established DATA in the fast path", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("sctptun"));
  let director: DirectorProcess | undefined;
  const peers: LineProcess[] = [];
  try {
    const topo = buildTunLab(lab, 1);
    const rs = topo.servers[0]!;
    await startRsHelper(lab, rs.host, ["--mode", "tun", "--vip", topo.vip]);
    const server = await startSctpPeer(lab, rs.host, ["server", rs.name, String(VPORT)]);
    peers.push(server);
    director = await DirectorProcess.start(lab, topo.director, [topo.directorIf]);
    const vip = `${topo.vip}:${VPORT}`;
    assert.equal(director.adm(["-A", "--sctp-service", vip, "-s", "rr"]), "");
    assert.equal(director.adm(["-a", "--sctp-service", vip, "-r", `${rs.rip}:${VPORT}`, "-i"]), "");
    const state = () =>
      (
        director!
          .adm(["-Lnc"])
          .split("\n")
          .find((l) => l.includes(`${topo.cip}:40020 `)) ?? ""
      ).split(/\s+/)[2];
    const answer = (rx: SctpSeen[], type: number): SctpSeen => {
      const p = rx.find((x) => x.chunks.includes(type));
      assert.ok(p, `no chunk ${type} came back: ${JSON.stringify(rx)}`);
      assert.deepEqual([p.src, p.sport, p.dport, p.crcOk], [topo.vip, VPORT, 40020, true]);
      return p;
    };
    const a = await startSctpPeer(lab, topo.client, ["client", topo.vip, String(VPORT), "40020"]);
    peers.push(a);
    answer(await sctpAsk(a, "init"), INIT_ACK);
    answer(await sctpAsk(a, "cookie-echo"), COOKIE_ACK);
    assert.equal(state(), "ESTABLISHED");
    for (let k = 0; k < 4; k++)
      assert.equal(answer(await sctpAsk(a, `data tun ${k}`), DATA).data, `${rs.name} got tun ${k}`);
    answer(await sctpAsk(a, "shutdown"), SHUTDOWN_ACK);
    assert.equal(state(), "S-RECEIVED");

    // What came out of the tunnel at the real server: the client's packets, CRC32c intact.
    const got: number[][] = [];
    for (let k = 0; k < 7; k++) {
      const g = await server.next<SctpSeen>(3000);
      assert.deepEqual([g.src, g.dst, g.dport, g.crcOk], [topo.cip, topo.vip, VPORT, true]);
      got.push(g.chunks);
    }
    assert.deepEqual(got, [[INIT], [COOKIE_ECHO], [DATA], [DATA], [DATA], [DATA], [SHUTDOWN]]);
    await director.stop();
    const fp = director.log
      .split("\n")
      .filter((l) => l.includes('"fast path stopped"'))
      .map((l) => JSON.parse(l) as { fastPath: { program: { FORWARDED: number } } })[0];
    t.diagnostic(`fast path: ${JSON.stringify(fp?.fastPath.program)}`);
    assert.ok(fp && fp.fastPath.program.FORWARDED >= 3, "established DATA encapsulated in the fast path");
  } finally {
    for (const p of peers) p.child.kill();
    await director?.stop();
    await lab.destroy();
  }
});

test("SCTP FULLNAT lab: both ends translated (the director's address and a local port toward the real server), CRC32c right both ways", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("sctpfn"));
  let director: DirectorProcess | undefined;
  const peers: LineProcess[] = [];
  try {
    const topo = buildFullnatLab(lab, 1);
    const rs = topo.servers[0]!;
    const server = await startSctpPeer(lab, rs.host, ["server", rs.name, String(RPORT)]);
    peers.push(server);
    director = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    const vip = `${topo.vip}:${VPORT}`;
    assert.equal(director.adm(["-A", "--sctp-service", vip, "-s", "rr"]), "");
    assert.equal(director.adm(["-a", "--sctp-service", vip, "-r", `${rs.rip}:${RPORT}`, "--fullnat"]), "");
    const state = () =>
      (
        director!
          .adm(["-Lnc"])
          .split("\n")
          .find((l) => l.includes(`${topo.cip}:40030 `)) ?? ""
      ).split(/\s+/)[2];
    const answer = (rx: SctpSeen[], type: number): SctpSeen => {
      const p = rx.find((x) => x.chunks.includes(type));
      assert.ok(p, `no chunk ${type} came back: ${JSON.stringify(rx)}`);
      assert.deepEqual([p.src, p.sport, p.dport, p.crcOk], [topo.vip, VPORT, 40030, true]);
      return p;
    };
    const a = await startSctpPeer(lab, topo.client, ["client", topo.vip, String(VPORT), "40030"]);
    peers.push(a);
    answer(await sctpAsk(a, "init"), INIT_ACK);
    assert.equal(state(), "C-SENT");
    answer(await sctpAsk(a, "cookie-echo"), COOKIE_ACK);
    assert.equal(state(), "ESTABLISHED");
    assert.equal(answer(await sctpAsk(a, "data over fullnat"), DATA).data, `${rs.name} got over fullnat`);
    answer(await sctpAsk(a, "shutdown"), SHUTDOWN_ACK);
    await sctpAsk(a, "shutdown-complete");
    assert.equal(state(), "CLOSED");

    // The real server saw the director's address and one local port, never the client's.
    const got: SctpSeen[] = [];
    for (let k = 0; k < 5; k++) got.push(await server.next<SctpSeen>(3000));
    const lport = got[0]!.sport;
    assert.notEqual(lport, 40030);
    for (const g of got)
      assert.deepEqual([g.src, g.sport, g.dst, g.dport, g.crcOk], [topo.dip, lport, rs.rip, RPORT, true]);
    assert.deepEqual(
      got.map((g) => g.chunks),
      [[INIT], [COOKIE_ECHO], [DATA], [SHUTDOWN], [SHUTDOWN_COMPLETE]],
    );
  } finally {
    for (const p of peers) p.child.kill();
    await director?.stop();
    await lab.destroy();
  }
});

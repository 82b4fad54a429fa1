import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { patternByte } from "../src/cli/lab/rs-server.js";
import { buildFullnatLab, buildTunLab } from "../src/cli/lab/topologies.js";
import { LabDirector, type Output, postSha256, startRealServer, startRsHelper } from "./support/lvs-lab.js";
import { haveRoot } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

// End to end through the real daemon, generic and native XDP: after the handshake, the bulk of a FULLNAT
// connection (both directions: the replies come back through the director) and of a TUN connection
// (client -> RS, encapsulated in IPIP; the RS answers the client directly) is forwarded by the XDP
// fast path, the bytes arrive intact, and `tslvsadm -ln --stats` counts XDP's packets (credited).
//
// Client and real servers send full checksums (`tx off`), as hosts behind a NIC do: a veth peer's
// CHECKSUM_PARTIAL frames take the slow path by design. Native mode: the peers of the director's
// veths get NAPI (GRO on), without which a native redirect into them is not possible (0450).

const DOWNLOAD = 4 * 1024 * 1024;
const UPLOAD = 2 * 1024 * 1024;

function sha(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function expectedDownload(n: number): string {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = patternByte(i);
  return sha(b);
}

interface Outcome {
  inPkts: number;
  outPkts: number;
  forwardedInXdp: number;
  installed: number;
  creditedPackets: number;
  rxFrames: number;
}

/** The service's packet counters once XDP's have been credited (they settle within a tick or two). */
async function settledStats(director: LabDirector): Promise<{ inPkts: number; outPkts: number }> {
  let stats = { inPkts: -1, outPkts: -1 };
  for (let i = 0; i < 50; i++) {
    const line = director
      .adm("-ln", "--stats", "--exact")
      .split("\n")
      .find((l) => l.startsWith("TCP"));
    assert.ok(line, "the service is listed");
    const f = line.trim().split(/\s+/);
    const now = { inPkts: Number(f[3]), outPkts: Number(f[4]) };
    if (now.inPkts === stats.inPkts && now.outPkts === stats.outPkts) break;
    stats = now;
    await new Promise((r) => setTimeout(r, 600));
  }
  return stats;
}

/** Stops the daemon and reads the fast path's and the engine's counters from its log. */
async function stopAndRead(director: LabDirector): Promise<Omit<Outcome, "inPkts" | "outPkts">> {
  await director.stop();
  let fp: { installed: number; creditedPackets: number; program: { FORWARDED: number } } | undefined;
  let engine: { rxFrames: number } | undefined;
  for (const line of director.out.text.split("\n")) {
    try {
      const j = JSON.parse(line) as { msg?: string; fastPath?: typeof fp; counters?: typeof engine };
      if (j.msg === "fast path stopped") fp = j.fastPath;
      if (j.msg === "packet engine stopped") engine = j.counters;
    } catch {
      /* not a log line */
    }
  }
  assert.ok(fp && engine, "the daemon logged the fast path's and the engine's counters on stop");
  return {
    forwardedInXdp: fp.program.FORWARDED,
    installed: fp.installed,
    creditedPackets: fp.creditedPackets,
    rxFrames: engine.rxFrames,
  };
}

function assertMostlyFastPath(o: Outcome, minPackets: number): void {
  const total = o.inPkts + o.outPkts;
  assert.ok(total >= minPackets, `-ln --stats counts the transfer (${total} packets)`);
  assert.ok(o.forwardedInXdp >= 0.9 * total, `XDP forwarded ${o.forwardedInXdp} of ${total} packets`);
  assert.ok(o.rxFrames <= 0.1 * total, `the slow path saw only ${o.rxFrames} of ${total} packets`);
  // The connections ended (FIN withdraws their flows, crediting the rest): every packet XDP
  // forwarded was credited to the director, and counted once.
  assert.equal(o.creditedPackets, o.forwardedInXdp, "XDP's packets are all credited");
  assert.ok(total >= o.forwardedInXdp, "XDP's packets are credited, not more");
}

type Mode = "generic" | "native" | "tc";

async function fullnatScenario(t: { diagnostic(m: string): void }, mode: Mode): Promise<void> {
  const lab = new NetLab(labPrefix(`fpf${mode[0]}`));
  const director = new LabDirector();
  try {
    const topo = buildFullnatLab(lab, 1);
    const rs = topo.servers[0]!;
    lab.exec(topo.client, ["ethtool", "-K", "eth0", "tx", "off"]);
    lab.exec(rs.host, ["ethtool", "-K", "eth0", "tx", "off"]);
    if (mode === "native") {
      lab.exec(topo.client, ["ethtool", "-K", "eth0", "gro", "on"]);
      lab.exec("switch", ["ethtool", "-K", `director-${topo.insideIf}`, "gro", "on"]);
    }
    await startRealServer(lab, rs.host, rs.name);
    await director.start(lab, topo.director, [topo.outsideIf, topo.insideIf], ["--xdp-mode", mode]);
    director.adm("-A", "-t", `${topo.vip}:80`, "-s", "rr");
    director.adm("-a", "-t", `${topo.vip}:80`, "-r", `${rs.rip}:80`, "--fullnat");

    // Download: RS -> LIP, rewritten to VIP -> client (outbound); the client's ACKs inbound.
    const got = lab.exec(topo.client, [
      "sh",
      "-c",
      `curl -sS --max-time 60 http://${topo.vip}/bytes/${DOWNLOAD} | sha256sum`,
    ]);
    assert.equal(got.split(" ")[0], expectedDownload(DOWNLOAD), "download byte-identical");
    // Upload: client -> VIP, rewritten to LIP -> RS (inbound).
    const body = randomBytes(UPLOAD);
    assert.equal(postSha256(lab, topo.client, `http://${topo.vip}/sha256`, body), sha(body), "upload intact");

    const stats = await settledStats(director);
    const o = { ...stats, ...(await stopAndRead(director)) };
    t.diagnostic(JSON.stringify(o));
    assertMostlyFastPath(o, (DOWNLOAD + UPLOAD) / 1448);
    assert.ok(o.outPkts >= DOWNLOAD / 1448, "the replies came back through the director");
    assert.ok(o.installed >= 4, "both directions of both connections were installed");
  } finally {
    await director.stop();
    await lab.destroy();
  }
}

async function tunScenario(t: { diagnostic(m: string): void }, mode: Mode): Promise<void> {
  const lab = new NetLab(labPrefix(`fpt${mode[0]}`));
  const director = new LabDirector();
  let helper: Output | null = null;
  try {
    const topo = buildTunLab(lab, 1);
    const rs = topo.servers[0]!;
    lab.exec(topo.client, ["ethtool", "-K", "eth0", "tx", "off"]);
    lab.exec(rs.host, ["ethtool", "-K", "eth0", "tx", "off"]);
    await startRealServer(lab, rs.host, rs.name);
    if (mode === "native") {
      lab.exec(topo.router, ["ethtool", "-K", "eth1", "gro", "on"]);
      // GRO on the router merges the IPIP stream, and its output segments the merged packets again;
      // with tx checksumming they would leave with partial inner checksums, which the RS's
      // user-space IPIP receiver does not complete. The router computes them in full instead.
      lab.exec(topo.router, ["ethtool", "-K", topo.rsLinkIf, "tx", "off"]);
    }
    helper = await startRsHelper(lab, rs.host, ["--mode", "tun", "--vip", topo.vip]);
    await director.start(lab, topo.director, [topo.directorIf], ["--xdp-mode", mode]);
    director.adm("-A", "-t", `${topo.vip}:80`, "-s", "rr");
    director.adm("-a", "-t", `${topo.vip}:80`, "-r", `${rs.rip}:80`, "-i");

    // Upload: every data segment goes client -> director -> (IPIP) -> RS.
    const body = randomBytes(UPLOAD);
    assert.equal(postSha256(lab, topo.client, `http://${topo.vip}/sha256`, body), sha(body), "upload intact");
    // Download: the RS answers directly; the client's ACKs still go through the director.
    const got = lab.exec(topo.client, [
      "sh",
      "-c",
      `curl -sS --max-time 60 http://${topo.vip}/bytes/${DOWNLOAD} | sha256sum`,
    ]);
    assert.equal(got.split(" ")[0], expectedDownload(DOWNLOAD), "download byte-identical");

    const stats = await settledStats(director);
    const o = { ...stats, ...(await stopAndRead(director)) };
    t.diagnostic(JSON.stringify(o));
    assert.equal(o.outPkts, 0, "TUN replies bypass the director");
    assertMostlyFastPath(o, UPLOAD / 1448);
    assert.ok(o.installed >= 2, "the inbound direction of both connections was installed");
  } finally {
    await director.stop();
    await helper?.stop();
    await lab.destroy();
  }
}

test("FULLNAT: download and upload run in XDP both ways after the handshake (generic XDP)", async (t) => {
  if (!haveRoot(t)) return;
  await fullnatScenario(t, "generic");
});

test("TUN: the client's packets are encapsulated in XDP after the handshake (generic XDP)", async (t) => {
  if (!haveRoot(t)) return;
  await tunScenario(t, "generic");
});

test("FULLNAT and TUN at TC ingress (tc mode: the tunnel header opened with skb_adjust_room)", async (t) => {
  if (!haveRoot(t)) return;
  await fullnatScenario(t, "tc");
  await tunScenario(t, "tc");
});

test("FULLNAT and TUN in native XDP (the peers have NAPI)", async (t) => {
  if (!haveRoot(t)) return;
  await fullnatScenario(t, "native");
  await tunScenario(t, "native");
});

/**
 * Bulk TCP both ways through LVS-NAT on the real engine, byte-compared: a download of several MiB
 * (compared with rs-server's pattern) and an upload of several MiB of known data (the RS returns its
 * SHA-256). Once with the veths' default offloads (checksum offload: frames reach the engine with
 * partial checksums; GSO/TSO: senders hand over super-frames) and once with every offload off on
 * every interface of the path, where each frame carries a full checksum. Docs: decisions/0400.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildNatLab, type NatTopology } from "../src/cli/lab/topologies.js";
import {
  curl,
  DirectorProcess,
  firstPatternMismatch,
  labPrefix,
  startRealServers,
} from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";

const SIZE = 6 << 20;

/** Every interface a packet crosses: client, both director sides, the switch's ports, the servers. */
function pathInterfaces(lab: NetLab, topo: NatTopology): [string, string][] {
  const out: [string, string][] = [
    [topo.client, "eth0"],
    [topo.director, topo.outsideIf],
    [topo.director, topo.insideIf],
  ];
  for (const rs of topo.servers) out.push([rs.host, "eth0"]);
  const ports = JSON.parse(lab.exec("switch", ["ip", "-j", "link", "show", "master", "br0"])) as {
    ifname: string;
  }[];
  for (const p of ports) out.push(["switch", p.ifname]);
  return out;
}

async function bulkBothWays(
  t: { diagnostic(m: string): void },
  offloadsOff: boolean,
  mode: string,
): Promise<void> {
  const lab = new NetLab(labPrefix(offloadsOff ? "bulkoff" : "bulk"));
  let director: DirectorProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), "tslvs-bulk-"));
  try {
    const topo = buildNatLab(lab);
    if (offloadsOff) {
      for (const [host, ifname] of pathInterfaces(lab, topo)) {
        lab.exec(host, ["ethtool", "-K", ifname, "tx", "off", "tso", "off", "gso", "off", "gro", "off"]);
      }
    }
    await startRealServers(lab, topo.servers);
    director = await DirectorProcess.start(
      lab,
      topo.director,
      [topo.outsideIf, topo.insideIf],
      ["--xdp-mode", mode],
    );
    // "auto" serves a veth in the tc mode; native XDP on veth turns TSO off on the peer, so
    // super-frames are cut before they cross; generic XDP is used only when asked for, and hands
    // them to TC ingress; the tc mode segments those its fast path does not take.
    const modes = director.log.split("\n").filter((l) => l.includes('"serving interface"'));
    assert.equal(modes.length, 2, director.log);
    for (const l of modes) assert.equal(JSON.parse(l).mode, mode === "auto" ? "tc" : mode, l);
    assert.equal(
      director.log.includes("generic XDP: GRO/TSO aggregates are passed to TC ingress"),
      mode === "generic",
    );
    assert.ok(!director.log.includes("tc mode: frames larger"), "the tc mode takes aggregates whole");
    const vip = `${topo.vip}:80`;
    director.adm(["-A", "-t", vip, "-s", "rr"]);
    for (const rs of topo.servers) director.adm(["-a", "-t", vip, "-r", `${rs.rip}:80`, "-m"]);

    const down = curl(lab, topo.client, `http://${topo.vip}/bytes/${SIZE}`, [], 30);
    assert.equal(down.status, 200);
    assert.equal(down.body.length, SIZE);
    assert.equal(firstPatternMismatch(down.body), -1, "the download differs from the pattern");

    const data = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i++) data[i] = (i * 7 + (i >>> 11)) & 0xff;
    const file = join(dir, "upload");
    writeFileSync(file, data);
    const up = curl(lab, topo.client, `http://${topo.vip}/sha256`, ["--data-binary", `@${file}`], 30);
    assert.equal(up.status, 200);
    assert.equal(up.body.toString().trim(), createHash("sha256").update(data).digest("hex"));
    await director.stop();
    const counters = director.engineCounters();
    t.diagnostic(`engine counters: ${JSON.stringify(counters)}`);
    assert.ok(counters, "the engine logged its counters on stop");
    assert.equal(counters.errors, 0);
    // With checksum offload on, the senders' frames reach the engine with partial checksums, which
    // it completes before rewriting (partial-checksum.ts): this run did exercise that path.
    if (!offloadsOff) assert.ok(counters.partialChecksums > 0, "no frame with a partial checksum was seen");
  } finally {
    await director?.stop();
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

const CASES = [
  [false, "native", "default veth offloads (native XDP on veth)"],
  [true, "native", "every offload off (native XDP on veth)"],
  [true, "generic", "every offload off, generic XDP"],
  [false, "tc", "default veth offloads, tc mode (TSO aggregates on the fast path)"],
  [true, "auto", "every offload off, the default mode (tc on veth)"],
] as const;

for (const [offloadsOff, mode, what] of CASES)
  test(`bulk TCP both ways through NAT, ${what}`, async (t) => {
    if (!haveRoot(t)) return;
    await bulkBothWays(t, offloadsOff, mode);
  });

import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import { haveRoot } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

// The benchmark's generator (bench/xdp-flood.ts) through a real router: its frames must arrive as
// valid UDP datagrams of every flow, also once their pages come back recycled from a forward that
// rewrote them (another MAC, TTL one less), and a paced run must send what it was asked to.
//
//   cli eth0 198.18.0.100 --- eth0 198.18.0.1  fwd  eth1 198.19.0.1 --- eth0 198.19.0.2  rs
const FLOWS = 256;
const SPORT_BASE = 20000;
const RATE = 20_000;
const SECONDS = 0.5;

const xdpFlood = fileURLToPath(new URL("../bench/xdp-flood.js", import.meta.url));

function nstat(lab: NetLab, host: string): Map<string, number> {
  const out = lab.exec(host, ["nstat", "-az"]);
  return new Map(
    out
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 2 && /^\d+$/.test(f[1]!))
      .map((f) => [f[0]!, Number(f[1])]),
  );
}

test("bench/xdp-flood: paced live frames of every flow arrive valid through a kernel router", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("txf"));
  try {
    for (const h of ["cli", "fwd", "rs"]) lab.addHost(h);
    lab.link("cli", "eth0", "fwd", "eth0");
    lab.link("fwd", "eth1", "rs", "eth0");
    lab.addAddr("cli", "eth0", "198.18.0.100/24");
    lab.addAddr("fwd", "eth0", "198.18.0.1/24");
    lab.addAddr("fwd", "eth1", "198.19.0.1/24");
    lab.addAddr("rs", "eth0", "198.19.0.2/24");
    lab.addRoute("rs", "default", "via", "198.19.0.1");
    lab.sysctl("fwd", "net.ipv4.ip_forward", 1);
    // A veth takes redirected frames only with NAPI on its receiving end (GRO on gives it one).
    lab.exec("fwd", ["ethtool", "-K", "eth0", "gro", "on"]);
    // Every flow's source port is remembered in a set as the datagrams arrive.
    lab.exec(
      "rs",
      ["nft", "-f", "-"],
      `table ip seen {
  set flows { type inet_service; flags dynamic; size 1024; }
  chain pre {
    type filter hook prerouting priority 0; policy accept;
    udp dport 9 add @flows { udp sport }
  }
}
`,
    );
    lab.exec("fwd", ["ping", "-c", "1", "-W", "2", "198.19.0.2"]); // the router knows the RS's MAC
    const before = nstat(lab, "rs");
    const out = lab.exec("cli", [
      process.execPath,
      xdpFlood,
      "eth0",
      lab.mac("cli", "eth0"),
      lab.mac("fwd", "eth0"),
      "198.18.0.100",
      "198.19.0.2",
      "9",
      String(FLOWS),
      String(SPORT_BASE),
      String(SECONDS),
      String(RATE),
    ]);
    const [sent, elapsed] = out.trim().split(/\s+/).map(Number) as [number, number];
    assert.equal(sent, RATE * SECONDS, `the run sends rate x seconds frames: ${out}`);
    assert.ok(elapsed > 0, `elapsed ${elapsed}`);
    const after = nstat(lab, "rs");
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    // No listener on port 9: a datagram with a valid checksum counts as NoPorts, a bad one as a
    // checksum error. A veth ring can drop a few in a VM's stall; a stale frame would lose most.
    assert.equal(delta("UdpInCsumErrors"), 0, "UDP checksums valid");
    assert.ok(delta("UdpNoPorts") >= sent * 0.98, `${delta("UdpNoPorts")} of ${sent} datagrams arrived`);
    const set = JSON.parse(lab.exec("rs", ["nft", "-j", "list", "set", "ip", "seen", "flows"])) as {
      nftables: { set?: { elem?: unknown[] } }[];
    };
    const elems = set.nftables.find((x) => x.set)?.set?.elem ?? [];
    const ports = elems.map((e) => (typeof e === "number" ? e : (e as { elem: { val: number } }).elem.val));
    assert.equal(new Set(ports).size, FLOWS, "every flow's source port arrived");
    assert.ok(
      ports.every((p) => p >= SPORT_BASE && p < SPORT_BASE + FLOWS),
      "source ports from SPORT_BASE on",
    );
  } finally {
    assert.deepEqual(await lab.destroy(), []);
  }
});

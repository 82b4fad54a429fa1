import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { PACKAGE_ROOT, TSLVS_BIN } from "../src/cli/lab/paths.js";
import { patternByte } from "../src/cli/lab/rs-server.js";
import { buildTunLab, type TunTopology } from "../src/cli/lab/topologies.js";
import {
  LabDirector,
  type Output,
  postSha256,
  startCapture,
  startRealServer,
  startRsHelper,
} from "./support/lvs-lab.js";
import { haveRoot, PRIVILEGED } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

// LVS-TUN to a GUE real server and a GRE one (ipvsadm --tun-type gue --tun-port / gre), each running
// `tslvs rs --mode tun --tun-type gue|gre` (this kernel has no fou or gre devices). Two VIPs, one per
// real server. Uploads and downloads arrive byte-exact with the checksum options off (the fast path
// encapsulates the established connections) and on (the slow path does); the frames on the real
// servers' link are decoded by scapy (test/support/tunnel-decode.py) and checked against the layout
// of the kernel's ipvs_gue_encap / ipvs_gre_encap.

const GUE_PORT = 6080;
const UPLOAD = 1024 * 1024;
const DOWNLOAD = 1024 * 1024;
const lab = new NetLab(labPrefix("tgg"));
const director = new LabDirector();
let t: TunTopology;
let vipGre: string;
let ready = false;
const helpers: Output[] = [];

before(async () => {
  if (!PRIVILEGED) return;
  t = buildTunLab(lab);
  vipGre = "198.18.5.11";
  lab.addAddr(t.director, t.directorIf, `${vipGre}/32`);
  // Full checksums from the client, as hosts behind a NIC send them (veth's partial ones take the
  // slow path by design: 0450).
  lab.exec(t.client, ["ethtool", "-K", "eth0", "tx", "off"]);
  const [gue, gre] = t.servers as [TunTopology["servers"][0], TunTopology["servers"][0]];
  for (const rs of t.servers) await startRealServer(lab, rs.host, rs.name);
  const vips = ["--vip", t.vip, "--vip", vipGre];
  helpers.push(
    await startRsHelper(lab, gue.host, [
      "--mode",
      "tun",
      ...vips,
      "--tun-type",
      "gue",
      "--tun-port",
      String(GUE_PORT),
    ]),
  );
  helpers.push(await startRsHelper(lab, gre.host, ["--mode", "tun", ...vips, "--tun-type", "gre"]));
  await director.start(lab, t.director, [t.directorIf]);
  director.adm("-A", "-t", `${t.vip}:80`, "-s", "rr");
  director.adm(
    "-a",
    "-t",
    `${t.vip}:80`,
    "-r",
    `${gue.rip}:80`,
    "-i",
    "--tun-type",
    "gue",
    "--tun-port",
    String(GUE_PORT),
  );
  director.adm("-A", "-t", `${vipGre}:80`, "-s", "rr");
  director.adm("-a", "-t", `${vipGre}:80`, "-r", `${gre.rip}:80`, "-i", "--tun-type", "gre");
  ready = true;
});

after(async () => {
  await director.stop();
  for (const h of helpers) await h.stop();
  await lab.destroy();
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function expectedDownload(n: number): string {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = patternByte(i);
  return sha(b);
}

/** The daemon's counters now: the engine's (slow path) and the fast path program's. */
function stats(): { tunnelled: number; xdp: number } {
  const s = JSON.parse(
    execFileSync("node", [TSLVS_BIN, "stats", "--json", "--socket", director.socket], { encoding: "utf8" }),
  ) as { engine: Record<string, number>; fastPathDecisions?: Record<string, number> };
  return { tunnelled: s.engine.tunnelled ?? 0, xdp: s.fastPathDecisions?.FORWARDED ?? 0 };
}

/** An upload and a download through `vip`, both byte-exact; what each path forwarded meanwhile. */
function transfer(vip: string): { tunnelled: number; xdp: number } {
  const before = stats();
  const body = randomBytes(UPLOAD);
  assert.equal(
    postSha256(lab, t.client, `http://${vip}/sha256`, body),
    sha(body),
    `upload through ${vip} intact`,
  );
  const got = lab.exec(t.client, [
    "sh",
    "-c",
    `curl -sS --max-time 30 http://${vip}/bytes/${DOWNLOAD} | sha256sum`,
  ]);
  assert.equal(got.split(" ")[0], expectedDownload(DOWNLOAD), `download through ${vip} byte-identical`);
  const now = stats();
  return { tunnelled: now.tunnelled - before.tunnelled, xdp: now.xdp - before.xdp };
}

test("GUE and GRE without checksums: byte-exact both ways, the established connection encapsulated in XDP", (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  for (const vip of [t.vip, vipGre]) {
    const d = transfer(vip);
    tc.diagnostic(`${vip}: ${JSON.stringify(d)}`);
    // About 700 data segments of the upload plus the download's ACKs: most in XDP.
    assert.ok(d.xdp > UPLOAD / 1448 / 2, `XDP encapsulated ${d.xdp} packets for ${vip}`);
    assert.ok(d.tunnelled < d.xdp, `the slow path sent only ${d.tunnelled}`);
  }
});

test("GUE csum / remcsum and GRE csum: byte-exact, sent by the slow path (never offloaded)", (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  const [gue, gre] = t.servers as [TunTopology["servers"][0], TunTopology["servers"][0]];
  try {
    for (const [vip, rip, opts] of [
      [t.vip, gue.rip, ["--tun-type", "gue", "--tun-port", String(GUE_PORT), "--tun-csum"]],
      [t.vip, gue.rip, ["--tun-type", "gue", "--tun-port", String(GUE_PORT), "--tun-remcsum"]],
      [vipGre, gre.rip, ["--tun-type", "gre", "--tun-csum"]],
    ] as const) {
      director.adm("-e", "-t", `${vip}:80`, "-r", `${rip}:80`, "-i", ...opts);
      const d = transfer(vip);
      tc.diagnostic(`${vip} ${opts.join(" ")}: ${JSON.stringify(d)}`);
      assert.equal(d.xdp, 0, "nothing in XDP");
      assert.ok(d.tunnelled > UPLOAD / 1448 / 2, `the slow path sent ${d.tunnelled}`);
    }
  } finally {
    director.adm(
      "-e",
      "-t",
      `${t.vip}:80`,
      "-r",
      `${gue.rip}:80`,
      "-i",
      "--tun-type",
      "gue",
      "--tun-port",
      String(GUE_PORT),
    );
    director.adm("-e", "-t", `${vipGre}:80`, "-r", `${gre.rip}:80`, "-i", "--tun-type", "gre");
  }
});

interface Decoded {
  src: string;
  dst: string;
  proto: number;
  df: boolean;
  ttl: number;
  len: number;
  udp?: { sport: number; dport: number; len: number; chksum: number; checksumOk: boolean };
  gue?: { version: number; control: number; hlen: number; proto: number; flags: number };
  gre?: {
    chksumPresent: number;
    routingPresent: number;
    keyPresent: number;
    seqPresent: number;
    version: number;
    proto: number;
    checksumOk: boolean;
  };
  inner?: { src: string; dst: string; ttl: number; tcpChecksumOk: boolean };
}

/** The tunnel frames on the real servers' link during one small request through `vip`, by scapy. */
async function captured(vip: string): Promise<Decoded[]> {
  const dir = mkdtempSync(join(tmpdir(), "tslvs-gue-gre-"));
  const file = join(dir, "tunnel.pcap");
  try {
    const cap = await startCapture(
      lab,
      t.router,
      t.rsLinkIf,
      ["--immediate-mode", "-U", "-w", file, "udp", "port", String(GUE_PORT), "or", "ip", "proto", "47"],
      [],
    );
    const body = randomBytes(20000);
    assert.equal(postSha256(lab, t.client, `http://${vip}/sha256`, body), sha(body));
    await new Promise((r) => setTimeout(r, 200));
    const said = await cap.stop("SIGINT");
    const out = execFileSync(
      "/usr/bin/python3",
      [join(PACKAGE_ROOT, "test/support/tunnel-decode.py"), file, String(GUE_PORT)],
      {
        encoding: "utf8",
      },
    );
    const decoded = out
      .trim()
      .split("\n")
      .filter((l) => l)
      .map((l) => JSON.parse(l) as Decoded);
    assert.ok(decoded.length >= 5, `scapy decoded ${decoded.length} tunnel frames; tcpdump said:\n${said}`);
    return decoded;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertOuter(p: Decoded, rip: string, vip: string): void {
  assert.equal(p.src, t.dip, "outer source: the director's address toward the RS");
  assert.equal(p.dst, rip);
  assert.ok(p.df, "DF copied from the inner packet");
  assert.ok(p.inner, "scapy found the inner IPv4 packet");
  assert.equal(p.inner.src, t.cip);
  assert.equal(p.inner.dst, vip);
  // Outer TTL = the inner TTL (after the director's decrement); seen past the router, one less.
  assert.equal(p.ttl, p.inner.ttl - 1, "outer TTL = the inner TTL, less the router's hop");
  assert.ok(p.inner.tcpChecksumOk, "the inner TCP checksum is intact");
}

test("on the wire, decoded by scapy: GUE's UDP ports, length and checksum (nocsum vs csum), its header; GRE's flags and checksum", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  const [gue, gre] = t.servers as [TunTopology["servers"][0], TunTopology["servers"][0]];
  for (const csum of [false, true]) {
    const tail = csum ? ["--tun-csum"] : [];
    director.adm(
      "-e",
      "-t",
      `${t.vip}:80`,
      "-r",
      `${gue.rip}:80`,
      "-i",
      "--tun-type",
      "gue",
      "--tun-port",
      String(GUE_PORT),
      ...tail,
    );
    director.adm("-e", "-t", `${vipGre}:80`, "-r", `${gre.rip}:80`, "-i", "--tun-type", "gre", ...tail);
    const gues = (await captured(t.vip)).filter((p) => p.gue);
    assert.ok(gues.length >= 5, `GUE frames seen: ${gues.length}`);
    const sports = new Set<number>();
    for (const p of gues) {
      assertOuter(p, gue.rip, t.vip);
      assert.equal(p.proto, 17);
      assert.equal(p.udp!.dport, GUE_PORT);
      assert.ok(p.udp!.sport >= 32768 && p.udp!.sport < 61000, `source port ${p.udp!.sport}`);
      sports.add(p.udp!.sport);
      assert.equal(p.udp!.len, p.len - 20);
      if (csum) assert.ok(p.udp!.chksum !== 0 && p.udp!.checksumOk, "a correct UDP checksum");
      else assert.equal(p.udp!.chksum, 0, "nocsum: no UDP checksum");
      assert.deepEqual(p.gue, { version: 0, control: 0, hlen: 0, proto: 4, flags: 0 });
    }
    assert.equal(sports.size, 1, "one connection, one source port");
    const gres = (await captured(vipGre)).filter((p) => p.gre);
    assert.ok(gres.length >= 5, `GRE frames seen: ${gres.length}`);
    for (const p of gres) {
      assertOuter(p, gre.rip, vipGre);
      assert.equal(p.proto, 47);
      const g = p.gre!;
      assert.deepEqual(
        [g.chksumPresent, g.routingPresent, g.keyPresent, g.seqPresent, g.version, g.proto],
        [csum ? 1 : 0, 0, 0, 0, 0, 0x0800],
      );
      assert.ok(g.checksumOk, "the GRE checksum is right");
    }
  }
});

test("tslvs rs took the GUE and GRE packets and stops cleanly", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  for (const h of helpers) {
    const text = await h.stop();
    tc.diagnostic(text.trim().split("\n").at(-1) ?? "");
    assert.match(text, /receiving tunnel packets \(ipip, (gue port 6080|gre)\)/);
    assert.match(text, /malformed 0,/);
    assert.match(text, /GUE\/GRE packets among them [1-9]\d*/);
  }
});

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { buildTunLab, type TunTopology } from "../src/cli/lab/topologies.js";
import { refChecksum } from "./net-frames.js";
import { supportScript } from "./support/dp-harness.js";
import {
  httpGet,
  httpGetRetry,
  LabDirector,
  type Output,
  postSha256,
  startCapture,
  startRealServer,
  startRsHelper,
  udpAsk,
} from "./support/lvs-lab.js";
import { haveRoot, PRIVILEGED } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

// LVS-TUN across a router: the director sends the client's packets in IPIP to real servers on
// another network; each RS runs `tslvs rs --mode tun` (this kernel has no ipip module) and answers
// the client straight through the router.

const lab = new NetLab(labPrefix("tft"));
const director = new LabDirector();
let t: TunTopology;
let ready = false;
const helpers: Output[] = [];

before(async () => {
  if (!PRIVILEGED) return;
  t = buildTunLab(lab);
  // The client keeps veth's default offloads: its TSO aggregates of a TUN flow, which the fast path
  // cannot encapsulate at TC, are segmented on their way to the slow path (slow-path-veth.ts).
  // RS3 starts with strict reverse-path filtering: the helper must loosen it while it runs (the
  // unwrapped packets arrive on eth0 from a client routed elsewhere) and put it back on stop.
  for (const k of ["all", "eth0"]) lab.sysctl(t.servers[1]!.host, `net.ipv4.conf.${k}.rp_filter`, 1);
  for (const rs of t.servers) {
    await startRealServer(lab, rs.host, rs.name);
    helpers.push(await startRsHelper(lab, rs.host, ["--mode", "tun", "--vip", t.vip]));
  }
  await director.start(lab, t.director, [t.directorIf]);
  director.adm("-A", "-t", `${t.vip}:80`, "-s", "rr");
  director.adm("-A", "-u", `${t.vip}:80`, "-s", "rr");
  for (const rs of t.servers) {
    director.adm("-a", "-t", `${t.vip}:80`, "-r", `${rs.rip}:80`, "-i");
    director.adm("-a", "-u", `${t.vip}:80`, "-r", `${rs.rip}:80`, "-i");
  }
  ready = true;
});

after(async () => {
  await director.stop();
  await lab.destroy();
});

test("TUN: HTTP through IPIP to real servers behind a router; each RS sees the client", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  await httpGetRetry(lab, t.client, `http://${t.vip}/`);
  const seen = new Map<string, number>();
  for (let i = 0; i < 6; i++) {
    const r = httpGet(lab, t.client, `http://${t.vip}/`);
    assert.ok(r, `request ${i} answered`);
    assert.equal(r.seenClient, t.cip, "the RS saw the client's own address");
    seen.set(r.server, (seen.get(r.server) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ["RS2", "RS3"]);
});

test("TUN: 32 random bytes arrive intact over TCP and UDP", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  const data = randomBytes(32);
  const want = createHash("sha256").update(data).digest("hex");
  assert.equal(postSha256(lab, t.client, `http://${t.vip}/sha256`, data), want);
  const reply = udpAsk(lab, t.client, t.vip, 80, data);
  assert.ok(reply.subarray(reply.length - 32).equals(data), "UDP payload echoed intact");
  assert.match(reply.toString("latin1"), new RegExp(`^RS[23] ${t.cip.replaceAll(".", "\\.")} `));
});

test("TUN: IPIP from the director's address on the RS link, replies bypass the director", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  const rsLink = await startCapture(lab, t.router, t.rsLinkIf, [
    "ip",
    "proto",
    "4",
    "or",
    "src",
    "host",
    t.vip,
  ]);
  const dirLink = await startCapture(lab, t.router, "eth1", ["src", "host", t.vip, "and", "tcp"]);
  for (let i = 0; i < 2; i++) assert.ok(httpGet(lab, t.client, `http://${t.vip}/`));
  await new Promise((r) => setTimeout(r, 300));
  const seenOnRsLink = await rsLink.stop("SIGINT");
  const seenOnDirLink = await dirLink.stop("SIGINT");
  // The outer header: director's own address toward the RS -> RIP, IPIP, DF copied from the inner
  // packet; inside, the client's packet to the VIP unchanged but for the TTL.
  const rips = t.servers.map((s) => s.rip.replaceAll(".", "\\.")).join("|");
  const outer = new RegExp(
    `flags \\[DF\\], proto IPIP \\(4\\), length \\d+\\)\\s+${t.dip.replaceAll(".", "\\.")} > (${rips}): IP \\(tos 0x0, ttl \\d+, id \\d+, offset 0, flags \\[DF\\], proto TCP \\(6\\), length \\d+\\)\\s+${t.cip.replaceAll(".", "\\.")}\\.\\d+ > ${t.vip.replaceAll(".", "\\.")}\\.80:`,
  );
  assert.match(seenOnRsLink, outer, `IPIP frames on the RS link:\n${seenOnRsLink}`);
  assert.match(
    seenOnRsLink,
    new RegExp(`${t.vip.replaceAll(".", "\\.")}\\.80 > ${t.cip.replaceAll(".", "\\.")}\\.\\d+`),
    "the RS answered from the VIP on its own link",
  );
  assert.match(
    seenOnDirLink,
    /\b0 packets captured/,
    `no reply crossed the director's link:\n${seenOnDirLink}`,
  );
});

test("TUN: a large upload with DF recovers through the director's ICMP fragmentation needed", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  assert.doesNotMatch(lab.exec(t.client, ["ip", "route", "get", t.vip]), /mtu/, "no path MTU learnt yet");
  const data = randomBytes(300_000);
  const want = createHash("sha256").update(data).digest("hex");
  assert.equal(postSha256(lab, t.client, `http://${t.vip}/sha256`, data), want);
  // The client's kernel learnt the tunnel's inner MTU (1500 - 20) from the director's ICMP.
  assert.match(lab.exec(t.client, ["ip", "route", "get", t.vip]), /mtu 1480/);
});

test("TUN: a router's frag-needed about a tunnel packet lowers the path MTU; the client recovers", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  // The real servers' segment now carries 1400 bytes: the director's 1500-byte IPIP packets
  // (a full 1480-byte client packet inside) die at the router, which tells the director. Only
  // the director can tell the client, which never sees the tunnel.
  const segment: [string, string][] = [
    [t.router, t.rsLinkIf],
    ...t.servers.map((rs): [string, string] => [rs.host, "eth0"]),
  ];
  try {
    for (const [host, dev] of segment) lab.exec(host, ["ip", "link", "set", dev, "mtu", "1400"]);
    const data = randomBytes(300_000);
    const want = createHash("sha256").update(data).digest("hex");
    assert.equal(postSha256(lab, t.client, `http://${t.vip}/sha256`, data), want);
    // The client learnt the tunnel's inner MTU behind that router: 1400 - 20.
    assert.match(lab.exec(t.client, ["ip", "route", "get", t.vip]), /mtu 1380/);
  } finally {
    for (const [host, dev] of segment) lab.exec(host, ["ip", "link", "set", dev, "mtu", "1500"]);
  }
});

test("TUN: a packet without DF too big once encapsulated leaves as outer fragments", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  // The client stops setting DF, and forgets the path MTUs learnt above (else it would fragment
  // its datagram itself).
  lab.sysctl(t.client, "net.ipv4.ip_no_pmtu_disc", 1);
  lab.exec(t.client, ["ip", "route", "flush", "cache"]);
  const rsLink = await startCapture(lab, t.router, t.rsLinkIf, ["ip", "proto", "4"]);
  try {
    const send = `const s = require("node:dgram").createSocket("udp4");
      s.send(Buffer.alloc(1472, 0x61), 80, "${t.vip}", () => s.close());`;
    lab.exec(t.client, [process.execPath, "-e", send]);
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    lab.sysctl(t.client, "net.ipv4.ip_no_pmtu_disc", 0);
  }
  const seen = await rsLink.stop("SIGINT");
  // The 1500-byte datagram in 20 bytes of IPIP: 1520 bytes, cut at the path MTU. Every fragment
  // carries the outer header (same id), the first with MF, the last at its offset without.
  const dip = t.dip.replaceAll(".", "\\.");
  const first = new RegExp(
    `id (\\d+), offset 0, flags \\[\\+\\], proto IPIP \\(4\\), length (\\d+)\\)\\s+${dip} > `,
  );
  const m = first.exec(seen);
  assert.ok(m, `first fragment on the RS link:\n${seen}`);
  const firstLen = Number(m[2]);
  assert.ok(firstLen <= 1500 && (firstLen - 20) % 8 === 0, `first fragment length ${firstLen}`);
  const lastFrag = new RegExp(
    `id ${m[1]}, offset ${firstLen - 20}, flags \\[none\\], proto IPIP \\(4\\), length ${1520 - (firstLen - 20)}\\)`,
  );
  assert.match(seen, lastFrag, `last fragment on the RS link:\n${seen}`);
});

/** An IPv4 header (checksum filled in) in front of `payload`. */
function ipv4(proto: number, src: string, dst: string, payload: number[], tos = 0): number[] {
  const addr = (a: string) => a.split(".").map(Number);
  const len = 20 + payload.length;
  const h = [0x45, tos, len >> 8, len & 255, 0, 1, 0x40, 0, 64, proto, 0, 0, ...addr(src), ...addr(dst)];
  const c = refChecksum(h);
  h[10] = c >> 8;
  h[11] = c & 255;
  return [...h, ...payload];
}

/** ICMP echo request `id`. */
function echoRequest(id: number): number[] {
  const m = [8, 0, 0, 0, id >> 8, id & 255, 0, 1, ...Buffer.from("tslvs-tun-probe")];
  const c = refChecksum(m);
  m[2] = c >> 8;
  m[3] = c & 255;
  return m;
}

test("TUN: a tunnel packet whose inner packet is not for a VIP is not delivered; one for the VIP is; CE on the outer header is carried inside or drops a not-ECT packet", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  // The router puts echo requests in IPIP to RS3 by hand: inside, one to the VIP (answered), one to
  // RS3's own address (a host must not take packets from a tunnel that are not for a VIP); then two
  // to the VIP under a congestion-marked (CE) outer header: around an ECT(0) packet (delivered,
  // marked CE inside, RFC 6040) and around a not-ECT one (dropped).
  const rs = t.servers[1]!;
  const mac = (host: string, dev: string) =>
    lab
      .exec(host, ["cat", `/sys/class/net/${dev}/address`])
      .trim()
      .split(":")
      .map((x) => Number.parseInt(x, 16));
  const routerIp = "198.19.20.1";
  const frame = (innerDst: string, id: number, outerEcn = 0, innerEcn = 0) =>
    Buffer.from([
      ...mac(rs.host, "eth0"),
      ...mac(t.router, t.rsLinkIf),
      0x08,
      0x00,
      ...ipv4(4, routerIp, rs.rip, ipv4(1, routerIp, innerDst, echoRequest(id), innerEcn), outerEcn),
    ]).toString("hex");
  const dir = mkdtempSync(join(tmpdir(), "tslvs-tun-probe-"));
  const replies = await startCapture(lab, t.router, t.rsLinkIf, ["icmp[icmptype] = icmp-echoreply"]);
  let seen: string;
  try {
    const file = join(dir, "frames.hex");
    const frames = [
      frame(rs.rip, 0x7a01),
      frame(t.vip, 0x7a02),
      frame(t.vip, 0x7a03, 3, 2),
      frame(t.vip, 0x7a04, 3, 0),
      frame(t.vip, 0x7a05, 3, 3),
    ];
    writeFileSync(file, `${frames.join("\n")}\n`);
    const out = JSON.parse(lab.exec(t.router, ["node", supportScript("dp-raw-send"), t.rsLinkIf, file]));
    assert.deepEqual(out, { sent: 5, failed: 0 });
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    seen = await replies.stop("SIGINT");
    rmSync(dir, { recursive: true, force: true });
  }
  const esc = (a: string) => a.replaceAll(".", "\\.");
  assert.match(seen, new RegExp(`${esc(t.vip)} > ${routerIp}: ICMP echo reply, id ${0x7a02}`), seen);
  assert.doesNotMatch(seen, new RegExp(`id ${0x7a01}`), `the packet to ${rs.rip} was delivered:\n${seen}`);
  assert.match(seen, new RegExp(`ICMP echo reply, id ${0x7a05}`), `CE around CE delivered:\n${seen}`);
  assert.match(seen, new RegExp(`ICMP echo reply, id ${0x7a03}`), `CE around ECT(0) delivered:\n${seen}`);
  assert.doesNotMatch(seen, new RegExp(`id ${0x7a04}`), `CE around not-ECT was delivered:\n${seen}`);
});

test("tslvs rs --mode tun removes everything on stop", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  const host = t.servers[1]!.host;
  const text = await helpers[1]!.stop();
  assert.match(text, /stopped on SIGTERM, host restored; tunnel packets received \d+, delivered [1-9]/);
  // The tunnel packets were unwrapped in XDP, the probe above for no VIP dropped there.
  assert.match(text, /delivered \d+ \(in XDP [1-9]\d*\), not for a VIP [1-9]/, text);
  assert.match(text, /CE around not-ECT dropped [1-9]/, text);
  tc.diagnostic(text);
  assert.doesNotMatch(
    lab.exec(host, ["ip", "-4", "addr", "show", "dev", "lo"]),
    new RegExp(t.vip.replaceAll(".", "\\.")),
  );
  assert.doesNotMatch(lab.exec(host, ["ip", "link", "show"]), /tslvs-tun0/);
  assert.doesNotMatch(lab.exec(host, ["ip", "link", "show", "eth0"]), /xdp/);
  assert.equal(lab.exec(host, ["sysctl", "-n", "net.ipv4.conf.all.arp_ignore"]).trim(), "0");
  assert.equal(lab.exec(host, ["sysctl", "-n", "net.ipv4.conf.lo.arp_announce"]).trim(), "0");
  for (const k of ["all", "eth0"])
    assert.equal(
      lab.exec(host, ["sysctl", "-n", `net.ipv4.conf.${k}.rp_filter`]).trim(),
      "1",
      `${k}.rp_filter restored`,
    );
});

test("TUN: the director counted tunnelled packets and frag-needed errors, and never lacked headroom", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  const c = await director.stop();
  assert.ok((c.tunnelled ?? 0) > 0, `tunnelled: ${JSON.stringify(c)}`);
  assert.ok((c.fragNeeded ?? 0) > 0, "frag-needed sent");
  assert.ok((c.tunnelErrorsRelayed ?? 0) > 0, "a router's frag-needed relayed to the client");
  assert.ok((c.fragmented ?? 0) > 0, "a packet without DF sent as outer fragments");
  // AF_XDP puts received frames 256 bytes (XDP_PACKET_HEADROOM) into their UMEM chunk: room for IPIP.
  assert.equal(c.noHeadroom, 0);
});

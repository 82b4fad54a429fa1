/**
 * LVS-TUN over IPv6 through the real daemon and its AF_XDP engine: the director sends the client's
 * packets inside an outer IPv6 header (next header 41) to real servers on another subnet behind a
 * router, and — mixed families, as the kernel allows for tunnel dests — an IPv6 service's packets
 * in IPv4 (protocol 41) and an IPv4 service's in IPv6 (next header 4). Each real server runs
 * `tslvs rs --mode tun` with the VIPs (this kernel has no ipip, sit or ip6_tunnel module) and answers
 * the client straight through the router. Checked by what the ends and the wires see: who answered
 * and which client address it saw, 32 random bytes intact, the outer header on the real servers' link,
 * no reply on the director's link, a 300 kB upload recovering through the director's ICMPv6 Packet
 * Too Big, and the real servers never answering neighbour solicitations for a VIP on lo.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { curl, DirectorProcess, labPrefix, startRealServers } from "./support/dp-harness.js";
import { buildTun6Lab, neighbourMac, type Tun6Topology } from "./support/ipv6-labs.js";
import { type Output, postSha256, startCapture, startRsHelper, udpAsk } from "./support/lvs-lab.js";
import { haveRoot, PRIVILEGED } from "./support/privileged.js";

const root = PRIVILEGED;
const lab = new NetLab(labPrefix("tun6"));
let t: Tun6Topology;
let director: DirectorProcess | undefined;
const helpers: Output[] = [];

const esc = (s: string) => s.replaceAll(".", "\\.");

before(async () => {
  if (!root) return;
  t = buildTun6Lab(lab);
  // Dual stack: IPv4 clients reach the server as ::ffff:a.b.c.d.
  await startRealServers(lab, t.servers, { addr: "::" });
  for (const rs of t.servers) {
    const args = ["--mode", "tun", "--vip", t.vip, "--vip", t.vip64, "--vip", t.vip46];
    helpers.push(await startRsHelper(lab, rs.host, args));
  }
  director = await DirectorProcess.start(lab, t.director, [t.directorIf]);
  const vip = `[${t.vip}]:80`;
  director.adm(["-A", "-t", vip, "-s", "rr"]);
  director.adm(["-A", "-u", vip, "-s", "rr"]);
  for (const rs of t.servers) {
    director.adm(["-a", "-t", vip, "-r", `[${rs.rip}]:80`, "-i"]);
    director.adm(["-a", "-u", vip, "-r", `[${rs.rip}]:80`, "-i"]);
  }
  // Mixed families: an IPv6 service with an IPv4 real server and an IPv4 service with an IPv6 one.
  director.adm(["-A", "-t", `[${t.vip64}]:80`, "-s", "rr"]);
  director.adm(["-a", "-t", `[${t.vip64}]:80`, "-r", `${t.servers[0]!.rip4}:80`, "-i"]);
  director.adm(["-A", "-t", `${t.vip46}:80`, "-s", "rr"]);
  director.adm(["-a", "-t", `${t.vip46}:80`, "-r", `[${t.servers[1]!.rip}]:80`, "-i"]);
});

after(async () => {
  for (const h of helpers) await h.stop();
  await director?.stop();
  await lab.destroy();
});

/** curl with a few tries: the first packets toward a new next hop may be lost while it resolves. */
async function get(url: string, extra: string[] = ["-g"]) {
  let last: unknown;
  for (let i = 0; i < 5; i++) {
    try {
      return curl(lab, t.client, url, extra);
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw last;
}

test("TUN over IPv6: HTTP to [VIP]:80 answered by both real servers, each seeing the client's IPv6 address", async (tc) => {
  if (!haveRoot(tc)) return;
  const listing = director!.adm(["-ln"]);
  assert.match(listing, /^ {2}-> \[2001:2:0:20::20\]:80 +Tunnel +1 /m, listing);
  const answered: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await get(`http://[${t.vip}]/`);
    assert.equal(r.status, 200);
    assert.equal(r.seenClient, t.cip, `request ${i + 1}: the real server saw ${r.seenClient}`);
    answered.push(r.server);
  }
  assert.deepEqual([...new Set(answered)].sort(), ["RS2", "RS3"]);
});

test("TUN over IPv6: 32 random bytes arrive intact over TCP and UDP", (tc) => {
  if (!haveRoot(tc)) return;
  const data = randomBytes(32);
  const want = createHash("sha256").update(data).digest("hex");
  assert.equal(postSha256(lab, t.client, `http://[${t.vip}]/sha256`, data, ["-g"]), want);
  const reply = udpAsk(lab, t.client, t.vip, 80, data);
  assert.ok(reply.subarray(reply.length - 32).equals(data), "UDP payload echoed intact");
  assert.match(reply.toString("latin1"), new RegExp(`^RS[23] ${t.cip} `));
});

test("TUN over IPv6: next header 41 from the director's address on the RS link, replies bypass the director", async (tc) => {
  if (!haveRoot(tc)) return;
  const rsLink = await startCapture(lab, t.router, t.rsLinkIf, [
    "ip6",
    "proto",
    "41",
    "or",
    "(src",
    "host",
    t.vip,
    "and",
    "tcp)",
  ]);
  const dirLink = await startCapture(lab, t.router, t.directorLinkIf, ["src", "host", t.vip, "and", "tcp"]);
  for (let i = 0; i < 2; i++) assert.equal((await get(`http://[${t.vip}]/`)).status, 200);
  await new Promise((r) => setTimeout(r, 300));
  const seenOnRsLink = await rsLink.stop("SIGINT");
  const seenOnDirLink = await dirLink.stop("SIGINT");
  // Outer: no traffic class, no flow label, next header 41, director -> RIP; inside, the client's
  // packet to the VIP. The router decremented the outer hop limit once more than the inner one.
  const rips = t.servers.map((s) => s.rip).join("|");
  const outer = new RegExp(
    `IP6 \\(hlim (\\d+), next-header IPv6 \\(41\\) payload length: (\\d+)\\) ${t.dip} > (?:${rips}): ` +
      `IP6 \\((?:flowlabel 0x[0-9a-f]+, )?hlim (\\d+), next-header TCP \\(6\\) payload length: (\\d+)\\) ` +
      `${t.cip}\\.\\d+ > ${t.vip}\\.80:`,
    "g",
  );
  const seen = [...seenOnRsLink.matchAll(outer)];
  assert.ok(seen.length > 0, `IPv6-in-IPv6 frames on the RS link:\n${seenOnRsLink}`);
  for (const m of seen) {
    assert.equal(Number(m[3]), Number(m[1]) + 1, "outer hop limit = inner, less the router's hop");
    assert.equal(Number(m[2]), Number(m[4]) + 40, "outer payload = the whole inner packet");
  }
  assert.match(seenOnRsLink, new RegExp(`${t.vip}\\.80 > ${t.cip}\\.\\d+`), "the RS answered from the VIP");
  assert.match(
    seenOnDirLink,
    /\b0 packets captured/,
    `no reply crossed the director's link:\n${seenOnDirLink}`,
  );
});

test("TUN over IPv6: a 300 kB upload recovers through the director's ICMPv6 Packet Too Big (route MTU - 40)", (tc) => {
  if (!haveRoot(tc)) return;
  assert.doesNotMatch(
    lab.exec(t.client, ["ip", "-6", "route", "get", t.vip]),
    /mtu/,
    "no path MTU learnt yet",
  );
  const data = randomBytes(300_000);
  const want = createHash("sha256").update(data).digest("hex");
  assert.equal(postSha256(lab, t.client, `http://[${t.vip}]/sha256`, data, ["-g"]), want);
  // The client's kernel learnt the tunnel's inner MTU from the director: 1400 - 40.
  assert.match(
    lab.exec(t.client, ["ip", "-6", "route", "get", t.vip]),
    new RegExp(`mtu ${t.rsRouteMtu - 40}\\b`),
  );
});

test("TUN, IPv6 service with an IPv4 real server: IPv6 in IPv4 (protocol 41)", async (tc) => {
  if (!haveRoot(tc)) return;
  const cap = await startCapture(lab, t.router, t.rsLinkIf, ["ip", "proto", "41"]);
  const r = await get(`http://[${t.vip64}]/`);
  await new Promise((res) => setTimeout(res, 300));
  const text = await cap.stop("SIGINT");
  assert.equal(r.status, 200);
  assert.equal(r.server, "RS2");
  assert.equal(r.seenClient, t.cip);
  assert.match(
    text,
    new RegExp(`proto IPv6 \\(41\\), length \\d+\\)\\s+${esc(t.dip4)} > ${esc(t.servers[0]!.rip4)}: IP6 `),
    text,
  );
  const data = randomBytes(32);
  const want = createHash("sha256").update(data).digest("hex");
  assert.equal(postSha256(lab, t.client, `http://[${t.vip64}]/sha256`, data, ["-g"]), want);
});

test("TUN, IPv4 service with an IPv6 real server: IPv4 in IPv6 (next header 4), DF packets told MTU - 40", async (tc) => {
  if (!haveRoot(tc)) return;
  const cap = await startCapture(lab, t.router, t.rsLinkIf, ["ip6", "proto", "4"]);
  const r = await get(`http://${t.vip46}/`, []);
  await new Promise((res) => setTimeout(res, 300));
  const text = await cap.stop("SIGINT");
  assert.equal(r.status, 200);
  assert.equal(r.server, "RS3");
  assert.equal(r.seenClient, `::ffff:${t.cip4}`);
  assert.match(
    text,
    new RegExp(`next-header IPIP \\(4\\) payload length: \\d+\\) ${t.dip} > ${t.servers[1]!.rip}: IP \\(`),
    text,
  );
  const data = randomBytes(300_000);
  const want = createHash("sha256").update(data).digest("hex");
  assert.equal(postSha256(lab, t.client, `http://${t.vip46}/sha256`, data), want);
  assert.match(
    lab.exec(t.client, ["ip", "route", "get", t.vip46]),
    new RegExp(`mtu ${t.rsRouteMtu - 40}\\b`),
  );
});

test("a VIP on a real server's lo is never announced by neighbour discovery on its link", (tc) => {
  if (!haveRoot(tc)) return;
  // The router asks on the real servers' segment for the VIP (and, as a control, for a real server).
  lab.exec(t.router, ["ip", "-6", "route", "add", `${t.vip}/128`, "dev", t.rsLinkIf]);
  try {
    for (const target of [t.vip, t.servers[0]!.rip]) {
      try {
        lab.exec(t.router, ["ping", "-6", "-c", "1", "-W", "1", target]);
      } catch {
        /* no answer expected for the VIP */
      }
    }
    assert.notEqual(
      neighbourMac(lab, t.router, t.servers[0]!.rip),
      "",
      "the real server answers for its own address",
    );
    // The router did solicit (an entry exists) and nobody answered (it has no link-layer address).
    const entry = lab.exec(t.router, ["ip", "-6", "neigh", "show", t.vip, "dev", t.rsLinkIf]);
    assert.match(entry, /INCOMPLETE|FAILED/, `the router's entry for the VIP: ${entry}`);
    assert.equal(neighbourMac(lab, t.router, t.vip), "", "no real server answered for the VIP on lo");
  } finally {
    lab.exec(t.router, ["ip", "-6", "route", "del", `${t.vip}/128`, "dev", t.rsLinkIf]);
    lab.exec(t.router, ["ip", "-6", "neigh", "flush", "dev", t.rsLinkIf]);
  }
});

test("tslvs rs --mode tun with IPv6 VIPs removes everything on stop", async (tc) => {
  if (!haveRoot(tc)) return;
  const host = t.servers[1]!.host;
  const text = await helpers[1]!.stop();
  assert.match(text, /stopped on SIGTERM, host restored; tunnel packets received \d+, delivered [1-9]/);
  // RS3 takes IPv6 tunnel packets only (IPv6 and IPv4 inside): unwrapped in XDP.
  assert.match(text, /delivered \d+ \(in XDP [1-9]\d*\)/, text);
  assert.doesNotMatch(lab.exec(host, ["ip", "-6", "addr", "show", "dev", "lo"]), /2001:2:0:15::/);
  assert.doesNotMatch(lab.exec(host, ["ip", "-4", "addr", "show", "dev", "lo"]), new RegExp(esc(t.vip46)));
  assert.doesNotMatch(lab.exec(host, ["ip", "link", "show"]), /tslvs-tun0/);
  assert.doesNotMatch(lab.exec(host, ["ip", "link", "show", "eth0"]), /xdp/);
});

test("TUN over IPv6: the director counted tunnelled packets and Packet Too Big errors, never lacking headroom", async (tc) => {
  if (!haveRoot(tc)) return;
  await director!.stop();
  const c = director!.engineCounters();
  assert.ok(c, director!.log);
  assert.ok((c.tunnelled ?? 0) > 0, `tunnelled: ${JSON.stringify(c)}`);
  assert.ok((c.fragNeeded ?? 0) > 0, "Packet Too Big / frag-needed sent");
  assert.equal(c.noHeadroom, 0);
});

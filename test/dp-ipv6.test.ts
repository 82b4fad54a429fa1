/**
 * IPv6 through the real daemon and its AF_XDP engine (slow path; the XDP fast path is IPv4 only):
 * LVS-NAT and LVS-DR labs in 2001:2::/48, configured with tslvsadm's bracketed addresses. Checked by
 * what the ends see: who answered, the client's IPv6 address at the real server, 32 random bytes
 * intact over TCP and UDP, ICMPv6 port unreachable for a service without real servers, the director
 * alone answering neighbour solicitations for a DR VIP, and DR replies bypassing the director.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { IpAddr } from "../src/core/address.js";
import { curl, DirectorProcess, labPrefix, linkBytes, startRealServers } from "./support/dp-harness.js";
import {
  buildDr6Lab,
  buildNat6Lab,
  type Dr6Topology,
  type Nat6Topology,
  neighbourMac,
} from "./support/ipv6-labs.js";
import { postSha256, startCapture, udpAsk } from "./support/lvs-lab.js";
import { haveRoot, PRIVILEGED } from "./support/privileged.js";

const root = PRIVILEGED;

/** The IP packets of a `tcpdump -X` text capture (its hex dumps start at the IP header). */
/**
 * TCP and UDP services on [vip]:80 (rr), every real server added to both by its forwarding method
 * (the two spellings may differ, e.g. -b and --fullnat).
 */
function addWebServices(
  director: DirectorProcess,
  vip: string,
  servers: { rip: string }[],
  tcpMethod: string,
  udpMethod = tcpMethod,
): void {
  const svc = `[${vip}]:80`;
  director.adm(["-A", "-t", svc, "-s", "rr"]);
  director.adm(["-A", "-u", svc, "-s", "rr"]);
  for (const rs of servers) {
    director.adm(["-a", "-t", svc, "-r", `[${rs.rip}]:80`, tcpMethod]);
    director.adm(["-a", "-u", svc, "-r", `[${rs.rip}]:80`, udpMethod]);
  }
}

function capturedPackets(text: string): Buffer[] {
  const packets: Buffer[] = [];
  let hex = "";
  for (const line of text.split("\n")) {
    const m = /^\s+0x[0-9a-f]{4}:\s+((?:[0-9a-f]{2,4} ?)+)/.exec(line);
    if (m) {
      hex += m[1]!.replaceAll(" ", "");
      continue;
    }
    if (/^\d\d:\d\d:/.test(line) && hex) {
      packets.push(Buffer.from(hex, "hex"));
      hex = "";
    }
  }
  if (hex) packets.push(Buffer.from(hex, "hex"));
  return packets;
}

/** The TOA option (kind 254, 20 bytes) of an IPv6 TCP packet without extension headers, or null. */
function toaOf(packet: Buffer): { port: number; addr: Buffer; tcpFlags: number } | null {
  if (packet.length < 60 || packet[0]! >>> 4 !== 6 || packet[6] !== 6) return null;
  const tcp = 40;
  const end = Math.min(packet.length, tcp + (packet[tcp + 12]! >>> 4) * 4);
  for (let at = tcp + 20; at + 1 < end; ) {
    const kind = packet[at]!;
    if (kind === 0) break;
    if (kind === 1) {
      at++;
      continue;
    }
    const len = packet[at + 1]!;
    if (kind === 254 && len === 20 && at + 20 <= end)
      return {
        port: packet.readUInt16BE(at + 2),
        addr: packet.subarray(at + 4, at + 20),
        tcpFlags: packet[tcp + 13]!,
      };
    if (len < 2) break;
    at += len;
  }
  return null;
}

/** A UDP datagram to [addr]:port from `host`: "refused" when an ICMPv6 port unreachable came back. */
function udpRefused(lab: NetLab, host: string, addr: string, port: number): string {
  const script = `
    const s = require("node:dgram").createSocket("udp6");
    s.on("error", (e) => { process.stdout.write(e.code === "ECONNREFUSED" ? "refused" : e.code); process.exit(0); });
    s.on("message", () => { process.stdout.write("answered"); process.exit(0); });
    s.connect(${port}, "${addr}", () => { s.send("x"); setInterval(() => s.send("x"), 300); });
    setTimeout(() => { process.stdout.write("silence"); process.exit(0); }, 3000);`;
  return lab.exec(host, ["node", "-e", script]);
}

describe("IPv6 LVS-NAT", () => {
  const lab = new NetLab(labPrefix("v6nat"));
  let t: Nat6Topology;
  let director: DirectorProcess | undefined;

  before(async () => {
    if (!root) return;
    t = buildNat6Lab(lab);
    await startRealServers(lab, t.servers, { addr: "::" });
    director = await DirectorProcess.start(lab, t.director, [t.outsideIf, t.insideIf]);
    addWebServices(director, t.vip, t.servers, "-m");
    director.adm(["-A", "-u", `[${t.vip}]:54`, "-s", "rr"]);
  });

  after(async () => {
    await director?.stop();
    await lab.destroy();
  });

  test("HTTP to [VIP]:80 is answered by both real servers in turn, each seeing the client's IPv6 address", (tc) => {
    if (!haveRoot(tc)) return;
    const listing = director!.adm(["-ln"]);
    assert.match(listing, /^TCP {2}\[2001:2:0:1::10\]:80 rr$/m, listing);
    assert.match(listing, /^ {2}-> \[2001:2:0:2::20\]:80 +Masq +1 /m, listing);
    const answered: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = curl(lab, t.client, `http://[${t.vip}]/`, ["-g"]);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), `${r.server}\n`);
      assert.equal(r.seenClient, t.cip, `request ${i + 1}: the real server saw ${r.seenClient}`);
      answered.push(r.server);
    }
    assert.deepEqual([...new Set(answered)].sort(), ["RS2", "RS3"]);
    assert.notEqual(answered[0], answered[1], "rr alternates");
  });

  test("32 random bytes arrive intact over TCP and UDP", (tc) => {
    if (!haveRoot(tc)) return;
    const data = randomBytes(32);
    const digest = postSha256(lab, t.client, `http://[${t.vip}]/sha256`, data, ["-g"]);
    assert.equal(digest, createHash("sha256").update(data).digest("hex"));
    const reply = udpAsk(lab, t.client, t.vip, 80, data);
    assert.ok(reply.subarray(reply.length - 32).equals(data), "UDP payload echoed intact");
    // rs-server prefixes its name and the address it saw: the client's, through NAT.
    assert.match(reply.subarray(0, reply.length - 32).toString("latin1"), /^RS[23] 2001:2:0:1::100 $/);
  });

  test("a UDP service without real servers answers ICMPv6 port unreachable", (tc) => {
    if (!haveRoot(tc)) return;
    assert.equal(udpRefused(lab, t.client, t.vip, 54), "refused");
  });

  test("the engine dropped no frame for want of a next hop and hit no error", async (tc) => {
    if (!haveRoot(tc)) return;
    await director!.stop();
    const counters = director!.engineCounters();
    assert.ok(counters, "the engine logged its counters on stop");
    assert.equal(counters.noRoute, 0, JSON.stringify(counters));
    assert.equal(counters.errors, 0);
    assert.equal(counters.malformed, 0, JSON.stringify(counters));
    assert.ok(counters.icmpSent >= 1, "the port unreachable was sent by the engine");
  });
});

describe("IPv6 LVS-DR", () => {
  const lab = new NetLab(labPrefix("v6dr"));
  let t: Dr6Topology;
  let director: DirectorProcess | undefined;

  before(async () => {
    if (!root) return;
    t = buildDr6Lab(lab);
    // Bound to the VIP, so that UDP answers leave from it (the client's socket is connected to it).
    await startRealServers(lab, t.servers, { addr: t.vip });
    director = await DirectorProcess.start(lab, t.director, [t.lanIf]);
    addWebServices(director, t.vip, t.servers, "-g");
  });

  after(async () => {
    await director?.stop();
    await lab.destroy();
  });

  test("HTTP through DR: both real servers answer from the VIP, seeing the client; only the director answers for the VIP", (tc) => {
    if (!haveRoot(tc)) return;
    const listing = director!.adm(["-ln"]);
    assert.match(listing, /^ {2}-> \[2001:2:0:3::20\]:80 +Route +1 /m, listing);
    const answered = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = curl(lab, t.client, `http://[${t.vip}]/`, ["-g"]);
      assert.equal(r.status, 200);
      assert.equal(r.seenClient, t.cip);
      answered.add(r.server);
    }
    assert.deepEqual([...answered].sort(), ["RS2", "RS3"]);
    // The VIP on the real servers' lo is never announced on their eth0: the client's neighbour entry
    // for the VIP is the director's MAC.
    assert.equal(neighbourMac(lab, t.client, t.vip), lab.mac(t.director, t.lanIf));
  });

  test("replies bypass the director: a 200 kB download adds far less than 200 kB to what the director receives", (tc) => {
    if (!haveRoot(tc)) return;
    const before = linkBytes(lab, t.director, t.lanIf);
    const r = curl(lab, t.client, `http://[${t.vip}]/bytes/200000`, ["-g"]);
    assert.equal(r.body.length, 200000);
    const afterBytes = linkBytes(lab, t.director, t.lanIf);
    const received = afterBytes.rx - before.rx;
    tc.diagnostic(`the director received ${received} bytes during a 200000-byte download`);
    assert.ok(received < 50000, `the director received ${received} bytes`);
  });

  test("32 random bytes arrive intact over TCP and UDP", (tc) => {
    if (!haveRoot(tc)) return;
    const data = randomBytes(32);
    const digest = postSha256(lab, t.client, `http://[${t.vip}]/sha256`, data, ["-g"]);
    assert.equal(digest, createHash("sha256").update(data).digest("hex"));
    const reply = udpAsk(lab, t.client, t.vip, 80, data);
    assert.ok(reply.subarray(reply.length - 32).equals(data), "UDP payload echoed intact");
    assert.match(reply.subarray(0, reply.length - 32).toString("latin1"), /^RS[23] 2001:2:0:3::100 $/);
  });

  test("the engine dropped no frame for want of a next hop and hit no error", async (tc) => {
    if (!haveRoot(tc)) return;
    await director!.stop();
    const counters = director!.engineCounters();
    assert.ok(counters, "the engine logged its counters on stop");
    assert.equal(counters.noRoute, 0, JSON.stringify(counters));
    assert.equal(counters.errors, 0);
  });
});

describe("IPv6 FULLNAT", () => {
  const lab = new NetLab(labPrefix("v6fnat"));
  let t: Nat6Topology;
  let director: DirectorProcess | undefined;

  before(async () => {
    if (!root) return;
    // The real servers have no route to the client: every reply must come back through the director.
    t = buildNat6Lab(lab, false);
    await startRealServers(lab, t.servers, { addr: "::" });
    director = await DirectorProcess.start(lab, t.director, [t.outsideIf, t.insideIf]);
    addWebServices(director, t.vip, t.servers, "-b", "--fullnat");
  });

  after(async () => {
    await director?.stop();
    await lab.destroy();
  });

  test("HTTP through FULLNAT: the real servers see the director's own IPv6 address, replies return through it", (tc) => {
    if (!haveRoot(tc)) return;
    const answered = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = curl(lab, t.client, `http://[${t.vip}]/`, ["-g"]);
      assert.equal(r.status, 200);
      assert.equal(
        r.seenClient,
        t.dip,
        "the RS saw the director's address toward it (no pool: the default LIP)",
      );
      answered.add(r.server);
    }
    assert.deepEqual([...answered].sort(), ["RS2", "RS3"]);
  });

  test("32 random bytes arrive intact over TCP and UDP", (tc) => {
    if (!haveRoot(tc)) return;
    const data = randomBytes(32);
    const digest = postSha256(lab, t.client, `http://[${t.vip}]/sha256`, data, ["-g"]);
    assert.equal(digest, createHash("sha256").update(data).digest("hex"));
    const reply = udpAsk(lab, t.client, t.vip, 80, data);
    assert.ok(reply.subarray(reply.length - 32).equals(data), "UDP payload echoed intact");
    assert.match(reply.subarray(0, reply.length - 32).toString("latin1"), /^RS[23] 2001:2:0:2::1 $/);
  });

  test("TOA over IPv6: the handshake's last ACK carries the client's IPv6 address and port (20-byte option 254)", async (tc) => {
    if (!haveRoot(tc)) return;
    director!.adm(["-A", "-t", `[${t.vip}]:82`, "-s", "rr", "--toa"]);
    for (const rs of t.servers) director!.adm(["-a", "-t", `[${t.vip}]:82`, "-r", `[${rs.rip}]:80`, "-b"]);
    curl(lab, t.client, `http://[${t.vip}]:82/`, ["-g"]);
    const cap = await startCapture(lab, "switch", "br0", ["ip6", "and", "tcp", "port", "80"], ["-v", "-X"]);
    const r = curl(lab, t.client, `http://[${t.vip}]:82/`, ["-g", "--local-port", "45678"]);
    assert.equal(r.seenClient, t.dip, "without a TOA module the RS still sees the LIP");
    await new Promise((res) => setTimeout(res, 200));
    const text = await cap.stop("SIGINT");
    const cip = Buffer.from(IpAddr.mustParse(t.cip).toBytes());
    const toas = capturedPackets(text)
      .map(toaOf)
      .filter((x) => x !== null);
    assert.equal(toas.length, 1, `exactly one packet on the RS link carried TOA:\n${text}`);
    assert.equal(toas[0]!.port, 45678);
    assert.ok(toas[0]!.addr.equals(cip), `TOA address ${toas[0]!.addr.toString("hex")}`);
    assert.equal(toas[0]!.tcpFlags & 0x12, 0x10, "on the handshake's last ACK");
  });

  test("the engine rewrote both directions and hit no error", async (tc) => {
    if (!haveRoot(tc)) return;
    await director!.stop();
    const counters = director!.engineCounters();
    assert.ok(counters, "the engine logged its counters on stop");
    assert.ok(counters.fullnatIn > 0 && counters.fullnatOut > 0, JSON.stringify(counters));
    assert.equal(counters.toaInserted, 2, "one TOA per connection to port 82");
    assert.equal(counters.errors, 0);
  });
});

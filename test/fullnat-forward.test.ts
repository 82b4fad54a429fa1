import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { patternByte } from "../src/cli/lab/rs-server.js";
import { buildFullnatLab, type FullnatTopology } from "../src/cli/lab/topologies.js";
import {
  httpGet,
  httpGetRetry,
  LabDirector,
  postSha256,
  startCapture,
  startRealServer,
  udpAsk,
  udpFlows,
} from "./support/lvs-lab.js";
import { haveRoot, PRIVILEGED } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

// FULLNAT on real packets: the real servers have no route to the client, so every reply must come
// back through the director, addressed to the local address it used. Local ports 20000-20049 (50
// per LIP and protocol) keep pool exhaustion quick to reach.

const lab = new NetLab(labPrefix("tff"));
const director = new LabDirector();
let t: FullnatTopology;
let ready = false;
const PORTS = { min: 20000, max: 20049 };
const esc = (a: string) => a.replaceAll(".", "\\.");

before(async () => {
  if (!PRIVILEGED) return;
  t = buildFullnatLab(lab);
  for (const rs of t.servers) await startRealServer(lab, rs.host, rs.name);
  await director.start(
    lab,
    t.director,
    [t.outsideIf, t.insideIf],
    ["--local-ports", `${PORTS.min}-${PORTS.max}`],
  );
  // Port 80: no local-address pool (the director's own address toward the RS); port 81: a pool of
  // two LIPs, mapped to the RS's port 80; UDP 80 without a pool.
  director.adm("-A", "-t", `${t.vip}:80`, "-s", "rr");
  director.adm("-A", "-t", `${t.vip}:81`, "-s", "rr");
  director.adm("-A", "-u", `${t.vip}:80`, "-s", "rr");
  for (const rs of t.servers) {
    director.adm("-a", "-t", `${t.vip}:80`, "-r", `${rs.rip}:80`, "-b");
    director.adm("-a", "-t", `${t.vip}:81`, "-r", `${rs.rip}:80`, "-b");
    director.adm("-a", "-u", `${t.vip}:80`, "-r", `${rs.rip}:80`, "--fullnat");
  }
  // UDP connections expire 3 s after their last packet, so the pool test can watch ports come back.
  director.adm("--set", "0", "0", "3");
  for (const lip of t.poolLips) director.adm("-P", "-t", `${t.vip}:81`, "-z", lip, "-F", t.insideIf);
  ready = true;
});

after(async () => {
  await director.stop();
  await lab.destroy();
});

test("FULLNAT without a pool: the RS sees the director's own address, replies return through it", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  await httpGetRetry(lab, t.client, `http://${t.vip}/`);
  const servers = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const r = httpGet(lab, t.client, `http://${t.vip}/`);
    assert.ok(r, `request ${i} answered`);
    assert.equal(r.seenClient, t.dip, "the RS saw the director's address toward it");
    servers.add(r.server);
  }
  assert.deepEqual([...servers].sort(), ["RS2", "RS3"]);
  const conns = director.adm("-Lcn");
  assert.match(conns, new RegExp(`${esc(t.cip)}:\\d+`), conns);
});

test("FULLNAT: 32 random bytes arrive intact over TCP and UDP, both directions through the director", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  const rsLink = await startCapture(lab, "switch", "br0", ["tcp", "port", "80"], []);
  const data = randomBytes(32);
  assert.equal(
    postSha256(lab, t.client, `http://${t.vip}/sha256`, data),
    createHash("sha256").update(data).digest("hex"),
  );
  await new Promise((r) => setTimeout(r, 200));
  const text = await rsLink.stop("SIGINT");
  // On the real servers' link: LIP:lport <-> RIP:80 only, the port from the director's range; the
  // client's address never appears there.
  const lines = text.split("\n").filter((l) => / IP /.test(l));
  assert.ok(lines.length >= 6, text);
  for (const l of lines) {
    const m = /IP (\S+)\.(\d+) > (\S+)\.(\d+):/.exec(l);
    assert.ok(m, l);
    const [lip, lport] = m[2] === "80" ? [m[3], Number(m[4])] : [m[1], Number(m[2])];
    assert.equal(lip, t.dip, l);
    assert.ok(lport >= PORTS.min && lport <= PORTS.max, `local port ${lport} in range: ${l}`);
  }
  const reply = udpAsk(lab, t.client, t.vip, 80, data);
  assert.ok(reply.subarray(reply.length - 32).equals(data), "UDP payload echoed intact");
  assert.match(reply.toString("latin1"), new RegExp(`^RS[23] ${esc(t.dip)} `));
});

test("FULLNAT with a local-address pool: the RS see the pool's LIPs in turn, ports from the range", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  await httpGetRetry(lab, t.client, `http://${t.vip}:81/`);
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const r = httpGet(lab, t.client, `http://${t.vip}:81/`);
    assert.ok(r, `request ${i} answered`);
    seen.add(r.seenClient);
  }
  assert.deepEqual([...seen].sort(), [...t.poolLips].sort());
  const listing = director.adm("-G", "-t", `${t.vip}:81`);
  for (const lip of t.poolLips) assert.match(listing, new RegExp(esc(lip)));
});

/** Waits (bounded) until the director lists no UDP connection. */
async function udpConnsGone(): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if (!/^UDP /m.test(director.adm("-Lcn"))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`UDP connections did not expire:\n${director.adm("-Lcn")}`);
}

test("FULLNAT pool exhaustion refuses new connections, and ports are reused after expiry", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  await udpConnsGone();
  const size = PORTS.max - PORTS.min + 1;
  const first = udpFlows(lab, t.client, t.vip, 80, size + 5);
  const answered = first.filter((r) => r !== "");
  assert.equal(answered.length, size, "exactly one flow per local port was served");
  for (const r of answered) assert.match(r, new RegExp(`^RS[23] ${esc(t.dip)} flow \\d+$`));
  await udpConnsGone();
  const second = udpFlows(lab, t.client, t.vip, 80, 10);
  assert.deepEqual(
    second.map((r) => r !== ""),
    new Array(10).fill(true),
    "every flow is served once the ports are free again",
  );
});

test("FULLNAT with --toa: the client's address rides to the RS in TCP option 254", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  director.adm("-A", "-t", `${t.vip}:82`, "-s", "rr", "--toa");
  for (const rs of t.servers) director.adm("-a", "-t", `${t.vip}:82`, "-r", `${rs.rip}:80`, "-b");
  assert.match(director.adm("-Ln", "-t", `${t.vip}:82`), /:82 rr toa/);
  await httpGetRetry(lab, t.client, `http://${t.vip}:82/`);
  const rsLink = await startCapture(lab, "switch", "br0", ["tcp", "port", "80"], ["-v", "-X"]);
  const r = httpGet(lab, t.client, `http://${t.vip}:82/`);
  assert.ok(r);
  assert.equal(r.seenClient, t.dip, "without a TOA module the RS still sees the LIP");
  await new Promise((res) => setTimeout(res, 200));
  const text = await rsLink.stop("SIGINT");
  // The client ports of the service's connections, as the director recorded them.
  const listed = director.adm("-Lcn");
  const cports = [...listed.matchAll(new RegExp(`${esc(t.cip)}:(\\d+)\\s+${esc(t.vip)}:82`, "g"))].map((m) =>
    Number(m[1]),
  );
  const cip = Buffer.from(t.cip.split(".").map(Number));
  const withToa = capturedPackets(text).filter((p) => {
    const at = p.indexOf(Buffer.from([254, 8]));
    return at >= 0 && p.subarray(at + 4, at + 8).equals(cip) && cports.includes(p.readUInt16BE(at + 2));
  });
  assert.equal(
    withToa.length,
    1,
    `exactly one packet carried TOA with the client's address:\n${text}\n${listed}`,
  );
  // It is the handshake's last ACK toward the RS: no SYN, ACK set (flags byte at IP 20 + TCP 13).
  assert.equal(withToa[0]![33]! & 0x12, 0x10);
});

/** The IP packets of a `tcpdump -X` listing, from its hex dump lines. */
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

test("FULLNAT: bulk TCP both ways arrives intact, with veth offloads on and then off", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  const n = 3_000_000;
  const pattern = Buffer.alloc(n);
  for (let i = 0; i < n; i++) pattern[i] = patternByte(i);
  const wantDown = createHash("sha256").update(pattern).digest("hex");
  const up = randomBytes(2_000_000);
  const wantUp = createHash("sha256").update(up).digest("hex");
  for (const offloads of ["on", "off"]) {
    if (offloads === "off") {
      lab.exec(t.client, ["ethtool", "-K", "eth0", "tx", "off", "tso", "off", "gso", "off"]);
      for (const rs of t.servers)
        lab.exec(rs.host, ["ethtool", "-K", "eth0", "tx", "off", "tso", "off", "gso", "off"]);
    }
    const down = lab
      .exec(t.client, ["sh", "-c", `curl -s -m 60 http://${t.vip}/bytes/${n} | sha256sum`])
      .split(" ")[0];
    assert.equal(down, wantDown, `download with offloads ${offloads}`);
    assert.equal(
      postSha256(lab, t.client, `http://${t.vip}/sha256`, up),
      wantUp,
      `upload with offloads ${offloads}`,
    );
  }
});

test("FULLNAT: the director counted both directions, TOA, and the connections refused for want of a port", async (tc) => {
  if (!haveRoot(tc)) return;
  assert.ok(ready);
  const c = await director.stop();
  assert.ok((c.fullnatIn ?? 0) > 0 && (c.fullnatOut ?? 0) > 0, JSON.stringify(c));
  assert.ok((c.toaInserted ?? 0) >= 1);
  assert.ok((c.noLocalPort ?? 0) >= 5, "the five flows beyond the pool were refused and counted");
  // Each real server's first packets waited for its MAC instead of being dropped.
  assert.equal(c.noRoute, 0, JSON.stringify(c));
});

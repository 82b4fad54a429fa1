/**
 * LVS-TUN with an IPv6 outer header to a GUE and a GRE real server (ip_vs_tunnel_xmit_v6 with
 * ipvs_gue_encap / ipvs_gre_encap), through the real daemon: an IPv6 service to RS2 in GUE with a
 * UDP checksum, another to RS3 in GRE with its checksum, and an IPv4 service to RS2 in GUE over IPv6
 * without one (a zero UDP checksum over IPv6, which GUE receivers allow). Each real server runs
 * `tslvs rs --mode tun --tun-type gue|gre`. Uploads arrive byte-exact after the client learnt the
 * tunnel's inner MTU from the director: the route's 1400 less 40 + 12 (GUE) or 40 + 8 (GRE with
 * checksum) bytes.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { curl, DirectorProcess, labPrefix, startRealServers } from "./support/dp-harness.js";
import { buildTun6Lab, type Tun6Topology } from "./support/ipv6-labs.js";
import { type Output, postSha256, startRsHelper } from "./support/lvs-lab.js";
import { haveRoot, PRIVILEGED } from "./support/privileged.js";

const GUE_PORT = 6080;
const lab = new NetLab(labPrefix("tg6"));
let t: Tun6Topology;
let director: DirectorProcess | undefined;
const helpers: Output[] = [];

before(async () => {
  if (!PRIVILEGED) return;
  t = buildTun6Lab(lab);
  await startRealServers(lab, t.servers, { addr: "::" });
  const vips = ["--vip", t.vip, "--vip", t.vip64, "--vip", t.vip46];
  const [gue, gre] = t.servers as [Tun6Topology["servers"][0], Tun6Topology["servers"][0]];
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
  director = await DirectorProcess.start(lab, t.director, [t.directorIf]);
  const gueOpts = ["-i", "--tun-type", "gue", "--tun-port", String(GUE_PORT)];
  director.adm(["-A", "-t", `[${t.vip}]:80`, "-s", "rr"]);
  director.adm(["-a", "-t", `[${t.vip}]:80`, "-r", `[${gue.rip}]:80`, ...gueOpts, "--tun-csum"]);
  director.adm(["-A", "-t", `[${t.vip64}]:80`, "-s", "rr"]);
  director.adm([
    "-a",
    "-t",
    `[${t.vip64}]:80`,
    "-r",
    `[${gre.rip}]:80`,
    "-i",
    "--tun-type",
    "gre",
    "--tun-csum",
  ]);
  director.adm(["-A", "-t", `${t.vip46}:80`, "-s", "rr"]);
  director.adm(["-a", "-t", `${t.vip46}:80`, "-r", `[${gue.rip}]:80`, ...gueOpts]);
});

after(async () => {
  for (const h of helpers) await h.stop();
  await director?.stop();
  await lab.destroy();
});

async function get(url: string, extra: string[]) {
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

for (const [name, vip, server, overhead, v6] of [
  ["GUE csum, IPv6 in IPv6", () => t.vip, "RS2", 40 + 12, true],
  ["GRE csum, IPv6 in IPv6", () => t.vip64, "RS3", 40 + 8, true],
  ["GUE nocsum, IPv4 in IPv6", () => t.vip46, "RS2", 40 + 12, false],
] as const) {
  test(`TUN over IPv6, ${name}: answered by ${server}, a 200 kB upload intact at the tunnel's inner MTU`, async (tc) => {
    if (!haveRoot(tc)) return;
    const host = v6 ? `[${vip()}]` : vip();
    const extra = v6 ? ["-g"] : [];
    const r = await get(`http://${host}/`, extra);
    assert.equal(r.status, 200);
    assert.equal(r.server, server);
    assert.equal(r.seenClient, v6 ? t.cip : `::ffff:${t.cip4}`);
    const data = randomBytes(200_000);
    const want = createHash("sha256").update(data).digest("hex");
    assert.equal(postSha256(lab, t.client, `http://${host}/sha256`, data, extra), want);
    // The director told the client the MTU left inside the tunnel (Packet Too Big / frag needed).
    assert.match(
      lab.exec(t.client, ["ip", ...(v6 ? ["-6"] : []), "route", "get", vip()]),
      new RegExp(`mtu ${t.rsRouteMtu - overhead}\\b`),
    );
  });
}

test("the real servers unwrapped GUE and GRE over IPv6, nothing malformed", async (tc) => {
  if (!haveRoot(tc)) return;
  for (const h of helpers) {
    const text = await h.stop();
    tc.diagnostic(text.trim().split("\n").at(-1) ?? "");
    assert.match(text, /malformed 0,/);
    assert.match(text, /GUE\/GRE packets among them [1-9]\d*/);
  }
});

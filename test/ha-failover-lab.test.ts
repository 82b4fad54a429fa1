/**
 * A failover that breaks no established connection: two tslvs directors (A master, B backup) read
 * the same keepalived.conf but state and priority — a vrrp_sync_group of the client-side VIP and
 * the real servers' gateway address, `lvs_sync_daemon eth1 VI_OUT`, a NAT or DR virtual_server — with
 * their data planes on both segments. A client downloads 24 MB through the VIP, paced over about
 * six seconds; A is SIGKILLed in the middle, once B's table holds the connection. B takes both
 * addresses, the download completes byte-exact, and B forwards it to the same real server.
 * VRRP and sync multicast inside the test's namespaces only.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { patternByte } from "../src/cli/lab/rs-server.js";
import { DirectorProcess, sleep, startRealServers } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";
import { buildSegment, kill } from "./support/vrrp-lab.js";

const VIP = "198.18.5.100";
const GATEWAY = "198.18.31.1";
const SIZE = 24 * 1024 * 1024;
const RATE = 4 * 1024 * 1024;

function conf(state: "MASTER" | "BACKUP", priority: number, kind: "NAT" | "DR"): string {
  const inst = (name: string, iface: string, vrid: number, vip: string) =>
    [
      `vrrp_instance ${name} {`,
      `    state ${state}`,
      `    interface ${iface}`,
      `    virtual_router_id ${vrid}`,
      `    priority ${priority}`,
      "    advert_int 1",
      `    virtual_ipaddress {\n        ${vip}/24 dev ${iface}\n    }`,
      "}",
    ].join("\n");
  return [
    "global_defs {\n    lvs_sync_daemon eth1 VI_OUT id 7\n}",
    "vrrp_sync_group G {\n    group {\n        VI_OUT\n        VI_IN\n    }\n}",
    inst("VI_OUT", "eth0", 51, VIP),
    inst("VI_IN", "eth1", 52, GATEWAY),
    `virtual_server ${VIP} 80 {`,
    `    lb_algo rr\n    lb_kind ${kind}\n    protocol TCP`,
    "    real_server 198.18.31.21 80 {\n        weight 1\n    }",
    "    real_server 198.18.31.22 80 {\n        weight 1\n    }",
    "}",
    "",
  ].join("\n");
}

function expectedHash(): string {
  const b = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) b[i] = patternByte(i);
  return createHash("sha256").update(b).digest("hex");
}

for (const kind of ["NAT", "DR"] as const)
  test(`failover under load (${kind}): A killed mid-download, B takes the VIPs with the synced connection, the download completes byte-exact`, async (t) => {
    if (!haveRoot(t)) return;
    // Outside: client, A, B on one segment; inside: A, B and the real servers on another.
    const v = buildSegment("haf", ["client", "a", "b"]);
    const lab = v.lab;
    const directors: DirectorProcess[] = [];
    try {
      lab.addBridge("sw", "br1");
      for (const [h, addr] of [
        ["a", "198.18.31.2"],
        ["b", "198.18.31.3"],
      ] as const) {
        lab.plug(h, "eth1", "sw", "br1");
        lab.addAddr(h, "eth1", `${addr}/24`);
        lab.sysctl(h, "net.ipv4.ip_forward", 1);
      }
      // DR: the real servers answer the client directly, through a router of their own (through a
      // director, whose kernel holds the VIP, a reply from the VIP would be a martian).
      if (kind === "DR") {
        lab.addHost("rt");
        lab.plug("rt", "eth0", "sw", "br0");
        lab.plug("rt", "eth1", "sw", "br1");
        lab.addAddr("rt", "eth0", "198.18.5.254/24");
        lab.addAddr("rt", "eth1", "198.18.31.254/24");
        lab.sysctl("rt", "net.ipv4.ip_forward", 1);
      }
      const servers = [
        { host: "rs1", name: "RS1", rip: "198.18.31.21" },
        { host: "rs2", name: "RS2", rip: "198.18.31.22" },
      ];
      for (const rs of servers) {
        lab.addHost(rs.host);
        lab.plug(rs.host, "eth0", "sw", "br1");
        lab.addAddr(rs.host, "eth0", `${rs.rip}/24`);
        lab.addRoute(rs.host, "default", "via", kind === "DR" ? "198.18.31.254" : GATEWAY);
        if (kind === "DR") {
          // The real server takes packets for the VIP (on lo) and never answers ARP for it.
          lab.addAddr(rs.host, "lo", `${VIP}/32`);
          lab.sysctl(rs.host, "net.ipv4.conf.all.arp_ignore", 1);
          lab.sysctl(rs.host, "net.ipv4.conf.all.arp_announce", 2);
        }
      }
      await startRealServers(lab, servers, { keepAliveMs: 30000 });
      for (const [h, state, prio] of [
        ["a", "MASTER", 150],
        ["b", "BACKUP", 100],
      ] as const) {
        const file = join(v.dir, `${h}.conf`);
        writeFileSync(file, conf(state, prio, kind));
        directors.push(await DirectorProcess.start(lab, h, ["eth0", "eth1"], ["--keepalived-conf", file]));
      }
      const [a, b] = directors as [DirectorProcess, DirectorProcess];
      for (let k = 0; k < 100 && !lab.exec("a", ["ip", "-4", "addr"]).includes(VIP); k++) await sleep(100);
      assert.ok(lab.exec("a", ["ip", "-4", "addr"]).includes(GATEWAY), "A holds both addresses");

      const out = join(v.dir, "download");
      const curl = lab.spawn(
        "client",
        [
          "curl",
          "-s",
          "-o",
          out,
          "-m",
          "60",
          "-w",
          "%{http_code} %{size_download} %{time_total}",
          `http://${VIP}/bytes/${SIZE}?rate=${RATE}`,
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let curlOut = "";
      curl.stdout?.on("data", (d: Buffer) => (curlOut += d.toString()));
      const curlDone = new Promise<number>((r) => curl.once("exit", (c) => r(c ?? -1)));

      // Wait until B's table holds the client's connection, then kill A mid-transfer.
      const line = (d: DirectorProcess) =>
        d
          .adm(["-Lnc"])
          .split("\n")
          .find((l) => l.includes(`${VIP}:80`) && l.startsWith("TCP"));
      let onB: string | undefined;
      for (let k = 0; k < 40 && !onB; k++) {
        await sleep(100);
        onB = line(b);
      }
      assert.ok(
        onB,
        `B's table holds the connection before the failover:\nA: ${a.adm(["-Ln"])}${a.adm(["-Lnc"])}\nB: ${b.adm(["-Lnc"])}\ncurl: ${curlOut}`,
      );
      const onA = line(a)!;
      const rs = /198\.18\.31\.2[12]:80/.exec(onA)![0];
      assert.ok(onB.includes(rs), `B has it on A's real server ${rs}: ${onB}`);
      await sleep(1000);
      await kill(a);
      directors.shift();

      const code = await curlDone;
      assert.equal(code, 0, `curl exited ${code}: ${curlOut}`);
      const [status, bytes, seconds] = curlOut.trim().split(" ");
      assert.equal(`${status} ${bytes}`, `200 ${SIZE}`);
      // Paced at RATE, the transfer alone takes SIZE / RATE seconds: the rest is the failover's stall.
      t.diagnostic(`download ${seconds} s, of which paced ${SIZE / RATE} s`);
      assert.equal(
        createHash("sha256").update(readFileSync(out)).digest("hex"),
        expectedHash(),
        "byte-exact",
      );
      assert.ok(lab.exec("b", ["ip", "-4", "addr"]).includes(VIP), "B took the VIP");
      assert.ok(lab.exec("b", ["ip", "-4", "addr"]).includes(GATEWAY), "and the gateway (sync group)");
      const after = b.adm(["-Lnc"]);
      assert.ok(
        after.split("\n").some((l) => l.includes(rs) && l.includes(`${VIP}:80`)),
        `B forwarded it to ${rs}:\n${after}`,
      );
    } finally {
      for (const d of directors) await d.stop();
      await v.destroy();
    }
  });

/**
 * Hostile and broken VRRP adverts on the wire, and what tslvs sends as an independent decoder
 * (tcpdump) reads it. A tslvs director is master of a v2 instance (IPv4, PASS auth) and a v3
 * instance (IPv6); a host on the segment sends, with a raw socket of Python's (its own packet
 * layout, not tslvs's codec), forged adverts of priority 254 — wrong TTL, wrong password, unknown
 * VRID, bad checksum, truncated, another advert_int — three of each. Each is dropped and counted under its reason, and
 * the master stays master; then one well-formed advert of priority 254 makes it step down, which
 * shows the forged ones would have counted had they been accepted. The director runs with its
 * packet data plane on the segment, and /metrics shows the states and the drops.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import type { DirectorProcess } from "./support/dp-harness.js";
import { sleep } from "./support/dp-harness.js";
import { haveRoot, needsCommand } from "./support/privileged.js";
import { buildSegment, instanceConf, startTslvs, status, waitVip } from "./support/vrrp-lab.js";

const VIP6 = "2001:2:0:5::100";

const FORGE = String.raw`
import socket, struct, sys
src, kind = sys.argv[1], sys.argv[2]
def cks(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def advert(vrid, prio, pw):
    m = bytes([0x21, vrid, prio, 1, 1, 1, 0, 0]) + socket.inet_aton("198.18.5.100") + pw.ljust(8, b"\0")
    return m[:6] + struct.pack("!H", cks(m)) + m[8:]
ttl = 255
if kind == "ttl": m, ttl = advert(51, 254, b"s3cret"), 254
elif kind == "auth": m = advert(51, 254, b"wrong")
elif kind == "vrid": m = advert(52, 254, b"s3cret")
elif kind == "checksum":
    m = bytearray(advert(51, 254, b"s3cret")); m[6] ^= 0x5a; m = bytes(m)
elif kind == "truncated": m = advert(51, 254, b"s3cret")[:6]
elif kind == "interval":
    m = bytearray(advert(51, 254, b"s3cret")); m[5] = 2; m[6:8] = b"\0\0"
    m = bytes(m[:6]) + struct.pack("!H", cks(bytes(m))) + bytes(m[8:])
else: m = advert(51, 254, b"s3cret")
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xc0, 20 + len(m), 0, 0, ttl, 112, 0,
                 socket.inet_aton(src), socket.inet_aton("224.0.0.18"))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
for _ in range(int(sys.argv[3])): s.sendto(ip + m, ("224.0.0.18", 0))
`;

test("forged VRRP adverts are dropped and counted by reason; tcpdump decodes what tslvs sends (v2 IPv4, v3 IPv6)", {
  skip: needsCommand("python3") || needsCommand("tcpdump"),
  timeout: 60_000,
}, async (t) => {
  if (!haveRoot(t)) return;
  const v = buildSegment("vrrp-forge", ["a", "x"]);
  let a: DirectorProcess | null = null;
  try {
    const v6 = [
      "vrrp_instance VI_6 {",
      "    state MASTER",
      "    interface eth0",
      "    virtual_router_id 7",
      "    priority 150",
      "    advert_int 1",
      "    virtual_ipaddress {",
      `        ${VIP6}/64 dev eth0`,
      "    }",
      "}",
    ].join("\n");
    // The director as it runs in production: its data plane on eth0 beside VRRP, and /metrics.
    a = await startTslvs(v, "a", `${instanceConf({ priority: 150, state: "MASTER" })}\n${v6}\n`, "1", {
      dataPlane: true,
      extra: ["--http", "127.0.0.1:9117"],
    });
    await waitVip(v, "a", true, 6000);
    const decoded = v.lab.exec("x", [
      "timeout",
      "5",
      "tcpdump",
      "-i",
      "eth0",
      "-nn",
      "-vv",
      "-c",
      "4",
      "ip proto 112 or ip6 proto 112",
    ]);
    assert.match(
      decoded,
      /ttl 255,.*proto VRRP \(112\)[\s\S]*VRRPv2, Advertisement, vrid 51, prio 150, authtype simple, intvl 1s, length 20, addrs: 198\.18\.5\.100 auth "s3cret"/,
    );
    assert.match(
      decoded,
      /hlim 255,.*fe80::[0-9a-f:]+ > ff02::12: .*VRRPv3, Advertisement, vrid 7, prio 150, intvl 100cs, length 24, addrs: 2001:2:0:5::100/,
    );
    assert.doesNotMatch(decoded, /bad|wrong/i, "tcpdump finds the checksums right");
    const addrs = v.lab.exec("a", ["ip", "-6", "addr", "show", "dev", "eth0"]);
    assert.match(addrs, new RegExp(`${VIP6}/64`));

    const send = (kind: string, n = 3) =>
      execFileSync("ip", [
        "netns",
        "exec",
        v.lab.ns("x"),
        "python3",
        "-c",
        FORGE,
        v.addr.x!,
        kind,
        String(n),
      ]);
    const before = status(a).vrrp!.dropped;
    for (const kind of ["ttl", "auth", "vrid", "checksum", "truncated", "interval"]) send(kind);
    await sleep(300);
    const s = status(a).vrrp!;
    const got = (r: string) => (s.dropped[r] ?? 0) - (before[r] ?? 0);
    assert.deepEqual(
      {
        ttl: got("bad-ttl"),
        auth: got("bad-auth"),
        vrid: got("unknown-vrid"),
        checksum: got("bad-checksum"),
        truncated: got("truncated"),
        interval: got("bad-interval"),
      },
      { ttl: 3, auth: 3, vrid: 3, checksum: 3, truncated: 3, interval: 3 },
    );
    assert.equal(
      s.instances.find((i) => i.name === "VI_1")!.state,
      "MASTER",
      "forged adverts changed nothing",
    );
    assert.ok(a.running, "the director runs on");
    assert.match(a.log, /advertisement interval mismatch: received 2 s, configured 1 s/);

    send("valid", 1);
    await sleep(300);
    const after = status(a).vrrp!.instances.find((i) => i.name === "VI_1")!;
    assert.equal(after.state, "BACKUP", "a well-formed higher advert is obeyed");
    assert.equal(after.master, v.addr.x);
    const metrics = v.lab.exec("a", ["curl", "-s", "http://127.0.0.1:9117/metrics"]);
    for (const line of [
      'tslvs_vrrp_state{instance="VI_1",interface="eth0",vrid="51"} 1',
      'tslvs_vrrp_state{instance="VI_6",interface="eth0",vrid="7"} 2',
      'tslvs_vrrp_adverts_dropped_total{reason="bad-ttl"} 3',
      'tslvs_vrrp_adverts_dropped_total{reason="bad-checksum"} 3',
    ])
      assert.ok(metrics.includes(line), `/metrics lacks ${line}`);
  } finally {
    await a?.stop();
    await v.destroy();
  }
});

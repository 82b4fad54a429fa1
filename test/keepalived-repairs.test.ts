import assert from "node:assert/strict";
import { test } from "node:test";
import type { KeepalivedConfig } from "../src/control/keepalived/keepalived-config.js";
import { checkExitCode } from "../src/control/keepalived/keepalived-config.js";
import { parseKeepalivedText } from "../src/control/keepalived/read-keepalived-conf.js";
import { SVC_F_ONEPACKET, SVC_F_PERSISTENT } from "../src/core/service.js";

const parse = (text: string) => parseKeepalivedText(text, "/x/k.conf", { configId: "me" });
const warnings = (c: KeepalivedConfig) => c.diagnostics.map((d) => d.message);
/** A virtual server with everything set except what `omit` names, plus `body`. */
function vs(head: string, body: string, omit: string[] = []): string {
  const lines = [
    ["lvs_sched", " lvs_sched rr"],
    ["lvs_method", " lvs_method NAT"],
    ["protocol", " protocol TCP"],
  ]
    .filter(([k]) => !omit.includes(k!))
    .map(([, l]) => l);
  return `virtual_server ${head} {\n${lines.join("\n")}\n${body}\n}\n`;
}
const RS = " real_server 198.19.0.1 80 {\n }";

function oneWarning(c: KeepalivedConfig, re: RegExp): void {
  assert.equal(c.diagnostics.length, 1, warnings(c).join("\n"));
  assert.match(c.diagnostics[0]!.message, re);
  assert.equal(c.diagnostics[0]!.severity, "warning");
  assert.equal(checkExitCode(c.diagnostics), 5);
}

test("A.8: no scheduler → wlc", () => {
  const c = parse(vs("198.18.0.10 80", RS, ["lvs_sched"]));
  oneWarning(c, /no scheduler set, setting default 'wlc'/);
  assert.equal(c.state.services[0]!.spec.scheduler, "wlc");
});

test("A.8: no method → NAT", () => {
  const c = parse(vs("198.18.0.10 80", RS, ["lvs_method"]));
  oneWarning(c, /no forwarding method set, setting default NAT/);
  assert.equal(c.state.services[0]!.dests[0]!.method, "masq");
});

test("A.8: no protocol → UDP", () => {
  const c = parse(vs("198.18.0.10 80", RS, ["protocol"]));
  oneWarning(c, /no protocol set - defaulting to UDP/);
  const k = c.state.services[0]!.spec.key;
  assert.equal(k.kind === "addr" && k.protocol, 17);
});

test("A.8: ops without UDP → off", () => {
  const c = parse(vs("198.18.0.10 80", ` ops\n${RS}`));
  oneWarning(c, /one packet scheduling requires UDP - resetting/);
  assert.equal(c.state.services[0]!.spec.flags & SVC_F_ONEPACKET, 0);
});

test("A.8: port 0 without persistence → persistence 360", () => {
  const c = parse(vs("198.18.0.10 0", " real_server 198.19.0.1 {\n }"));
  oneWarning(c, /zero port only valid for persistent services - setting/);
  const s = c.state.services[0]!.spec;
  assert.equal(s.flags & SVC_F_PERSISTENT, SVC_F_PERSISTENT);
  assert.equal(s.timeout, 360);
});

test("A.8: protocol on fwmark → ignored", () => {
  const c = parse(vs("fwmark 5", RS));
  oneWarning(c, /protocol specified for fwmark service - ignoring/);
  assert.deepEqual(c.state.services[0]!.spec.key, { kind: "fwmark", fwmark: 5, family: 4 });
});

test("A.8: ha_suspend on fwmark → off", () => {
  const c = parse(vs("fwmark 5", ` ha_suspend\n${RS}`, ["protocol"]));
  oneWarning(c, /ha_suspend is not valid with fwmark - clearing/);
  assert.equal(c.state.services[0]!.health!.haSuspend, false);
});

test("A.8: duplicate real server → the second dropped", () => {
  const c = parse(vs("198.18.0.10 80", `${RS}\n real_server 198.19.0.1 80 {\n  weight 5\n }`));
  oneWarning(c, /is a duplicate - ignoring/);
  assert.deepEqual(
    c.state.services[0]!.dests.map((d) => d.weight),
    [1],
  );
});

test("A.8: real server of another family → dropped", () => {
  const c = parse(vs("198.18.0.10 80", `${RS}\n real_server 2001:db8::1 80 {\n }`));
  oneWarning(c, /address family does not match/);
  assert.equal(c.state.services[0]!.dests.length, 1);
});

test("A.8: DR port mismatch → real server port reset", () => {
  const c = parse(
    vs("198.18.0.10 80", " real_server 198.19.0.1 8080 {\n }", ["lvs_method"]).replace(
      " protocol TCP",
      " protocol TCP\n lvs_method DR",
    ),
  );
  oneWarning(c, /port differs from the virtual server's for DR - resetting/);
  assert.equal(c.state.services[0]!.dests[0]!.port, 80);
});

test("A.8: quorum above the total weight → lowered to it", () => {
  const c = parse(vs("198.18.0.10 80", ` quorum 10\n real_server 198.19.0.1 80 {\n  weight 3\n }`));
  oneWarning(c, /quorum 10 is greater than the total weight 3 - setting to 3/);
  assert.equal(c.state.services[0]!.health!.quorum, 3);
});

test("A.8: hysteresis ≥ quorum → quorum − 1", () => {
  const c = parse(
    vs("198.18.0.10 80", ` quorum 2\n hysteresis 2\n real_server 198.19.0.1 80 {\n  weight 3\n }`),
  );
  oneWarning(c, /hysteresis 2 >= quorum 2 - setting to 1/);
  assert.equal(c.state.services[0]!.health!.hysteresis, 1);
});

test("A.8: sorry server equal to a real server with another inhibit setting → the real server's", () => {
  const c = parse(
    vs(
      "198.18.0.10 80",
      " sorry_server 198.19.0.1 80\n sorry_server_inhibit\n real_server 198.19.0.1 80 {\n  inhibit_on_failure off\n }",
    ),
  );
  oneWarning(c, /sorry server is also a real server with a different inhibit setting/);
  assert.equal(c.state.services[0]!.health!.sorryServer!.inhibit, false);
});

test("A.8: a virtual server without real servers → dropped", () => {
  const c = parse(vs("198.18.0.10 80", ""));
  oneWarning(c, /has no real servers - ignoring/);
  assert.equal(c.state.services.length, 0);
});

test("FNAT with local_address_group → fullnat real servers with the group's local addresses", () => {
  const c = parse(
    "local_address_group LAG {\n 198.18.9.1 eth0\n 198.18.9.2 eth1\n}\n" +
      vs("198.18.0.10 80", ` laddr_group_name LAG\n${RS}`, ["lvs_method"]).replace(
        " protocol TCP",
        " protocol TCP\n lb_kind FNAT",
      ),
  );
  assert.deepEqual(c.diagnostics, []);
  const s = c.state.services[0]!;
  assert.equal(s.dests[0]!.method, "fullnat");
  assert.deepEqual(
    s.laddrs.map((l) => [l.addr.toString(), l.ifname]),
    [
      ["198.18.9.1", "eth0"],
      ["198.18.9.2", "eth1"],
    ],
  );
});

test("TUN types and checksum options", () => {
  const tun = (m: string) =>
    parse(
      vs("198.18.0.10 80", `${RS}`, ["lvs_method"]).replace(
        " protocol TCP",
        ` protocol TCP\n lvs_method ${m}`,
      ),
    );
  const gue = tun("TUN type gue port 6080 remcsum");
  assert.deepEqual(gue.diagnostics, []);
  const d = gue.state.services[0]!.dests[0]!;
  assert.deepEqual([d.method, d.tunType, d.tunPort, d.tunCsum], ["tunnel", "gue", 6080, "remcsum"]);
  const gre = tun("TUN type gre csum").state.services[0]!.dests[0]!;
  assert.deepEqual([gre.tunType, gre.tunCsum], ["gre", "csum"]);
  const ipip = tun("TUN").state.services[0]!.dests[0]!;
  assert.deepEqual([ipip.tunType, ipip.tunCsum], ["ipip", "nocsum"]);
  // Refused combinations: the line is ignored, the default (NAT) stays.
  for (const bad of ["TUN type ipip csum", "TUN type gre remcsum", "TUN type gue", "TUN type vxlan"]) {
    const c = tun(bad);
    assert.ok(
      c.diagnostics.some((x) => x.line === 4 && x.severity === "error"),
      `${bad}: ${warnings(c).join("; ")}`,
    );
  }
});

test("UDP_CHECK: loose hex payload and require_reply with wildcard nibbles", () => {
  const c = parse(
    vs(
      "198.18.0.10 53",
      ' real_server 198.19.0.1 53 {\n  UDP_CHECK {\n   payload "Ab12f 3 456"\n   require_reply 0x1x\n   min_reply_length 2\n  }\n }',
    ).replace("TCP", "UDP"),
  );
  assert.deepEqual(c.diagnostics, []);
  const p = c.state.services[0]!.dests[0]!.health!.checkers[0]!.probe;
  assert.equal(p.kind, "UDP_CHECK");
  if (p.kind !== "UDP_CHECK") return;
  assert.equal(p.payload?.toLowerCase(), "ab120f034506");
  assert.equal(p.minReplyLength, 2);
  assert.equal(p.maxReplyLength, 255);
  assert.ok(p.requireReply !== undefined && /x/i.test(p.requireReply));
});

test("FILE_CHECK with track_file: the block's weight and reverse, overridden per checker", () => {
  const c = parse(
    'track_file TF {\n file "/run/weight"\n weight 3 reverse\n}\n' +
      vs(
        "198.18.0.10 80",
        " real_server 198.19.0.1 80 {\n  FILE_CHECK {\n   track_file TF\n  }\n }\n" +
          " real_server 198.19.0.2 80 {\n  FILE_CHECK {\n   track_file TF\n   weight 5 noreverse\n  }\n }",
      ),
  );
  assert.deepEqual(c.diagnostics, []);
  const probes = c.state.services[0]!.dests.map((d) => d.health!.checkers[0]!.probe);
  assert.deepEqual(
    probes.map((p) => p.kind === "FILE_CHECK" && [p.trackName, p.file, p.weight, p.reverse]),
    [
      ["TF", "/run/weight", 3, true],
      ["TF", "/run/weight", 5, false],
    ],
  );
  const missing = parse(
    vs("198.18.0.10 80", " real_server 198.19.0.1 80 {\n  FILE_CHECK {\n   track_file NOPE\n  }\n }"),
  );
  assert.equal(checkExitCode(missing.diagnostics), 5);
});

test("VRRP blocks: parsed, unknown keywords reported; keywords not built listed once each", () => {
  const c = parse(
    "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n bogus 1\n authentication {\n  auth_type PASS\n  auth_x 1\n }\n virtual_ipaddress {\n  198.18.0.1/32\n }\n}\n" +
      "vrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n  198.18.0.2/32\n }\n}\n" +
      'vrrp_script S {\n script "/bin/true"\n}\n',
  );
  assert.deepEqual(
    c.diagnostics.map((d) => [d.line, d.message]),
    [
      [4, "Unknown keyword 'bogus'"],
      [7, "Unknown keyword 'auth_x'"],
    ],
  );
  // vrrp_instance and vrrp_script are acted on (the VRRP engine); `bogus` is unknown, not "not acted on".
  assert.deepEqual(c.notActedOn, []);
  assert.deepEqual(
    c.vrrp.instances.map((i) => [
      i.name,
      i.vrid,
      i.authPass ?? null,
      i.vips.map((v) => `${v.addr}/${v.prefixLen}`),
    ]),
    [
      ["A", 1, null, ["198.18.0.1/32"]],
      ["B", 2, null, ["198.18.0.2/32"]],
    ],
  );
  assert.deepEqual(
    c.vrrp.scripts.map((s) => [s.name, s.script.argv, s.interval, s.weight, s.rise, s.fall]),
    [["S", ["/bin/true"], 1, 0, 1, 1]],
  );
  const notBuilt = parse(
    "vrrp_instance C {\n interface eth0\n virtual_router_id 3\n use_vmac\n garp_master_delay 2\n virtual_ipaddress {\n  198.18.0.3\n }\n}\n",
  );
  assert.deepEqual(notBuilt.notActedOn, ["vrrp_instance use_vmac"]);
  assert.equal(notBuilt.vrrp.instances[0]!.garpMasterDelay, 2);
});

test("lvs_sync_daemon: both roles without an instance; the instance's state and router id with one", () => {
  const both = parse(
    "global_defs {\n lvs_sync_daemon eth1 maxlen 1400 port 8849 ttl 2 group 224.0.0.90\n}\n",
  );
  assert.deepEqual(both.diagnostics, []);
  assert.deepEqual(both.state.syncDaemons, [
    {
      state: "master",
      mcastIfn: "eth1",
      syncId: 0,
      syncMaxLen: 1400,
      mcastGroup: "224.0.0.90",
      mcastPort: 8849,
      mcastTtl: 2,
    },
    {
      state: "backup",
      mcastIfn: "eth1",
      syncId: 0,
      syncMaxLen: 1400,
      mcastGroup: "224.0.0.90",
      mcastPort: 8849,
      mcastTtl: 2,
    },
  ]);
  const inst = (state: string, extra = "") =>
    parse(
      `global_defs {\n lvs_sync_daemon eth1 VI_1${extra}\n}\nvrrp_instance VI_1 {\n state ${state}\n interface eth0\n virtual_router_id 42\n virtual_ipaddress {\n  198.18.0.1/32\n }\n}\n`,
    );
  const m = inst("MASTER");
  assert.deepEqual(m.diagnostics, []);
  assert.deepEqual(m.state.syncDaemons, [
    {
      state: "master",
      mcastIfn: "eth1",
      syncId: 42,
      syncMaxLen: 0,
      mcastGroup: "",
      mcastPort: 0,
      mcastTtl: 0,
    },
  ]);
  assert.equal(inst("BACKUP", " id 7").state.syncDaemons[0]!.state, "backup");
  assert.equal(inst("BACKUP", " id 7").state.syncDaemons[0]!.syncId, 7);
  const bad = parse("global_defs {\n lvs_sync_daemon eth1 id 300 group 198.18.0.1 frob\n}\n");
  assert.equal(bad.diagnostics.length, 3, warnings(bad).join("\n"));
  assert.deepEqual(bad.state.syncDaemons[0]!.syncId, 0);
  assert.deepEqual(bad.notActedOn, [], "acted on: run as sync daemons");
  assert.equal(inst("BACKUP").globals.syncDaemonInstance, "VI_1", "the role follows VI_1");
  assert.equal(both.globals.syncDaemonInstance, undefined);
});

test("10,000 real servers (1,000 virtual servers x 10) parse in well under the bound", (t) => {
  const parts: string[] = [];
  for (let v = 0; v < 1000; v++) {
    parts.push(
      `virtual_server 10.${v >> 8}.${v & 255}.1 80 {\n lvs_sched wrr\n lvs_method NAT\n protocol TCP\n delay_loop 5\n`,
    );
    for (let r = 0; r < 10; r++)
      parts.push(
        ` real_server 10.100.${v & 255}.${r + 1} ${8000 + (v >> 8)} {\n  weight ${r + 1}\n  TCP_CHECK {\n   connect_timeout 2\n  }\n }\n`,
      );
    parts.push("}\n");
  }
  const text = parts.join("");
  const start = process.hrtime.bigint();
  const c = parse(text);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.diagnostic(`parsed ${text.length} bytes, 1,000 services, 10,000 real servers in ${ms.toFixed(0)} ms`);
  assert.deepEqual(c.diagnostics, []);
  assert.equal(c.state.services.length, 1000);
  assert.equal(
    c.state.services.reduce((n, s) => n + s.dests.length, 0),
    10000,
  );
  assert.ok(ms < 10_000, `${ms} ms`);
});

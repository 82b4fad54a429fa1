/**
 * The values the VRRP engine runs on, read from keepalived.conf text (keepalived/vrrp-settings.ts):
 * keepalived.conf(5)'s defaults, every virtual_ipaddress option built, tracking weights and
 * `reverse`, versions (global, per instance, IPv6 always 3), scripts and sync groups, and what is
 * listed as not acted on. tslvs's own checks of these values count only under --strict.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkExitCode } from "../src/control/keepalived/keepalived-config.js";
import { parseKeepalivedText } from "../src/control/keepalived/read-keepalived-conf.js";

const parse = (text: string) => parseKeepalivedText(text, "/x/k.conf", { configId: "me" });

test("an instance with nothing but what it needs gets keepalived's defaults", () => {
  const c = parse(
    "vrrp_instance V {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n  198.18.0.1\n }\n}\n",
  );
  assert.deepEqual(c.diagnostics, []);
  const i = c.vrrp.instances[0]!;
  assert.deepEqual(
    {
      state: i.initialState,
      priority: i.priority,
      advertInt: i.advertInt,
      version: i.version,
      family: i.family,
      preempt: i.preempt,
      preemptDelay: i.preemptDelay,
      garp: [i.garpMasterDelay, i.garpMasterRepeat, i.garpMasterRefresh],
      vip: [i.vips[0]!.addr.toString(), i.vips[0]!.prefixLen, i.vips[0]!.scope, i.vips[0]!.dev ?? null],
    },
    {
      state: "BACKUP",
      priority: 100,
      advertInt: 1,
      version: 2,
      family: 4,
      preempt: true,
      preemptDelay: 0,
      garp: [5, 5, 0],
      vip: ["198.18.0.1", 32, 0, null],
    },
  );
});

test("every value read: VIP options, unicast, auth, tracking with weights and reverse, notify, garp", () => {
  const c = parse(
    [
      "global_defs {",
      " vrrp_version 3",
      "}",
      "vrrp_script chk {",
      ' script "/bin/test -f /tmp/x"',
      " interval 2",
      " weight -20",
      " rise 3",
      " fall 2",
      " init_fail",
      "}",
      "vrrp_instance V4 {",
      " state MASTER",
      " interface eth0",
      " virtual_router_id 10",
      " priority 200",
      " advert_int 0.5",
      " version 2",
      " nopreempt",
      " preempt_delay 4.5",
      " unicast_src_ip 198.18.0.2",
      " unicast_peer {",
      "  198.18.0.3",
      " }",
      " authentication {",
      "  auth_type PASS",
      "  auth_pass longerthan8",
      " }",
      " virtual_ipaddress {",
      "  198.18.0.10/24 brd 198.18.0.255 dev eth1 scope link label eth1:v",
      "  198.18.0.11/24 dev eth1 no_track",
      " }",
      " track_interface {",
      "  eth1",
      "  eth2 weight -30 reverse",
      " }",
      " track_script {",
      "  chk weight 15",
      " }",
      " dont_track_primary",
      " notify /bin/note",
      " notify_master '/bin/up now'",
      " garp_master_delay 1",
      " garp_master_repeat 2",
      " garp_master_refresh 60",
      " use_vmac",
      "}",
      "vrrp_instance V6 {",
      " interface eth0",
      " virtual_router_id 11",
      " virtual_ipaddress {",
      "  2001:2::10/64",
      " }",
      "}",
      "vrrp_sync_group G {",
      " group {",
      "  V4",
      "  V6",
      " }",
      " notify_fault /bin/f",
      "}",
    ].join("\n"),
  );
  assert.equal(checkExitCode(c.diagnostics), 0, JSON.stringify(c.diagnostics));
  const [v4, v6] = c.vrrp.instances;
  assert.deepEqual(
    [v4!.initialState, v4!.priority, v4!.advertInt, v4!.version, v4!.preempt, v4!.preemptDelay],
    ["MASTER", 200, 0.5, 2, false, 4.5],
  );
  assert.equal(v4!.unicastSrc?.toString(), "198.18.0.2");
  assert.deepEqual(v4!.unicastPeers.map(String), ["198.18.0.3"]);
  assert.equal(v4!.authPass, "longerthan8", "kept whole; the wire carries its first 8 bytes");
  assert.deepEqual(
    v4!.vips.map((v) => [
      `${v.addr}/${v.prefixLen}`,
      v.dev,
      v.scope,
      v.label ?? null,
      v.broadcast?.toString() ?? null,
    ]),
    [
      ["198.18.0.10/24", "eth1", 253, "eth1:v", "198.18.0.255"],
      ["198.18.0.11/24", "eth1", 0, null, null],
    ],
  );
  assert.deepEqual(v4!.trackInterfaces, [
    { name: "eth1", weight: 0, reverse: false },
    { name: "eth2", weight: -30, reverse: true },
  ]);
  assert.deepEqual(v4!.trackScripts, [{ name: "chk", weight: 15, reverse: false }]);
  assert.equal(v4!.dontTrackPrimary, true);
  assert.deepEqual(v4!.notify.any?.argv, ["/bin/note"]);
  assert.deepEqual(v4!.notify.master?.argv, ["/bin/up", "now"], "split as keepalived splits a script line");
  assert.deepEqual([v4!.garpMasterDelay, v4!.garpMasterRepeat, v4!.garpMasterRefresh], [1, 2, 60]);
  assert.deepEqual([v6!.version, v6!.family, v6!.vips[0]!.prefixLen], [3, 6, 64], "global vrrp_version 3");
  assert.deepEqual(c.vrrp.scripts, [
    {
      name: "chk",
      script: { argv: ["/bin/test", "-f", "/tmp/x"] },
      interval: 2,
      timeout: 2,
      weight: -20,
      rise: 3,
      fall: 2,
      initFail: true,
    },
  ]);
  assert.deepEqual(
    c.vrrp.syncGroups.map((g) => [g.name, g.members, g.notify.fault?.argv]),
    [["G", ["V4", "V6"], ["/bin/f"]]],
  );
  assert.deepEqual(c.notActedOn, ["virtual_ipaddress no_track", "vrrp_instance use_vmac"]);
});

test("tslvs's own checks of these values are warnings that count only under --strict", () => {
  const c = parse(
    "vrrp_instance V {\n interface eth0\n virtual_router_id 9\n preempt_delay 2000\n unicast_src_ip nonsense\n track_script {\n  s weight 999\n }\n virtual_ipaddress {\n  198.18.0.1 scope galactic\n }\n}\n",
  );
  assert.ok(c.diagnostics.length >= 3);
  assert.ok(c.diagnostics.every((d) => d.strictOnly && d.severity === "warning"));
  assert.equal(checkExitCode(c.diagnostics), 0);
  assert.equal(checkExitCode(c.diagnostics, true), 5);
  const i = c.vrrp.instances[0]!;
  assert.deepEqual(
    [i.preemptDelay, i.unicastSrc ?? null, i.trackScripts[0]!.weight ?? null, i.vips.length],
    [0, null, null, 0],
  );
});

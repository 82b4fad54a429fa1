import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { checkExitCode } from "../src/control/keepalived/keepalived-config.js";
import { parseKeepalivedText, readKeepalivedConf } from "../src/control/keepalived/read-keepalived-conf.js";
import { SVC_F_PERSISTENT, SVC_F_SCHED2 } from "../src/core/service.js";

const DIR = resolve(import.meta.dirname, "../../test/fixtures/keepalived");
const parse = (text: string) => parseKeepalivedText(text, "/x/k.conf", { configId: "me" });
const vs = (body: string) =>
  `virtual_server 198.18.0.10 80 {\n lvs_sched rr\n lvs_method NAT\n protocol TCP\n${body}\n}\n`;

test("one-line blocks, comments and two statements on a line", () => {
  const c = parse(
    vs(
      ' real_server 198.19.0.1 80 { # c\n  TCP_CHECK { connect_timeout 2 retry 3 }\n  HTTP_GET { url { path "/a b" } connect_timeout 2 } ! x\n }',
    ),
  );
  const d = c.state.services[0]!.dests[0]!;
  const [tcp, http] = d.health!.checkers;
  assert.equal(tcp!.timing.connectTimeout, 2);
  assert.equal(tcp!.timing.retry, 1, "retry 3 is an extra word of connect_timeout");
  assert.equal(http!.probe.kind === "HTTP_GET" && http!.probe.urls[0]!.path, "/a b");
  assert.equal(http!.timing.delayBeforeRetry, 3);
  assert.equal(checkExitCode(c.diagnostics), 0);
  assert.equal(checkExitCode(c.diagnostics, true), 5);
});

test("brace on the next line, $NAME and @ID", () => {
  const c = parse(
    `$P=TCP\n@me $X=1\n@other bogus 1\n@^other global_defs\n{\n router_id r1\n}\n${vs(" real_server 198.19.0.1 80\n {\n }")}`,
  );
  assert.equal(c.globals.routerId, "r1");
  assert.deepEqual(c.diagnostics, []);
});

test("unbalanced braces are fatal, refused constructs too", () => {
  assert.equal(checkExitCode(parse("global_defs {\n").diagnostics), 4);
  assert.equal(checkExitCode(parse("$F(a)=x\n").diagnostics), 4);
  assert.equal(checkExitCode(parse("global_defs {\n net_namespace x\n}\n").diagnostics), 4);
});

test("unknown block is skipped to its brace", () => {
  const c = parse(vs(" FOO { real_server 1 }\n real_server 198.19.0.1 80 {\n }"));
  assert.equal(c.state.services[0]!.dests.length, 1);
  assert.deepEqual(
    c.diagnostics.map((d) => d.line),
    [5],
  );
});

test("sh-port counts only after lvs_sched sh", () => {
  const c = parse(
    "virtual_server 198.18.0.10 80 {\n sh-port\n lvs_sched sh\n sh-port\n protocol TCP\n lvs_method NAT\n real_server 198.19.0.1 80 {\n }\n}\n",
  );
  assert.equal(c.state.services[0]!.spec.flags & SVC_F_SCHED2, SVC_F_SCHED2);
  assert.deepEqual(
    c.diagnostics.map((d) => d.line),
    [2],
  );
});

test("example 2: DR, quorum, sorry server, inherited timings", () => {
  const c = readKeepalivedConf(join(DIR, "example2.conf"));
  const s = c.state.services[0]!;
  assert.equal(s.spec.scheduler, "wlc");
  assert.equal(s.spec.flags & SVC_F_PERSISTENT, SVC_F_PERSISTENT);
  assert.equal(s.spec.timeout, 600);
  assert.equal(s.spec.netmask, 0xffffff00);
  assert.deepEqual(
    s.dests.map((d) => [d.method, d.weight]),
    [
      ["route", 2],
      ["route", 2],
      ["route", 2],
    ],
  );
  assert.equal(s.health!.quorum, 4);
  assert.equal(s.health!.sorryServer!.addr, "198.18.0.99");
  const t = s.dests[0]!.health!.checkers[0]!.timing;
  assert.deepEqual([t.delayLoop, t.connectTimeout, t.retry, t.delayBeforeRetry], [3, 2, 3, 1]);
  assert.deepEqual(s.health!.quorumUp!.argv, ["/etc/keepalived/bin/page", "quorum-up", "198.18.0.20:443"]);
  assert.equal(s.health!.quorumUp!.user, "root");
});

test("examples 1, 3-6", () => {
  const e1 = readKeepalivedConf(join(DIR, "example1.conf"));
  assert.deepEqual(e1.state.timeouts, { tcp: 900, tcpfin: 30, udp: 300 });
  const h = e1.state.services[0]!.dests[1]!.health!.checkers[0]!;
  assert.equal(h.probe.kind === "HTTP_GET" && h.probe.target.connectPort, 8081);
  const e3 = readKeepalivedConf(join(DIR, "example3.conf")).state.services[0]!;
  assert.deepEqual(e3.spec.key, { kind: "fwmark", fwmark: 10, family: 4 });
  assert.equal(e3.dests[0]!.health!.checkers[1]!.timing.alpha, true);
  const e4 = readKeepalivedConf(join(DIR, "example4.conf")).state.services[0]!;
  const misc = e4.dests[1]!.health!.checkers[0]!;
  assert.equal(misc.probe.kind === "MISC_CHECK" && misc.probe.timeout, 4);
  assert.equal(misc.timing.retry, 0);
  const e5 = readKeepalivedConf(join(DIR, "example5.conf")).state.services;
  assert.deepEqual(
    e5.map((s) => s.spec.key.kind === "addr" && s.spec.key.addr.toString()),
    ["198.18.0.50", "198.18.0.51", "198.18.0.52", "198.18.100.7"],
  );
  assert.equal(e5[0]!.health!.group, "WEB_FARM");
  const e6 = readKeepalivedConf(join(DIR, "example6.conf"));
  assert.deepEqual(e6.notActedOn, [], "lvs_sync_daemon is acted on: sync daemons");
  assert.equal(e6.globals.syncDaemonInstance, "VI_1");
  assert.deepEqual(
    e6.vrrp.instances.map((i) => [i.name, i.vrid, i.vips.map((v) => v.addr.toString())]),
    [["VI_1", 51, ["198.18.0.70"]]],
  );
  const dns = e6.state.services[0]!.dests[0]!.health!.checkers[0]!;
  assert.deepEqual([dns.timing.retry, dns.timing.delayBeforeRetry], [3, 5]);
});

test("include loops are reported, not followed", () => {
  const c = parseKeepalivedText("include k.conf\n", "/x/k.conf", {
    lex: {
      readFile: () => ({ text: "include k.conf\n" }),
      realPath: (p) => p,
      listDir: () => ["k.conf"],
    },
  });
  assert.ok(c.diagnostics.some((d) => /include loop/.test(d.message)));
});

test("checker_priority and checker_cpu_affinity tune the checker thread; bad values are reported", () => {
  const ok = parse("global_defs {\n    checker_priority -5\n    checker_cpu_affinity 0 1\n}\n");
  assert.equal(ok.globals.checkerPriority, -5);
  assert.deepEqual(ok.globals.checkerCpuAffinity, [0, 1]);
  assert.deepEqual(ok.diagnostics, []);
  assert.ok(!ok.notActedOn.includes("checker_priority"));
  const bad = parse("global_defs {\n    checker_priority 25\n}\n");
  assert.equal(bad.globals.checkerPriority, undefined);
  assert.equal(bad.diagnostics[0]?.line, 2);
});

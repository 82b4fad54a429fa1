import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import type { ProbeResult, ProbeSpec, ProbeTarget } from "../src/control/health/check-spec.js";
import { dnsQuery } from "../src/control/health/probes/dns.js";
import { type HttpSpec, httpRequest, parseHttpResponse, sniName } from "../src/control/health/probes/http.js";
import { runProbe } from "../src/control/health/probes/index.js";
import { echoRequest, inetChecksum } from "../src/control/health/probes/ping.js";
import { matchesPattern, parseHexPattern } from "../src/control/health/probes/udp.js";
import { makeEcdsaCert } from "./support/certificate.js";
import { haveRoot, needsCommand } from "./support/privileged.js";
import type { ProbeJob } from "./support/run-probe.js";
import { labPrefix } from "./support/test-owner.js";
import { waitForLine } from "./support/wait-for-line.js";

// One attempt of each keepalived checker (spec A.7): what passes and every failure each one detects.
// The network probes run inside a namespace (198.18.0.1) against servers in another (198.18.0.2).

const RUN_PROBE_JS = fileURLToPath(new URL("./support/run-probe.js", import.meta.url));
const SERVERS_JS = fileURLToPath(new URL("./support/probe-servers.js", import.meta.url));
const md5 = (s: string) => createHash("md5").update(s).digest("hex");
const never = new AbortController().signal;

const http = (over: Partial<HttpSpec> = {}): HttpSpec => ({
  kind: "HTTP_GET",
  target: { connectIp: "198.18.0.2", connectPort: 80 },
  urls: [{ path: "/ok", statusCodes: [[200, 299]] }],
  httpProtocol: "1.0",
  fastRecovery: false,
  enableSni: false,
  ...over,
});

test("loose hex: groups of two digits from the left, an odd last digit a byte of its own, x a wildcard nibble", () => {
  assert.equal(parseHexPattern("Ab12f 3 456").bytes.toString("hex"), "ab120f034506");
  assert.equal(parseHexPattern("").bytes.length, 0);
  const p = parseHexPattern("4x x1 x");
  assert.equal(p.mask.toString("hex"), "f00ff0");
  assert.ok(matchesPattern(Buffer.from([0x4f, 0x21, 0x07]), p));
  assert.ok(!matchesPattern(Buffer.from([0x5f, 0x21, 0x07]), p));
  assert.ok(!matchesPattern(Buffer.from([0x40, 0x21, 0x17]), p), "an odd last digit's high nibble is 0");
  assert.ok(matchesPattern(Buffer.from([0x41]), p), "only min(reply, pattern) bytes are compared");
  assert.throws(() => parseHexPattern("zz"), /bad hex digit/);
});

test("DNS query bytes: ID, RD, one question, labels, QTYPE, class IN; the root is one zero byte", () => {
  assert.equal(
    dnsQuery(0x1234, "SOA", "").toString("hex"),
    "123401000001000000000000" + "00" + "0006" + "0001",
  );
  assert.equal(
    dnsQuery(1, "AAAA", "www.example.").toString("hex"),
    `000101000001000000000000${"03777777076578616d706c6500"}001c0001`,
  );
});

test("HTTP request bytes as keepalived writes them; Host from virtualhost, else IP:port with IPv6 in brackets", () => {
  const url = { path: "/x", statusCodes: [[200, 299]] as [number, number][] };
  assert.equal(
    httpRequest(http(), url),
    "GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 198.18.0.2:80\r\n\r\n",
  );
  assert.equal(
    httpRequest(http({ httpProtocol: "1.0C" }), { ...url, virtualhost: "www.test" }),
    "GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: www.test\r\nConnection: close\r\n\r\n",
  );
  assert.equal(
    httpRequest(http({ httpProtocol: "1.1", target: { connectIp: "2001:db8::2", connectPort: 8080 } }), url),
    "GET /x HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nHost: [2001:db8::2]:8080\r\nConnection: close\r\n\r\n",
  );
  assert.equal(sniName(http({ enableSni: true }), { ...url, virtualhost: "www.test:8080" }), "www.test");
  assert.equal(sniName(http({ enableSni: true, sniName: "sni.test" }), url), "sni.test");
  assert.equal(sniName(http({ enableSni: false, sniName: "sni.test" }), url), undefined);
  assert.equal(sniName(http({ enableSni: true }), { ...url, virtualhost: "198.18.0.2" }), undefined);
});

test("HTTP responses: framing by Content-Length, chunks or the close; garbage and truncation are bad", () => {
  const p = (s: string, closed = false, body = true) => parseHttpResponse(Buffer.from(s), closed, body);
  assert.deepEqual(p("HTTP/1.0 500 Oops\r\n\r\n", false, false), { state: "done", status: 500 });
  assert.deepEqual(p("HTT"), { state: "incomplete" });
  assert.deepEqual(p("HTTX"), { state: "bad", reason: "bad response" });
  assert.deepEqual(p("HTTP/1.0 2000 OK\r\n\r\n"), { state: "bad", reason: "bad response" });
  assert.deepEqual(p("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nab"), { state: "incomplete" });
  assert.deepEqual(p("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nab", true), {
    state: "bad",
    reason: "bad response",
  });
  const done = p("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nabcdEXTRA");
  assert.equal(done.state === "done" && done.body?.toString(), "abcd");
  const chunked = p(
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3;e=1\r\ncde\r\n0\r\n\r\n",
  );
  assert.equal(chunked.state === "done" && chunked.body?.toString(), "abcde");
  assert.deepEqual(p("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), {
    state: "incomplete",
  });
  assert.deepEqual(p("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), {
    state: "bad",
    reason: "bad response",
  });
  const toClose = p("HTTP/1.0 200 OK\r\n\r\nall of it", true);
  assert.equal(toClose.state === "done" && toClose.body?.toString(), "all of it");
});

test("ICMP echo request: type 8, id, seq, a checksum that sums to zero", () => {
  const b = echoRequest(false, 0xbeef, 7, Buffer.from("payload!"));
  assert.equal(b[0], 8);
  assert.equal(b.readUInt16BE(4), 0xbeef);
  assert.equal(inetChecksum(b), 0);
  assert.equal(echoRequest(true, 1, 2, Buffer.alloc(0))[0], 128);
});

test("FILE_CHECK: the leading integer, weight 0 fails on non-zero, value x weight (reverse negates), <= -2^31 fails", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tslvs-probe-file-"));
  try {
    const file = join(dir, "track");
    const check = async (content: string | null, weight: number, reverse = false) => {
      if (content === null) rmSync(file, { force: true });
      else writeFileSync(file, content);
      const r = await runProbe({ kind: "FILE_CHECK", trackName: "t", file, weight, reverse }, 1000, never);
      return [r.ok, r.reason, r.weightDelta];
    };
    assert.deepEqual(await check("0\n", 0), [true, "ok", undefined]);
    assert.deepEqual(await check("3\n", 0), [false, "value 3", undefined]);
    assert.deepEqual(await check("", 0), [true, "ok", undefined]);
    assert.deepEqual(await check("up\n", 0), [true, "ok", undefined]);
    assert.deepEqual(await check("  -4 trailing", 5), [true, "value -4", -20]);
    assert.deepEqual(await check("+7", 2, true), [true, "value 7", -14]);
    assert.deepEqual(await check("0", 2, true), [true, "value 0", 0]);
    assert.deepEqual(await check("1073741824", -2), [false, "value 1073741824", -(2 ** 31)]);
    assert.deepEqual(await check("1073741823", -2), [true, "value 1073741823", -(2 ** 31) + 2]);
    assert.deepEqual(await check(null, 1), [false, "cannot read: ENOENT", undefined]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Whether a process still runs (a zombie left for an init that does not reap counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

test("MISC_CHECK: exit status, misc_dynamic weights, a missing script, timeouts that kill the whole process group", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tslvs-probe-misc-"));
  const pidFile = join(dir, "pids");
  const misc = (argv: string[], dynamic = false, timeoutMs = 5000, signal = never) =>
    runProbe({ kind: "MISC_CHECK", script: { argv }, timeout: timeoutMs / 1000, dynamic }, timeoutMs, signal);
  const sh = (script: string) => ["/bin/sh", "-c", script];
  const pids = () => readFileSync(pidFile, "utf8").split(/\s+/).filter(Boolean).map(Number);
  try {
    const exit = async (status: number, dynamic: boolean) => {
      const r = await misc(sh(`exit ${status}`), dynamic);
      return [r.ok, r.reason, r.dynamicWeight];
    };
    assert.deepEqual(await exit(0, false), [true, "ok", undefined]);
    assert.deepEqual(await exit(1, false), [false, "exit 1", undefined]);
    assert.deepEqual(await exit(3, false), [false, "exit 3", undefined]);
    assert.deepEqual(await exit(0, true), [true, "ok", undefined]);
    assert.deepEqual(await exit(1, true), [false, "exit 1", undefined]);
    assert.deepEqual(await exit(2, true), [true, "exit 2", 0]);
    assert.deepEqual(await exit(255, true), [true, "exit 255", 253]);
    const missing = await misc([join(dir, "no-such-script")]);
    assert.deepEqual([missing.ok, missing.reason], [false, "cannot run: ENOENT"]);
    const killed = await misc(sh("kill -9 $$"));
    assert.deepEqual([killed.ok, killed.reason], [false, "signal SIGKILL"]);

    // A script that stops at SIGTERM, with a child in its group: both end at the timeout.
    let r = await misc(sh(`sleep 30 & echo $$ $! > ${pidFile}; wait`), false, 400);
    assert.deepEqual([r.ok, r.reason], [false, "timeout"]);
    assert.ok(r.latencyMs >= 390 && r.latencyMs < 1500, `timeout after ${r.latencyMs} ms`);
    await sleep(300);
    for (const pid of pids()) assert.ok(!alive(pid), `pid ${pid} outlived SIGTERM`);

    // One that ignores SIGTERM is killed 2 s later, child and all.
    rmSync(pidFile, { force: true });
    r = await misc(
      sh(`trap '' TERM; sleep 30 & echo $$ $! > ${pidFile}; while :; do sleep 0.1; done`),
      false,
      400,
    );
    assert.deepEqual([r.ok, r.reason], [false, "timeout"]);
    await sleep(500);
    assert.ok(pids().every(alive), "SIGKILL waits 2 s after SIGTERM");
    await sleep(2000);
    for (const pid of pids()) assert.ok(!alive(pid), `pid ${pid} survived SIGKILL`);

    // An abort ends the attempt at once and the script with it.
    rmSync(pidFile, { force: true });
    const ac = new AbortController();
    const pending = misc(sh(`echo $$ > ${pidFile}; exec sleep 30`), false, 10_000, ac.signal);
    await sleep(300);
    ac.abort();
    r = await pending;
    assert.deepEqual([r.ok, r.reason], [false, "aborted"]);
    await sleep(300);
    for (const pid of pids()) assert.ok(!alive(pid), `pid ${pid} outlived the abort`);
  } finally {
    for (const pid of existsSync(pidFile) ? pids() : []) if (alive(pid)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("MISC_CHECK as a user and group (uid and gid from /etc/passwd and /etc/group)", async (t) => {
  if (!haveRoot(t)) return;
  const run = (user: string | undefined, group: string | undefined, script: string) =>
    runProbe(
      {
        kind: "MISC_CHECK",
        script: { argv: ["/bin/sh", "-c", script], user, group },
        timeout: 5,
        dynamic: false,
      },
      5000,
      never,
    );
  assert.equal((await run("nobody", undefined, "test $(id -u) = 65534")).ok, true);
  assert.equal((await run("nobody", "daemon", 'test "$(id -u):$(id -g)" = 65534:1')).ok, true);
  assert.deepEqual((await run("no-such-user-x", undefined, "true")).reason, "unknown user no-such-user-x");
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Case {
  name: string;
  spec: ProbeSpec;
  timeoutMs?: number;
  abortMs?: number;
  ok: boolean;
  reason: string;
}

test("network probes in namespaces: each checker's pass and the failures it detects", async (t) => {
  if (!haveRoot(t)) return;
  for (const cmd of ["nft", "openssl"]) {
    const skip = needsCommand(cmd);
    if (skip) return t.skip(skip);
  }
  const lab = new NetLab(labPrefix("probes"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-probe-net-"));
  try {
    lab.addHost("checker");
    lab.addHost("rs");
    lab.link("checker", "eth0", "rs", "eth0");
    lab.addAddr("checker", "eth0", "198.18.0.1/24");
    lab.addAddr("rs", "eth0", "198.18.0.2/24");
    // Blackholes: SYNs to port 81 and everything to UDP 5353 vanish.
    lab.exec("rs", ["nft", "add table inet probe"]);
    lab.exec("rs", ["nft", "add chain inet probe in { type filter hook input priority 0 ; }"]);
    lab.exec("rs", ["nft", "add rule inet probe in tcp dport 81 drop"]);
    lab.exec("rs", ["nft", "add rule inet probe in udp dport 5353 drop"]);
    // The checker drops what it sends with mark 9: a probe's fwmark shows in which of its packets leave.
    lab.exec("checker", ["nft", "add table inet probe"]);
    lab.exec("checker", ["nft", "add chain inet probe out { type filter hook output priority 0 ; }"]);
    lab.exec("checker", ["nft", "add rule inet probe out meta mark 9 drop"]);
    const { cert, key } = makeEcdsaCert(dir, "probe.test");
    const servers = lab.spawn("rs", [process.execPath, SERVERS_JS, "--cert", cert, "--key", key]);
    await waitForLine(servers, "listening", 10_000);

    const check = async (cases: Case[]) => {
      const jobs: ProbeJob[] = cases.map((c) => ({
        spec: c.spec,
        timeoutMs: c.timeoutMs ?? 1000,
        abortMs: c.abortMs,
      }));
      const started = Date.now();
      // The driver exits by itself only when every probe freed its sockets and timers.
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          "ip",
          ["netns", "exec", lab.ns("checker"), process.execPath, RUN_PROBE_JS, JSON.stringify(jobs)],
          { timeout: 15_000 },
          (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
        ),
      );
      const results = JSON.parse(out) as ProbeResult[];
      assert.ok(Date.now() - started < 10_000, "the driver lingered: a probe left a handle open");
      const wrong: string[] = [];
      cases.forEach((c, i) => {
        const r = results[i]!;
        const limit = c.abortMs ?? jobs[i]!.timeoutMs;
        if (r.ok !== c.ok || r.reason !== c.reason)
          wrong.push(`${c.name}: want ${c.ok} "${c.reason}", got ${r.ok} "${r.reason}" (${r.latencyMs} ms)`);
        if (!(r.latencyMs >= 0 && r.latencyMs < limit + 500))
          wrong.push(`${c.name}: latency ${r.latencyMs} ms`);
        if ((c.reason === "timeout" || c.reason === "aborted") && r.latencyMs < limit - 5)
          wrong.push(`${c.name}: ended early (${r.latencyMs} ms)`);
      });
      assert.deepEqual(wrong, []);
    };
    await check(networkCases());
    // The same pings through an unprivileged ICMP datagram socket (the cases above used a raw one:
    // a new namespace's ping_group_range admits no group).
    lab.sysctl("checker", "net.ipv4.ping_group_range", "0 2147483647");
    await check(networkCases().filter((c) => c.spec.kind === "PING_CHECK"));
  } finally {
    const left = await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(left, []);
  }
});

function networkCases(): Case[] {
  const rs = (port: number, over: Partial<ProbeTarget> = {}): ProbeTarget => ({
    connectIp: "198.18.0.2",
    connectPort: port,
    ...over,
  });
  const url = (path: string, over: Partial<HttpSpec["urls"][number]> = {}) => ({
    path,
    statusCodes: [[200, 299]] as [number, number][],
    ...over,
  });
  const body = "probe body\n";
  const ssl = (over: Partial<HttpSpec>): HttpSpec => http({ kind: "SSL_GET", target: rs(443), ...over });
  const udp = (
    port: number,
    requireReply?: string,
    payload = "68 65 6c 6c 6f",
    min = 0,
    max = 255,
  ): ProbeSpec => ({
    kind: "UDP_CHECK",
    target: rs(port),
    payload,
    requireReply,
    minReplyLength: min,
    maxReplyLength: max,
  });
  const dns = (port: number, type: "SOA" | "A" = "SOA", name = ""): ProbeSpec => ({
    kind: "DNS_CHECK",
    target: rs(port),
    type,
    name,
  });
  const smtp = (port: number): ProbeSpec => ({
    kind: "SMTP_CHECK",
    target: rs(port),
    heloName: "checker.test",
  });
  const abortable: { name: string; spec: ProbeSpec }[] = [
    { name: "tcp blackholed", spec: { kind: "TCP_CHECK", target: rs(81) } },
    { name: "http one byte a second", spec: http({ urls: [url("/slow")] }) },
    { name: "udp no reply", spec: udp(9, "68") },
    {
      name: "ping no such host",
      spec: { kind: "PING_CHECK", target: { connectIp: "198.18.0.99", connectPort: 0 } },
    },
  ];
  return [
    { name: "tcp open", spec: { kind: "TCP_CHECK", target: rs(80) }, ok: true, reason: "ok" },
    {
      name: "tcp from bindto:bind_port",
      spec: { kind: "TCP_CHECK", target: rs(80, { bindto: "198.18.0.1", bindPort: 40_001 }) },
      ok: true,
      reason: "ok",
    },
    {
      name: "tcp fwmark 8",
      spec: { kind: "TCP_CHECK", target: rs(80, { fwmark: 8 }) },
      ok: true,
      reason: "ok",
    },
    {
      name: "tcp fwmark 9 (dropped)",
      spec: { kind: "TCP_CHECK", target: rs(80, { fwmark: 9 }) },
      ok: false,
      reason: "timeout",
    },
    {
      name: "tcp bind_if, bindto",
      spec: { kind: "TCP_CHECK", target: rs(80, { bindIf: "eth0", bindto: "198.18.0.1" }) },
      ok: true,
      reason: "ok",
    },
    {
      name: "tcp bind_if lo",
      spec: { kind: "TCP_CHECK", target: rs(80, { bindIf: "lo" }) },
      ok: false,
      reason: "timeout",
    },
    { name: "tcp refused", spec: { kind: "TCP_CHECK", target: rs(8) }, ok: false, reason: "refused" },
    { name: "tcp blackholed", spec: { kind: "TCP_CHECK", target: rs(81) }, ok: false, reason: "timeout" },
    {
      name: "tcp no such host",
      spec: { kind: "TCP_CHECK", target: { connectIp: "198.18.0.99", connectPort: 80 } },
      ok: false,
      reason: "timeout",
    },
    { name: "http 200", spec: http({ urls: [url("/ok", { digest: md5(body) })] }), ok: true, reason: "ok" },
    {
      name: "http exact request 1.0",
      spec: http({
        urls: [
          url("/echo", {
            digest: md5("GET /echo HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 198.18.0.2:80\r\n\r\n"),
          }),
        ],
      }),
      ok: true,
      reason: "ok",
    },
    {
      name: "http exact request 1.1 with virtualhost",
      spec: http({
        httpProtocol: "1.1",
        urls: [
          url("/echo", {
            virtualhost: "www.probe.test",
            digest: md5(
              "GET /echo HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nHost: www.probe.test\r\nConnection: close\r\n\r\n",
            ),
          }),
        ],
      }),
      ok: true,
      reason: "ok",
    },
    {
      name: "http from bindto:bind_port",
      spec: http({
        target: rs(80, { bindto: "198.18.0.1", bindPort: 40_002 }),
        urls: [url("/peer", { digest: md5("198.18.0.1:40002") })],
      }),
      ok: true,
      reason: "ok",
    },
    { name: "http 500", spec: http({ urls: [url("/500")] }), ok: false, reason: "status 500" },
    {
      name: "http 500 accepted by status_code",
      spec: http({
        urls: [
          url("/500", {
            statusCodes: [
              [200, 200],
              [500, 599],
            ],
          }),
        ],
      }),
      ok: true,
      reason: "ok",
    },
    {
      name: "http wrong digest",
      spec: http({ urls: [url("/ok", { digest: md5("another body") })] }),
      ok: false,
      reason: "digest mismatch",
    },
    {
      name: "http chunked 1.1",
      spec: http({ httpProtocol: "1.1", urls: [url("/chunked", { digest: md5(body) })] }),
      ok: true,
      reason: "ok",
    },
    {
      name: "http read to close",
      spec: http({ urls: [url("/close", { digest: md5(body) })] }),
      ok: true,
      reason: "ok",
    },
    { name: "http garbage", spec: http({ urls: [url("/garbage")] }), ok: false, reason: "bad response" },
    {
      name: "http one byte a second",
      spec: http({ urls: [url("/slow")] }),
      timeoutMs: 1500,
      ok: false,
      reason: "timeout",
    },
    { name: "http refused", spec: http({ target: rs(8) }), ok: false, reason: "refused" },
    {
      name: "http every url, the failing one named",
      spec: http({ urls: [url("/ok"), url("/500")] }),
      ok: false,
      reason: "/500: status 500",
    },
    { name: "http 404", spec: http({ urls: [url("/nothing")] }), ok: false, reason: "status 404" },
    {
      name: "ssl 200 (self-signed, not verified)",
      spec: ssl({ urls: [url("/ok", { digest: md5(body) })] }),
      ok: true,
      reason: "ok",
    },
    {
      name: "ssl without sni",
      spec: ssl({ urls: [url("/sni", { digest: md5("none") })] }),
      ok: true,
      reason: "ok",
    },
    {
      name: "ssl sni from the virtualhost",
      spec: ssl({
        enableSni: true,
        urls: [url("/sni", { virtualhost: "www.probe.test", digest: md5("www.probe.test") })],
      }),
      ok: true,
      reason: "ok",
    },
    {
      name: "ssl sni_name",
      spec: ssl({
        enableSni: true,
        sniName: "sni.probe.test",
        urls: [url("/sni", { digest: md5("sni.probe.test") })],
      }),
      ok: true,
      reason: "ok",
    },
    {
      name: "ssl fwmark 8, bind_port",
      spec: ssl({
        target: rs(443, { fwmark: 8, bindPort: 40_003 }),
        urls: [url("/peer", { digest: md5("198.18.0.1:40003") })],
      }),
      ok: true,
      reason: "ok",
    },
    {
      name: "ssl fwmark 9 (dropped)",
      spec: ssl({ target: rs(443, { fwmark: 9 }) }),
      ok: false,
      reason: "timeout",
    },
    {
      name: "http fwmark 9 (dropped)",
      spec: http({ target: rs(80, { fwmark: 9 }) }),
      ok: false,
      reason: "timeout",
    },
    { name: "ssl 500", spec: ssl({ urls: [url("/500")] }), ok: false, reason: "status 500" },
    { name: "ssl on a plain port", spec: ssl({ target: rs(80) }), ok: false, reason: "tls handshake failed" },
    { name: "ssl refused", spec: ssl({ target: rs(8) }), ok: false, reason: "refused" },
    { name: "udp echo, no reply needed", spec: udp(7), ok: true, reason: "ok" },
    { name: "udp silent, no reply needed", spec: udp(9), ok: true, reason: "ok" },
    { name: "udp closed port", spec: udp(10), ok: false, reason: "refused" },
    {
      name: "udp random payload",
      spec: { ...udp(10), payload: undefined } as ProbeSpec,
      ok: false,
      reason: "refused",
    },
    { name: "udp reply matches", spec: udp(7, "68 6x 6c"), ok: true, reason: "ok" },
    { name: "udp any reply", spec: udp(7, ""), ok: true, reason: "ok" },
    { name: "udp reply differs", spec: udp(7, "68 66"), ok: false, reason: "reply mismatch" },
    { name: "udp reply too long", spec: udp(7, "", undefined, 0, 4), ok: false, reason: "reply length 5" },
    { name: "udp reply too short", spec: udp(7, "", undefined, 6), ok: false, reason: "reply length 5" },
    { name: "udp no reply", spec: udp(9, "68"), ok: false, reason: "no reply" },
    { name: "dns SOA .", spec: dns(53), ok: true, reason: "ok" },
    { name: "dns A name", spec: dns(53, "A", "www.probe.test"), ok: true, reason: "ok" },
    { name: "dns SERVFAIL", spec: dns(54), ok: false, reason: "rcode SERVFAIL" },
    { name: "dns another id", spec: dns(55), ok: false, reason: "timeout" },
    { name: "dns closed port", spec: dns(10), ok: false, reason: "refused" },
    { name: "dns blackholed", spec: dns(5353), ok: false, reason: "timeout" },
    { name: "smtp", spec: smtp(25), ok: true, reason: "ok" },
    { name: "smtp 554 banner", spec: smtp(26), ok: false, reason: "banner 554" },
    { name: "smtp HELO refused", spec: smtp(27), ok: false, reason: "helo 501" },
    { name: "smtp on http", spec: smtp(80), ok: false, reason: "timeout" },
    { name: "smtp refused", spec: smtp(8), ok: false, reason: "refused" },
    { name: "ping", spec: { kind: "PING_CHECK", target: rs(0) }, ok: true, reason: "ok" },
    {
      name: "ping with bindto and fwmark",
      spec: { kind: "PING_CHECK", target: rs(0, { bindto: "198.18.0.1", fwmark: 7, bindIf: "eth0" }) },
      ok: true,
      reason: "ok",
    },
    {
      name: "ping fwmark 9 (dropped)",
      spec: { kind: "PING_CHECK", target: rs(0, { fwmark: 9 }) },
      ok: false,
      reason: "EPERM",
    },
    {
      name: "ping no such host",
      spec: { kind: "PING_CHECK", target: { connectIp: "198.18.0.99", connectPort: 0 } },
      ok: false,
      reason: "timeout",
    },
    // IPv6, on the checker's own loopback.
    {
      name: "ping ::1",
      spec: { kind: "PING_CHECK", target: { connectIp: "::1", connectPort: 0 } },
      ok: true,
      reason: "ok",
    },
    {
      name: "tcp [::1] refused",
      spec: { kind: "TCP_CHECK", target: { connectIp: "::1", connectPort: 8 } },
      ok: false,
      reason: "refused",
    },
    {
      name: "udp [::1] refused",
      spec: { ...udp(10), target: { connectIp: "::1", connectPort: 10 } } as ProbeSpec,
      ok: false,
      reason: "refused",
    },
    {
      name: "tcp [::1] fwmark",
      spec: { kind: "TCP_CHECK", target: { connectIp: "::1", connectPort: 8, fwmark: 8 } },
      ok: false,
      reason: "refused",
    },
    ...abortable.map(
      (c): Case => ({
        name: `${c.name}, aborted`,
        spec: c.spec,
        timeoutMs: 1000,
        abortMs: 300,
        ok: false,
        reason: "aborted",
      }),
    ),
  ];
}

/** tslvsadm's command-line parsing: popt rules, value forms, defaults sent to the daemon. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { inetAton, stringToNumber } from "../src/cli/ipvsadm/numbers.js";
import type { Request } from "../src/control/api.js";
import { Ipvsadm } from "./helpers/ipvsadm-run.js";

async function sent(
  line: string | string[],
): Promise<{ req: Request | undefined; code: number; stderr: string }> {
  const ipvsadm = new Ipvsadm();
  await ipvsadm.setup("-A -t 10.0.0.1:80 -s rr");
  const before = ipvsadm.daemon.requests.length;
  const r = await ipvsadm.run(line);
  return { req: ipvsadm.daemon.requests[before], code: r.code, stderr: r.stderr };
}

async function err(line: string | string[]): Promise<[string, number]> {
  const r = await new Ipvsadm().run(line);
  return [r.stderr, r.code];
}

test("short options bundle; -p takes an attached, =attached or following non-dash value", async () => {
  for (const [line, timeout] of [
    ["-At 10.0.0.20:80 -p50", 50],
    ["-At 10.0.0.20:80 -p=50", 50],
    ["-A -t 10.0.0.20:80 -p 10", 10],
    ["-A -t 10.0.0.20:80 -p -s rr", 360],
    ["-A -t 10.0.0.20:0 --persistent", 360],
  ] as const) {
    const { req, code } = await sent(line);
    assert.equal(code, 0, line);
    assert.equal(req?.op === "addService" && req.config.timeout, timeout, line);
  }
});

test("popt errors: unknown option, value on a flag, missing value, no abbreviations (exit 255)", async () => {
  assert.deepEqual(await err("-Lnq"), ["-Lnq: unknown option\n", 255]);
  assert.deepEqual(await err("-L --stats=1"), ["--stats=1: option does not take an argument\n", 255]);
  assert.deepEqual(await err("-A --tcp 10.0.0.1:80"), ["--tcp: unknown option\n", 255]);
  assert.deepEqual(await err("-A -t 10.0.0.1:80 -p -5"), ["-5: unknown option\n", 255]);
  assert.deepEqual(await err("--set -1 2 3"), ["-1: unknown option\n", 255]);
  assert.deepEqual(await err("-A -t 10.0.0.1:80 -p foo"), ["invalid timeout value `foo' specified\n", 2]);
  const tryHelp = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n";
  for (const line of ["-x", "--frobnicate", "--start-daemon", "junk", "-p 5 -A"])
    assert.deepEqual(await err(line), [tryHelp, 255], line);
});

test("value checks run left to right before a popt error further right", async () => {
  assert.deepEqual(await err("-A -t 10.0.0.77:80 -w abc --bogus"), ["illegal weight specified\n", 2]);
  assert.deepEqual(await err("-A -t 10.0.0.77:80 --bogus -w abc"), ["--bogus: unknown option\n", 255]);
});

test("-- ends options; leftovers are refused except --set's three", async () => {
  const { req, code } = await sent("--set -- 10 20 30");
  assert.equal(code, 0);
  assert.deepEqual(req, { op: "setTimeout", timeout: { tcp: 10, tcpfin: 20, udp: 30 } });
  assert.deepEqual(await err("-L -n -- -c"), ["unexpected argument -c\n", 2]);
});

test("integers: decimal strtol with blanks and sign, whole string, range", async () => {
  assert.equal(stringToNumber(" 5", 0, 10), 5);
  assert.equal(stringToNumber("007", 0, 10), 7);
  assert.equal(stringToNumber("+7", 0, 10), 7);
  assert.equal(stringToNumber("0x10", 0, 100), null);
  assert.equal(stringToNumber("5 ", 0, 10), null);
  assert.equal(stringToNumber("", 0, 10), null);
  assert.equal(stringToNumber("99999999999999999999999", 0, 10), null);
  const w = async (v: string) => {
    const { req, code, stderr } = await sent(["-a", "-t", "10.0.0.1:80", "-r", "192.168.0.1", "-w", v]);
    return code === 0 && req?.op === "addDest" ? req.dest.weight : stderr;
  };
  assert.equal(await w(" 5"), 5);
  assert.equal(await w("2147483647"), 2147483647);
  assert.equal(await w("2147483648"), "illegal weight specified\n");
  assert.equal(await w("0x10"), "illegal weight specified\n");
});

test("inet_aton forms: 1 to 4 parts, octal and hex parts", () => {
  assert.equal(inetAton("10.1.1"), 0x0a010001);
  assert.equal(inetAton("012.1.1.1"), 0x0a010101);
  assert.equal(inetAton("0x0a010106"), 0x0a010106);
  assert.equal(inetAton("10.65535"), 0x0a00ffff);
  assert.equal(inetAton("1.2.3.4 trailing"), 0x01020304);
  for (const bad of [
    "",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.2.3.256",
    "08.1.1.1",
    "1..2",
    "a.b.c.d",
    "1.2.3.",
    "0x",
  ])
    assert.equal(inetAton(bad), null, bad);
});

test("service addresses: all-digit refused, brackets, bare IPv6 has no port, port names", async () => {
  const addr = async (text: string) => {
    const { req, code, stderr } = await sent(["-A", "-t", text, "-p"]);
    return code === 0 && req?.op === "addService" ? req.config.id : stderr;
  };
  const bad = "illegal virtual server address[:port] specified\n";
  assert.equal(await addr("12345"), bad);
  assert.deepEqual(await addr("10.1.1:https"), { protocol: "tcp", addr: "10.1.0.1", port: 443 });
  assert.deepEqual(await addr("[2001:db8::1]:80"), { protocol: "tcp", addr: "2001:db8::1", port: 80 });
  assert.deepEqual(await addr("2001:db8::1:80"), { protocol: "tcp", addr: "2001:db8::1:80", port: 0 });
  assert.deepEqual(await addr("[1.2.3.4]:80"), { protocol: "tcp", addr: "1.2.3.4", port: 0 });
  assert.deepEqual(await addr("localhost:22"), { protocol: "tcp", addr: "127.0.0.1", port: 22 });
  assert.equal(await addr("[2001:db8::1]"), bad);
  assert.equal(await addr("[::1]:"), bad);
  assert.equal(await addr("10.0.0.1:80:81"), bad);
  assert.equal(await addr("10.0.0.1:nosuchservice"), bad);
  assert.equal(await addr("no.such.host:80"), bad);
});

test("-E sends the whole description: no -s means wlc, no -p means not persistent", async () => {
  const { req } = await sent("-E -t 10.0.0.1:80");
  assert.deepEqual(req, {
    op: "editService",
    config: {
      id: { protocol: "tcp", addr: "10.0.0.1", port: 80 },
      scheduler: "wlc",
      flags: 0,
      timeout: 0,
      netmask: "255.255.255.255",
      pe: "",
    },
  });
});

test("real servers: DR/tunnel port forced to the service port, -r before -t gets port 0", async () => {
  const dest = async (line: string) => {
    const { req, code, stderr } = await sent(line);
    return code === 0 && req?.op === "addDest" ? [req.dest.port, req.dest.method] : stderr;
  };
  assert.deepEqual(await dest("-a -t 10.0.0.1:80 -r 192.168.0.1:8080"), [80, "route"]);
  assert.deepEqual(await dest("-a -t 10.0.0.1:80 -r 192.168.0.1:8080 -m"), [8080, "masq"]);
  assert.deepEqual(await dest("-a -t 10.0.0.1:80 -r 192.168.0.1 -m"), [80, "masq"]);
  assert.deepEqual(await dest("-a -r 192.168.0.1 -t 10.0.0.1:80 -m"), [0, "masq"]);
  assert.equal(
    await dest("-a -r 192.168.0.1:http -t 10.0.0.1:80 -m"),
    "illegal real server address[:port] specified\n",
  );
});

test("netmasks: IPv4 inet_aton form stored as given, IPv6 a prefix 1..128", async () => {
  const { req } = await sent("-A -t 10.0.0.9:80 -p -M 1.2.3");
  assert.equal(req?.op === "addService" && req.config.netmask, "1.2.0.3");
  const v6 = await sent("-A -t [2001:db8::9]:80 -p -M 64");
  assert.equal(v6.req?.op === "addService" && v6.req.config.netmask, "64");
  assert.deepEqual(await err("-A -t [2001:db8::9]:80 -p -M 0"), ["illegal ipv6 netmask specified\n", 2]);
});

test("start-daemon defaults and value checks", async () => {
  const { req } = await sent("--start-daemon master");
  assert.deepEqual(req, {
    op: "startDaemon",
    config: {
      state: "master",
      mcastIfn: "eth0",
      syncId: 0,
      syncMaxLen: 0,
      mcastGroup: "",
      mcastPort: 0,
      mcastTtl: 0,
    },
  });
  assert.deepEqual(await err("--start-daemon master --syncid 256"), ["illegal syncid specified\n", 2]);
  assert.deepEqual(await err("--start-daemon master --mcast-port 0"), ["illegal mcast-port specified\n", 2]);
  assert.deepEqual(await err("--start-daemon master --mcast-group ff02::zz"), [
    "invalid IPv6 mcast-group `ff02::zz'\n",
    2,
  ]);
  assert.deepEqual(await err("--stop-daemon master --mcast-ttl 2"), [
    "Illegal 'mcast-ttl' option with the 'stop-daemon' command\n",
    2,
  ]);
});

test("restore: a popt error fails that line and the restore goes on", async () => {
  const ipvsadm = new Ipvsadm();
  const r = await ipvsadm.run("-R", { stdin: "-A -t 10.0.0.1:80 --bogus\n-A -t 10.0.0.2:80\n" });
  assert.deepEqual([r.stderr, r.code], ["--bogus: unknown option\n", 0]);
  assert.deepEqual(
    ipvsadm.daemon.director
      .services()
      .map((s) => (s.key.kind === "addr" ? `${s.key.addr}:${s.key.port}` : "fwmark")),
    ["10.0.0.2:80"],
  );
  const last = await ipvsadm.run("-R", {
    stdin: "ipvsadm -A -t 10.0.0.3:80\n\n  \nipvsadm\n-D -t 10.0.0.9:80",
  });
  assert.deepEqual([last.stderr, last.code], ["No such service\n", 255]);
  assert.deepEqual((await ipvsadm.run("-R")).code, 0);
});

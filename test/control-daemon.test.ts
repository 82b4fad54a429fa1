import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { DestConfig, ServiceConfig } from "../src/control/api.js";
import { connect } from "../src/control/client.js";
import { Daemon } from "../src/control/daemon.js";
import { tempDir } from "./support/control-fixtures.js";
import { DaemonProcess, TSLVS_BIN } from "./support/daemon-process.js";
import { RealDirector } from "./support/real-director.js";

const web = { protocol: "tcp", addr: "172.16.0.10", port: 80 } as const;
const dns6 = { protocol: "udp", addr: "2001:db8::53", port: 53 } as const;

function dest(addr: string, port: number, extra: Partial<DestConfig> = {}): DestConfig {
  return {
    addr,
    port,
    method: "masq",
    weight: 1,
    uThreshold: 0,
    lThreshold: 0,
    tunType: "ipip",
    tunPort: 0,
    tunCsum: "nocsum",
    ...extra,
  };
}

function runTslvs(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [TSLVS_BIN, ...args], { encoding: "utf8" }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    ),
  );
}

describe("tslvs start: state across a restart", () => {
  it("saves every change and restores it on the next start", async () => {
    const tmp = tempDir("restart");
    const socket = join(tmp.dir, "tslvs.sock");
    const state = join(tmp.dir, "lib", "state.yaml");
    const args = ["start", "--no-dataplane", "--socket", socket, "--state", state];
    const first = DaemonProcess.spawn(args);
    let second: DaemonProcess | null = null;
    try {
      const c = await first.client(socket);
      const svcConfig: ServiceConfig = {
        id: web,
        scheduler: "wrr",
        flags: 1,
        timeout: 600,
        netmask: "255.255.255.0",
        pe: "",
      };
      await c.call({ op: "addService", config: svcConfig });
      await c.call({
        op: "addDest",
        service: web,
        dest: dest("192.168.10.2", 80, { uThreshold: 100, lThreshold: 10 }),
      });
      await c.call({ op: "addDest", service: web, dest: dest("192.168.10.3", 8080, { weight: 3 }) });
      await c.call({
        op: "addDest",
        service: web,
        dest: dest("192.168.10.4", 80, { method: "tunnel", tunType: "gue", tunPort: 6080, tunCsum: "csum" }),
      });
      await c.call({ op: "addLaddr", service: web, addr: "198.18.1.1", ifname: "eth1" });
      await c.call({
        op: "addService",
        config: { id: dns6, scheduler: "sh", flags: 4 | 8, timeout: 0, netmask: "128", pe: "" },
      });
      await c.call({ op: "addDest", service: dns6, dest: dest("2001:db8::10", 53) });
      await c.call({ op: "setTimeout", timeout: { tcp: 1000, tcpfin: 0, udp: 30 } });
      await c.call({ op: "setSysctl", name: "expire_nodest_conn", value: 1 });
      await c.call({
        op: "startDaemon",
        config: {
          state: "backup",
          mcastIfn: "lo",
          syncId: 9,
          syncMaxLen: 0,
          mcastGroup: "",
          mcastPort: 0,
          mcastTtl: 0,
        },
      });
      const services = await c.call({ op: "getServices" });
      const laddrs = await c.call({ op: "getLaddrs", service: web });
      const daemons = await c.call({ op: "getDaemons" });
      c.close();
      assert.ok(
        services[0]!.dests.every((d) => d.notActedOn === undefined),
        "every dest option is acted on (the gue tunnel included)",
      );
      assert.deepEqual(daemons[0]!.notActedOn, ["sync daemon"]);

      assert.equal(await first.stop("SIGTERM"), 0);
      assert.equal(existsSync(socket), false, "the socket is removed on a clean stop");
      assert.ok(existsSync(state));
      const warned = first.logs.filter((l) => l.option === "sync daemon");
      assert.equal(warned.length, 1, "a not-acted-on option is logged once");

      second = DaemonProcess.spawn(args);
      const c2 = await second.client(socket);
      assert.deepEqual(await c2.call({ op: "getServices" }), services);
      assert.deepEqual(await c2.call({ op: "getLaddrs", service: web }), laddrs);
      assert.deepEqual(await c2.call({ op: "getDaemons" }), daemons);
      assert.deepEqual(await c2.call({ op: "getTimeout" }), { tcp: 1000, tcpfin: 120, udp: 30 });
      assert.deepEqual(await c2.call({ op: "getSysctl", name: "expire_nodest_conn" }), {
        expire_nodest_conn: 1,
      });
      c2.close();
      assert.equal(await second.stop("SIGINT"), 0);
    } finally {
      first.kill();
      second?.kill();
      tmp.cleanup();
    }
  });

  it("refuses to start a second daemon on a live socket, and refuses a malformed state file", async () => {
    const tmp = tempDir("second");
    const socket = join(tmp.dir, "tslvs.sock");
    const first = DaemonProcess.spawn([
      "start",
      "--no-dataplane",
      "--socket",
      socket,
      "--state",
      join(tmp.dir, "a.yaml"),
    ]);
    try {
      (await first.client(socket)).close();
      const second = await runTslvs([
        "start",
        "--no-dataplane",
        "--socket",
        socket,
        "--state",
        join(tmp.dir, "b.yaml"),
      ]);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /another tslvs daemon is serving/);
      assert.ok(first.running);
      assert.equal(await first.stop(), 0);

      const bad = join(tmp.dir, "bad.yaml");
      writeFileSync(bad, "services:\n  - tcp: 10.0.0.1:80\n    weight: 1\n");
      const r = await runTslvs(["start", "--no-dataplane", "--socket", socket, "--state", bad]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /bad\.yaml:3: unknown key "weight"/);
      assert.equal(existsSync(socket), false);

      const knob = join(tmp.dir, "knob.yaml");
      writeFileSync(knob, "sysctls:\n  expire_nodest_conn: 1\n  no_such_knob: 1\n");
      const k = await runTslvs(["start", "--no-dataplane", "--socket", socket, "--config", knob]);
      assert.equal(k.code, 1);
      assert.match(k.stderr, /knob\.yaml:3: unknown sysctl no_such_knob/);
    } finally {
      first.kill();
      tmp.cleanup();
    }
  });
});

describe("tslvs start --config: SIGHUP reload", () => {
  it("applies only the difference, removes rules the file lacks, ignores a malformed file", async () => {
    const tmp = tempDir("reload");
    const socket = join(tmp.dir, "tslvs.sock");
    const config = join(tmp.dir, "tslvs.yaml");
    writeFileSync(
      config,
      `services:
  - tcp: 172.16.0.10:80
    scheduler: wrr
    servers:
      - { address: 192.168.10.2:80, method: masq, weight: 1 }
      - { address: 192.168.10.3:80, method: masq, weight: 1 }
  - udp: 172.16.0.10:53
    scheduler: rr
`,
    );
    const d = DaemonProcess.spawn([
      "start",
      "--no-dataplane",
      "--socket",
      socket,
      "--config",
      config,
      "--state",
      join(tmp.dir, "unused.yaml"),
    ]);
    try {
      const c = await d.client(socket);
      assert.equal((await c.call({ op: "getServices" })).length, 2);
      // A rule added by hand, which the file lacks.
      await c.call({
        op: "addService",
        config: {
          id: { protocol: "tcp", addr: "10.9.9.9", port: 22 },
          scheduler: "rr",
          flags: 0,
          timeout: 0,
          netmask: "255.255.255.255",
          pe: "",
        },
      });
      writeFileSync(
        config,
        `services:
  - tcp: 172.16.0.10:80
    scheduler: wrr
    servers:
      - { address: 192.168.10.2:80, method: masq, weight: 1 }
      - { address: 192.168.10.3:80, method: masq, weight: 5 }
      - { address: 192.168.10.4:80, method: masq, weight: 1 }
  - udp: 172.16.0.10:53
    scheduler: rr
`,
      );
      const before = d.logs.length;
      d.child.kill("SIGHUP");
      await d.waitForLog((l) => l.msg === "rules applied", 2);
      const changes = d.logs
        .slice(before)
        .filter((l) => l.change)
        .map((l) => l.msg);
      assert.deepEqual(changes, [
        "delete service tcp 10.9.9.9:22",
        "edit dest tcp 172.16.0.10:80 -> 192.168.10.3:80",
        "add dest tcp 172.16.0.10:80 -> 192.168.10.4:80",
      ]);
      const after = await c.call({ op: "getServices" });
      assert.deepEqual(
        after.map((s) => [s.id.protocol, s.id.port, s.dests.map((x) => `${x.addr}/${x.weight}`)]),
        [
          ["tcp", 80, ["192.168.10.4/1", "192.168.10.3/5", "192.168.10.2/1"]],
          ["udp", 53, []],
        ],
      );

      writeFileSync(config, "services:\n  - tcp: 172.16.0.10:80\n    scheduler: [wrr\n");
      d.child.kill("SIGHUP");
      const refused = await d.waitForLog(
        (l) => typeof l.msg === "string" && l.msg.startsWith("reload refused"),
      );
      assert.match(String(refused.msg), /tslvs\.yaml:\d+: /);
      assert.deepEqual(await c.call({ op: "getServices" }), after, "a malformed file changes nothing");
      c.close();
      assert.equal(await d.stop(), 0);
      assert.equal(existsSync(join(tmp.dir, "unused.yaml")), false, "with --config no state file is written");
    } finally {
      d.kill();
      tmp.cleanup();
    }
  });
});

describe("tslvs start: connection table size", () => {
  it("takes the bucket count and capacity from --conn-tab-bits and --conn-capacity", async () => {
    const tmp = tempDir("conntab");
    const socket = join(tmp.dir, "tslvs.sock");
    const d = DaemonProcess.spawn([
      "start",
      "--no-dataplane",
      "--socket",
      socket,
      "--state",
      join(tmp.dir, "state.yaml"),
      "--conn-tab-bits",
      "16",
      "--conn-capacity",
      "200000",
    ]);
    try {
      const c = await d.client(socket);
      const info = await c.call({ op: "getInfo" });
      assert.equal(info.connTabSize, 65536);
      c.close();
      assert.equal(await d.stop(), 0);
    } finally {
      d.kill();
      tmp.cleanup();
    }
  });

  it("refuses values out of range before starting", async () => {
    for (const [flag, value, msg] of [
      ["--conn-tab-bits", "7", /--conn-tab-bits must be an integer 8\.\.27/],
      ["--conn-tab-bits", "28", /--conn-tab-bits must be an integer 8\.\.27/],
      ["--conn-capacity", "0", /--conn-capacity must be a positive integer/],
      ["--conn-capacity", "1e6", /--conn-capacity must be a positive integer/],
    ] as const) {
      const r = await runTslvs(["start", "--no-dataplane", flag, value]);
      assert.equal(r.code, 2, `${flag} ${value}`);
      assert.match(r.stderr, msg);
    }
  });
});

describe("tslvs sysctl and help", () => {
  it("reads and sets sysctls through the daemon", async () => {
    const tmp = tempDir("sysctl");
    const socket = join(tmp.dir, "tslvs.sock");
    const d = DaemonProcess.spawn([
      "start",
      "--no-dataplane",
      "--socket",
      socket,
      "--state",
      join(tmp.dir, "s.yaml"),
    ]);
    try {
      (await d.client(socket)).close();
      const all = await runTslvs(["sysctl", "--socket", socket]);
      assert.equal(all.code, 0);
      assert.match(all.stdout, /^conn_reuse_mode = 1$/m);
      assert.match(all.stdout, /^expire_nodest_conn = 0$/m);
      const set = await runTslvs(["sysctl", "--socket", socket, "net.ipv4.vs.expire_nodest_conn=1"]);
      assert.deepEqual([set.code, set.stdout], [0, "expire_nodest_conn = 1\n"]);
      const one = await runTslvs(["sysctl", "--socket", socket, "expire_nodest_conn"]);
      assert.equal(one.stdout, "expire_nodest_conn = 1\n");
      const unknown = await runTslvs(["sysctl", "--socket", socket, "no_such_knob"]);
      assert.deepEqual([unknown.code, unknown.stderr], [1, "tslvs sysctl: unknown sysctl no_such_knob\n"]);
      const range = await runTslvs(["sysctl", "--socket", socket, "secure_tcp=7"]);
      assert.equal(range.code, 1);
      const notInt = await runTslvs(["sysctl", "--socket", socket, "pmtu_disc=abc"]);
      assert.equal(notInt.code, 2);
      // sync_threshold is a pair, printed tab-separated as /proc/sys prints it, kept in the state.
      assert.match(all.stdout, /^sync_threshold = 3\t50$/m);
      const pair = await runTslvs(["sysctl", "--socket", socket, "sync_threshold=10 100"]);
      assert.deepEqual([pair.code, pair.stdout], [0, "sync_threshold = 10\t100\n"]);
      assert.match(readFileSync(join(tmp.dir, "s.yaml"), "utf8"), /^ {2}sync_threshold: \[10, 100\]$/m);
      const badPair = await runTslvs(["sysctl", "--socket", socket, "sync_threshold=100,10"]);
      assert.equal(badPair.code, 1);
      assert.match(badPair.stderr, /threshold must be below the period/);
      assert.equal(
        (await runTslvs(["sysctl", "--socket", socket, "sync_threshold"])).stdout,
        "sync_threshold = 10\t100\n",
      );
      assert.equal(await d.stop(), 0);
      const noDaemon = await runTslvs(["sysctl", "--socket", socket]);
      assert.equal(noDaemon.code, 1);
      assert.match(noDaemon.stderr, /cannot reach the tslvs daemon .* \(ENOENT\)/);
    } finally {
      d.kill();
      tmp.cleanup();
    }
  });

  it("says what it does, and lab and rs without arguments print their usage", async () => {
    const help = await runTslvs(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /lab nat\|dr\|tun\|fullnat/);
    assert.match(help.stdout, /rs --mode dr\|tun --vip VIP/);
    const lab = await runTslvs(["lab"]);
    assert.deepEqual(
      [lab.code, lab.stderr.split("\n")[0]],
      [2, "usage: tslvs lab nat|dr|tun|fullnat [--keep] | tslvs lab clean"],
    );
    const rs = await runTslvs(["rs"]);
    assert.deepEqual([rs.code, rs.stderr.split("\n")[0]], [2, "tslvs rs: --mode must be dr or tun"]);
    const noVip = await runTslvs(["rs", "--mode", "tun"]);
    assert.deepEqual(
      [noVip.code, noVip.stderr.split("\n")[0]],
      [2, "tslvs rs: at least one --vip is needed"],
    );
    assert.equal((await runTslvs(["start", "--bogus"])).code, 2);
  });
});

describe("Daemon in process", () => {
  it("ticks the director with the injected clock and runs stop hooks before removing the socket", async () => {
    const tmp = tempDir("inproc");
    const socket = join(tmp.dir, "tslvs.sock");
    const director = new RealDirector();
    const daemon = await Daemon.start(
      { socketPath: socket, statePath: join(tmp.dir, "s.yaml"), logLevel: "silent", interfaces: [] },
      { director, clock: () => 1234.5, tickMs: 5, logger: pino({ level: "silent" }) },
    );
    try {
      while (director.ticks.length < 2) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(director.ticks.slice(0, 2), [1234.5, 1234.5]);
      let socketDuringHook: boolean | null = null;
      daemon.onStop.push(() => {
        socketDuringHook = existsSync(socket);
      });
      const c = await connect(socket);
      await c.call({ op: "flush" });
      c.close();
      await daemon.stop("test");
      assert.equal(socketDuringHook, true);
      assert.equal(existsSync(socket), false);
    } finally {
      await daemon.stop("test");
      tmp.cleanup();
    }
  });
});

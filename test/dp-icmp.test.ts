import assert from "node:assert/strict";
import { type ChildProcess, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { RS_SERVER_JS, TSLVS_BIN, TSLVSADM_BIN } from "../src/cli/lab/paths.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import { haveRoot } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

// ICMP errors about a connection through LVS-NAT (spec §7.4), in the classic NAT lab:
// - the real server answers a UDP datagram for a port where nothing listens with port unreachable;
//   the client must get it from the VIP, quoting its own datagram to VIP:vport, so that its
//   connected UDP socket reports ECONNREFUSED (the kernel matches the quote to the socket);
// - the client answers an echo that arrives after its socket closed with port unreachable to the
//   VIP; the real server must get it translated (to RS, about RS:rport -> client);
// - IPv4 fragments are dropped and counted (docs/decisions/0551-fragments.md).

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function waitOutput(p: ChildProcess, re: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let all = "";
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms; got: ${all}`)), ms);
    const on = (d: Buffer) => {
      all += d.toString();
      if (re.test(all)) {
        clearTimeout(timer);
        resolve(all);
      }
    };
    p.stdout?.on("data", on);
    p.stderr?.on("data", on);
  });
}

const UDP_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect((sys.argv[1], int(sys.argv[2])))
if sys.argv[3] == "big":
    s.send(b"x" * 3000)
    try:
        s.recv(4000)
        print("answered")
    except socket.timeout:
        print("timeout")
    sys.exit(0)
if sys.argv[3] == "close":
    s.send(b"bye")
    s.close()
    print("closed")
    sys.exit(0)
for i in range(5):
    s.send(b"hello")
    try:
        s.recv(100)
        print("answered")
    except ConnectionRefusedError:
        print("refused")
        sys.exit(0)
    except socket.timeout:
        print("timeout")
`;

test("NAT: ICMP port unreachable from the real server reaches the client translated, the client's reaches the RS; fragments are dropped and counted", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("icmp"));
  const dir = mkdtempSync(join(tmpdir(), "rbt-icmp-"));
  const sock = join(dir, "tslvs.sock");
  let daemon: ChildProcess | undefined;
  let daemonLog = "";
  const adm = (args: string[]) =>
    execFileSync(process.execPath, [TSLVSADM_BIN, ...args], {
      encoding: "utf8",
      env: { ...process.env, TSLVS_SOCKET: sock },
    });
  try {
    const topo = buildNatLab(lab, 1);
    const rs = topo.servers[0]!;
    for (const [h, i] of [
      [topo.client, "eth0"],
      [topo.director, topo.outsideIf],
      [topo.director, topo.insideIf],
      [rs.host, "eth0"],
    ] as const)
      lab.exec(h, ["ethtool", "-K", i, "tx", "off", "tso", "off", "gso", "off"]);
    const server = lab.spawn(rs.host, [process.execPath, RS_SERVER_JS, "--name", "RS2", "--port", "80"]);
    await waitOutput(server, /./, 5000);
    daemon = lab.spawn(topo.director, [
      process.execPath,
      TSLVS_BIN,
      "start",
      "--socket",
      sock,
      "--state",
      join(dir, "state.yaml"),
      "--interface",
      topo.outsideIf,
      "--interface",
      topo.insideIf,
      "--restart-grace",
      "0",
    ]);
    daemon.stdout?.on("data", (d: Buffer) => (daemonLog += d.toString()));
    await waitOutput(daemon, /serving interface[\s\S]*serving interface/, 15000);
    adm(["-A", "-u", `${topo.vip}:5353`, "-s", "rr"]);
    adm(["-a", "-u", `${topo.vip}:5353`, "-r", `${rs.rip}:5353`, "-m"]);
    adm(["-A", "-u", `${topo.vip}:80`, "-s", "rr"]);
    adm(["-a", "-u", `${topo.vip}:80`, "-r", `${rs.rip}:80`, "-m"]);
    await sleep(200);

    // Nothing listens on the RS's 5353: its port unreachable comes back as the VIP's.
    const out = lab.exec(topo.client, ["python3", "-c", UDP_CLIENT, topo.vip, "5353", "ask"]);
    t.diagnostic(out);
    assert.match(out, /refused/, "the client's connected socket saw the translated port unreachable");

    // The echo comes back after the client's socket closed: its port unreachable goes to the RS.
    const dump = lab.spawn(rs.host, ["tcpdump", "-i", "eth0", "-n", "-l", "-c", "1", "icmp"]);
    await waitOutput(dump, /listening on/, 5000);
    const seen = waitOutput(dump, /ICMP/, 15000);
    // A datagram can be lost while a next hop is being resolved: send again until the RS saw one.
    let got = false;
    void seen.then(
      () => (got = true),
      () => {},
    );
    for (let k = 0; k < 5 && !got; k++) {
      lab.exec(topo.client, ["python3", "-c", UDP_CLIENT, topo.vip, "80", "close"]);
      await sleep(1000);
    }
    const line = await seen;
    t.diagnostic(line);
    assert.match(
      line,
      new RegExp(
        `${topo.cip.replace(/\./g, "\\.")} > ${rs.rip.replace(/\./g, "\\.")}: ICMP ${topo.cip.replace(/\./g, "\\.")} udp port \\d+ unreachable`,
      ),
    );

    // A datagram the client fragments (3000 bytes over a 1500-byte MTU) is dropped whole and
    // counted; a whole datagram to the same service still gets its answer.
    assert.match(lab.exec(topo.client, ["python3", "-c", UDP_CLIENT, topo.vip, "80", "big"]), /timeout/);
    assert.match(lab.exec(topo.client, ["python3", "-c", UDP_CLIENT, topo.vip, "80", "ask"]), /answered/);
    const exited = new Promise((r) => daemon!.once("exit", r));
    daemon.kill("SIGTERM");
    await exited;
    const stopped = daemonLog.split("\n").find((l) => l.includes("packet engine stopped"));
    const counters = JSON.parse(stopped!).counters as Record<string, number>;
    t.diagnostic(JSON.stringify(counters));
    assert.ok(counters.fragmentsDropped! >= 3, "every fragment was counted");
  } finally {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once("exit", r));
      daemon.kill("SIGTERM");
      await Promise.race([exited, sleep(3000)]);
      t.diagnostic(
        daemonLog
          .split("\n")
          .filter((l) => l.includes("packet engine stopped"))
          .join("\n"),
      );
    }
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

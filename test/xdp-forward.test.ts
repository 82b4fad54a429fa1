import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import { haveRoot } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";
import { waitForLine } from "./support/wait-for-line.js";

// One DR segment (a bridge in its own namespace) joins the client, the director (two ports: d0 faces
// the clients and carries the VIP, d1 only transmits) and the real server, which holds the VIP on
// lo and answers the client directly — replies bypass the director, as in LVS-DR.
//
//   cli eth0 198.18.0.1 ─┐
//   dir d0   198.18.0.2 + VIP 198.18.0.100 ─┤ br0 (ns sw)
//   dir d1   (no address, AF_XDP TX) ─┤
//   rs  eth0 198.18.0.3, lo VIP ─┘
const CLIENT = "198.18.0.1";
const DIRECTOR = "198.18.0.2";
const RS = "198.18.0.3";
const VIP = "198.18.0.100";
const UDP_PORT = 7;
const HTTP_PORT = 80;
const DIRECTOR_OWN_PORT = 2222;

const support = (name: string) => fileURLToPath(new URL(`./support/${name}.js`, import.meta.url));

interface Stats {
  forwarded: number;
  perQueue: number[];
  notForUs: number;
  maxTxBatch: number;
  steering: Record<string, number>;
  rx: Record<string, number>;
}

async function askStats(fwd: ChildProcess): Promise<Stats> {
  const line = waitForLine(fwd, "stats ");
  fwd.stdin!.write("stats\n");
  return JSON.parse(await line) as Stats;
}

function buildLab(lab: NetLab, directorQueues = 1) {
  const [sw, cli, dir, rs] = ["sw", "cli", "dir", "rs"];
  for (const host of [sw, cli, dir, rs]) lab.addHost(host);
  lab.exec(sw, ["ip", "link", "add", "br0", "type", "bridge"]);
  lab.exec(sw, ["ip", "link", "set", "br0", "up"]);
  lab.link(cli, "eth0", sw, "pcli");
  lab.link(dir, "d0", sw, "pd0", directorQueues);
  lab.link(dir, "d1", sw, "pd1");
  lab.link(rs, "eth0", sw, "prs");
  for (const port of ["pcli", "pd0", "pd1", "prs"])
    lab.exec(sw, ["ip", "link", "set", port, "master", "br0"]);

  lab.exec(cli, ["ip", "addr", "add", `${CLIENT}/24`, "dev", "eth0"]);
  // A veth hands its peer locally made packets with partial L4 checksums (CHECKSUM_PARTIAL: only the
  // pseudo-header sum in the field). AF_XDP copies bytes, not that state, so a frame forwarded
  // through the UMEM would reach the real server with an invalid checksum; a NIC never delivers
  // such frames. Make the client compute full checksums, as a host behind a NIC does.
  lab.exec(cli, ["ethtool", "-K", "eth0", "tx", "off"]);
  lab.exec(dir, ["ip", "addr", "add", `${DIRECTOR}/24`, "dev", "d0"]);
  lab.exec(dir, ["ip", "addr", "add", `${VIP}/32`, "dev", "d0"]);
  // d1 has no address; it must not answer ARP for the director's addresses either.
  lab.sysctl(dir, "net.ipv4.conf.all.arp_ignore", 1);
  lab.sysctl(dir, "net.ipv4.conf.all.arp_announce", 2);
  lab.exec(rs, ["ip", "addr", "add", `${RS}/24`, "dev", "eth0"]);
  lab.exec(rs, ["ip", "addr", "add", `${VIP}/32`, "dev", "lo"]);
  lab.sysctl(rs, "net.ipv4.conf.all.arp_ignore", 1);
  lab.sysctl(rs, "net.ipv4.conf.all.arp_announce", 2);
  lab.sysctl(rs, "net.ipv4.conf.eth0.arp_ignore", 1);
  lab.sysctl(rs, "net.ipv4.conf.eth0.arp_announce", 2);
  return { sw, cli, dir, rs };
}

/** Starts the test forwarder (support/xdp-dr-forwarder) on d0 -> d1 toward the RS's MAC. */
function startForwarder(lab: NetLab, dir: string, rs: string, ...extra: string[]): ChildProcess {
  const args = ["--in", "d0", "--out", "d1", "--vip", VIP, "--rs-mac", lab.mac(rs, "eth0")];
  return lab.spawn(dir, [
    process.execPath,
    support("xdp-dr-forwarder"),
    ...args,
    "--udp",
    String(UDP_PORT),
    ...extra,
  ]);
}

for (const mode of ["generic", "native"] as const) {
  test(`AF_XDP DR forwarding (${mode} XDP): UDP and HTTP through the VIP, host traffic untouched`, async (t) => {
    if (!haveRoot(t)) return;
    const lab = new NetLab(labPrefix(mode === "generic" ? "xg" : "xn"));
    try {
      const { cli, dir, rs } = buildLab(lab);

      const servers = lab.spawn(rs, [
        process.execPath,
        support("tiny-servers"),
        "--name",
        "rs1",
        "--http",
        String(HTTP_PORT),
        "--udp",
        String(UDP_PORT),
      ]);
      const own = lab.spawn(dir, [
        process.execPath,
        support("tiny-servers"),
        "--name",
        "director",
        "--http",
        String(DIRECTOR_OWN_PORT),
      ]);
      await Promise.all([waitForLine(servers, "listening"), waitForLine(own, "listening")]);

      const fwd = startForwarder(lab, dir, rs, "--tcp", String(HTTP_PORT), "--mode", mode);
      const ready = JSON.parse(await waitForLine(fwd, "ready "));
      t.diagnostic(`forwarder: ${JSON.stringify(ready)}`);
      assert.equal(ready.mode, mode);
      // `ip link` shows "xdpgeneric" for generic mode and "xdp" for native (driver) mode.
      assert.match(lab.exec(dir, ["ip", "link", "show", "d0"]), mode === "generic" ? /xdpgeneric/ : / xdp /);

      // UDP request/response through the VIP: the real server answers.
      const echo = lab
        .exec(cli, [process.execPath, support("udp-ask"), VIP, String(UDP_PORT), "hello"])
        .trim();
      assert.equal(echo, "rs1:hello");

      // HTTP through the VIP; the real server sees the client's own address (DR keeps it).
      const page = lab.exec(cli, ["curl", "-sS", "--max-time", "10", `http://${VIP}:${HTTP_PORT}/`]);
      assert.equal(page, `served by rs1 to ${CLIENT}\n`);

      // A 1 MiB answer goes from the real server straight to the client: the director's ports
      // receive only the client's side (request and ACKs).
      const rxBefore = lab.counter(dir, "d0", "rx_bytes") + lab.counter(dir, "d1", "rx_bytes");
      const size = lab.exec(cli, [
        "curl",
        "-sS",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        `http://${VIP}/bytes/1048576`,
      ]);
      const rxAfter = lab.counter(dir, "d0", "rx_bytes") + lab.counter(dir, "d1", "rx_bytes");
      assert.equal(Number(size), 1048576);
      t.diagnostic(`director received ${rxAfter - rxBefore} bytes while 1 MiB was served`);
      assert.ok(
        rxAfter - rxBefore < 256 * 1024,
        `the reply crossed the director (${rxAfter - rxBefore} bytes)`,
      );

      const mid = await askStats(fwd);
      t.diagnostic(`after VIP traffic: ${JSON.stringify(mid)}`);
      assert.ok(mid.forwarded > 0);
      assert.ok(
        (mid.steering.SERVICE ?? 0) >= mid.forwarded,
        "every forwarded frame was steered as a service",
      );

      // Traffic for the director itself passes to its host stack: ping to its address and to the
      // VIP (the host answers ICMP echo), TCP to a port of its own, ARP.
      lab.exec(cli, ["ping", "-c", "2", "-W", "2", "-i", "0.2", DIRECTOR]);
      lab.exec(cli, ["ping", "-c", "1", "-W", "2", VIP]);
      const own2 = lab.exec(cli, [
        "curl",
        "-sS",
        "--max-time",
        "10",
        `http://${DIRECTOR}:${DIRECTOR_OWN_PORT}/`,
      ]);
      assert.equal(own2, `served by director to ${CLIENT}\n`);
      const end = await askStats(fwd);
      t.diagnostic(`after host traffic: ${JSON.stringify(end)}`);
      assert.equal(end.forwarded, mid.forwarded, "host traffic was not forwarded");
      assert.ok(
        end.steering.PASS_NO_MATCH! > mid.steering.PASS_NO_MATCH!,
        "host IPv4 traffic passed the program",
      );
      assert.ok(end.rx.rxDropped === 0, "the AF_XDP socket dropped nothing");

      fwd.stdin!.write("quit\n");
      const code = await new Promise<number | null>((resolve) => fwd.on("exit", resolve));
      assert.equal(code, 0);
      assert.doesNotMatch(lab.exec(dir, ["ip", "link", "show", "d0"]), /xdp/, "quit detached the program");
    } finally {
      const problems = await lab.destroy();
      assert.deepEqual(problems, [], "every namespace was removed");
    }
  });
}

test("2000 datagrams through 64-entry rings: ring indexes wrap, nothing is lost", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("xw"));
  try {
    const { cli, dir, rs } = buildLab(lab);
    const servers = lab.spawn(rs, [process.execPath, support("tiny-servers"), "--udp", String(UDP_PORT)]);
    await waitForLine(servers, "listening");
    const fwd = startForwarder(lab, dir, rs, "--ring", "64");
    await waitForLine(fwd, "ready ");
    const load = JSON.parse(
      lab.exec(cli, [process.execPath, support("udp-window"), VIP, String(UDP_PORT), "2000", "48"]),
    );
    const stats = await askStats(fwd);
    t.diagnostic(`client: ${JSON.stringify(load)}; forwarder: ${JSON.stringify(stats)}`);
    t.diagnostic(`largest TX flush: ${stats.maxTxBatch} frames`);
    assert.equal(load.answered, 2000);
    assert.ok(stats.forwarded >= 2000, "every datagram crossed the forwarder");
    assert.equal(stats.forwarded, stats.steering.SERVICE, "no steered frame was lost inside the forwarder");
    assert.equal(
      stats.notForUs,
      0,
      "no flooded copy of a frame for the real server came back through AF_XDP",
    );
  } finally {
    assert.deepEqual(await lab.destroy(), []);
  }
});

test("one AF_XDP socket per RX queue: a two-queue interface gets two sockets sharing the UMEM", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("xq"));
  try {
    const { cli, dir, rs } = buildLab(lab, 2);
    const servers = lab.spawn(rs, [
      process.execPath,
      support("tiny-servers"),
      "--name",
      "rs1",
      "--udp",
      String(UDP_PORT),
    ]);
    await waitForLine(servers, "listening");
    // Generic XDP on veth sees every frame as queue 0 (no RX queue is recorded on that path);
    // native XDP runs per veth queue.
    const fwd = startForwarder(lab, dir, rs, "--mode", "native");
    const ready = JSON.parse(await waitForLine(fwd, "ready "));
    assert.equal(ready.queues, 2);
    // Each request comes from a new source port (a new flow, hashed to either queue).
    for (let i = 0; i < 8; i++) {
      assert.equal(
        lab.exec(cli, [process.execPath, support("udp-ask"), VIP, String(UDP_PORT), `q${i}`]).trim(),
        `rs1:q${i}`,
      );
    }
    const stats = await askStats(fwd);
    t.diagnostic(`frames per RX queue: ${JSON.stringify(stats.perQueue)}`);
    assert.equal(stats.perQueue.length, 2);
    assert.ok(stats.forwarded >= 8);
  } finally {
    assert.deepEqual(await lab.destroy(), []);
  }
});

test("one flush of 200 frames: copy-mode TX kicks once per 32 frames until the ring is drained", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("xb"));
  try {
    const ns = "burst";
    lab.addHost(ns);
    // No IPv6, so no router solicitation adds to the interface's packet count.
    lab.sysctl(ns, "net.ipv6.conf.all.disable_ipv6", 1);
    lab.sysctl(ns, "net.ipv6.conf.default.disable_ipv6", 1);
    lab.link(ns, "tx0", ns, "tx1");
    const before = lab.counter(ns, "tx0", "tx_packets");
    const out = JSON.parse(lab.exec(ns, [process.execPath, support("xsk-burst"), "tx0", "200"]));
    const sent = lab.counter(ns, "tx0", "tx_packets") - before;
    t.diagnostic(JSON.stringify({ ...out, sent }));
    assert.equal(sent, 200, "every frame left the interface");
    assert.equal(out.completed, 200, "every frame came back on the completion ring");
    assert.equal(out.freeFrames, 1024, "and went back to the UMEM's free list");
    assert.ok(out.flushCalls >= Math.ceil(200 / 32), `at least 7 sendto() calls, got ${out.flushCalls}`);
  } finally {
    assert.deepEqual(await lab.destroy(), []);
  }
});

test("a killed forwarder leaves no XDP program on the interface (BPF link)", async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("xk"));
  try {
    const { dir, rs } = buildLab(lab);
    const fwd = startForwarder(lab, dir, rs);
    await waitForLine(fwd, "ready ");
    assert.match(lab.exec(dir, ["ip", "link", "show", "d0"]), /xdpgeneric/);
    // kill -9 the forwarder itself (not the `ip netns exec` wrapper, which exec()s into node).
    const exited = new Promise<NodeJS.Signals | null>((resolve) => fwd.on("exit", (_c, sig) => resolve(sig)));
    process.kill(fwd.pid!, "SIGKILL");
    assert.equal(await exited, "SIGKILL");
    // The kernel releases the link when the last fd goes; that happens as the process is reaped.
    let shown = lab.exec(dir, ["ip", "link", "show", "d0"]);
    for (let i = 0; i < 50 && /xdp/.test(shown); i++) {
      await new Promise((r) => setTimeout(r, 100));
      shown = lab.exec(dir, ["ip", "link", "show", "d0"]);
    }
    assert.doesNotMatch(shown, /xdp/);
  } finally {
    assert.deepEqual(await lab.destroy(), []);
  }
});

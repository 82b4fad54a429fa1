/**
 * `tslvs trace --capture` on the classic NAT lab with the data plane: a 200 kB download made during
 * the capture's window (long enough to be on the fast path without it) is in the pcap from the SYN
 * to the FIN, both as received and as sent (the client's packets to the VIP and the NAT'd ones to
 * the real server, the real server's replies and the VIP's to the client), tcpdump reads it, and
 * the data bytes seen in each direction are the transfer's. A connection captured while it runs
 * is off the fast path during the capture and back on it after.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { TSLVS_BIN } from "../src/cli/lab/paths.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import {
  curl,
  DirectorProcess,
  LineProcess,
  labPrefix,
  sleep,
  startRealServers,
} from "./support/dp-harness.js";
import { haveRoot, needsCommand } from "./support/privileged.js";
import { pacedDownload, trace, untilOnFastPath } from "./support/trace-lab.js";

function startCapture(
  d: DirectorProcess,
  vip: string,
  client: string,
  file: string,
  seconds: number,
): LineProcess {
  return new LineProcess(
    spawn(
      "node",
      [
        TSLVS_BIN,
        "trace",
        "-t",
        `${vip}:80`,
        "--client",
        client,
        "--capture",
        file,
        "--seconds",
        String(seconds),
        "--socket",
        d.socket,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    ),
    "tslvs trace --capture",
  );
}

interface Seg {
  src: string;
  dst: string;
  flags: string;
  start: number;
  end: number;
  length: number;
}

/** The TCP segments tcpdump reads from a pcap file (absolute sequence numbers). */
function readPcap(file: string): Seg[] {
  const r = spawnSync("tcpdump", ["-nn", "-S", "-r", file], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const segs: Seg[] = [];
  for (const line of r.stdout.split("\n")) {
    const m = / IP (\S+) > (\S+): Flags \[([^\]]*)\](?:, seq (\d+)(?::(\d+))?)?.*, length (\d+)/.exec(line);
    if (!m) continue;
    const start = Number(m[4] ?? 0);
    segs.push({
      src: m[1]!,
      dst: m[2]!.replace(/:$/, ""),
      flags: m[3]!,
      start,
      end: m[5] === undefined ? start : Number(m[5]),
      length: Number(m[6]),
    });
  }
  return segs;
}

/** The data bytes a direction's segments cover (retransmissions counted once). */
function dataBytes(segs: Seg[], src: string, dst: string): number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of segs) {
    if (s.src !== src || s.dst !== dst || s.length === 0) continue;
    lo = Math.min(lo, s.start);
    hi = Math.max(hi, s.end);
  }
  return hi > lo ? hi - lo : 0;
}

test("tslvs trace --capture: one connection's frames, as received and as sent, into a pcap (NAT lab)", {
  timeout: 120_000,
  skip: needsCommand("tcpdump"),
}, async (t) => {
  if (!haveRoot(t)) return;
  const lab = new NetLab(labPrefix("tcap"));
  const dir = mkdtempSync(join(tmpdir(), "tslvs-capture-"));
  let d: DirectorProcess | undefined;
  let cap: LineProcess | undefined;
  let download: LineProcess | undefined;
  try {
    const topo = buildNatLab(lab, 1);
    await startRealServers(lab, topo.servers);
    d = await DirectorProcess.start(lab, topo.director, [topo.outsideIf, topo.insideIf]);
    d.adm(["-A", "-t", `${topo.vip}:80`, "-s", "rr"]);
    const rip = topo.servers[0]!.rip;
    d.adm(["-a", "-t", `${topo.vip}:80`, "-r", `${rip}:80`, "-m"]);
    // Neighbours resolved before the capture: the captured SYN is sent at once, not held.
    assert.equal(curl(lab, topo.client, `http://${topo.vip}/`).status, 200);

    // A connection made during the window.
    const file = join(dir, "c.pcap");
    cap = startCapture(d, topo.vip, `${topo.cip}:43000`, file, 4);
    await sleep(800);
    const r = spawnSync(
      "ip",
      [
        "netns",
        "exec",
        lab.ns(topo.client),
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-m",
        "10",
        "--local-port",
        "43000",
        "-w",
        "%{http_code} %{size_request} %{size_header} %{size_download}",
        `http://${topo.vip}/bytes/200000`,
      ],
      { encoding: "utf8", timeout: 15000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const [code, request, header, body] = r.stdout.trim().split(" ").map(Number);
    assert.equal(code, 200);
    assert.equal(body, 200000);
    const out = await cap.finish(15000);
    const frames = Number(/^(\d+) frames written to /.exec(out[0] ?? "")?.[1]);
    assert.ok(frames > 100, `frames written: ${out.join("\n")}`);

    const segs = readPcap(file);
    assert.equal(segs.length, frames, "tcpdump reads every frame");
    const client = `${topo.cip}.43000`;
    const vip = `${topo.vip}.80`;
    const rs = `${rip}.80`;
    const has = (src: string, dst: string, flags: RegExp) =>
      segs.some((s) => s.src === src && s.dst === dst && flags.test(s.flags));
    assert.ok(has(client, vip, /^S$/), "the client's SYN to the VIP, as received");
    assert.ok(has(client, rs, /^S$/), "the SYN NAT'd to the real server, as sent");
    assert.ok(has(rs, client, /^S\.$/), "the real server's SYN-ACK, as received");
    assert.ok(has(vip, client, /^S\.$/), "the SYN-ACK from the VIP to the client, as sent");
    assert.ok(has(rs, client, /F/) || has(client, vip, /F/), "a FIN");
    assert.ok(has(vip, client, /F/) || has(client, rs, /F/), "the FIN forwarded");
    for (const s of segs)
      assert.ok(
        [client, vip, rs].includes(s.src) && [client, vip, rs].includes(s.dst),
        `only the captured connection: ${s.src} > ${s.dst}`,
      );
    assert.equal(dataBytes(segs, client, vip), request, "the request, as received");
    assert.equal(dataBytes(segs, client, rs), request, "the request, as sent");
    assert.equal(dataBytes(segs, rs, client), header! + body!, "the reply, as received");
    assert.equal(dataBytes(segs, vip, client), header! + body!, "the reply, as sent");

    // A connection that runs across a capture: off the fast path during it, back on after.
    const port = 43001;
    download = pacedDownload(lab, topo.client, topo.vip, port, 8_000_000, 1_000_000);
    let live = await untilOnFastPath(d, topo.vip, `${topo.cip}:${port}`);
    assert.equal(live?.connection?.fastPath, true, "on the fast path before the capture");
    const file2 = join(dir, "live.pcap");
    cap = startCapture(d, topo.vip, `${topo.cip}:${port}`, file2, 2);
    await sleep(1000);
    assert.equal(trace(d, topo.vip, `${topo.cip}:${port}`).connection?.fastPath, false, "off it during");
    const out2 = await cap.finish(10000);
    const frames2 = Number(/^(\d+) frames written to /.exec(out2[0] ?? "")?.[1]);
    assert.ok(frames2 > 100, `frames of the running connection: ${out2.join("\n")}`);
    const segs2 = readPcap(file2);
    assert.ok(dataBytes(segs2, vip, `${topo.cip}.${port}`) > 1_000_000);
    live = await untilOnFastPath(d, topo.vip, `${topo.cip}:${port}`);
    assert.equal(live?.connection?.fastPath, true, "back on the fast path after the capture");
    assert.match(await download.nextLine(20000), /^200$/);
  } finally {
    cap?.kill();
    download?.kill();
    await d?.stop();
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { NetLab } from "../src/cli/lab/netns.js";
import { RS_SERVER_JS, TSLVS_BIN, TSLVSADM_BIN } from "../src/cli/lab/paths.js";
import { patternByte } from "../src/cli/lab/rs-server.js";
import { buildNatLab } from "../src/cli/lab/topologies.js";
import { haveRoot } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

// End to end through the real daemon in the classic NAT lab: after the handshake, the packets of a
// bulk transfer (both directions) are rewritten and redirected by the XDP fast path, not by the
// AF_XDP slow path, the bytes arrive intact, and `tslvsadm -ln --stats` counts them.
//
// The client and the real server send full checksums (`tx off`), as hosts behind a NIC do: a veth
// peer's CHECKSUM_PARTIAL frames take the slow path by design (fastpath-program.test.ts).

const DOWNLOAD = 4 * 1024 * 1024;
const UPLOAD = 2 * 1024 * 1024;

interface Outcome {
  stats: { inPkts: number; outPkts: number };
  forwardedInXdp: number;
  rxFrames: number;
  notRedirectable: number;
}

function sha(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

async function scenario(
  prefix: string,
  mode: "generic" | "native" | "tc",
  peersHaveNapi: boolean,
): Promise<Outcome> {
  const lab = new NetLab(labPrefix(prefix));
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const sock = join(dir, "tslvs.sock");
  const adm = (args: string[]) =>
    execFileSync("node", [TSLVSADM_BIN, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TSLVS_SOCKET: sock },
    });
  try {
    const t = buildNatLab(lab, 1);
    const rs = t.servers[0]!;
    lab.exec(t.client, ["ethtool", "-K", "eth0", "tx", "off"]);
    lab.exec(rs.host, ["ethtool", "-K", "eth0", "tx", "off"]);
    if (peersHaveNapi) {
      // Native-mode redirects out of a veth need NAPI on its peer: GRO on the peers of both director ports.
      lab.exec(t.client, ["ethtool", "-K", "eth0", "gro", "on"]);
      lab.exec("switch", ["ethtool", "-K", `director-${t.insideIf}`, "gro", "on"]);
    }
    const server = lab.spawn(rs.host, ["node", RS_SERVER_JS, "--name", rs.name, "--port", "80"]);
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once("data", () => resolve());
      server.once("exit", () => reject(new Error("the real server's web server exited")));
    });

    const logs: Record<string, unknown>[] = [];
    const director = lab.spawn(t.director, [
      "node",
      TSLVS_BIN,
      "start",
      "--socket",
      sock,
      "--state",
      join(dir, "state.yaml"),
      "--interface",
      t.outsideIf,
      "--interface",
      t.insideIf,
      "--xdp-mode",
      mode,
    ]);
    let pending = "";
    director.stdout!.setEncoding("utf8");
    director.stdout!.on("data", (d: string) => {
      pending += d;
      for (let i = pending.indexOf("\n"); i >= 0; i = pending.indexOf("\n")) {
        try {
          logs.push(JSON.parse(pending.slice(0, i)));
        } catch {
          /* not a log line */
        }
        pending = pending.slice(i + 1);
      }
    });
    const exited = new Promise<void>((resolve) => director.once("exit", () => resolve()));
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        adm(["-ln"]);
        up = true;
      } catch {
        /* not yet */
      }
    }
    assert.ok(up, "the director came up");
    adm(["-A", "-t", `${t.vip}:80`, "-s", "rr"]);
    adm(["-a", "-t", `${t.vip}:80`, "-r", `${rs.rip}:80`, "-m"]);

    // Download: RS -> client through the director (outbound NAT).
    const expected = new Uint8Array(DOWNLOAD);
    for (let i = 0; i < DOWNLOAD; i++) expected[i] = patternByte(i);
    const got = lab.exec(t.client, [
      "sh",
      "-c",
      `curl -sS --max-time 60 http://${t.vip}/bytes/${DOWNLOAD} | sha256sum`,
    ]);
    assert.equal(got.split(" ")[0], sha(expected), "download byte-identical");

    // Upload: client -> RS (inbound NAT).
    const body = randomBytes(UPLOAD);
    const file = join(dir, "upload.bin");
    writeFileSync(file, body);
    const answer = lab.exec(t.client, [
      "curl",
      "-sS",
      "--max-time",
      "60",
      "--data-binary",
      `@${file}`,
      `http://${t.vip}/sha256`,
    ]);
    assert.equal(answer.trim(), sha(body), "upload byte-identical");

    // The director credits XDP's counters on its next tick (every second): wait until they settle.
    let stats = { inPkts: 0, outPkts: 0 };
    for (let i = 0; i < 50; i++) {
      const line = adm(["-ln", "--stats", "--exact"])
        .split("\n")
        .find((l) => l.startsWith("TCP"));
      assert.ok(line, "the service is listed");
      const f = line.trim().split(/\s+/);
      const now = { inPkts: Number(f[3]), outPkts: Number(f[4]) };
      if (now.inPkts === stats.inPkts && now.outPkts === stats.outPkts && i > 0) break;
      stats = now;
      await new Promise((r) => setTimeout(r, 600));
    }

    director.kill("SIGTERM");
    await exited;
    const fp = logs.find((l) => l.msg === "fast path stopped")?.fastPath as
      | { notRedirectable: number; program: { FORWARDED: number } }
      | undefined;
    const engine = logs.find((l) => l.msg === "packet engine stopped")?.counters as
      | { rxFrames: number }
      | undefined;
    assert.ok(fp && engine, "the daemon logged the fast path's and the engine's counters on stop");
    return {
      stats,
      forwardedInXdp: fp.program.FORWARDED,
      rxFrames: engine.rxFrames,
      notRedirectable: fp.notRedirectable,
    };
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertMostlyFastPath(o: Outcome): void {
  const total = o.stats.inPkts + o.stats.outPkts;
  // At least one segment per 1448 bytes each way, plus the other side's ACKs.
  assert.ok(total >= (DOWNLOAD + UPLOAD) / 1448, `-ln --stats counts the transfer (${total} packets)`);
  assert.ok(o.forwardedInXdp >= 0.9 * total, `XDP forwarded ${o.forwardedInXdp} of ${total} packets`);
  assert.ok(o.rxFrames <= 0.1 * total, `the slow path saw only ${o.rxFrames} of ${total} packets`);
  // Every packet the director forwarded is counted once: by the slow path or credited from XDP.
  assert.ok(total >= o.forwardedInXdp, "XDP's packets are credited, not more");
}

test("NAT bulk transfer both ways runs in XDP after the handshake (generic XDP)", async (t) => {
  if (!haveRoot(t)) return;
  const o = await scenario("tfpg", "generic", false);
  t.diagnostic(JSON.stringify(o));
  assertMostlyFastPath(o);
});

test("NAT bulk transfer both ways runs in the fast path at TC ingress (tc mode)", async (t) => {
  if (!haveRoot(t)) return;
  const o = await scenario("tfpt", "tc", false);
  t.diagnostic(JSON.stringify(o));
  assertMostlyFastPath(o);
});

test("native XDP: redirects only where the egress veth's peer has NAPI", async (t) => {
  if (!haveRoot(t)) return;
  const withNapi = await scenario("tfpn", "native", true);
  t.diagnostic(JSON.stringify(withNapi));
  assertMostlyFastPath(withNapi);
  // Without NAPI on the peers a native redirect would be dropped: nothing is offloaded, and the
  // slow path still moves every byte.
  const o = await scenario("tfpm", "native", false);
  t.diagnostic(JSON.stringify(o));
  assert.equal(o.forwardedInXdp, 0);
  assert.ok(o.notRedirectable > 0);
  assert.ok(o.rxFrames >= (DOWNLOAD + UPLOAD) / 1448);
});

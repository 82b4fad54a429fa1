/**
 * What the health-checking lab tests share: the real servers of a service as `tslvsadm -Ln` lists
 * them, waiting (with a bound) for them to become a set, `tslvs health --json`, and rounds of client
 * requests through the VIP counted by the server that answered.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { NetLab } from "../../src/cli/lab/netns.js";
import { RS_SERVER_JS, TSLVS_BIN } from "../../src/cli/lab/paths.js";
import type { HealthServiceEntry } from "../../src/control/api.js";
import { type DirectorProcess, LineProcess, sleep } from "./dp-harness.js";

/** The real servers of VIP:port, sorted: "address:port weight" (or "address:port" without weights). */
export function members(d: DirectorProcess, vip: string, port: number, weights = true): string[] {
  return d
    .adm(["-Ln", "-t", `${vip}:${port}`])
    .split("\n")
    .filter((l) => l.includes("->") && !l.includes("RemoteAddress"))
    .map((l) => l.trim().split(/\s+/))
    .map((f) => (weights ? `${f[1]} ${f[3]}` : f[1]!))
    .sort();
}

/**
 * Waits until `members` equals `want`; returns the seconds it took. Fails when that takes more
 * than `boundS` (the bound only a broken checker misses), after waiting 10 s more to say what the
 * listing and the checkers show.
 */
export async function waitMembers(
  d: DirectorProcess,
  vip: string,
  port: number,
  want: string[],
  boundS: number,
  what: string,
  weights = true,
): Promise<number> {
  const start = Date.now();
  const target = JSON.stringify([...want].sort());
  let have: string[] = [];
  while (Date.now() - start < (boundS + 10) * 1000) {
    have = members(d, vip, port, weights);
    if (JSON.stringify(have) === target) {
      const s = (Date.now() - start) / 1000;
      assert.ok(s <= boundS, `${what}: took ${s} s, more than the bound ${boundS} s`);
      return s;
    }
    await sleep(150);
  }
  throw new Error(
    `${what}: still ${JSON.stringify(have)} after ${boundS + 10} s, want ${target}\n${JSON.stringify(health(d), null, 1)}\n${d.log.slice(-2000)}`,
  );
}

/** `tslvs ARGS --socket` of this director: exit status and output. */
export function tslvs(d: DirectorProcess, args: string[]): { status: number; out: string } {
  const r = spawnSync("node", [TSLVS_BIN, ...args, "--socket", d.socket], {
    encoding: "utf8",
    timeout: 10000,
  });
  return { status: r.status ?? -1, out: r.stdout + r.stderr };
}

export function health(d: DirectorProcess): HealthServiceEntry[] {
  return JSON.parse(tslvs(d, ["health", "--json"]).out) as HealthServiceEntry[];
}

/** `n` requests, one after the other, from `client` to vip:port; every one must be answered. */
export function requests(
  lab: NetLab,
  client: string,
  vip: string,
  port: number,
  n: number,
): Map<string, number> {
  const script = `
    const http = require("node:http");
    let left = ${n}; const seen = {}; let failed = 0;
    const one = () => {
      if (left-- === 0) { console.log(JSON.stringify({ seen, failed })); return; }
      const req = http.get({ host: ${JSON.stringify(vip)}, port: ${port}, path: "/", agent: false }, (res) => {
        res.resume();
        res.on("end", () => { const s = res.headers["x-server"]; seen[s] = (seen[s] || 0) + 1; one(); });
      });
      req.setTimeout(3000, () => req.destroy(new Error("timeout")));
      req.on("error", () => { failed++; one(); });
    };
    one();`;
  const r = JSON.parse(lab.exec(client, [process.execPath, "-e", script])) as {
    seen: Record<string, number>;
    failed: number;
  };
  assert.equal(r.failed, 0, `${r.failed} of ${n} requests to ${vip}:${port} failed`);
  return new Map(Object.entries(r.seen));
}

/**
 * rs-server (the labs' web service) as `name` on `port` in `host`, ready when it returns; with
 * `healthFile`, its /health answers what that file says ("200 ok", "500 broken"). Pushed on `procs`.
 */
export async function startWebServer(
  lab: NetLab,
  procs: LineProcess[],
  host: string,
  name: string,
  port: number,
  healthFile?: string,
): Promise<void> {
  const argv = ["node", RS_SERVER_JS, "--name", name, "--port", String(port)];
  if (healthFile) argv.push("--health-file", healthFile);
  const p = new LineProcess(lab.spawn(host, argv), name);
  procs.push(p);
  await p.nextLine(10000);
}

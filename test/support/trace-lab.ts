/**
 * What the `tslvs trace` lab tests share: a trace's JSON answer, a paced download from a fixed
 * client port (a connection long enough for the fast path), and waiting until the fast path holds it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { NetLab } from "../../src/cli/lab/netns.js";
import { TSLVS_BIN } from "../../src/cli/lab/paths.js";
import type { TraceEntry } from "../../src/control/api.js";
import { type DirectorProcess, LineProcess, sleep } from "./dp-harness.js";

/** `tslvs trace -t VIP:80 --client CLIENT --json` against this director. */
export function trace(d: DirectorProcess, vip: string, client: string): TraceEntry {
  const r = spawnSync(
    "node",
    [TSLVS_BIN, "trace", "-t", `${vip}:80`, "--client", client, "--json", "--socket", d.socket],
    { encoding: "utf8", timeout: 10000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as TraceEntry;
}

/** curl of `bytes` from VIP:80 at `rate` B/s from the client's `port`; prints the status at the end. */
export function pacedDownload(
  lab: NetLab,
  client: string,
  vip: string,
  port: number,
  bytes: number,
  rate: number,
): LineProcess {
  return new LineProcess(
    lab.spawn(client, [
      ...["curl", "-s", "-o", "/dev/null", "--local-port", String(port), "-w", "%{http_code}\n"],
      `http://${vip}/bytes/${bytes}?rate=${rate}`,
    ]),
    "download",
  );
}

/** Traces `client` until the fast path holds its connection (4 s at most); the last answer. */
export async function untilOnFastPath(
  d: DirectorProcess,
  vip: string,
  client: string,
): Promise<TraceEntry | undefined> {
  let live: TraceEntry | undefined;
  for (let i = 0; i < 40 && !live?.connection?.fastPath; i++) {
    await sleep(100);
    live = trace(d, vip, client);
  }
  return live;
}

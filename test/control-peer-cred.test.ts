import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startServer, tempDir } from "./support/control-fixtures.js";
import { haveRoot } from "./support/privileged.js";

const NOBODY = 65534;

/**
 * A client run as another user (nobody) through setpriv. It speaks the raw protocol with node:net
 * only, so it needs no access to this checkout; it prints what happened as one JSON line.
 */
const PEER_SCRIPT = `
const net = require("net");
const s = net.connect(process.argv[2]);
let out = "";
s.on("error", (e) => { console.log(JSON.stringify({ connectError: e.code })); });
s.on("connect", () => s.write(JSON.stringify({ v: 1, id: 1, op: "getServices" }) + "\\n"));
s.on("data", (d) => (out += d));
s.on("close", () => { if (out) console.log(JSON.stringify({ uid: process.getuid(), reply: JSON.parse(out.split("\\n")[0]) })); });
`;

/** Runs the peer script as nobody (asynchronously: the server under test shares this event loop). */
async function runAsNobody(script: string, socketPath: string): Promise<Record<string, unknown>> {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      "setpriv",
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, script, socketPath],
      { encoding: "utf8", timeout: 20000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`peer process failed: ${err.message} ${stderr}`)) : resolve(stdout),
    ),
  );
  return JSON.parse(out.trim());
}

describe("the control socket refuses other users", () => {
  it("refuses a non-root peer, at the socket file and by its credentials", async (t) => {
    if (!haveRoot(t)) return;
    const tmp = tempDir("peer");
    // The directory must be reachable by nobody for the test to reach the socket at all.
    chmodSync(tmp.dir, 0o755);
    const path = join(tmp.dir, "ctl.sock");
    const script = join(tmp.dir, "peer.cjs");
    writeFileSync(script, PEER_SCRIPT, { mode: 0o644 });
    const srv = await startServer(path);
    try {
      // The socket file is 0600: the kernel refuses the connect itself.
      assert.deepEqual(await runAsNobody(script, path), { connectError: "EACCES" });
      // Made reachable by a chmod, the socket still refuses: SO_PEERCRED says uid 65534.
      chmodSync(path, 0o666);
      const seen = await runAsNobody(script, path);
      assert.equal(seen.uid, NOBODY);
      const reply = seen.reply as Record<string, unknown>;
      assert.equal(reply.ok, false);
      assert.equal(reply.errno, "EACCES");
      assert.equal(reply.id, 0);
      assert.equal(srv.ops.length, 0, "the refused peer's request was not carried out");
      // Root, on the other hand, is served.
      const { connect } = await import("../src/control/client.js");
      const c = await connect(path);
      assert.deepEqual(await c.call({ op: "getServices" }), []);
      c.close();
    } finally {
      await srv.server.close();
      tmp.cleanup();
    }
  });
});

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { NetLab } from "../src/cli/lab/netns.js";
import { reapLeftovers } from "./run/leftovers.js";
import { waitFor } from "./support/dp-harness.js";
import { haveRoot } from "./support/privileged.js";
import { labPrefix } from "./support/test-owner.js";

const MAKER = fileURLToPath(new URL("./support/leftover-maker.js", import.meta.url));

const namespaces = () => execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("what a killed test process left is removed by the next run, a live one's never", async (t) => {
  if (!haveRoot(t)) return;
  const mine = new NetLab(labPrefix("live"));
  try {
    mine.addHost("x");
    const child = spawn(process.execPath, [MAKER], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const [ns, inside, outside] = await waitFor("the leftover maker did not get ready", 10000, () =>
      /^ready (\S+) (\d+) (\d+)$/m.exec(out)?.slice(1),
    );
    const killed = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await killed;
    assert.match(namespaces(), new RegExp(`^${ns}\\b`, "m"), "a killed process leaves its namespace");
    assert.ok(alive(Number(inside)) && alive(Number(outside)), "and its processes");

    const reaped = reapLeftovers();
    assert.ok(reaped.namespaces.includes(ns!), `reaped ${JSON.stringify(reaped)}`);
    assert.doesNotMatch(namespaces(), new RegExp(`^${ns}\\b`, "m"));
    await waitFor("the leftover processes did not die", 5000, () =>
      alive(Number(inside)) || alive(Number(outside)) ? undefined : true,
    );
    assert.match(namespaces(), new RegExp(`^${mine.ns("x")}\\b`, "m"), "a live owner's namespace stays");
  } finally {
    assert.deepEqual(await mine.destroy(), []);
  }
});
